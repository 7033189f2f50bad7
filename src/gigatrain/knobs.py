"""Every modelling assumption as a named knob with a documented default (DESIGN.md principle 7).

Defaults come from ``shared/facts/achievable.md`` where a measurement exists. A framework
profile (``catalog/data/frameworks.yaml``) overrides some of them; the overrides marked
``fitted`` there were fitted on the shipped validation runs by ``python -m
gigatrain.validate.fit`` and are reported with the accuracy figures in the README.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Knobs:
    # --- compute ---------------------------------------------------------------------------
    #: attention kernels (FlashAttention) reach this fraction of the chip's best GEMM efficiency
    #: (FA2 on A100 50–73 % of peak vs 87 % GEMM; FA3 on H100 ~65 % vs 80 %: achievable.md §4)
    attention_efficiency_ratio: float = 0.75
    #: FLOPs of the FlashAttention backward pass relative to its forward (recomputes QKᵀ): 2.5
    attention_bwd_ratio: float = 2.5
    #: elementwise/norm HBM traffic per layer as a multiple of the layer's stored activation bytes
    #: (forward; backward moves twice as much)
    elementwise_traffic_ratio: float = 1.0
    #: kernels launched per layer per forward pass (backward launches twice as many);
    #: 0 = count an eager (unfused) PyTorch layer from the model's structure
    kernels_per_layer_fwd: int = 14
    #: HBM bytes streamed per locally-updated parameter by an AdamW step
    #: (read p32, g, m, v; write p32, m, v, p16: ≈ 30 B, achievable.md §5.2)
    optimizer_bytes_per_param: float = 30.0
    #: fraction of the fp8 matmul peak reached relative to the bf16 one at equal shape
    #: (MAMF fp8 70.9 % vs bf16 80.3 % on H100: achievable.md §1.2), times the cast overhead;
    #: a chip with a measured fp8 GEMM efficiency (``ChipSpec.fp8_matmul_efficiency``) keeps only
    #: the cast overhead, knob / that H100 ratio
    fp8_efficiency_ratio: float = 0.85
    #: host-side dispatch time per launched op (PyTorch eager ≈ 5–20 µs); a micro-batch cannot
    #: run faster than its ops can be launched (matters for small models and narrow shards)
    host_op_overhead_s: float = 10e-6
    #: 1 = FlashAttention (no s² score tensor in HBM); 0 = unfused attention that writes the
    #: scores and runs softmax/dropout over them (≈13 bytes per score fwd, ×2 bwd: Megatron's
    #: fused scale-mask-softmax path, Korthikanti et al. 2022 §4.1)
    flash_attention: float = 1.0
    #: fixed cost per micro-batch (framework bookkeeping, gradient-accumulation hooks, syncs)
    microbatch_overhead_s: float = 0.0
    #: fixed cost per micro-batch per pipeline stage (p2p handshakes, schedule bookkeeping)
    pp_microbatch_overhead_s: float = 0.0
    #: extra kernels per MoE layer forward (router top-k, sort, histogram, permute, unpermute)
    moe_kernels_per_layer_fwd: int = 30
    #: fp8/fp4 input quantisation traffic as a multiple of a layer's stored activation bytes
    fp8_cast_traffic_ratio: float = 0.5
    #: fixed per-step cost outside the model (data loader, logging, launch gaps)
    step_overhead_s: float = 0.0
    #: fitted: a global multiplier on compute time (covers framework inefficiency not modelled)
    compute_time_scale: float = 1.0

    # --- communication -----------------------------------------------------------------------
    #: fraction of TP collectives hidden behind GEMMs (0 = Megatron default, no TP overlap)
    tp_overlap: float = 0.0
    #: fraction of backward compute that can hide DP gradient reduction (bucketed, overlapped)
    dp_overlap: float = 0.9
    #: fraction of attention compute that can hide context-parallel KV exchange (ring attention)
    cp_overlap: float = 0.7
    #: fraction of expert compute that can hide MoE all-to-all
    ep_overlap: float = 0.0
    #: fraction of pipeline p2p transfer hidden (async send/recv)
    pp_overlap: float = 0.5
    #: gradient bucket size: DP reductions run as collectives of this size (PyTorch DDP 25 MB,
    #: Megatron ≈ 40 M params); smaller buckets see lower bandwidth (achievable.md §3.2)
    dp_bucket_bytes: float = 100e6
    #: bytes per gradient element in the data-parallel reduction (fp32: Megatron main_grad)
    gradient_reduce_bytes: float = 4.0

    # --- memory -------------------------------------------------------------------------------
    #: allocator-visible per-rank memory outside the model (cuBLAS/cuDNN workspaces, buffers)
    memory_overhead_bytes: float = 1.0 * 2**30
    #: memory the runtime holds outside PyTorch's allocator (CUDA context, NCCL channels): it
    #: counts against capacity but not in torch.cuda.max_memory_reserved()
    runtime_context_bytes: float = 1.5 * 2**30
    #: allocator fragmentation as a fraction of model memory
    memory_fragmentation: float = 0.08
    #: multiplier on stored activation bytes: frameworks that keep extra copies (unfused norms,
    #: gathered sequence-parallel inputs, fp32 upcasts) store more than Korthikanti's count
    activation_memory_scale: float = 1.0
    #: fraction of stored activations that tensor parallelism does not shard (e.g. gathered
    #: inputs kept for the backward pass); 0 = Megatron with sequence parallelism
    tp_unsharded_act_fraction: float = 0.0
    #: layers' worth of full activations alive at once under full recompute (the layer being
    #: recomputed plus its gradient buffers)
    recompute_working_layers: float = 2.0
    #: 1 = under PP, FSDP keeps the stage's bf16 weights and gradients unsharded between
    #: micro-batches (torchtitan); 0 = reshards after every micro-batch
    fsdp_pp_unsharded: float = 1.0
    #: bytes per logit kept on the last stage for the loss (bf16 logits + fp32 softmax/grad)
    logit_bytes: float = 6.0

    # --- framework semantics (set per framework profile, never fitted) -------------------------
    #: 1 = the framework balances pipeline stages around the LM head (first/last stages with
    #: fewer layers: Megatron-Core ``--decoder-last-pipeline-num-layers``, torchtitan module
    #: split); 0 = uniform ⌈L/pp⌉ partition with the head added to the last stage
    uneven_pipeline_stages: float = 0.0
    #: 1 = "selective" recompute also drops norm and activation-function outputs (op-level
    #: selective checkpointing); 0 = Megatron-Core's selective mode (core attention only,
    #: which saves nothing more once FlashAttention stores no scores)
    selective_drops_elementwise: float = 0.0
    #: 1 = ZeRO-2 reduce-scatters gradients after every micro-batch's backward (DeepSpeed: the
    #: sharded gradient buffer cannot accumulate a full gradient); the per-step cost ZeRO-1 pays
    #: once is then paid n_mb times, partly hidden behind each backward
    zero2_reduce_per_microbatch: float = 1.0
    #: 1 = ZeRO-3/FSDP gathers (and reduce-scatters) one layer's weights per collective
    #: (PyTorch FSDP wraps each transformer block as a unit; XLA gathers a scanned layer);
    #: 0 = fixed prefetch buckets of ``dp_bucket_bytes`` (DeepSpeed ZeRO-3
    #: ``stage3_prefetch_bucket_size``)
    fsdp_gather_per_layer: float = 1.0
    #: 1 = attention runs FlashAttention-2 (the flash-attn package; PyTorch SDPA's default CUDA
    #: backend before 2.9): on a chip with a measured ``fa2_attention_fraction`` that fraction of
    #: peak replaces ``attention_efficiency_ratio`` × GEMM efficiency
    attention_kernel_fa2: float = 0.0

    def overlap_bounds(self) -> tuple[Knobs, Knobs]:
        """(everything overlapped, nothing overlapped): the bounds DESIGN.md principle 7 asks
        for where overlap is uncertain."""
        names = ("tp_overlap", "dp_overlap", "cp_overlap", "ep_overlap", "pp_overlap")
        return self.with_(**dict.fromkeys(names, 1.0)), self.with_(**dict.fromkeys(names, 0.0))

    def with_(self, **changes: Any) -> Knobs:
        return replace(self, **changes)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


DEFAULT_KNOBS = Knobs()

#: physical range of each knob (inclusive): profiles outside it are refused when they load and
#: the fitter never leaves it. Efficiencies and overlaps are fractions; a framework can only be
#: slower than the model (compute_time_scale ≥ 1), so MFU never exceeds the chip's measured GEMM
#: efficiency; per-event overheads are bounded by what a launch or a handshake can cost.
KNOB_RANGES: dict[str, tuple[float, float]] = {
    "attention_efficiency_ratio": (0.1, 1.0),
    "fp8_efficiency_ratio": (0.3, 1.0),
    "compute_time_scale": (1.0, 3.0),
    "elementwise_traffic_ratio": (0.25, 6.0),
    "host_op_overhead_s": (0.0, 50e-6),  # eager PyTorch dispatch is 5–20 µs per op
    "microbatch_overhead_s": (0.0, 0.1),
    "pp_microbatch_overhead_s": (0.0, 1.0),
    "tp_overlap": (0.0, 1.0),
    "dp_overlap": (0.0, 1.0),
    "cp_overlap": (0.0, 1.0),
    "ep_overlap": (0.0, 1.0),
    "pp_overlap": (0.0, 1.0),
    "flash_attention": (0.0, 1.0),
    "memory_fragmentation": (0.0, 0.5),
    "activation_memory_scale": (0.5, 4.0),
    "tp_unsharded_act_fraction": (0.0, 1.0),
    "recompute_working_layers": (1.0, 8.0),
    "logit_bytes": (2.0, 20.0),
    "memory_overhead_bytes": (0.0, 8.0 * 2**30),
    "uneven_pipeline_stages": (0.0, 1.0),
    "selective_drops_elementwise": (0.0, 1.0),
    "zero2_reduce_per_microbatch": (0.0, 1.0),
    "fsdp_gather_per_layer": (0.0, 1.0),
    "attention_kernel_fa2": (0.0, 1.0),
}
