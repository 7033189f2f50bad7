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
  TP 8·(t−1)/t·S per layer (4 all-gathers + 4 reduce-scatters of S = tokens·h·2 bytes, or the
  equivalent all-reduces); CP ring KV exchange 3·(c−1)·KV; EP all-to-all 4·(e−1)/e·tokens·k·h·2;
  PP p2p 2·S/t; DP reduce-scatter + all-gather (ZeRO) or all-reduce, overlapped with backward.
* recompute: full adds one forward (compute and TP traffic); selective adds the attention
  forward, which FlashAttention's backward already recomputes, so nothing more.

Ignored: stragglers, dataloader stalls, NCCL protocol switching, network contention between
simultaneous axes, power capping.
"""

from __future__ import annotations

import numpy as np

from ..specs import Job, ModelSpec, SystemSpec
from .knobs import Knobs
from .memory import params_on_rank, stage_layers
from .plans import PlanArrays
from .workload import layer_costs


def _tier_params(system: SystemSpec, span: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(bandwidth B/s per chip one direction × efficiency, latency s, in-network reduction, tier index)."""
    domains = np.array([t.domain_chips for t in system.tiers])
    idx = np.minimum(np.searchsorted(domains, span, side="left"), len(domains) - 1)
    bw = np.array([t.bandwidth_bytes_per_s * t.efficiency for t in system.tiers])[idx]
    lat = np.array([t.latency_s for t in system.tiers])[idx]
    inr = np.array([t.in_network_reduction for t in system.tiers])[idx]
    return bw, lat, inr, idx


def _log2(n: np.ndarray) -> np.ndarray:
    return np.ceil(np.log2(np.maximum(n, 1)))


def ring_time(kind: str, size_bytes: np.ndarray, n: np.ndarray, bw: np.ndarray, lat: np.ndarray,
              inr: np.ndarray | None = None) -> np.ndarray:
    """Alpha-beta time of one collective of ``size_bytes`` (the full buffer) over ``n`` ranks.

    all-gather / reduce-scatter / all-to-all: (n−1)/n·S/B; all-reduce 2(n−1)/n·S/B, or (n+1)/n·S/B
    with in-network reduction (NVLS/SHARP); latency α·⌈log₂ n⌉ per phase (tree/hierarchical).
    """
    frac = (n - 1) / np.maximum(n, 1)
    if kind == "allreduce":
        factor = 2 * frac if inr is None else np.where(inr, (n + 1) / np.maximum(n, 1), 2 * frac)
        phases = 2
    else:
        factor, phases = frac, 1
    t = factor * size_bytes / bw + phases * lat * _log2(n)
    return np.where(n > 1, t, 0.0)


def step_breakdown(model: ModelSpec, system: SystemSpec, job: Job, p: PlanArrays, knobs: Knobs) -> dict[str, np.ndarray]:
    """Time leaves (seconds per optimizer step) of the slowest rank; they sum to ``time/total``."""
    chip = system.chip
    costs = layer_costs(model)
    h, s = model.hidden_size, job.seq_len
    tokens = p.micro_batch * s / p.cp  # tokens one rank processes per micro-batch
    n_mb = job.global_batch_seqs / (p.dp * p.micro_batch)
    dense_l, moe_l = stage_layers(model, p)
    layers = dense_l + moe_l
    full_rc = p.recompute == 2

    eff = chip.matmul_efficiency
    peak_mm = chip.peak(job.precision) * (knobs.fp8_efficiency_ratio if job.precision in ("fp8", "fp4") else 1.0)
    peak_attn = chip.peak("bf16" if job.precision in ("fp8", "fp4") else job.precision)
    mm_rate = peak_mm * eff
    passes = 3.0 + full_rc  # fwd + 2×bwd GEMMs (+1 fwd when fully recomputing)

    # --- GEMMs ------------------------------------------------------------------------------
    mm_flops = dense_l * costs[0].matmul_flops_fwd
    gemms = dense_l * costs[0].gemm_count
    if model.moe is not None:
        mm_flops = mm_flops + moe_l * costs[1].matmul_flops_fwd
        gemms = gemms + moe_l * costs[1].gemm_count
    head_flops = 2.0 * model.vocab_size * h  # LM head on the last stage (worst stage)
    t_mm = passes * (tokens * mm_flops / p.tp + gemms * chip.matmul_half_flops) / mm_rate
    t_head = 3.0 * (tokens * head_flops / p.tp + chip.matmul_half_flops) / mm_rate
    # --- attention core ----------------------------------------------------------------------
    ctx = (s + 1) / 2  # causal
    attn_fwd = layers * costs[0].attn_core_flops_fwd_full * ctx * tokens / p.tp
    attn_rate = peak_attn * eff * knobs.attention_efficiency_ratio
    t_attn = attn_fwd * (1 + knobs.attention_bwd_ratio + full_rc) / attn_rate
    # --- memory-bound -------------------------------------------------------------------------
    act = dense_l * costs[0].act_bytes_per_token
    if model.moe is not None:
        act = act + moe_l * costs[1].act_bytes_per_token
    hbm = chip.hbm_bandwidth_bytes_per_s * chip.hbm_efficiency
    traffic = knobs.elementwise_traffic_ratio * act * tokens / p.tp * (3.0 + full_rc)
    loss_traffic = tokens * model.vocab_size / p.tp * 4.0 * 4  # fp32 logits, ~4 passes
    kernels = layers * knobs.kernels_per_layer_fwd * (3 + full_rc)
    t_mem = (traffic + loss_traffic) / hbm + kernels * chip.kernel_overhead_s
    compute_mb = (t_mm + t_head + t_attn + t_mem) * knobs.compute_time_scale

    # --- tensor parallel ----------------------------------------------------------------------
    bw_tp, lat_tp, _, _ = _tier_params(system, p.tp)
    act_bytes = tokens * h * 2.0
    n_coll = layers * (8 + 4 * full_rc)
    t_tp = n_coll * ring_time("allgather", act_bytes, p.tp, bw_tp, lat_tp) * (1 - knobs.tp_overlap)
    # --- context parallel (ring attention) ----------------------------------------------------
    bw_cp, lat_cp, _, _ = _tier_params(system, p.cp * p.tp)
    kv_dim = 2 * model.num_kv_heads * model.head_dim_eff if model.mla is None else model.num_attention_heads * 2 * model.head_dim_eff
    kv_bytes = tokens * kv_dim * 2.0 / p.tp
    t_cp_raw = layers * (3 + full_rc) * (p.cp - 1) * (kv_bytes / bw_cp + lat_cp)
    t_cp = np.maximum(t_cp_raw - knobs.cp_overlap * t_attn, 0.0)
    # --- expert parallel ----------------------------------------------------------------------
    t_ep = np.zeros(len(p))
    if model.moe is not None:
        bw_ep, lat_ep, _, _ = _tier_params(system, p.ep * p.tp * p.cp)
        a2a = tokens * model.moe.top_k * h * 2.0 / p.tp
        t_ep = moe_l * (4 + 2 * full_rc) * ring_time("alltoall", a2a, p.ep, bw_ep, lat_ep) * (1 - knobs.ep_overlap)
    # --- pipeline p2p ---------------------------------------------------------------------------
    bw_pp, lat_pp, _, _ = _tier_params(system, p.pp * p.tp * p.cp * p.dp)
    p2p = tokens * h * 2.0 / np.where(p.sequence_parallel, p.tp, 1)
    t_pp = np.where(p.pp > 1, 2 * p.vpp * (p2p / bw_pp + lat_pp) * (1 - knobs.pp_overlap), 0.0)

    per_mb = compute_mb + t_tp + t_cp + t_ep + t_pp
    bubble = (p.pp - 1) / p.vpp * per_mb
    t_pipeline = n_mb * per_mb

    # --- data parallel / FSDP -------------------------------------------------------------------
    params = params_on_rank(model, p)
    n_local = np.maximum(params["first"], params["last"])
    dense_local = n_local - params["expert"]
    shard = p.fsdp_shard.astype(float)
    bw_dp, lat_dp, inr_dp, _ = _tier_params(system, shard * p.tp)
    g = knobs.gradient_reduce_bytes
    bwd_share = 2.0 / (3.0 + full_rc)  # backward fraction of compute that can hide the sync
    rs = ring_time("reducescatter", dense_local * g, shard, bw_dp, lat_dp)
    ag = ring_time("allgather", dense_local * 2.0, shard, bw_dp, lat_dp)
    ar = ring_time("allreduce", dense_local * g, shard, bw_dp, lat_dp, inr_dp)
    if model.moe is not None:  # experts reduce over the expert-data-parallel group dp·cp/ep
        n_edp = np.maximum(shard / p.ep, 1)
        bw_e, lat_e, _, _ = _tier_params(system, p.tp * p.ep * n_edp)
        rs = rs + ring_time("reducescatter", params["expert"] * g, n_edp, bw_e, lat_e)
        ag = ag + ring_time("allgather", params["expert"] * 2.0, n_edp, bw_e, lat_e)
        ar = ar + ring_time("allreduce", params["expert"] * g, n_edp, bw_e, lat_e)
    # hybrid sharding: replicas of a shard all-reduce their slice across dp·cp/shard groups
    replicas = (p.dp * p.cp) / shard
    bw_r, lat_r, _, _ = _tier_params(system, p.tp * p.dp * p.cp)
    hybrid = ring_time("allreduce", dense_local * g / shard, replicas, bw_r, lat_r)
    z = p.zero_stage
    per_step_sync = np.where(z == 0, ar, np.where(z <= 2, rs + ag, 0.0)) + hybrid
    hide_step = knobs.dp_overlap * compute_mb * bwd_share * np.where(p.pp > 1, 1.0, 1.0)
    t_dp = np.maximum(per_step_sync - hide_step, 0.0)
    # ZeRO-3/FSDP: every micro-batch re-gathers weights (fwd, bwd) and reduce-scatters grads
    fsdp_mb = 2 * ag + rs
    t_fsdp = np.where(z >= 3, n_mb * np.maximum(fsdp_mb - knobs.dp_overlap * compute_mb, 0.0), 0.0)

    # --- optimizer ----------------------------------------------------------------------------
    opt_params = np.where(z >= 1, dense_local / shard + params["expert"] / np.maximum(shard / p.ep, 1), n_local)
    t_opt = opt_params * knobs.optimizer_bytes_per_param / hbm

    out = {
        "time/compute/matmul": n_mb * t_mm * knobs.compute_time_scale,
        "time/compute/lm_head": n_mb * t_head * knobs.compute_time_scale,
        "time/compute/attention": n_mb * t_attn * knobs.compute_time_scale,
        "time/compute/memory_bound": n_mb * t_mem * knobs.compute_time_scale,
        "time/comm/tp": n_mb * t_tp,
        "time/comm/cp": n_mb * t_cp,
        "time/comm/ep": n_mb * t_ep,
        "time/comm/pp": n_mb * t_pp,
        "time/bubble": bubble,
        "time/comm/dp": t_dp + t_fsdp,
        "time/optimizer": t_opt,
        "time/overhead": np.full(len(p), knobs.step_overhead_s),
    }
    total = sum(out.values())
    out["time/total"] = total
    # extra context for breakdown displays (not leaves)
    out["info/comm_dp_raw_s"] = np.where(z >= 3, n_mb * fsdp_mb, per_step_sync)
    out["info/pipeline_s"] = t_pipeline
    out["info/microbatches"] = n_mb
    return out
