"""What a served model holds per chip: weight bytes and KV-cache bytes, counted from structure.

KV cache per token per layer (elements):

* MHA/GQA  2·n_kv·d_h (keys and values of the KV heads; Ainslie et al. 2023 "GQA")
* MLA      kv_lora_rank + d_rope: the compressed latent and the shared RoPE key, which is what
           vLLM/SGLang/TensorRT-LLM cache for DeepSeek-V2/V3 (DeepSeek-V2 paper §2.1.3, Table 1:
           (d_c + d_h^R)·l elements per token)

Under tensor parallelism KV heads are split over ``tp`` ranks while ``n_kv ≥ tp`` and replicated
beyond (vLLM ``num_kv_heads // tp_size`` with a minimum of one head per rank); the MLA latent is
not split by head and is replicated on every TP rank, which is why engines serve MLA models
with data-parallel attention (each rank caches only its own requests). Paged allocation rounds
a sequence up to whole blocks (Kwon et al. 2023, PagedAttention).

Sliding-window layers hold and read at most ``window`` tokens of context (vLLM's hybrid KV-cache
manager allocates sliding-window layers only their window, v0.10+; FlashAttention/FlashInfer
read only the window). ``ModelSpec`` does not describe windows, so the layouts are listed here
per family with their source (:data:`SLIDING_WINDOWS`); every other model is full attention.

Ignored: prefix caching, KV-cache quantisation scales, chunked attention (Llama 4 chunks of
8192 on RoPE layers: no effect at the ≤ 8k contexts of the validation rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from ..model.workload import (
    embedding_params,
    head_params,
    layer_costs,
    layer_counts,
)
from ..specs import ModelSpec

#: slug prefix → (window tokens, share of layers with that window). gpt-oss: alternating banded
#: windows of 128 tokens and dense layers (OpenAI gpt-oss model card, arXiv:2508.10925 §2.1,
#: Aug 2025; shared/facts/models.md). Gemma 2: alternating 4096-token local and global layers
#: (Gemma Team 2024, arXiv:2408.00118 Table 1).
SLIDING_WINDOWS: dict[str, tuple[float, float]] = {
    "gpt-oss": (128.0, 0.5),
    "gemma-2": (4096.0, 0.5),
}


@dataclass(frozen=True)
class ServedModel:
    """Per-layer and per-token constants of ``model`` that serving needs (no parallelism)."""

    layers: int
    dense_layers: int
    moe_layers: int
    hidden: int
    vocab: int
    kv_heads: int
    mla: bool
    kv_elements_per_token_layer: float
    attn_params: float  # per layer
    dense_mlp_params: float  # per dense layer (+ norms)
    moe_fixed_params: float  # per MoE layer: shared experts + router (+ norms)
    moe_expert_params: float  # per MoE layer: all routed experts
    num_experts: int
    top_k: int
    embed_params: float
    head_params: float
    head_matmul_params: float  # V·h read by the LM head each step (tied or not)
    dense_flops_per_token: float  # forward matmul FLOPs of one dense layer (2 per MAC)
    moe_flops_per_token: float  # forward matmul FLOPs of one MoE layer (active experts)
    routed_flops_per_token: float  # the routed experts' share of moe_flops_per_token
    expert_ffn: int  # routed expert intermediate width
    attn_matmul_flops_per_token: float  # the attention projections' share of a layer's FLOPs
    attn_core_flops_per_ctx: float  # QKᵀ + AV per token per unit of context per layer
    gemms_per_layer: int
    moe_gemms_per_layer: int  # GEMMs of one MoE layer (router, experts, shared experts, attention)
    ffn_width: float  # widest per-token FFN intermediate (activation workspace)
    window: float = 0.0  # sliding-window tokens of the windowed layers (0 = none)
    window_share: float = 0.0  # share of layers that are windowed

    def ctx_eff(self, ctx):  # type: ignore[no-untyped-def]
        """Context tokens held/read per layer on average for a sequence at context ``ctx``
        (windowed layers see at most ``window`` tokens; works on floats and arrays)."""
        if not self.window_share:
            return ctx
        import numpy as np

        return (1.0 - self.window_share) * ctx + self.window_share * np.minimum(ctx, self.window)


@cache
def served_model(model: ModelSpec) -> ServedModel:
    costs = layer_costs(model)
    n_dense, n_moe = layer_counts(model)
    c0 = costs[0]
    nkv, dh = model.num_kv_heads, model.head_dim_eff
    if model.mla is not None:
        kv_el = float(model.mla.kv_lora_rank + model.mla.qk_rope_head_dim)
    else:
        kv_el = 2.0 * nkv * dh
    attn_mm = 2.0 * c0.attn_params
    win = next((w for k, w in SLIDING_WINDOWS.items() if model.slug.startswith(k)), (0.0, 0.0))
    moe_fixed = moe_experts = 0.0
    moe_flops = routed = 0.0
    experts = top_k = expert_ffn = 0
    ffn_width = float(model.ffn_hidden_size)
    if model.moe is not None:
        m, c1 = model.moe, costs[1]
        k = 3 if model.mlp_gated else 2
        expert = k * model.hidden_size * m.expert_ffn_hidden_size
        moe_experts = float(m.num_experts * expert)
        moe_fixed = float(c1.mlp_params - moe_experts + c1.norm_params)
        moe_flops, routed = c1.matmul_flops_fwd, c1.expert_flops_fwd
        expert_ffn = m.expert_ffn_hidden_size
        experts, top_k = m.num_experts, m.top_k
        ffn_width = max(
            ffn_width if n_dense else 0.0,
            m.top_k * m.expert_ffn_hidden_size
            + m.num_shared_experts * m.shared_expert_ffn_hidden_size,
        )
    return ServedModel(
        layers=model.num_layers,
        dense_layers=n_dense,
        moe_layers=n_moe,
        hidden=model.hidden_size,
        vocab=model.vocab_size,
        kv_heads=nkv if model.mla is None else 1,
        mla=model.mla is not None,
        kv_elements_per_token_layer=kv_el,
        attn_params=float(c0.attn_params),
        dense_mlp_params=float(c0.mlp_params + c0.norm_params),
        moe_fixed_params=moe_fixed,
        moe_expert_params=moe_experts,
        num_experts=experts,
        top_k=top_k,
        embed_params=float(embedding_params(model)),
        head_params=float(head_params(model)),
        head_matmul_params=float(model.vocab_size * model.hidden_size),
        dense_flops_per_token=c0.matmul_flops_fwd,
        moe_flops_per_token=moe_flops,
        routed_flops_per_token=routed,
        expert_ffn=expert_ffn,
        attn_matmul_flops_per_token=attn_mm,
        attn_core_flops_per_ctx=c0.attn_core_flops_fwd_full,
        gemms_per_layer=c0.gemm_count,
        moe_gemms_per_layer=costs[1].gemm_count if model.moe is not None else c0.gemm_count,
        ffn_width=ffn_width,
        window=win[0],
        window_share=win[1],
    )


def kv_bytes_per_token(model: ModelSpec, kv_dtype_bytes: float = 2.0) -> float:
    """KV-cache bytes of one token over all layers, unsharded (the number engines print)."""
    s = served_model(model)
    return s.kv_elements_per_token_layer * s.layers * kv_dtype_bytes
