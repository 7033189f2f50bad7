"""The immutable inputs of every estimate: model, chip, system (cluster), job and plan.

Three inputs, one pure estimate (DESIGN.md principle 1): a :class:`ModelSpec`, a
:class:`SystemSpec` (which holds its :class:`ChipSpec`) and a :class:`Job` are fixed facts;
a :class:`Plan` is one parallel layout. All values are SI (bytes, seconds, FLOP/s, watts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

from .errors import GigatrainError

Recompute = Literal["none", "selective", "full"]
RECOMPUTE_MODES: tuple[str, ...] = ("none", "selective", "full")
#: training precisions, declared once: every option, schema and check reads these
Precision = Literal["bf16", "fp16", "fp8", "fp4", "fp32"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
Schedule = Literal["1f1b", "interleaved"]

#: bytes per element for each numeric format used for weights, activations or matmuls
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "fp4": 0.5,
}


@dataclass(frozen=True)
class MLASpec:
    """Multi-head latent attention (DeepSeek-V2/V3) low-rank dimensions."""

    q_lora_rank: int  # 0 = queries are not compressed (DeepSeek-V2-Lite)
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int


@dataclass(frozen=True)
class MoESpec:
    """Mixture-of-experts feed-forward layers.

    ``num_moe_layers`` of the model's layers use experts; the others are dense MLPs of
    ``ModelSpec.ffn_hidden_size``.
    """

    num_experts: int
    top_k: int
    expert_ffn_hidden_size: int
    num_moe_layers: int
    num_shared_experts: int = 0
    shared_expert_ffn_hidden_size: int = 0
    router_bias: bool = False


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer, described by structure (never by family name)."""

    slug: str
    num_layers: int
    hidden_size: int
    ffn_hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    vocab_size: int
    head_dim: int = 0  # 0 = hidden_size // num_attention_heads
    mlp_gated: bool = True  # SwiGLU/GeGLU: three matrices instead of two
    tied_embeddings: bool = False
    learned_position_embeddings: int = 0  # rows of a learned position table (0 = RoPE/ALiBi)
    norm_type: Literal["rmsnorm", "layernorm", "layernorm_nobias"] = "rmsnorm"
    norms_per_layer: int = 2
    bias: Literal["none", "qkv", "qkvo", "all"] = "none"
    attention_sinks: bool = False  # gpt-oss: one learned scalar per head
    qk_norm: bool = False  # Qwen3: per-head RMSNorm on q and k
    embedding_norm: bool = False  # BLOOM: LayerNorm after the word embedding
    mla: MLASpec | None = None
    moe: MoESpec | None = None
    mtp_modules: int = 0  # DeepSeek-V3 multi-token-prediction modules (not in params_total)
    name: str = ""
    params_published: float | None = None
    source: str = ""

    @property
    def head_dim_eff(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    def with_(self, **changes: object) -> ModelSpec:
        return replace(self, **changes)  # type: ignore[arg-type]


#: fp8 vs bf16 large-GEMM efficiency on the H100 SXM: MAMF 70.9 % vs 80.3 % of the dense peaks
#: (stas00/ml-engineering, shared/facts/achievable.md §1.1-1.2); the ``fp8_efficiency_ratio``
#: knob is this ratio times the cast overhead
REFERENCE_FP8_MAMF_RATIO = 0.709 / 0.803


@dataclass(frozen=True)
class ChipSpec:
    """One accelerator, with sourced peaks and the efficiencies reached in practice.

    ``peak_flops_per_s`` holds *dense* tensor peaks per format. The efficiency figures are
    defaults from ``shared/facts/achievable.md`` (MAMF tables) unless a calibration profile
    replaced them.
    """

    slug: str
    name: str
    vendor: str
    peak_flops_per_s: dict[str, float]
    hbm_bytes: float
    hbm_bandwidth_bytes_per_s: float
    tdp_w: float | None = None
    matmul_efficiency: float = 0.75  # best large-GEMM fraction of dense peak (MAMF/peak)
    matmul_half_flops: float = 2e9  # per-op FLOPs at which GEMM efficiency is half its best
    hbm_efficiency: float = 0.85  # streaming fraction of spec bandwidth
    kernel_overhead_s: float = 4e-6  # per-kernel launch/tail floor
    #: achieved rate of element-wise/norm/softmax kernels (bytes/s); 0 = HBM bandwidth × efficiency
    elementwise_bandwidth_bytes_per_s: float = 0.0
    #: FlashAttention-2's training (forward + backward) fraction of the dense 16-bit peak on this
    #: chip; 0 = not measured. FA2 has no Hopper/Blackwell code path, so on those chips it runs
    #: far below their own GEMM efficiency (35% of H100 peak vs 80% for GEMMs)
    fa2_attention_fraction: float = 0.0
    #: best large-GEMM fraction of the dense fp8 peak where it was measured on this chip; 0 = not
    #: measured (fp8 GEMMs then keep the reference fp8/bf16 ratio, :data:`REFERENCE_FP8_MAMF_RATIO`)
    fp8_matmul_efficiency: float = 0.0
    aliases: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    source: str = ""
    as_of: str = ""

    def peak(self, dtype: str) -> float:
        """Dense peak FLOP/s for ``dtype``; fp8/fp4 fall back to bf16 where the chip lacks them.

        A lenient lookup for economics' what-ifs; the training model uses :meth:`matmul_peak`,
        which refuses a format the chip cannot run."""
        for d in (dtype, "bf16", "fp16"):
            v = self.peak_flops_per_s.get(d)
            if v:
                return v
        raise KeyError(f"chip {self.slug} has no dense peak for {dtype}")

    def matmul_format(self, dtype: str) -> str:
        """The tensor format a job in ``dtype`` runs its matmuls in on this chip.

        fp32 training runs its GEMMs as TF32 where the chip has TF32 units (Megatron, JAX and
        cuBLAS-with-TF32 default), else at the chip's fp32 peak. Every other format must be one
        the chip lists: fp8 on an A100 or bf16 on a V100 is an error, never a silent fallback.
        """
        have = {k for k, v in self.peak_flops_per_s.items() if v}
        if dtype == "fp32":
            for d in ("tf32", "fp32"):
                if d in have:
                    return d
        elif dtype in have:
            return dtype
        raise GigatrainError(
            f"precision {dtype} is not supported by {self.slug} (it has dense peaks for "
            f"{', '.join(sorted(have))}); choose one of those"
        )

    def matmul_efficiency_for(self, dtype: str) -> float:
        """Best large-GEMM fraction of the dense peak in ``dtype``: for fp8 the measured fp8
        MAMF/peak where there is one, else the bf16 figure times the H100 SXM fp8/bf16 ratio
        (:data:`REFERENCE_FP8_MAMF_RATIO`); ``matmul_efficiency`` for every other format."""
        if dtype != "fp8":
            return self.matmul_efficiency
        return self.fp8_matmul_efficiency or self.matmul_efficiency * REFERENCE_FP8_MAMF_RATIO

    def matmul_peak(self, dtype: str) -> float:
        """Dense peak FLOP/s of the format :meth:`matmul_format` picks for ``dtype``."""
        return self.peak_flops_per_s[self.matmul_format(dtype)]


@dataclass(frozen=True)
class NetworkTier:
    """One level of the network: every chip inside a group of ``domain_chips`` reaches the
    others at ``bandwidth_bytes_per_s`` (per chip, one direction) with ``latency_s`` per step.
    """

    name: str
    domain_chips: int
    bandwidth_bytes_per_s: float
    efficiency: float = 0.8  # achieved bus bandwidth / link bandwidth for large messages
    latency_s: float = 10e-6
    in_network_reduction: bool = False  # NVLS / SHARP: all-reduce moves each byte ~once
    #: message size at which achieved bandwidth is half the large-message figure:
    #: bw(S) = bw·S/(S + half_bw_bytes) (achievable.md §3.2: mid-size messages are slower
    #: than alpha-beta predicts)
    half_bw_bytes: float = 0.0


@dataclass(frozen=True)
class SystemSpec:
    """A building block of a cluster: chips per node plus network tiers (innermost first)."""

    slug: str
    name: str
    chip: ChipSpec
    chips_per_node: int
    tiers: tuple[NetworkTier, ...]
    max_chips: int = 10_000_000
    source: str = ""
    as_of: str = ""
    #: the collective library runs all-gather / reduce-scatter as one flat ring over every rank
    #: (NCCL, RCCL: n−1 latency steps); False where it runs per torus axis or hierarchically
    #: (XLA over ICI, Neuron collectives)
    flat_ring_collectives: bool = True

    def tier_for_group(self, group_size: int, stride: int = 1) -> NetworkTier:
        """The innermost tier whose domain holds a group of ``group_size`` chips laid out
        with ``stride`` (TP innermost has stride 1; DP outermost has stride tp·cp·pp)."""
        span = group_size * stride if group_size > 1 else 1
        for tier in self.tiers:
            if span <= tier.domain_chips:
                return tier
        return self.tiers[-1]


@dataclass(frozen=True)
class Job:
    """What is trained: sequence length, global batch, precision, optimizer, token budget."""

    seq_len: int
    global_batch_seqs: int
    tokens: float = 0.0  # training budget; 0 = not asked
    precision: Precision = "bf16"
    optimizer: Literal["adamw", "sgd", "adafactor"] = "adamw"
    master_weights_fp32: bool = True
    grad_dtype: Literal["fp32", "bf16"] = "fp32"
    framework: str = "megatron"  # efficiency profile (catalog/data/frameworks.yaml)

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.global_batch_seqs


@dataclass(frozen=True)
class Degree:
    """One parallel degree of :class:`Plan`, declared once in :data:`PLAN_DEGREES`: the input
    checks (``inputs.make_plan``), the array model (``model.plans.PlanArrays``), the CLI options
    and the web schema are derived from this list, so a new axis is declared here."""

    name: str  # the Plan field (and the CLI option --name, with _ as -)
    help: str
    splits_chips: bool  # chips = dp × the product of these degrees
    short: str = ""  # how ``Plan.describe`` writes it (default: the name)


#: every parallel degree of a plan besides dp, in display order
PLAN_DEGREES: tuple[Degree, ...] = (
    Degree("tp", "tensor parallel degree", True),
    Degree("pp", "pipeline parallel degree", True),
    Degree("cp", "context parallel degree", True),
    Degree("ep", "expert parallel degree (MoE; nested in dp·cp)", False),
    Degree("vpp", "virtual pipeline stages (interleaved schedule)", False),
    Degree("micro_batch", "micro-batch size (sequences)", False, "mbs"),
)


@dataclass(frozen=True)
class Plan:
    """One parallel layout, in the project's vocabulary (DESIGN.md principle 4).

    ``dp`` is the total data-parallel degree *including* FSDP/ZeRO shards (chips = tp·pp·cp·dp).
    ``zero_stage`` 0..3 shards optimizer (1), +gradients (2), +weights (3 = FSDP) over
    ``fsdp_shard`` ranks (0 = all of dp; a smaller value is hybrid sharding).
    ``ep`` is nested inside dp·cp with experts sharded over tp (Megatron convention); an ep
    larger than dp·cp folds over the tensor-parallel ranks with expert TP 1 (Megatron-Core
    "MoE parallel folding").
    """

    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1
    vpp: int = 1
    micro_batch: int = 1
    zero_stage: int = 1
    fsdp_shard: int = 0
    recompute: Recompute = "selective"
    sequence_parallel: bool = True
    schedule: Schedule = "1f1b"

    @property
    def chips(self) -> int:
        return self.dp * math.prod(
            int(getattr(self, d.name)) for d in PLAN_DEGREES if d.splits_chips
        )

    def describe(self) -> str:
        """``tp=8 pp=16 dp=128 vpp=4 mbs=1 zero=1 recompute=none``: tp, pp, dp and the
        micro-batch always, every other degree when above 1."""
        always = ("tp", "pp", "micro_batch")
        parts = [f"tp={self.tp}", f"pp={self.pp}", f"dp={self.dp}"]
        parts += [
            f"{d.short or d.name}={getattr(self, d.name)}"
            for d in PLAN_DEGREES
            if d.name not in always and getattr(self, d.name) > 1
        ]
        parts += [
            f"mbs={self.micro_batch}",
            f"zero={self.zero_stage}",
            f"recompute={self.recompute}",
        ]
        return " ".join(parts)
