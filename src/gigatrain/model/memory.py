"""Bytes held by the most-loaded rank, evaluated over arrays of plans.

Per rank = weights + gradients + optimizer states (sharded by ZeRO/FSDP) + activations of the
micro-batches in flight + loss logits + a fixed overhead and fragmentation knob. Both the first
pipeline stage (embedding, most micro-batches in flight) and the last (LM head, logits) are
evaluated and the larger is reported (DESIGN.md principle 5: worst stage, not the average).

Sources:
* mixed-precision Adam bytes per parameter: 2 (bf16 weight) + 4 (fp32 grad) + 4 + 4 + 4 (fp32
  master, m, v) — Rajbhandari et al. 2020 (ZeRO) §3, with ZeRO-1/2/3 sharding of the last 12,
  of the gradients, and of the weights.
* activations per layer: Korthikanti et al. 2022 Table 2 (34·s·b·h bytes for a GPT layer with
  sequence parallel dividing by t), generalised to GQA, gated MLPs and MoE from the tensors each
  block stores (``workload.LayerCost.act_bytes_per_token``), plus Korthikanti's 5·a·s/h
  attention-score term where attention is unfused (``knobs.flash_attention`` = 0: softmax
  output, dropout mask and dropout output); FlashAttention stores none. *Selective* recompute
  per framework (see :func:`activation_bytes`): Megatron-Core's recomputes only core attention
  (which drops the scores, and nothing more under FlashAttention); op-level selective
  checkpointing also drops norm and activation-function outputs.
* in-flight micro-batches: 1F1B keeps ``pp`` on the first stage; interleaving keeps
  pp + (pp−1)/v there and (pp·(v−1)+1)/v on the last (Narayanan et al. 2021 §2.2.2).
* layers and parameters per stage: :mod:`gigatrain.model.placement` (uniform, or balanced
  around the LM head).
"""

from __future__ import annotations

import numpy as np

from ..knobs import Knobs
from ..specs import DTYPE_BYTES, Job, ModelSpec
from .placement import StageSplit, expert_dp, params_on_rank, stage_split
from .plans import PlanArrays, RecomputeCode
from .workload import layer_costs

#: bytes per stored activation value (bf16/fp16; fp32 jobs double it through ``scale``)
ACT_BYTES = 2.0
#: h-vectors per token per layer that stay replicated under TP without sequence parallelism:
#: the two norm inputs and the two residual-stream copies (Korthikanti et al. 2022 §4.2.2)
REPLICATED_HIDDEN_VECTORS = 4.0
#: bytes stored per attention score by unfused attention: the softmax output (2), the dropout
#: mask (1) and the dropout output (2) — Korthikanti et al. 2022 Eq. 1's 5·a·s²·b
UNFUSED_SCORE_STORED_BYTES = 5.0


def state_bytes(
    model: ModelSpec, job: Job, p: PlanArrays, n_params: np.ndarray, expert: np.ndarray
) -> dict[str, np.ndarray]:
    """Weights, gradients and optimizer bytes for ``n_params`` on a rank (``expert`` of them
    routed-expert parameters, sharded over the expert data-parallel group, ``expert_dp``)."""
    w_b = DTYPE_BYTES["fp32"] if job.precision == "fp32" else DTYPE_BYTES["bf16"]
    g_b = DTYPE_BYTES[job.grad_dtype] if job.precision != "fp32" else 4.0
    master = 4.0 if (job.master_weights_fp32 and job.precision != "fp32") else 0.0
    opt = {"adamw": 8.0, "adafactor": 0.1, "sgd": 0.0}[job.optimizer] + master
    shard = p.fsdp_shard.astype(float)
    expert_shard = expert_dp(p)
    z = p.zero_stage
    dense_n = n_params - expert

    def sharded(nbytes: float, stage_from: int) -> np.ndarray:
        return np.where(
            z >= stage_from,
            dense_n * nbytes / shard + expert * nbytes / expert_shard,
            n_params * nbytes,
        )

    return {
        "memory/weights": sharded(w_b, 3),
        "memory/gradients": sharded(g_b, 2),
        "memory/optimizer": sharded(opt, 1),
    }


def activation_bytes(
    model: ModelSpec, job: Job, p: PlanArrays, knobs: Knobs, split: StageSplit
) -> dict[str, np.ndarray]:
    """Stored activations on the first and last stage (bytes), per Korthikanti et al. 2022.

    Selective recompute: with ``knobs.selective_drops_elementwise`` = 0 (Megatron-Core's
    default, ``--recompute-granularity selective`` recomputes only core attention) nothing
    more is dropped once FlashAttention stores no scores — 34·s·b·h/t per GPT layer remain; with
    1 (op-level selective checkpointing, torchtitan) norm and activation-function outputs are
    recomputed as well. In flight: 1F1B keeps ``pp`` micro-batches on the first stage and one
    on the last; interleaving (v chunks) keeps pp + (pp−1)/v on the first and
    (pp·(v−1) + 1)/v on the last (warm-up chunks of Megatron-Core's interleaved schedule,
    Narayanan et al. 2021 §2.2.2).
    """
    costs = layer_costs(model)
    tokens = p.micro_batch * job.seq_len / p.cp
    h = model.hidden_size
    drops = (p.recompute == RecomputeCode.SELECTIVE) & bool(knobs.selective_drops_elementwise)
    r = knobs.tp_unsharded_act_fraction
    logits = tokens * model.vocab_size / p.tp * knobs.logit_bytes
    scale = knobs.activation_memory_scale * (2.0 if job.precision == "fp32" else 1.0)
    n_mb = np.maximum(job.global_batch_seqs / (p.dp * p.micro_batch), 1)
    v = p.vpp.astype(float)
    in_flight = {
        "first": np.minimum(np.where(p.vpp > 1, p.pp + (p.pp - 1) / v, p.pp), n_mb),
        "last": np.minimum(np.where(p.vpp > 1, (p.pp * (v - 1) + 1) / v, 1.0), n_mb),
    }
    scores_tok = (
        (1 - knobs.flash_attention)
        * UNFUSED_SCORE_STORED_BYTES
        * model.num_attention_heads
        * job.seq_len
    )
    out = {"logits": logits}
    for stage, (dense_l, moe_l) in (("first", split.first), ("last", split.last)):
        sel_tok = dense_l * costs[0].act_bytes_selective_per_token
        all_tok = dense_l * costs[0].act_bytes_per_token
        if model.moe is not None:
            sel_tok = sel_tok + moe_l * costs[1].act_bytes_selective_per_token
            all_tok = all_tok + moe_l * costs[1].act_bytes_per_token
        # selective recompute of an MLA model also re-derives the up-projected Q/K/V from the
        # stored latents (DeepSeek-V3 §3.3.2; Megatron-Core --recompute-modules mla_up_proj)
        up = dense_l * costs[0].act_bytes_mla_up_proj_per_token
        if model.moe is not None:
            up = up + moe_l * costs[1].act_bytes_mla_up_proj_per_token
            if job.precision in ("fp8", "fp4"):  # FP8 recipes cache expert inputs in FP8
                fp8_saving = moe_l * costs[1].act_bytes_experts_per_token / 2
                sel_tok, all_tok = sel_tok - fp8_saving, all_tok - fp8_saving
        sel_tok = sel_tok - up
        all_tok_sel = all_tok - up
        layers = dense_l + moe_l
        # unfused attention keeps its scores for the backward; any recompute mode re-derives them
        all_tok = all_tok + layers * scores_tok
        # full recompute is capped by what any selective mode would keep
        per_tok = np.where(
            drops | ((p.recompute == RecomputeCode.FULL) & bool(knobs.selective_drops_elementwise)),
            sel_tok,
            np.where(p.recompute != RecomputeCode.NONE, all_tok_sel, all_tok),
        )
        # without sequence parallelism the norm inputs and residual stream (≈4 h-vectors) replicate
        replicated = np.where(
            p.sequence_parallel | (p.tp == 1),
            0.0,
            layers * REPLICATED_HIDDEN_VECTORS * ACT_BYTES * h * (1 - 1 / p.tp),
        )
        # a framework may keep some activations unsharded under TP (gathered GEMM inputs)
        full = per_tok * (r + (1 - r) / p.tp) + replicated
        one_layer = full / np.maximum(layers, 1)
        checkpoint = (
            layers * ACT_BYTES * h / np.where(p.sequence_parallel, p.tp, 1)
        )  # layer inputs only
        kept = full * tokens * in_flight[stage]
        # full recompute stores layer inputs and re-materialises a few layers at a time; it never
        # holds more than keeping everything would
        working_layers = np.minimum(knobs.recompute_working_layers, np.maximum(layers, 1))
        recomputed = np.minimum(
            checkpoint * tokens * in_flight[stage] + working_layers * one_layer * tokens, kept
        )
        out[stage] = np.where(p.recompute == RecomputeCode.FULL, recomputed, kept) * scale
    return out


def memory_breakdown(
    model: ModelSpec, job: Job, p: PlanArrays, knobs: Knobs, split: StageSplit | None = None
) -> dict[str, np.ndarray]:
    """Per-rank memory leaves of the most-loaded stage; the leaves sum to ``memory/total``."""
    split = split or stage_split(model, job, p, knobs)
    params = params_on_rank(model, p, split)
    act = activation_bytes(model, job, p, knobs, split)
    stages = {}
    for stage in ("first", "last"):
        st = state_bytes(model, job, p, params[stage], params[f"expert_{stage}"])
        st["memory/activations"] = act[stage]
        st["memory/logits"] = (
            act["logits"] if stage == "last" else np.where(p.pp == 1, act["logits"], 0.0)
        )
        layers = split.first_layers if stage == "first" else split.last_layers
        # ZeRO-3/FSDP gathers the full (TP-sharded) weights of about two layers at a time; only
        # weights that are sharded over more than one rank are gathered
        expert = params[f"expert_{stage}"]
        gathered = np.where(
            p.zero_stage >= 3,
            (params[stage] - expert) * (p.fsdp_shard > 1) + expert * (expert_dp(p) > 1),
            0.0,
        )
        layer_w = gathered / np.maximum(layers, 1)
        # with pipeline parallelism FSDP keeps the stage's weights gathered (and their bf16
        # gradients unreduced) across micro-batches instead of re-gathering for each one
        # (torchtitan sets reshard_after_forward=False under PP)
        keep = (p.zero_stage >= 3) & (p.pp > 1)
        st["memory/fsdp_gather"] = np.where(
            keep, 2.0 * knobs.fsdp_pp_unsharded * gathered * 2.0, 2 * 2.0 * layer_w
        )
        model_bytes = np.asarray(sum(st.values()))
        st["memory/fragmentation"] = model_bytes * knobs.memory_fragmentation
        st["memory/overhead"] = np.full(len(p), knobs.memory_overhead_bytes)
        st["memory/runtime_context"] = np.full(len(p), knobs.runtime_context_bytes)
        stages[stage] = st
    tot_first = sum(stages["first"].values())
    tot_last = sum(stages["last"].values())
    use_last = np.asarray(tot_last > tot_first)
    out = {k: np.where(use_last, stages["last"][k], stages["first"][k]) for k in stages["first"]}
    out["memory/total"] = np.maximum(tot_first, tot_last)
    out["worst_stage_is_last"] = use_last
    return out
