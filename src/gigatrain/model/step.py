"""Step time of the slowest rank, evaluated over arrays of plans.

step = (m + (pp−1)/v) · t_microbatch(worst stage) + exposed DP/FSDP sync + optimizer + overhead

with m micro-batches per step and v virtual stages (bubble (pp−1)/(v·m): Narayanan et al. 2021
Eq. 1/2). Per micro-batch and stage:

* GEMMs: Σ (F_op + F_half) / (peak · e_max) — the saturating efficiency curve
  e(F) = e_max·F/(F+F_half), so small GEMMs (narrow TP shards, small experts, short
  micro-batches) run slower than big ones; backward = 2 GEMMs per forward GEMM.
* attention core (FlashAttention): forward 4·s_ctx·n_h·d_h FLOPs per token, backward 2.5×,
  at ``attention_efficiency_ratio`` of the GEMM efficiency.
* memory-bound ops: elementwise/norm traffic ∝ stored activation bytes, at achieved HBM
  bandwidth; plus a per-kernel launch floor.
* collectives per axis on the network tier the group spans (alpha-beta, ring factors):
  TP (t−1)/t·S per collective, 8 per layer (4 all-gathers + 4 reduce-scatters of
  S = tokens·h·2 bytes, or the equivalent all-reduces) plus 2 backward re-gathers with sequence
  parallelism; CP ring KV exchange 3·(c−1)·KV; EP all-to-all 4·(e−1)/e·tokens·k·h·2;
  PP p2p 2·S/t; DP reduce-scatter + all-gather (ZeRO) or all-reduce, overlapped with backward.
* recompute: full adds one forward (compute and TP traffic); selective adds the attention
  forward, which FlashAttention's backward already recomputes, so nothing more — unfused
  attention pays it (its FLOPs and score traffic once more: Korthikanti et al. 2022 §5).

Ignored: stragglers, dataloader stalls, NCCL protocol switching, network contention between
simultaneous axes, power capping.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from ..knobs import Knobs
from ..specs import DTYPE_BYTES, REFERENCE_FP8_MAMF_RATIO, Job, ModelSpec, SystemSpec
from .placement import StageSplit, expert_dp, expert_tp, params_on_rank, stage_split
from .plans import PlanArrays, RecomputeCode
from .workload import layer_costs


@dataclass(frozen=True)
class Link:
    """Per-plan network figures of the tier a group crosses (arrays)."""

    bw: np.ndarray  # large-message bytes/s per chip, one direction, × efficiency
    lat: np.ndarray  # seconds per collective step
    half: np.ndarray  # bytes at which bandwidth is half of ``bw``
    inr: np.ndarray  # in-network reduction available
    #: ring latency split (NCCL's cost model, tuning.cc): a flat ring of n ranks takes n−1
    #: steps per phase, ``crossings`` of them over this tier at ``lat`` and the rest inside the
    #: inner domains at ``inner_lat``; 0 crossings where the library runs hierarchical or
    #: per-axis (torus) algorithms instead of one flat ring
    crossings: np.ndarray | float = 0.0
    inner_lat: np.ndarray | float = 0.0

    def bandwidth(self, msg_bytes: np.ndarray) -> np.ndarray:
        """Achieved bandwidth for messages of ``msg_bytes``: bw·S/(S + S_half)."""
        return self.bw * msg_bytes / (msg_bytes + self.half)


def link_for(
    system: SystemSpec,
    n: np.ndarray,
    stride: np.ndarray | int = 1,
    point_to_point: bool = False,
    scale_out_bw: np.ndarray | None = None,
) -> Link:
    """Network figures for a group of ``n`` ranks spaced ``stride`` chips apart.

    The group crosses the innermost tier whose domain holds its span n·stride. When that is an
    outer tier, the g members that share each inner domain send through their own links in
    parallel (rail-optimised rings, one NIC per GPU), so the group's bus bandwidth is
    min(g × per-chip outer bandwidth, inner bandwidth): 4×8 B200 over EFA reach 382 GB/s busbw
    with ~48 GB/s per NIC (achievable.md §3.2-3.3). ``scale_out_bw`` (per plan, bytes/s per
    chip) replaces every outer tier's bandwidth × efficiency where finite: a measured fabric.
    """
    tiers = system.tiers
    n = np.asarray(n, dtype=float)
    span = np.where(n > 1, n * stride, 1)
    domains = np.array([t.domain_chips for t in tiers])
    idx = np.minimum(np.searchsorted(domains, span, side="left"), len(domains) - 1)
    bw_tier = np.array([t.bandwidth_bytes_per_s * t.efficiency for t in tiers])
    bw = bw_tier[idx]
    inner = np.maximum(idx - 1, 0)
    inner_bw = bw_tier[inner]
    if scale_out_bw is not None:
        measured = np.isfinite(scale_out_bw)
        bw = np.where(measured & (idx > 0), scale_out_bw, bw)
        inner_bw = np.where(measured & (inner > 0), scale_out_bw, inner_bw)
    members = np.clip(np.floor(domains[inner] / np.maximum(stride, 1)), 1, np.maximum(n, 1))
    if not point_to_point:  # a p2p transfer uses one chip's link, whatever the group
        bw = np.where(idx > 0, np.minimum(bw * members, inner_bw), bw)
    lat_tier = np.array([t.latency_s for t in tiers])
    # a flat ring enters and leaves each inner domain once: ⌈n/g⌉ − 1 crossings per phase
    crossings = np.where(idx > 0, np.ceil(np.maximum(n, 1) / members) - 1, 0.0)
    return Link(
        bw=bw,
        lat=lat_tier[idx],
        half=np.array([t.half_bw_bytes for t in tiers])[idx],
        inr=np.array([t.in_network_reduction for t in tiers])[idx],
        crossings=crossings if system.flat_ring_collectives else 0.0,
        inner_lat=lat_tier[inner],
    )


#: NCCL base latency per collective (Simple protocol, achievable.md §3.4)
BASE_LATENCY_S = 8.4e-6
#: measured NVLS all-reduce gain over ring on 8 GPUs (1.23–1.30×, achievable.md §3.5)
NVLS_SPEEDUP = 1.25
#: TP collectives per layer, forward + backward: Megatron's 2 all-reduces per block each way
#: (8 collectives as all-gather/reduce-scatter pairs); sequence parallelism re-gathers the
#: GEMM inputs in the backward (+2); full recompute repeats the forward's 4
TP_COLLECTIVES_PER_LAYER = 8
TP_COLLECTIVES_SP_EXTRA = 2
TP_COLLECTIVES_RECOMPUTE = 4
#: EP all-to-alls per MoE layer: dispatch + combine forward and backward (+2 when recomputing)
EP_ALL_TO_ALLS_PER_LAYER = 4
EP_ALL_TO_ALLS_RECOMPUTE = 2
#: bytes moved per attention-score element without FlashAttention: the s×s scores written,
#: softmax read/write, dropout mask and output, read again by the PV GEMM (2-byte dtype)
UNFUSED_SCORE_BYTES = 13.0
#: the LM head's fp32 logits make ~4 elementwise passes (softmax, loss, their backward)
LOGIT_FP32_PASSES = 4
#: host-dispatched ops per step outside the layers (optimizer, grad-norm, loss scaling)
HOST_OPS_PER_STEP = 20.0


def collective_time(
    kind: str,
    size_bytes: np.ndarray,
    n: np.ndarray,
    link: Link,
    chunk_bytes: np.ndarray | float | None = None,
) -> np.ndarray:
    """Alpha-beta time of one collective over ``n`` ranks moving a ``size_bytes`` buffer.

    Bytes on the wire per rank: all-gather / reduce-scatter / all-to-all (n−1)/n·S, all-reduce
    2(n−1)/n·S (÷1.25 with NVLS/SHARP). Bandwidth falls for mid-size messages:
    bw(S) = bw·S/(S + S_half). Latency: NCCL base + per-step latency × steps, steps = n−1 per
    phase for small rings and 2·⌈log₂ n⌉ for large groups (tree all-reduce; per-axis or
    hierarchical libraries); all-gather / reduce-scatter across domains of a flat-ring library
    take the ring's n−1 steps (:func:`_flat_ring_time`).
    ``chunk_bytes`` splits the buffer into buckets (DDP / Megatron gradient buckets).
    """
    n = np.asarray(n, dtype=float)
    size = np.asarray(size_bytes, dtype=float)
    chunks = (
        np.maximum(np.ceil(size / np.maximum(chunk_bytes, 1.0)), 1.0)
        if chunk_bytes is not None
        else np.ones_like(size)
    )
    msg = size / chunks
    frac = (n - 1) / np.maximum(n, 1)
    phases = 2.0 if kind == "allreduce" else 1.0
    wire = phases * frac * msg
    if kind == "allreduce":
        wire = np.where(link.inr, wire / NVLS_SPEEDUP, wire)
    bw = link.bandwidth(msg)
    steps = np.minimum(n - 1, 2 * np.ceil(np.log2(np.maximum(n, 2))))
    lat = phases * steps * link.lat
    t = chunks * (wire / bw + BASE_LATENCY_S + lat)
    crosses = np.asarray(link.crossings) > 0
    if kind in ("allgather", "reducescatter") and crosses.any():  # else skip: a hot path
        t = np.where(crosses, _flat_ring_time(wire, bw, n, link, chunks), t)
    return np.where(n > 1, t, 0.0)


#: NCCL LL128 protocol relative to Simple (achievable.md §3.4): per-step latency 1.9 vs 3.4 µs
#: on NVLink and 4.0 vs 14 µs over the network, base 14 µs; 120 payload bytes per 128-byte line
LL128_INNER_LAT_RATIO = 1.9 / 3.4
LL128_CROSSING_LAT_RATIO = 4.0 / 14.0
LL128_BASE_LATENCY_S = 14e-6
LL128_BW_FRACTION = 120 / 128


def _flat_ring_time(
    wire: np.ndarray, bw: np.ndarray, n: np.ndarray, link: Link, chunks: np.ndarray
) -> np.ndarray:
    """All-gather / reduce-scatter as NCCL runs them across domains: one ring of n ranks (no
    tree exists for these), n−1 steps per chunk, ``crossings`` of them at the outer tier's
    latency and the rest inside a domain (NCCL's cost model, tuning.cc), with the protocol NCCL
    would pick: Simple, or LL128 (lower per-step latency, 120/128 of the bandwidth) when the
    ring is long enough for latency to dominate."""
    crossings = np.minimum(link.crossings, n - 1)
    inside = n - 1 - crossings
    simple = wire / bw + BASE_LATENCY_S + crossings * link.lat + inside * link.inner_lat
    ll128 = (
        wire / (bw * LL128_BW_FRACTION)
        + LL128_BASE_LATENCY_S
        + crossings * link.lat * LL128_CROSSING_LAT_RATIO
        + inside * link.inner_lat * LL128_INNER_LAT_RATIO
    )
    return chunks * np.minimum(simple, ll128)


def eager_kernels_per_layer(model: ModelSpec) -> int:
    """Kernels one eager-PyTorch layer launches in its forward pass, counted from structure:
    an unfused RMSNorm is ~8 kernels (upcast, pow, mean, add, rsqrt, mul, cast, scale) where
    nn.LayerNorm is 1; RoPE ~10 (slices, negation, cat, muls, adds on q and k); GQA's
    repeat_kv 2 copies; gated MLPs one more element-wise op; plus 12 common to every layer
    (QKV, transpose copies, SDPA, o-proj, 2 residual adds, MLP GEMMs)."""
    norm = 8 if model.norm_type == "rmsnorm" else 1
    rope = 10 if (model.learned_position_embeddings == 0 and model.mla is None) else 0
    repeat = 2 if model.num_kv_heads < model.num_attention_heads else 0
    return model.norms_per_layer * norm + rope + repeat + (2 if model.mlp_gated else 1) + 12


def _layer_comm(model: ModelSpec, system: SystemSpec, job: Job, p: PlanArrays) -> dict[str, object]:
    """Per-collective times and links that do not depend on the stage (computed once)."""
    h = model.hidden_size
    tokens = p.micro_batch * job.seq_len / p.cp
    link = partial(link_for, system, scale_out_bw=p.scale_out_bytes_per_s)
    out: dict[str, object] = {
        "tp_collective_s": collective_time(
            "allgather",
            tokens * h * 2.0,
            p.tp,
            link(p.tp),
        ),
        "cp_link": link(p.cp, p.tp),
    }
    if model.moe is not None:
        a2a = tokens * model.moe.top_k * h * 2.0 / p.tp
        out["ep_collective_s"] = collective_time(
            "alltoall",
            a2a,
            p.ep,
            link(p.ep, expert_tp(p)),
        )
    return out


def _unit_costs(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    p: PlanArrays,
    knobs: Knobs,
    comm: dict[str, object],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-micro-batch costs of one dense layer, one MoE layer and the LM head, every one linear
    in what a stage holds (so a stage is dense·unit + moe·unit + head, computed once per plan
    and combined per stage by :func:`_stage_microbatch`). Keys map to (dense, MoE) arrays;
    ``head`` maps to (GEMM time, loss traffic time)."""
    chip = system.chip
    costs = layer_costs(model)
    h, s = model.hidden_size, job.seq_len
    tokens = p.micro_batch * s / p.cp  # tokens one rank processes per micro-batch
    full_rc = p.recompute == RecomputeCode.FULL
    # selective recompute re-runs core attention: FlashAttention's backward recomputes it anyway,
    # unfused attention runs its forward (QKᵀ, softmax over stored-then-dropped scores, AV) again
    attn_rc = full_rc + (p.recompute == RecomputeCode.SELECTIVE) * (1.0 - knobs.flash_attention)
    zero = np.zeros(len(p))

    eff = chip.matmul_efficiency
    fp8 = job.precision in ("fp8", "fp4")
    peak_attn = chip.matmul_peak("bf16" if fp8 else job.precision)
    if job.precision == "fp8":
        # the chip's fp8 GEMM efficiency (measured, or bf16's × the H100 ratio) times the cast
        # overhead: the knob is that ratio × the overhead, never above the measured GEMM
        cast = min(knobs.fp8_efficiency_ratio / REFERENCE_FP8_MAMF_RATIO, 1.0)
        mm_rate = chip.matmul_peak("fp8") * chip.matmul_efficiency_for("fp8") * cast
    else:  # fp4 has no measured GEMM efficiency on any chip: bf16's × the fp8 ratio
        peak_mm = chip.matmul_peak(job.precision) * (knobs.fp8_efficiency_ratio if fp8 else 1.0)
        mm_rate = peak_mm * eff
    passes = 3.0 + full_rc  # fwd + 2×bwd GEMMs (+1 fwd when fully recomputing)

    # --- GEMMs: (F_op + F_half)/(peak·e_max) per op ---------------------------------------------
    def gemm_time(flops: float, gemms: np.ndarray | float) -> np.ndarray:
        return passes * (tokens * flops / p.tp + gemms * chip.matmul_half_flops) / mm_rate

    mm = (gemm_time(costs[0].matmul_flops_fwd, costs[0].gemm_count), zero)
    kpl = knobs.kernels_per_layer_fwd or eager_kernels_per_layer(model)
    kernels = (np.full(len(p), float(kpl)) * (3 + full_rc), zero)
    moe_traffic = zero
    if model.moe is not None:
        moe = model.moe
        # each local expert runs its own GEMMs: E/ep small ops instead of one big one
        k = 3 if model.mlp_gated else 2
        local_experts = moe.num_experts / p.ep
        mm = (
            mm[0],
            gemm_time(costs[1].matmul_flops_fwd, costs[1].gemm_count - k * 2 + k * local_experts),
        )
        # token permute + unpermute: read and write top_k copies of each token's hidden state
        moe_traffic = 8.0 * moe.top_k * h * tokens / p.tp * (3.0 + full_rc)
        kernels = (
            kernels[0],
            (kpl + knobs.moe_kernels_per_layer_fwd + local_experts) * (3 + full_rc),
        )
    head_mm = 3.0 * (tokens * 2.0 * model.vocab_size * h / p.tp + chip.matmul_half_flops) / mm_rate
    # --- attention core (causal context (s+1)/2) ------------------------------------------------
    attn_rate = peak_attn * eff * min(knobs.attention_efficiency_ratio, 1.0)
    if knobs.attention_kernel_fa2 and chip.fa2_attention_fraction:
        attn_rate = chip.matmul_peak("bf16") * chip.fa2_attention_fraction
    attn_one = (
        costs[0].attn_core_flops_fwd_full
        * (s + 1)
        / 2
        * tokens
        / p.tp
        * (1 + knobs.attention_bwd_ratio + attn_rc)
        / attn_rate
    )
    # --- memory-bound -------------------------------------------------------------------------
    hbm = chip.hbm_bandwidth_bytes_per_s * chip.hbm_efficiency
    elementwise_bw = chip.elementwise_bandwidth_bytes_per_s or hbm
    # activation bytes are counted for 2-byte tensors; fp32 training moves twice as many
    widen = 2.0 if job.precision == "fp32" else 1.0
    # selective recompute re-runs the elementwise forward ops (one more forward's traffic share)
    passes_mem = (
        3.0
        + full_rc
        + 0.5 * ((p.recompute == RecomputeCode.SELECTIVE) & bool(knobs.selective_drops_elementwise))
    )
    # unfused attention streams the s×s scores (written, softmax, dropout, read by AV)
    score = (
        (1 - knobs.flash_attention)
        * model.num_attention_heads
        / p.tp
        * s
        * tokens
        * UNFUSED_SCORE_BYTES
        * (3.0 + attn_rc)
    )

    def traffic(act_per_token: float, extra: np.ndarray) -> np.ndarray:
        act = act_per_token * widen * tokens / p.tp
        t = knobs.elementwise_traffic_ratio * act * passes_mem + score + extra
        if fp8:  # quantising GEMM inputs (activations fwd, gradients bwd) is an extra pass
            t = t + knobs.fp8_cast_traffic_ratio * act * (3.0 + full_rc)
        return t / elementwise_bw

    mem = (
        traffic(costs[0].act_bytes_per_token, zero) + kernels[0] * chip.kernel_overhead_s,
        traffic(costs[1].act_bytes_per_token, moe_traffic) + kernels[1] * chip.kernel_overhead_s
        if model.moe is not None
        else zero,
    )
    head_mem = (
        tokens * model.vocab_size / p.tp * DTYPE_BYTES["fp32"] * LOGIT_FP32_PASSES / elementwise_bw
    )

    # --- tensor parallel (Korthikanti et al. 2022 §4.2.2: with sequence parallelism each layer
    # runs 2 all-gathers + 2 reduce-scatters forward and the same backward, plus the backward
    # re-gather of the sequence-parallel GEMM inputs: 2 more all-gathers → 10 per layer) -------
    tp_one = (
        (
            TP_COLLECTIVES_PER_LAYER
            + TP_COLLECTIVES_SP_EXTRA * p.sequence_parallel
            + TP_COLLECTIVES_RECOMPUTE * full_rc
        )
        * comm["tp_collective_s"]
        * (1 - knobs.tp_overlap)
    )
    # --- context parallel (ring attention) ----------------------------------------------------
    cp_link: Link = comm["cp_link"]  # type: ignore[assignment]
    if model.mla is None:
        kv_dim = 2 * model.num_kv_heads * model.head_dim_eff
    else:  # MLA: CP exchanges the up-projected per-head K (nope+rope) and V, not the latent
        m = model.mla
        kv_dim = model.num_attention_heads * (
            m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim
        )
    kv_bytes = tokens * kv_dim * 2.0 / p.tp
    cp_one = (
        (3 + full_rc)
        * (p.cp - 1)
        * (kv_bytes / cp_link.bandwidth(kv_bytes) + cp_link.lat + BASE_LATENCY_S)
    )
    # --- expert parallel ----------------------------------------------------------------------
    ep_one = (
        (EP_ALL_TO_ALLS_PER_LAYER + EP_ALL_TO_ALLS_RECOMPUTE * full_rc)
        * comm["ep_collective_s"]
        * (1 - knobs.ep_overlap)
        if model.moe is not None
        else zero
    )
    return {
        "mm": mm,
        "attn": (attn_one, attn_one),
        "mem": mem,
        "kernels": kernels,
        "tp": (tp_one, tp_one),
        "cp_raw": (cp_one, cp_one),
        "ep": (zero, ep_one),
        "head": (head_mm, head_mem),
    }


def _stage_microbatch(
    units: dict[str, tuple[np.ndarray, np.ndarray]],
    knobs: Knobs,
    layers_mix: tuple[np.ndarray, np.ndarray],
    head: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per-micro-batch time leaves of one pipeline stage with ``layers_mix`` = (dense, MoE)
    layers; ``head`` (bool array) says whether the stage also runs the LM head and loss."""
    dense_l, moe_l = layers_mix
    head_f = head.astype(float)

    def stage(key: str) -> np.ndarray:
        d, m = units[key]
        return dense_l * d + moe_l * m

    t_mm, t_attn, t_mem, kernels = stage("mm"), stage("attn"), stage("mem"), stage("kernels")
    t_head = head_f * units["head"][0]
    t_mem = t_mem + head_f * units["head"][1]
    # a framework is never faster than the model (scale ≥ 1 is enforced where profiles load)
    scale = max(knobs.compute_time_scale, 1.0)
    compute = (t_mm + t_head + t_attn + t_mem) * scale
    # a framework that dispatches ops from the host cannot go faster than its dispatch rate
    t_host = np.maximum((kernels + HOST_OPS_PER_STEP) * knobs.host_op_overhead_s - compute, 0.0)
    t_cp_raw = stage("cp_raw")
    # the exchange hides behind attention, stretched where the host cannot launch fast enough
    stretch = (compute + t_host) / np.maximum(compute, 1e-30)
    t_cp = np.maximum(t_cp_raw - knobs.cp_overlap * t_attn * scale * stretch, 0.0)
    return {
        "matmul": t_mm * scale,
        "lm_head": t_head * scale,
        "attention": t_attn * scale,
        "memory_bound": t_mem * scale,
        "host": t_host,
        "tp": stage("tp"),
        "cp": t_cp,
        "ep": stage("ep"),
        "cp_hidden": t_cp_raw - t_cp,
    }


def step_breakdown(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    p: PlanArrays,
    knobs: Knobs,
    split: StageSplit | None = None,
) -> dict[str, np.ndarray]:
    """Time leaves (seconds per optimizer step) of the slowest rank; they sum to ``time/total``.

    Every pipeline stage runs the same schedule, so the step ends when the slowest stage's
    ranks finish: the first (most layers) or the last (fewer layers plus the LM head and loss,
    :func:`placement.stage_split`), each with its own exposed data-parallel sync.
    """
    h, s = model.hidden_size, job.seq_len
    tokens = p.micro_batch * s / p.cp  # tokens one rank processes per micro-batch
    n_mb = job.global_batch_seqs / (p.dp * p.micro_batch)
    split = split or stage_split(model, job, p, knobs)
    full_rc = p.recompute == RecomputeCode.FULL
    hbm = system.chip.hbm_bandwidth_bytes_per_s * system.chip.hbm_efficiency

    # --- pipeline p2p ---------------------------------------------------------------------------
    link = partial(link_for, system, scale_out_bw=p.scale_out_bytes_per_s)
    pp_link = link(p.pp, p.tp * p.cp * p.dp, point_to_point=True)
    p2p = tokens * h * 2.0 / np.where(p.sequence_parallel, p.tp, 1)
    p2p_t = p2p / pp_link.bandwidth(p2p) + pp_link.lat + BASE_LATENCY_S
    t_pp = np.where(p.pp > 1, 2 * p.vpp * p2p_t * (1 - knobs.pp_overlap), 0.0)
    t_mb_fixed = (
        np.where(p.pp > 1, knobs.pp_microbatch_overhead_s, 0.0) + knobs.microbatch_overhead_s
    )

    # --- data parallel / FSDP collectives (sized by the larger stage) ----------------------------
    params = params_on_rank(model, p, split)
    n_local = np.maximum(params["first"], params["last"])
    dense_local = n_local - params["expert"]
    shard = p.fsdp_shard.astype(float)
    dp_link = link(shard, p.tp)
    g = knobs.gradient_reduce_bytes
    bucket = knobs.dp_bucket_bytes
    bwd_share = 2.0 / (3.0 + full_rc)  # backward fraction of compute that can hide the sync
    rs = collective_time("reducescatter", dense_local * g, shard, dp_link, bucket)
    ag = collective_time("allgather", dense_local * 2.0, shard, dp_link, bucket)
    ar = collective_time("allreduce", dense_local * g, shard, dp_link, bucket)
    # ZeRO-3/FSDP gathers and reduces one layer's weights per collective (an FSDP unit, a
    # scanned XLA layer) unless the framework gathers in fixed prefetch buckets (DeepSpeed)
    layers_local = np.maximum(np.maximum(split.first_layers, split.last_layers), 1)
    unit = np.where(knobs.fsdp_gather_per_layer > 0, dense_local * 2.0 / layers_local, bucket)
    fsdp_rs = collective_time("reducescatter", dense_local * g, shard, dp_link, unit * g / 2.0)
    fsdp_ag = collective_time("allgather", dense_local * 2.0, shard, dp_link, unit)
    if model.moe is not None:  # experts reduce over their expert-data-parallel group
        n_edp = expert_dp(p)
        e_link = link(n_edp, p.ep * expert_tp(p))
        rs = rs + collective_time("reducescatter", params["expert"] * g, n_edp, e_link, bucket)
        ag = ag + collective_time("allgather", params["expert"] * 2.0, n_edp, e_link, bucket)
        ar = ar + collective_time("allreduce", params["expert"] * g, n_edp, e_link, bucket)
        e_unit = np.where(
            knobs.fsdp_gather_per_layer > 0, params["expert"] * 2.0 / layers_local, bucket
        )
        fsdp_rs = fsdp_rs + collective_time(
            "reducescatter", params["expert"] * g, n_edp, e_link, e_unit * g / 2.0
        )
        fsdp_ag = fsdp_ag + collective_time(
            "allgather", params["expert"] * 2.0, n_edp, e_link, e_unit
        )
    # hybrid sharding: replicas of a shard all-reduce their slice across dp·cp/shard groups
    replicas = (p.dp * p.cp) / shard
    r_link = link(replicas, p.tp * shard)
    hybrid = collective_time("allreduce", dense_local * g / shard, replicas, r_link, bucket)
    z = p.zero_stage
    # ZeRO-2 (DeepSpeed) reduce-scatters gradients after every micro-batch: the sharded buffer
    # cannot accumulate a whole gradient (Rajbhandari et al. 2020 §5.2); ZeRO-1 once per step
    zero2_mb = (z == 2) & bool(knobs.zero2_reduce_per_microbatch)
    per_step_sync = (
        np.where(z == 0, ar, np.where(zero2_mb, ag, np.where(z <= 2, rs + ag, 0.0))) + hybrid
    )
    fsdp_mb = 2 * fsdp_ag + fsdp_rs  # ZeRO-3/FSDP: re-gather weights (fwd, bwd), reduce grads
    # tied input/output embeddings on different pipeline stages: the first and last stage
    # all-reduce the word-embedding gradient after the data-parallel sync, exposed (Megatron's
    # _allreduce_word_embedding_grads, DeepSpeed's tied-module reduce)
    t_emb = np.zeros(len(p))
    if model.tied_embeddings:  # else skip: most large models untie, and this is a hot path
        emb_link = link(np.full(len(p), 2.0), (p.pp - 1) * p.tp * p.cp * p.dp, point_to_point=True)
        emb_grad = model.vocab_size * h / p.tp * g
        t_emb = np.where(
            p.pp > 1,
            collective_time("allreduce", emb_grad, np.full(len(p), 2.0), emb_link),
            0.0,
        )
    per_mb_dp = np.where(z >= 3, fsdp_mb, np.where(zero2_mb, rs, 0.0))
    # --- optimizer ----------------------------------------------------------------------------
    opt_params = np.where(z >= 1, dense_local / shard + params["expert"] / expert_dp(p), n_local)
    t_opt = opt_params * knobs.optimizer_bytes_per_param / hbm

    def stage_leaves(st: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        compute_mb = (
            st["matmul"] + st["lm_head"] + st["attention"] + st["memory_bound"] + st["host"]
        )
        per_mb = compute_mb + st["tp"] + st["cp"] + st["ep"] + t_pp + t_mb_fixed
        # compute already covering the context-parallel exchange cannot hide DP traffic as
        # well; per-micro-batch traffic (ZeRO-2 reduce-scatter, FSDP gathers) hides first, the
        # per-step sync only behind what is left of the last backward
        window = knobs.dp_overlap * np.maximum(compute_mb - st["cp_hidden"], 0.0)
        per_mb_hide = np.where(z >= 3, window, window * bwd_share)
        t_mb_dp = n_mb * np.maximum(per_mb_dp - per_mb_hide, 0.0)
        leftover = np.maximum(per_mb_hide - per_mb_dp, 0.0) * np.where(z >= 3, bwd_share, 1.0)
        t_dp = np.maximum(per_step_sync - leftover, 0.0)
        return {
            "time/compute/matmul": n_mb * st["matmul"],
            "time/compute/lm_head": n_mb * st["lm_head"],
            "time/compute/attention": n_mb * st["attention"],
            "time/compute/memory_bound": n_mb * st["memory_bound"],
            "time/compute/host_overhead": n_mb * st["host"],
            "time/comm/tp": n_mb * st["tp"],
            "time/comm/cp": n_mb * st["cp"],
            "time/comm/ep": n_mb * st["ep"],
            "time/comm/pp": n_mb * t_pp,
            "time/overhead/microbatch": n_mb * t_mb_fixed,
            "time/bubble": (p.pp - 1) / p.vpp * per_mb,
            "time/comm/dp": t_dp + t_mb_dp + t_emb,
            "time/optimizer": t_opt,
            "time/overhead/step": np.full(len(p), knobs.step_overhead_s),
        }

    units = _unit_costs(model, system, job, p, knobs, _layer_comm(model, system, job, p))
    first = stage_leaves(_stage_microbatch(units, knobs, split.first, p.pp == 1))
    last = stage_leaves(_stage_microbatch(units, knobs, split.last, np.ones(len(p), dtype=bool)))
    use_last = np.asarray(sum(last.values()) > sum(first.values()))
    out = {k: np.where(use_last, last[k], first[k]) for k in first}
    out["time/total"] = np.asarray(sum(out.values()))
    # extra context for breakdown displays (not leaves)
    out["info/comm_dp_raw_s"] = per_step_sync + n_mb * per_mb_dp
    out["info/last_stage_slower"] = use_last
    out["info/pipeline_s"] = out["time/total"] - out["time/bubble"] - out["time/comm/dp"] - t_opt
    out["info/microbatches"] = n_mb
    return out
