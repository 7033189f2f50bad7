"""Serving deployments: one replica's layout, precision and load, as a frozen record and as NumPy
arrays of candidates (one code path for a single estimate and a search, DESIGN.md principle 2).

Vocabulary (same as training, DESIGN.md principle 4):

* ``tp``  chips of one pipeline stage; weights are sharded over them (Megatron TP). With
  ``dp_attention`` the attention block runs data-parallel over these chips instead (each rank
  holds full attention weights and the KV cache of its own requests: SGLang ``--enable-dp-
  attention``, TensorRT-LLM ``enable_attention_dp``), as engines do for MLA models.
* ``pp``  pipeline stages; a replica has ``tp·pp`` chips.
* ``ep``  expert-parallel degree inside the ``tp`` group (1 = experts tensor-sharded,
  ``ep = tp`` = whole experts per rank; vLLM ``--enable-expert-parallel``).
* ``dp``  independent replicas; a fleet is ``replicas × tp·pp`` chips (+ prefill pools).
* ``prefill_chips``  > 0 = disaggregated prefill: this many extra chips per decode replica
  run prefill only, in workers of ``prefill_tp`` chips (DistServe, Zhong et al. 2024;
  NVIDIA Dynamo). 0 = prefill and decode share the replica (continuous batching).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from ..errors import GigatrainError
from ..specs import DTYPE_BYTES, ModelSpec

Batching = Literal["continuous", "static"]
SERVING_DTYPES = ("bf16", "fp16", "fp8", "fp4")
KV_DTYPES = ("bf16", "fp16", "fp8", "fp4")


@dataclass(frozen=True)
class Deployment:
    """One serving replica and the load it carries (``concurrency`` requests in flight)."""

    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp_attention: bool = False
    weight_dtype: str = "bf16"
    kv_dtype: str = "bf16"
    concurrency: int = 1
    batching: Batching = "continuous"
    spec_tokens: int = 0  # draft tokens per step (0 = no speculative decoding)
    prefill_chips: int = 0  # disaggregated prefill chips per decode replica (0 = colocated)
    prefill_tp: int = 0  # chips per prefill worker (0 = tp)
    api_server: bool = True  # requests arrive over an HTTP/gRPC front end (adds its TTFT overhead)
    #: the engine fuses a layer's non-GEMM ops (TensorRT-LLM: norm + residual into the all-reduce
    #: or one fused kernel, RoPE and the KV-cache write into attention, the activation into the
    #: GEMM epilogue); it launches ``ServingKnobs.fused_kernels_per_layer`` of them, not
    #: ``kernels_per_layer``
    fused_kernels: bool = False

    @property
    def chips(self) -> int:
        return self.tp * self.pp + self.prefill_chips

    def describe(self) -> str:
        parts = [f"tp={self.tp}"]
        if self.pp > 1:
            parts.append(f"pp={self.pp}")
        if self.ep > 1:
            parts.append(f"ep={self.ep}")
        if self.dp_attention:
            parts.append("dp-attn")
        parts.append(f"w={self.weight_dtype} kv={self.kv_dtype}")
        if self.spec_tokens:
            parts.append(f"spec={self.spec_tokens}")
        if self.prefill_chips:
            parts.append(f"prefill={self.prefill_chips}×(tp{self.prefill_tp or self.tp})")
        parts.append(f"conc={self.concurrency}")
        return " ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Request:
    """The request shape: prompt and generated tokens (means)."""

    input_len: int
    output_len: int


@dataclass
class DeploymentArrays:
    """Columns of candidate deployments (length n)."""

    tp: np.ndarray
    pp: np.ndarray
    ep: np.ndarray
    dp_attention: np.ndarray  # bool
    weight_bytes: np.ndarray  # bytes per weight element
    kv_bytes: np.ndarray  # bytes per KV element
    compute_dtype: np.ndarray  # object: "fp4" | "fp8" | "bf16"
    concurrency: np.ndarray
    static: np.ndarray  # bool: static batching
    spec_tokens: np.ndarray
    prefill_chips: np.ndarray
    prefill_tp: np.ndarray
    api_server: np.ndarray  # bool
    input_len: np.ndarray
    output_len: np.ndarray
    fused_kernels: np.ndarray | None = None  # bool (None = no engine fuses: all False)

    def __post_init__(self) -> None:
        if self.fused_kernels is None:
            self.fused_kernels = np.zeros(len(self.tp), dtype=bool)

    def __len__(self) -> int:
        return len(self.tp)

    def take(self, idx: np.ndarray) -> DeploymentArrays:
        return DeploymentArrays(**{k: v[idx] for k, v in self.__dict__.items()})

    def deployment(self, i: int, weight_dtype: str, kv_dtype: str) -> Deployment:
        return Deployment(
            tp=int(self.tp[i]),
            pp=int(self.pp[i]),
            ep=int(self.ep[i]),
            dp_attention=bool(self.dp_attention[i]),
            weight_dtype=weight_dtype,
            kv_dtype=kv_dtype,
            concurrency=int(self.concurrency[i]),
            batching="static" if self.static[i] else "continuous",
            spec_tokens=int(self.spec_tokens[i]),
            prefill_chips=int(self.prefill_chips[i]),
            prefill_tp=int(self.prefill_tp[i]),
            api_server=bool(self.api_server[i]),
            fused_kernels=bool(self.fused_kernels[i]) if self.fused_kernels is not None else False,
        )


def check_dtype(field: str, value: str, valid: tuple[str, ...]) -> str:
    v = str(value).lower()
    if v not in valid:
        raise GigatrainError(
            f"{field}={value!r} is not a serving precision; valid: {', '.join(valid)}"
        )
    return v


def check_deployment(model: ModelSpec, d: Deployment, req: Request) -> None:
    """One-line errors for a layout the model or engine cannot run."""
    for name in ("tp", "pp", "ep", "concurrency"):
        v = getattr(d, name)
        if not isinstance(v, int | np.integer) or v < 1:
            raise GigatrainError(f"{name} must be a positive integer, got {v!r}")
    for name in ("input_len", "output_len"):
        v = getattr(req, name)
        if not isinstance(v, int | np.integer) or v < 1 or v > 10_000_000:
            raise GigatrainError(
                f"{name.replace('_', '-')} must be an integer in 1..10,000,000, got {v!r}"
            )
    if d.spec_tokens < 0 or d.spec_tokens > 16:
        raise GigatrainError(f"spec_tokens must be in 0..16, got {d.spec_tokens}")
    if d.prefill_chips < 0:
        raise GigatrainError(f"prefill_chips must be ≥ 0, got {d.prefill_chips}")
    ptp = d.prefill_tp or d.tp
    if d.prefill_chips and d.prefill_chips % ptp:
        raise GigatrainError(
            f"prefill_chips={d.prefill_chips} is not a multiple of prefill_tp={ptp}"
        )
    check_dtype("weight_dtype", d.weight_dtype, SERVING_DTYPES)
    check_dtype("kv_dtype", d.kv_dtype, KV_DTYPES)
    if d.pp > model.num_layers:
        raise GigatrainError(f"pp={d.pp} exceeds the model's {model.num_layers} layers")
    if not d.dp_attention and model.mla is None and model.num_attention_heads % d.tp:
        valid = [
            t for t in range(1, model.num_attention_heads + 1) if model.num_attention_heads % t == 0
        ]
        raise GigatrainError(
            f"tp={d.tp} does not divide {model.num_attention_heads} attention heads; valid tp: "
            f"{', '.join(map(str, valid[:12]))} (or use dp-attention)"
        )
    if d.ep > 1:
        if model.moe is None:
            raise GigatrainError(
                f"ep={d.ep} needs a mixture-of-experts model; {model.slug} is dense (use ep=1)"
            )
        if d.tp % d.ep or model.moe.num_experts % d.ep:
            raise GigatrainError(
                f"ep={d.ep} must divide tp={d.tp} and the {model.moe.num_experts} experts"
            )


def compute_dtype(weight_dtype: str, chip_peaks: dict[str, float]) -> str:
    """The matmul format: the weight format when the chip has a tensor-core peak for it, else
    the next wider one it has (fp4 → fp8 → bf16: weight-only quantisation, e.g. MXFP4 Marlin
    kernels on H100 dequantise to bf16)."""
    order = ("fp4", "fp8", "bf16")
    start = order.index(weight_dtype) if weight_dtype in order else 2
    for d in order[start:]:
        if chip_peaks.get(d):
            return d
    return "bf16"


def to_arrays(
    deps: list[Deployment], reqs: list[Request], chip_peaks: dict[str, float]
) -> DeploymentArrays:
    """Pack records into arrays (the single-estimate path of :func:`serving.perf.evaluate`)."""
    col = lambda f: np.array([f(d) for d in deps])  # noqa: E731
    return DeploymentArrays(
        tp=col(lambda d: d.tp),
        pp=col(lambda d: d.pp),
        ep=col(lambda d: d.ep),
        dp_attention=col(lambda d: bool(d.dp_attention)),
        weight_bytes=col(lambda d: DTYPE_BYTES[d.weight_dtype]).astype(float),
        kv_bytes=col(lambda d: DTYPE_BYTES[d.kv_dtype]).astype(float),
        compute_dtype=np.array(
            [compute_dtype(d.weight_dtype, chip_peaks) for d in deps], dtype=object
        ),
        concurrency=col(lambda d: d.concurrency).astype(float),
        static=col(lambda d: d.batching == "static"),
        spec_tokens=col(lambda d: d.spec_tokens).astype(float),
        prefill_chips=col(lambda d: d.prefill_chips),
        prefill_tp=col(lambda d: d.prefill_tp or d.tp),
        api_server=col(lambda d: bool(d.api_server)),
        input_len=np.array([r.input_len for r in reqs], dtype=float),
        output_len=np.array([r.output_len for r in reqs], dtype=float),
        fused_kernels=col(lambda d: bool(d.fused_kernels)),
    )
