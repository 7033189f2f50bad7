"""Serving performance on arrays of deployments: memory, prefill and decode rooflines, latency,
throughput. One code path for one estimate and for a search (DESIGN.md principle 2).

Per pipeline stage and chip (most-loaded stage: ⌈L/pp⌉ layers, embeddings and LM head):

* **Decode step** with B = C/pp sequences per micro-batch and T = B·(1+k) tokens (k draft
  tokens when speculating). Each part is a roofline max(bytes/BW, FLOPs/peak) (Williams et al.
  2009), summed over parts because engines run them as separate kernels:
  - GEMMs: weight bytes read, with MoE experts touched by T tokens counted at the expected
    fraction 1 − (1 − top_k/E)^T (uniform routing; a routing-skew share of experts was tried
    and fitted back to uniform); FLOPs 2 per MAC per token.
  - attention: KV bytes B·ctx·(KV per token per chip) with ctx = input + output/2 (mean
    context while decoding; sliding-window layers at most their window); FLOPs T·ctx·4·n_h·d_h
    per layer.
  - TP all-reduce, 2 per layer, of T·h·2 bytes: α + 2(n−1)/n·S/(bw·eff) (α-β, Thakur et al.
    2005; one pass of S with NVLS in-network reduction); with data-parallel attention, an MoE
    layer instead does 2 all-to-alls (dispatch/combine) of (T/tp)·top_k·h·2·(ep−1)/ep bytes.
  - kernel launch floor per kernel (the layer's GEMMs counted from its structure plus the
    non-GEMM kernels: 6, or 3 in an engine that fuses them, TensorRT-LLM), and host time per iteration: a fixed part plus a part per
    sequence in the batch (scheduler, sampling; per DP-attention rank, which has its own).
* **Prefill** of one request of I tokens: the same parts with T = I and a causal mean context
  (I+1)/2 (compute-bound: FLOPs at the GEMM efficiency curve e_max·F/(F + F½) of the training
  model). With data-parallel attention a request's attention runs on one rank (latency) while
  the cost to the replica is spread over its ranks.
* **Continuous batching** at closed-loop concurrency C (Yu et al. 2022 "Orca"; vLLM): every
  iteration also prefills the C/O requests that replaced finished ones, so
  TPOT = step/E[tokens] + (C/O)·t_prefill; a new request waits for prefill capacity as a
  G/D/1 queue (Kingman 1961), W = ρ/(1−ρ)·c_a²/2·t with ρ = λ·t_prefill, λ = C/cycle and a
  fitted arrival SCV c_a² (closed-loop clients arrive in waves), bounded below by the closed-loop
  asymptote cycle ≥ C·t_prefill/workers (Denning & Buzen 1978), and
  TTFT = front end + pp·t_prefill_latency + W + step/2, the front end (API servers only) a fixed
  time plus host time per prompt token (tokenisation, prefix hashing).
  cycle = TTFT + (O−1)·TPOT; throughput = C·O/cycle.
* **Static batching** (Neuron, TensorRT engines at a fixed batch): TTFT = prefill of the whole
  batch, TPOT = step, no interference.
* **Disaggregated prefill** (DistServe, Zhong et al. 2024): prefill runs on separate workers,
  decode sees no interference; TTFT adds the KV transfer I·KV bytes over the tier joining them.
* **Speculative decoding**: E[tokens per step] = (1 − α^(k+1))/(1 − α) (Leviathan et al.
  2023), the step verifies T = B·(1+k) tokens and pays k·draft_cost of a step for drafting.

Memory per chip: weights (attention replicated under data-parallel attention, everything else
sharded over tp), activation workspace of one prefill chunk, and the paged KV cache; max
concurrency = ⌊(HBM·utilisation − weights − workspace) / KV per sequence⌋, capped by the
engine's ``max_num_seqs`` (per DP-attention rank).
Ignored: prefix caching, CPU offload, load imbalance between experts or DP ranks, sampling
cost, chunked-prefill chunk boundaries, preemption when the cache is full.
"""

from __future__ import annotations

import numpy as np

from ..specs import SystemSpec
from .deploy import DeploymentArrays
from .knobs import ServingKnobs
from .kv import ServedModel

ACT_BYTES = 2.0  # activations move between ranks in bf16


def _tier_cols(
    system: SystemSpec, group: np.ndarray, stride: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """(bandwidth·efficiency, latency, in-network reduction) of the tier each group crosses."""
    stride = np.ones_like(group) if stride is None else stride
    bw, lat, inr = (np.empty(len(group)) for _ in range(3))
    for g, s in set(zip(group.tolist(), stride.tolist(), strict=True)):
        t = system.tier_for_group(int(g), int(s))
        m = (group == g) & (stride == s)
        bw[m], lat[m], inr[m] = (
            t.bandwidth_bytes_per_s * t.efficiency,
            t.latency_s,
            float(t.in_network_reduction),
        )
    return bw, lat, inr


def _peaks(system: SystemSpec, dtypes: np.ndarray) -> np.ndarray:
    chip = system.chip
    return np.array([chip.peak(str(d)) for d in dtypes], dtype=float)


class _Stage:
    """Per-chip costs of one pipeline stage for arrays of layouts (shared by prefill/decode)."""

    def __init__(self, s: ServedModel, system: SystemSpec, a: DeploymentArrays, k: ServingKnobs):
        chip = system.chip
        self.s, self.a, self.k = s, a, k
        tp, pp = a.tp.astype(float), a.pp.astype(float)
        self.tp, self.pp = tp, pp
        lst = np.ceil(s.layers / pp)
        self.n_dense = s.dense_layers * lst / s.layers
        self.n_moe = s.moe_layers * lst / s.layers
        self.layers = lst
        self.attn_div = np.where(a.dp_attention, 1.0, tp)
        # KV replication over TP ranks (module docstring of kv.py)
        if s.mla:
            rep = np.where(a.dp_attention, 1.0, tp)
        else:
            rep = np.where(a.dp_attention, 1.0, np.maximum(1.0, tp / s.kv_heads))
        self.kv_tok_chip = s.kv_elements_per_token_layer * lst * a.kv_bytes * rep / tp
        self.bw = chip.hbm_bandwidth_bytes_per_s * chip.hbm_efficiency * k.decode_bandwidth_scale
        self.bw_kv = chip.hbm_bandwidth_bytes_per_s * chip.hbm_efficiency * k.kv_bandwidth_scale
        self.peak = _peaks(system, a.compute_dtype)
        self.peak_attn = chip.peak("bf16")
        self.e_max = chip.matmul_efficiency * k.prefill_efficiency_scale
        self.f_half = chip.matmul_half_flops
        # kernels per layer: its GEMMs (counted from structure: MLA and MoE layers launch more)
        # plus the non-GEMM kernels (norms, RoPE, attention, activation, residual), fewer where the
        # engine fuses them (TensorRT-LLM)
        fused = a.fused_kernels if a.fused_kernels is not None else np.zeros(len(tp), dtype=bool)
        other = np.where(fused, float(k.fused_kernels_per_layer), float(k.kernels_per_layer))
        self.kernels = self.n_dense * (s.gemms_per_layer + other) + self.n_moe * (
            s.moe_gemms_per_layer + other
        )
        self.kernel_s = chip.kernel_overhead_s * k.kernel_overhead_scale
        self.tp_bw, self.tp_lat, self.tp_inr = _tier_cols(system, a.tp)
        self.ep_bw, self.ep_lat, _ = _tier_cols(system, a.ep)
        self.pp_bw, self.pp_lat, _ = _tier_cols(system, a.pp, a.tp)
        # quantised MoE checkpoints (NVFP4/MXFP4 DeepSeek-R1, gpt-oss) quantise the routed experts
        # to 4 bits and keep attention, shared experts and dense layers at ≥ 8 bits
        self.wb_expert = a.weight_bytes
        self.wb_dense = np.maximum(a.weight_bytes, 1.0) if s.num_experts else a.weight_bytes
        embed_head = np.where(
            pp > 1, max(s.embed_params, s.head_params), s.embed_params + s.head_params
        )
        self.weights_bytes = (
            self.wb_dense
            * (
                self.n_dense * (s.attn_params / self.attn_div + s.dense_mlp_params / tp)
                + self.n_moe * (s.attn_params / self.attn_div + s.moe_fixed_params / tp)
                + embed_head / tp
            )
            + self.wb_expert * self.n_moe * s.moe_expert_params / tp
        )

    def _eff(self, op_flops: np.ndarray) -> np.ndarray:
        """GEMM efficiency e_max·F/(F + F½·r) at per-op FLOPs F. The training model's curve
        (F½ = ``matmul_half_flops``) mixes two effects; here the roofline max() already charges
        small-M GEMMs their weight reads, so only ``gemm_half_scale``·F½ of the ramp remains."""
        half = self.f_half * self.k.gemm_half_scale
        return np.maximum(self.e_max * op_flops / (op_flops + half), 1e-3)

    def step(
        self,
        tokens: np.ndarray,
        seqs: np.ndarray,
        ctx: np.ndarray,
        causal: bool,
        attn_on_one_rank: bool = False,
    ) -> dict[str, np.ndarray]:
        """Per-chip time of one stage processing ``tokens`` (``seqs`` sequences at mean context
        ``ctx``): parts that sum to the stage time."""
        s, a, k = self.s, self.a, self.k
        tp = self.tp
        touched = 1.0
        if s.num_experts:
            touched = 1.0 - (1.0 - s.top_k / s.num_experts) ** np.maximum(tokens, 1.0)
        dense_read = self.wb_dense * (
            self.n_dense * (s.attn_params / self.attn_div + s.dense_mlp_params / tp)
            + self.n_moe * (s.attn_params / self.attn_div + s.moe_fixed_params / tp)
            + s.head_matmul_params / tp
        )
        expert_read = self.wb_expert * self.n_moe * s.moe_expert_params / tp * touched
        attn_share = self.attn_div if attn_on_one_rank else tp
        layer_flops = self.n_dense * s.dense_flops_per_token + self.n_moe * (
            s.moe_flops_per_token - s.routed_flops_per_token
        )
        attn_mm = self.layers * s.attn_matmul_flops_per_token
        dense_flops = tokens * (
            (layer_flops - attn_mm) / tp + attn_mm / attn_share + 2.0 * s.head_matmul_params / tp
        )
        per_op = dense_flops / np.maximum(self.layers * s.gemms_per_layer, 1.0)
        t_gemm = np.maximum(dense_read / self.bw, dense_flops / (self.peak * self._eff(per_op)))
        if s.num_experts:
            # routed experts: T·top_k/E tokens per touched expert, each expert split over tp/ep
            exp_flops = tokens * self.n_moe * s.routed_flops_per_token / tp
            tok_per_expert = tokens * s.top_k / (s.num_experts * touched)  # per touched expert
            op = 2.0 * tok_per_expert * s.hidden * s.expert_ffn / (tp / a.ep)
            eff = self._eff(op) * k.expert_gemm_efficiency_scale
            t_gemm = t_gemm + np.maximum(expert_read / self.bw, exp_flops / (self.peak * eff))
        ctx = s.ctx_eff(ctx)  # sliding-window layers read at most their window
        kv_read = seqs * ctx * self.kv_tok_chip * (tp / attn_share)
        attn_flops = tokens * ctx * s.attn_core_flops_per_ctx * self.layers / attn_share
        attn_eff = self.e_max * k.attention_efficiency_ratio
        t_attn = np.maximum(kv_read / self.bw_kv, attn_flops / (self.peak_attn * attn_eff))
        # communication per stage
        msg = tokens * s.hidden * ACT_BYTES
        ar_factor = np.where(self.tp_inr > 0, 1.0, 2.0 * (tp - 1) / tp)
        t_ar = k.allreduce_latency_steps * self.tp_lat + ar_factor * msg / self.tp_bw
        ep = a.ep.astype(float)
        a2a_bytes = tokens / tp * s.top_k * s.hidden * ACT_BYTES * (ep - 1) / ep
        t_a2a = k.alltoall_latency_steps * self.ep_lat + a2a_bytes / self.ep_bw
        dpa = a.dp_attention
        n_ar = np.where(dpa, self.n_dense, 2.0 * self.layers)
        n_a2a = np.where(dpa & (ep > 1), 2.0 * self.n_moe, 0.0)
        n_ar = n_ar + np.where(dpa & (ep == 1), 2.0 * self.n_moe, 0.0)
        t_comm = np.where(tp > 1, n_ar * t_ar + n_a2a * t_a2a, 0.0)
        t_pp = np.where(self.pp > 1, self.pp_lat + msg / self.pp_bw, 0.0)
        t_kernel = self.kernels * self.kernel_s
        return {"gemm": t_gemm, "attention": t_attn, "comm": t_comm + t_pp, "kernels": t_kernel}


def evaluate(
    s: ServedModel, system: SystemSpec, a: DeploymentArrays, k: ServingKnobs
) -> dict[str, np.ndarray]:
    """Memory, latency and throughput of every deployment in ``a`` (arrays of length n)."""
    chip = system.chip
    st = _Stage(s, system, a, k)
    tp, pp, C = st.tp, st.pp, a.concurrency
    isl, osl = a.input_len, a.output_len
    spec = a.spec_tokens
    # ---------------- memory
    seq_tokens = np.ceil((isl + osl + spec) / k.kv_block_tokens) * k.kv_block_tokens
    kv_seq_chip = st.kv_tok_chip * s.ctx_eff(seq_tokens)
    chunk = float(k.prefill_chunk_tokens)
    workspace = chunk * (ACT_BYTES * (4.0 * s.hidden + 3.0 * s.ffn_width / tp) + 4.0 * s.vocab / tp)
    free = chip.hbm_bytes * k.memory_utilization - st.weights_bytes - workspace
    engine_cap = k.max_num_seqs * np.where(a.dp_attention, tp, 1.0)
    max_conc = np.minimum(np.floor(np.maximum(free, 0.0) / kv_seq_chip), engine_cap)
    fits = (free > 0) & (max_conc >= C)
    # ---------------- decode
    B = C / pp
    ctx = isl + osl / 2.0
    dec = st.step(B * (1.0 + spec), B, ctx, causal=False)
    t_stage = sum(dec.values())
    alpha = k.spec_acceptance
    exp_tokens = np.where(spec > 0, (1.0 - alpha ** (spec + 1.0)) / max(1.0 - alpha, 1e-9), 1.0)
    host_s = k.step_overhead_s + k.per_seq_step_overhead_s * C / np.where(a.dp_attention, tp, 1.0)
    t_iter = (pp * t_stage) * (1.0 + spec * k.spec_draft_cost) + host_s
    # ---------------- prefill: requests arriving together are prefilled as one batch of up to
    # ``prefill_chunk_tokens`` (chunked prefill); each pays its share of the batch's time
    pf_tokens = np.where(
        a.static, isl, np.maximum(isl, np.minimum(float(k.prefill_chunk_tokens), (C / osl) * isl))
    )
    pf_seqs = pf_tokens / isl
    pf_ctx = (isl + 1.0) / 2.0
    pf_batch = sum(st.step(pf_tokens, pf_seqs, pf_ctx, causal=True).values())
    pf_cost = pf_batch / pf_seqs
    pf_lat = sum(st.step(pf_tokens, pf_seqs, pf_ctx, causal=True, attn_on_one_rank=True).values())
    ones = np.ones_like(C)
    disagg = a.prefill_chips > 0
    if disagg.any():
        pa = a.take(np.arange(len(a)))
        ptp = np.where(a.prefill_tp > 0, a.prefill_tp, a.tp)
        pa.tp, pa.pp = ptp, np.ones_like(a.pp)
        pa.ep = np.where(ptp % a.ep == 0, a.ep, 1)
        pst = _Stage(s, system, pa, k)
        p_cost = sum(pst.step(isl, ones, (isl + 1.0) / 2.0, causal=True).values())
        p_lat = sum(
            pst.step(isl, ones, (isl + 1.0) / 2.0, causal=True, attn_on_one_rank=True).values()
        )
        kv_bw, kv_lat, _ = _tier_cols(system, a.tp * a.pp + a.prefill_chips)
        t_kv = kv_lat + isl * s.kv_elements_per_token_layer * s.layers * a.kv_bytes / (kv_bw * ptp)
        workers = np.maximum(a.prefill_chips // ptp, 1)
    else:
        p_cost = p_lat = t_kv = np.zeros_like(C)
        workers = np.ones_like(C)
    # ---------------- batching
    interfere = np.where(disagg | a.static, 0.0, (C / osl) * pf_cost)
    tpot = t_iter / exp_tokens + interfere
    svc = np.where(disagg, p_cost, pf_cost)  # engine time a prefill occupies
    front = np.where(a.api_server, k.ttft_overhead_s + k.ttft_per_prompt_token_s * isl, 0.0)
    lat = np.where(disagg, p_lat + t_kv, pp * pf_lat) + front
    step_wait = np.where(disagg, 0.0, t_iter / 2.0)
    ttft = lat + step_wait
    decode_s = np.maximum(osl - 1.0, 0.0) * tpot
    # closed-loop asymptote (Denning & Buzen 1978 operational bounds): the prefill server is the
    # bottleneck once C·svc/workers exceeds the rest of the cycle; every request then waits for the
    # prefills of the C others, cycle = C·svc/workers
    floor = np.maximum(C * svc / workers - decode_s, 0.0) + front + step_wait
    for _ in range(30):  # closed loop: λ depends on the cycle, the queue on λ
        cycle = ttft + decode_s
        lam = C / cycle
        rho = np.minimum(lam * svc / workers, 0.95)
        # G/D/1 (Kingman 1961): W = ρ/(1−ρ)·(c_a² + c_s²)/2·S with deterministic service c_s² = 0;
        # c_a² = ``arrival_scv`` (closed-loop clients that start together arrive in waves)
        wait = rho * svc * k.arrival_scv / (2.0 * (1.0 - rho))
        ttft = np.maximum(lat + wait + step_wait, floor)
    static_ttft = pp * (C * pf_cost + (pf_lat - pf_cost)) + k.step_overhead_s + front
    ttft = np.where(a.static, static_ttft, ttft)
    cycle = ttft + np.maximum(osl - 1.0, 0.0) * tpot
    replica_chips = tp * pp + a.prefill_chips
    out_tok_s = C * osl / cycle
    prefill_time_share = np.where(disagg, a.prefill_chips / replica_chips, (C / cycle) * pf_cost)
    out = {
        "fits": fits,
        "weights_bytes_per_chip": st.weights_bytes,
        "kv_bytes_per_seq_per_chip": kv_seq_chip,
        "kv_bytes_per_chip": kv_seq_chip * C,
        "workspace_bytes_per_chip": workspace * np.ones_like(C),
        "free_bytes_per_chip": free,
        "max_concurrency": max_conc,
        "decode/gemm_s": pp * dec["gemm"],
        "decode/attention_s": pp * dec["attention"],
        "decode/comm_s": pp * dec["comm"],
        "decode/kernels_s": pp * dec["kernels"],
        "decode/host_s": host_s,
        "decode/spec_draft_s": pp * t_stage * spec * k.spec_draft_cost,
        "decode_step_s": t_iter,
        "tokens_per_step": exp_tokens,
        "prefill_interference_s": interfere,
        "prefill_s": np.where(disagg, p_lat, pp * pf_lat),
        "kv_transfer_s": t_kv,
        "queue_s": np.where(
            a.static, 0.0, np.maximum(ttft - lat - np.where(disagg, 0.0, t_iter / 2.0), 0.0)
        ),
        "ttft_overhead_s": front,
        "ttft_s": ttft,
        "tpot_s": tpot,
        "e2e_s": cycle,
        "tokens_per_s_per_user": 1.0 / tpot,
        "requests_per_s": C / cycle,
        "output_tokens_per_s": out_tok_s,
        "output_tokens_per_s_per_chip": out_tok_s / replica_chips,
        "total_tokens_per_s_per_chip": C * (isl + osl) / cycle / replica_chips,
        "replica_chips": replica_chips,
        "prefill_time_share": np.clip(prefill_time_share, 0.0, 1.0),
    }
    return out
