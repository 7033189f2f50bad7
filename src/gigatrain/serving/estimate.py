"""One serving estimate (an array of length one through :func:`serving.perf.evaluate`), with
memory, latency, throughput, $ per million tokens and energy per token.

Dollars: a request occupies ``replica_chips / requests_per_s`` chip-seconds; its cost at
``usd_per_chip_hour`` is split between input and output tokens by the share of engine time
spent in prefill (colocated) or by the prefill pool's share of chips (disaggregated):
$/M input = cost·share/I·1e6, $/M output = cost·(1 − share)/O·1e6.

Energy: facility watts per chip = TDP × ``power_fraction_of_tdp`` (serving knob) ×
server-to-chip power ratio × PUE (``economics.yaml``: Epoch AI chip_to_server_power, hyperscale
PUE), divided by tokens per second per chip.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..catalog.hardware import load_economics
from ..errors import GigatrainError
from ..specs import ModelSpec, SystemSpec
from .deploy import Deployment, Request, check_deployment, compute_dtype, to_arrays
from .knobs import DEFAULT_SERVING_KNOBS, ServingKnobs
from .kv import kv_bytes_per_token, served_model
from .perf import evaluate


def facility_watts_per_chip(
    system: SystemSpec, knobs: ServingKnobs = DEFAULT_SERVING_KNOBS
) -> float | None:
    """Average facility watts per serving chip (None when the chip's TDP is unpublished)."""
    tdp = system.chip.tdp_w
    if not tdp:
        return None
    econ = load_economics()
    ratio = econ["server_to_chip_power_ratio"].value
    if system.chip.vendor.lower() == "google" and "server_to_chip_power_ratio_tpu" in econ:
        ratio = econ["server_to_chip_power_ratio_tpu"].value
    return tdp * knobs.power_fraction_of_tdp * ratio * econ["pue_hyperscale"].value


@dataclass(frozen=True)
class ServingEstimate:
    model: str
    system: str
    chip: str
    deployment: Deployment
    request: Request
    compute_dtype: str
    fits: bool
    memory_bytes_per_chip: dict[str, float]
    max_concurrency: int
    kv_bytes_per_token: float  # unsharded, all layers, at the KV precision
    time_s: dict[str, float]  # decode step parts, prefill, queue, ttft, tpot, e2e
    ttft_s: float
    tpot_s: float
    e2e_s: float
    tokens_per_s_per_user: float
    requests_per_s: float  # per replica
    output_tokens_per_s: float  # per replica
    output_tokens_per_s_per_chip: float
    total_tokens_per_s_per_chip: float
    replica_chips: int
    tokens_per_step: float  # accepted tokens per decode step (1 without speculation)
    prefill_time_share: float
    usd_per_chip_hour: float | None = None
    usd_per_m_input_tokens: float | None = None
    usd_per_m_output_tokens: float | None = None
    usd_per_m_tokens_blended: float | None = None
    watts_per_chip: float | None = None
    joules_per_output_token: float | None = None
    joules_per_token: float | None = None
    notes: list[str] = field(default_factory=list)

    def latency_parts_s(self) -> dict[str, dict[str, float]]:
        """TTFT and TPOT split into their parts (seconds), each set summing to the total.

        TPOT = Σ decode-step parts ÷ accepted tokens per step + prefill interference (the
        prefills continuous batching inserts per output token). TTFT = prefill + KV transfer
        (disaggregated) + API front end + queueing for the prefill engine + the rest, which is
        the wait for the running decode step (half a step) or, for static batching, for the
        batch's other prefills (:func:`gigatrain.serving.perf.evaluate`)."""
        t = self.time_s
        per = max(self.tokens_per_step, 1e-12)
        tpot = {
            k.removeprefix("decode/").removesuffix("_s"): v / per
            for k, v in t.items()
            if k.startswith("decode/")
        }
        tpot["prefill_interference"] = t.get("prefill_interference_s", 0.0)
        ttft = {
            "prefill": t.get("prefill_s", 0.0),
            "kv_transfer": t.get("kv_transfer_s", 0.0),
            "api_front_end": t.get("ttft_overhead_s", 0.0),
            "queue": t.get("queue_s", 0.0),
        }
        ttft["step_wait"] = max(self.ttft_s - sum(ttft.values()), 0.0)
        return {"ttft": ttft, "tpot": tpot}

    def to_dict(self) -> dict:
        return {**asdict(self), "latency_parts_s": self.latency_parts_s()}


def _f(x: object) -> float:
    v = float(x)  # type: ignore[arg-type]
    if not math.isfinite(v) or v < 0:
        raise GigatrainError(f"internal: serving produced a non-finite or negative value {v!r}")
    return v


def economics_of(
    replica_chips: float,
    requests_per_s: float,
    input_len: float,
    output_len: float,
    prefill_share: float,
    out_tok_s: float,
    total_tok_s: float,
    usd_per_chip_hour: float | None,
    watts_per_chip: float | None,
) -> dict[str, float | None]:
    """$ per million input/output/blended tokens and joules per token (module docstring)."""
    out: dict[str, float | None] = {
        k: None
        for k in (
            "usd_per_m_input_tokens",
            "usd_per_m_output_tokens",
            "usd_per_m_tokens_blended",
            "joules_per_output_token",
            "joules_per_token",
        )
    }
    if usd_per_chip_hour is not None:
        usd_req = replica_chips / requests_per_s * usd_per_chip_hour / 3600.0
        out["usd_per_m_input_tokens"] = usd_req * prefill_share / input_len * 1e6
        out["usd_per_m_output_tokens"] = usd_req * (1.0 - prefill_share) / output_len * 1e6
        out["usd_per_m_tokens_blended"] = usd_req / (input_len + output_len) * 1e6
    if watts_per_chip is not None:
        out["joules_per_output_token"] = watts_per_chip * replica_chips / out_tok_s
        out["joules_per_token"] = watts_per_chip * replica_chips / total_tok_s
    return out


def estimate_serving(
    model: ModelSpec,
    system: SystemSpec,
    deployment: Deployment,
    request: Request,
    knobs: ServingKnobs = DEFAULT_SERVING_KNOBS,
    usd_per_chip_hour: float | None = None,
    watts_per_chip: float | None = None,
) -> ServingEstimate:
    """Memory, latency, throughput and cost of one deployment serving ``request`` shapes."""
    check_deployment(model, deployment, request)
    if deployment.chips > system.max_chips:
        raise GigatrainError(
            f"deployment needs {deployment.chips} chips; {system.slug} has at most {system.max_chips}"
        )
    s = served_model(model)
    arr = to_arrays([deployment], [request], system.chip.peak_flops_per_s)
    r = evaluate(s, system, arr, knobs)
    g = {k: v[0] for k, v in r.items()}
    if watts_per_chip is None:
        watts_per_chip = facility_watts_per_chip(system, knobs)
    notes = []
    cdt = compute_dtype(deployment.weight_dtype, system.chip.peak_flops_per_s)
    if cdt != deployment.weight_dtype and deployment.weight_dtype not in ("bf16", "fp16"):
        notes.append(
            f"{system.chip.slug} has no {deployment.weight_dtype} tensor peak: weights are "
            f"dequantised and matmuls run in {cdt}"
        )
    if not g["fits"]:
        notes.append(
            f"does not fit: concurrency {deployment.concurrency} > max {int(g['max_concurrency'])} "
            f"(weights {g['weights_bytes_per_chip'] / 2**30:.1f} GiB of {system.chip.hbm_bytes / 2**30:.0f} GiB per chip)"
        )
    econ = economics_of(
        float(g["replica_chips"]),
        float(g["requests_per_s"]),
        request.input_len,
        request.output_len,
        float(g["prefill_time_share"]),
        float(g["output_tokens_per_s"]),
        float(g["total_tokens_per_s_per_chip"]) * float(g["replica_chips"]),
        usd_per_chip_hour,
        watts_per_chip,
    )
    mem = {
        "weights": _f(g["weights_bytes_per_chip"]),
        "kv_cache": _f(g["kv_bytes_per_chip"]),
        "workspace": _f(g["workspace_bytes_per_chip"]),
    }
    mem["total"] = sum(mem.values())
    time_keys = [
        k
        for k in r
        if k.endswith("_s") and "per_s" not in k and k not in ("ttft_s", "tpot_s", "e2e_s")
    ]
    return ServingEstimate(
        model=model.slug,
        system=system.slug,
        chip=system.chip.slug,
        deployment=deployment,
        request=request,
        compute_dtype=cdt,
        fits=bool(g["fits"]),
        memory_bytes_per_chip=mem,
        max_concurrency=int(g["max_concurrency"]),
        kv_bytes_per_token=kv_bytes_per_token(model, float(arr.kv_bytes[0])),
        time_s={k: _f(g[k]) for k in time_keys},
        ttft_s=_f(g["ttft_s"]),
        tpot_s=_f(g["tpot_s"]),
        e2e_s=_f(g["e2e_s"]),
        tokens_per_s_per_user=_f(g["tokens_per_s_per_user"]),
        requests_per_s=_f(g["requests_per_s"]),
        output_tokens_per_s=_f(g["output_tokens_per_s"]),
        output_tokens_per_s_per_chip=_f(g["output_tokens_per_s_per_chip"]),
        total_tokens_per_s_per_chip=_f(g["total_tokens_per_s_per_chip"]),
        replica_chips=int(g["replica_chips"]),
        tokens_per_step=_f(g["tokens_per_step"]),
        prefill_time_share=_f(g["prefill_time_share"]),
        usd_per_chip_hour=usd_per_chip_hour,
        watts_per_chip=watts_per_chip,
        notes=notes,
        **econ,  # type: ignore[arg-type]
    )
