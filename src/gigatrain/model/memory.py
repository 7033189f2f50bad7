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
  block stores (``workload.LayerCost.act_bytes_per_token``); FlashAttention is assumed, so the
  5·a·s/h attention-score term is 0. *Selective* recompute keeps GEMM outputs and recomputes
  the cheap elementwise results (norm and activation-function outputs), as PyTorch's selective
  activation checkpointing and Megatron-Core's module recompute do.
* in-flight micro-batches: 1F1B keeps ``pp`` on the first stage; interleaving multiplies by
  1 + (pp−1)/(pp·v) (Narayanan et al. 2021 §2.2.2).
"""

from __future__ import annotations

import numpy as np

from ..specs import DTYPE_BYTES, Job, ModelSpec
from .knobs import Knobs
from .plans import PlanArrays
from .workload import embedding_params, layer_costs, layer_counts


def expert_tp(p: PlanArrays) -> np.ndarray:
    """Tensor-parallel degree of the routed experts: tp while ep fits inside dp·cp (experts
    sharded like dense layers, the Megatron-Core default before 0.10), else 1 — ep then folds
    over the tensor-parallel ranks (MoE parallel folding, expert_tensor_parallel_size=1)."""
    return np.where((p.dp * p.cp) % p.ep == 0, p.tp, 1)


def expert_dp(p: PlanArrays) -> np.ndarray:
    """Ranks that hold the same experts (they reduce expert gradients together)."""
    return np.maximum(p.fsdp_shard * p.tp / (p.ep * expert_tp(p)), 1.0)


def stage_layers(model: ModelSpec, p: PlanArrays) -> tuple[np.ndarray, np.ndarray]:
    """(dense, MoE) layers on the heaviest stage: ceil(L/pp) split in the model's proportion."""
    _n_dense, n_moe = layer_counts(model)
    per_stage = -(-model.num_layers // p.pp)
    moe_share = np.minimum(np.ceil(per_stage * n_moe / model.num_layers), per_stage)
    return per_stage - moe_share, moe_share


def params_on_rank(model: ModelSpec, p: PlanArrays) -> dict[str, np.ndarray]:
    """Parameters held by one rank of the first and last stage, split by how they shard.

    ``dense`` shards over TP; ``expert`` (routed experts) shards over TP·EP.
    """
    costs = layer_costs(model)
    dense_l, moe_l = stage_layers(model, p)
    dense = dense_l * costs[0].params
    expert = np.zeros_like(dense, dtype=float)
    if model.moe is not None:
        moe = model.moe
        k = 3 if model.mlp_gated else 2
        routed = moe.num_experts * k * model.hidden_size * moe.expert_ffn_hidden_size
        dense = dense + moe_l * (costs[1].params - routed)
        expert = moe_l * routed / (expert_tp(p) * p.ep)
    dense = dense / p.tp
    emb = embedding_params(model) / p.tp
    head = (0 if model.tied_embeddings else model.vocab_size * model.hidden_size) / p.tp
    # with pp == 1 one rank holds both ends; tied weights are held by both ends when pp > 1
    first = dense + expert + emb + np.where(p.pp == 1, head, 0)
    last = dense + expert + np.where(p.pp == 1, emb, 0) + np.where(
        model.tied_embeddings & (p.pp > 1), model.vocab_size * model.hidden_size / p.tp, head
    )
    return {"first": first, "last": last, "expert": expert}


def state_bytes(model: ModelSpec, job: Job, p: PlanArrays, n_params: np.ndarray, expert: np.ndarray) -> dict[str, np.ndarray]:
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
        return np.where(z >= stage_from, dense_n * nbytes / shard + expert * nbytes / expert_shard, n_params * nbytes)

    return {
        "memory/weights": sharded(w_b, 3),
        "memory/gradients": sharded(g_b, 2),
        "memory/optimizer": sharded(opt, 1),
    }


def activation_bytes(model: ModelSpec, job: Job, p: PlanArrays, knobs: Knobs) -> dict[str, np.ndarray]:
    """Stored activations on the first and last stage (bytes), per Korthikanti et al. 2022."""
    costs = layer_costs(model)
    dense_l, moe_l = stage_layers(model, p)
    tokens = p.micro_batch * job.seq_len / p.cp
    h = model.hidden_size
    selective = p.recompute == 1
    per_tok = dense_l * np.where(selective, costs[0].act_bytes_selective_per_token, costs[0].act_bytes_per_token)
    if model.moe is not None:
        per_tok = per_tok + moe_l * np.where(selective, costs[1].act_bytes_selective_per_token, costs[1].act_bytes_per_token)
    layers = dense_l + moe_l
    # without sequence parallelism the norm inputs and residual stream (≈4 h-vectors) replicate
    replicated = np.where(p.sequence_parallel | (p.tp == 1), 0.0, layers * 8.0 * h * (1 - 1 / p.tp))
    # a framework may keep some activations unsharded under TP (gathered GEMM inputs)
    r = knobs.tp_unsharded_act_fraction
    full = per_tok * (r + (1 - r) / p.tp) + replicated
    one_layer = full / np.maximum(layers, 1)
    checkpoint = layers * 2.0 * h / np.where(p.sequence_parallel, p.tp, 1)  # layer inputs only
    per_mb = np.where(p.recompute == 2, checkpoint, full) * tokens
    working = np.where(p.recompute == 2, knobs.recompute_working_layers * one_layer * tokens, 0.0)
    interleave = np.where(p.vpp > 1, 1 + (p.pp - 1) / (p.pp * p.vpp), 1.0)
    n_mb = job.global_batch_seqs / (p.dp * p.micro_batch)
    in_flight = np.minimum(p.pp * interleave, np.maximum(n_mb, 1))
    scale = knobs.activation_memory_scale * (2.0 if job.precision == "fp32" else 1.0)
    first = (per_mb * in_flight + working) * scale
    last = (per_mb + working) * scale  # the last stage runs each micro-batch's backward at once
    logits = tokens * model.vocab_size / p.tp * knobs.logit_bytes
    return {"first": first, "last": last, "logits": logits}


def memory_breakdown(model: ModelSpec, job: Job, p: PlanArrays, knobs: Knobs) -> dict[str, np.ndarray]:
    """Per-rank memory leaves of the most-loaded stage; the leaves sum to ``memory/total``."""
    params = params_on_rank(model, p)
    act = activation_bytes(model, job, p, knobs)
    stages = {}
    for stage in ("first", "last"):
        st = state_bytes(model, job, p, params[stage], params["expert"])
        st["memory/activations"] = act[stage]
        st["memory/logits"] = act["logits"] if stage == "last" else np.where(p.pp == 1, act["logits"], 0.0)
        # ZeRO-3/FSDP gathers the full (TP-sharded) weights of about two layers at a time
        layer_w = params[stage] / np.maximum(stage_layers(model, p)[0] + stage_layers(model, p)[1], 1)
        # with pipeline parallelism FSDP keeps the stage's weights gathered (and their bf16
        # gradients unreduced) across micro-batches instead of re-gathering for each one
        # (torchtitan sets reshard_after_forward=False under PP)
        keep = (p.zero_stage >= 3) & (p.pp > 1)
        st["memory/fsdp_gather"] = np.where(
            keep, 2.0 * knobs.fsdp_pp_unsharded * params[stage] * 2.0,
            np.where(p.zero_stage >= 3, 2 * 2.0 * layer_w, 0.0))
        model_bytes = sum(st.values())
        st["memory/fragmentation"] = model_bytes * knobs.memory_fragmentation
        st["memory/overhead"] = np.full(len(p), knobs.memory_overhead_bytes)
        st["memory/runtime_context"] = np.full(len(p), knobs.runtime_context_bytes)
        stages[stage] = st
    tot_first = sum(stages["first"].values())
    tot_last = sum(stages["last"].values())
    use_last = tot_last > tot_first
    out = {k: np.where(use_last, stages["last"][k], stages["first"][k]) for k in stages["first"]}
    out["memory/total"] = np.maximum(tot_first, tot_last)
    out["worst_stage_is_last"] = use_last
    return out
