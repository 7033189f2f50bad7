"""What sits on which rank: layers per pipeline stage (first and last, the two that bound
memory and time), the parameters a rank of each holds, and how routed experts shard.

Both :mod:`gigatrain.model.memory` (bytes on the heaviest rank) and :mod:`gigatrain.model.step`
(time of the slowest stage) read this one placement, so the two never disagree about where a
layer or the LM head lives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..knobs import Knobs
from ..specs import Job, ModelSpec
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


def head_layer_equivalents(model: ModelSpec, seq_len: int) -> float:
    """Forward FLOPs of the LM head (2·V·h per token) in units of an average layer's forward
    FLOPs (matmuls + causal attention core): how many layers the last stage's head is worth."""
    costs = layer_costs(model)
    n_dense, n_moe = layer_counts(model)
    mm = n_dense * costs[0].matmul_flops_fwd + (n_moe * costs[1].matmul_flops_fwd if n_moe else 0.0)
    attn = costs[0].attn_core_flops_fwd_full * (seq_len + 1) / 2
    per_layer = mm / model.num_layers + attn
    return 2.0 * model.vocab_size * model.hidden_size / per_layer


@dataclass(frozen=True)
class StageSplit:
    """Transformer layers on the first (embedding, most micro-batches in flight) and on the last
    pipeline stage (LM head and loss), as (dense, MoE) arrays; with pp = 1 both are the whole
    model. Middle stages hold as many layers as the first."""

    first: tuple[np.ndarray, np.ndarray]
    last: tuple[np.ndarray, np.ndarray]

    @property
    def first_layers(self) -> np.ndarray:
        return self.first[0] + self.first[1]

    @property
    def last_layers(self) -> np.ndarray:
        return self.last[0] + self.last[1]


def _mix(model: ModelSpec, layers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dense, MoE) of ``layers`` layers, in the model's proportion (MoE rounded up)."""
    _n_dense, n_moe = layer_counts(model)
    moe = np.minimum(np.ceil(layers * n_moe / model.num_layers), layers)
    return layers - moe, moe


def stage_split(model: ModelSpec, job: Job, p: PlanArrays, knobs: Knobs) -> StageSplit:
    """Layers per pipeline stage, as the framework partitions them.

    * Uniform partition (DeepSpeed, nanotron, NxD): ⌈L/pp⌉ layers on the first stages and
      ⌊L/pp⌋ on the last when pp does not divide L; the last stage also runs the LM head.
    * Balanced partition (``knobs.uneven_pipeline_stages`` = 1: Megatron-Core's
      ``--decoder-last-pipeline-num-layers`` / ``account_for_loss_in_pipeline_split``,
      torchtitan's module split; Llama 3 405B ran 126 layers on PP16 with one layer fewer on
      the first and last stages, Dubey et al. 2024 §3.3.2): the last stage gets ``l`` layers
      with l + h_head ≈ ⌈(L − l)/(pp − 1)⌉, h_head = :func:`head_layer_equivalents`, the
      integer l that minimises the slower of the two.
    """
    L = model.num_layers
    pp = p.pp.astype(float)
    first = np.ceil(L / pp)
    last = np.where(L % p.pp == 0, first, np.floor(L / pp))
    if knobs.uneven_pipeline_stages:
        h_eq = head_layer_equivalents(model, job.seq_len)
        rest = np.maximum(pp - 1, 1)
        x = (L - (pp - 1) * h_eq) / pp
        best_t = np.maximum(first, last + h_eq)
        best_first, best_last = first, last
        for cand in (np.floor(x), np.ceil(x)):
            lc = np.clip(cand, 0, L)
            fc = np.ceil((L - lc) / rest)
            t = np.maximum(fc, lc + h_eq)
            better = (pp > 1) & (t < best_t)
            best_t = np.where(better, t, best_t)
            best_first = np.where(better, fc, best_first)
            best_last = np.where(better, lc, best_last)
        first, last = best_first, best_last
    return StageSplit(_mix(model, first), _mix(model, last))


def params_on_rank(model: ModelSpec, p: PlanArrays, split: StageSplit) -> dict[str, np.ndarray]:
    """Parameters held by one rank of the first and last stage, split by how they shard.

    ``dense`` shards over TP; ``expert`` (routed experts) shards over TP·EP.
    """
    costs = layer_costs(model)
    k = 3 if model.mlp_gated else 2
    routed = (
        model.moe.num_experts * k * model.hidden_size * model.moe.expert_ffn_hidden_size
        if model.moe
        else 0
    )

    def stage(layers: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        dense_l, moe_l = layers
        dense = dense_l * costs[0].params
        expert = np.zeros_like(dense, dtype=float)
        if model.moe is not None:
            dense = dense + moe_l * (costs[1].params - routed)
            expert = moe_l * routed / (expert_tp(p) * p.ep)
        return dense / p.tp, expert

    dense_f, expert_f = stage(split.first)
    dense_l, expert_l = stage(split.last)
    emb = embedding_params(model) / p.tp
    head = (0 if model.tied_embeddings else model.vocab_size * model.hidden_size) / p.tp
    # with pp == 1 one rank holds both ends; tied weights are held by both ends when pp > 1
    first = dense_f + expert_f + emb + np.where(p.pp == 1, head, 0)
    last = (
        dense_l
        + expert_l
        + np.where(p.pp == 1, emb, 0)
        + np.where(
            model.tied_embeddings & (p.pp > 1), model.vocab_size * model.hidden_size / p.tp, head
        )
    )
    return {
        "first": first,
        "last": last,
        "expert": np.maximum(expert_f, expert_l),
        "expert_first": expert_f,
        "expert_last": expert_l,
    }
