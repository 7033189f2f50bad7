"""What a model costs per token: parameters, FLOPs and activation bytes, counted from structure.

A model is a stack of typed blocks (attention: MHA/GQA/MLA; feed-forward: dense MLP, gated MLP,
MoE with top-k and shared experts; norms; embeddings and LM head). Each count below comes from
the block's matrices, never from the family name (DESIGN.md principle 6).

Counting rule (shared/facts/models.md §2, which reproduces published exact counts to the digit):

* attention  h·(n_h·d_h) + 2·h·(n_kv·d_h) + (n_h·d_h)·h, plus biases and sinks
* MLA        h·q_r + q_r + q_r·n_h·(d_nope+d_rope) + h·(kv_r+d_rope) + kv_r + kv_r·n_h·(d_nope+d_v)
             + n_h·d_v·h
* dense MLP  3·h·f (gated) or 2·h·f
* MoE        E·expert + shared·expert_shared + router h·E (+E with a router bias)
* norms      norms_per_layer × (h, or 2h for LayerNorm with bias)
* total      layers + V·h (·2 if untied) + learned position table + final norm

FLOPs: a matmul of an (m×k) by (k×n) costs 2·m·k·n. Training = forward + backward = 3× forward
for matmuls (Narayanan et al. 2021, Eq. 3 derivation); the attention core (QKᵀ and AV) costs
2·2·s_ctx·n_h·d_h per token per layer in the forward pass, with s_ctx = s (full) or (s+1)/2
(causal). Published sources use both conventions (validation/README.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from ..specs import ModelSpec


@dataclass(frozen=True)
class LayerCost:
    """Per-token costs of one transformer layer (no parallelism applied)."""

    params: int
    attn_params: int
    mlp_params: int  # dense MLP, or all experts + shared + router of an MoE layer
    norm_params: int
    matmul_flops_fwd: float  # per token, active weights only (2 FLOPs per MAC)
    attn_core_flops_fwd_full: float  # per token per unit of context length (×s or ×(s+1)/2)
    gemm_count: int  # GEMMs in the forward pass (efficiency is per op)
    expert_flops_fwd: float  # routed-expert part of matmul_flops_fwd (grows with top_k)
    act_bytes_per_token: float  # stored activations, 2-byte dtype, no recompute, no TP
    #: stored with selective recompute: GEMM outputs kept, cheap elementwise results (norm
    #: outputs, activation-function outputs) recomputed in the backward pass
    act_bytes_selective_per_token: float
    #: MLA only: the up-projected per-head Q, K, V and the RMSNorm outputs that selective
    #: recompute of MLA models (DeepSeek-V3 §3.3.2; Megatron-Core ``--recompute-modules
    #: mla_up_proj layernorm``) re-derives instead of keeping
    act_bytes_mla_up_proj_per_token: float = 0.0
    #: routed-expert activations (stored in FP8 by FP8 recipes: DeepSeek-V3 §3.3.2)
    act_bytes_experts_per_token: float = 0.0


def _norm_params(model: ModelSpec) -> int:
    return 2 * model.hidden_size if model.norm_type == "layernorm" else model.hidden_size


def attention_params(model: ModelSpec) -> int:
    h, nh, nkv, dh = (
        model.hidden_size,
        model.num_attention_heads,
        model.num_kv_heads,
        model.head_dim_eff,
    )
    if model.mla is not None:
        m = model.mla
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        if m.q_lora_rank:
            q = h * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * nh * qk
        else:
            q = h * nh * qk
        kv = h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank
        kv += m.kv_lora_rank * nh * (m.qk_nope_head_dim + m.v_head_dim)
        return q + kv + nh * m.v_head_dim * h
    p = h * nh * dh + 2 * h * nkv * dh + nh * dh * h
    if model.bias in ("qkv", "qkvo", "all"):
        p += nh * dh + 2 * nkv * dh
    if model.bias in ("qkvo", "all"):
        p += h
    if model.attention_sinks:
        p += nh
    if model.qk_norm:
        p += 2 * dh
    return p


def _mlp_params(h: int, f: int, gated: bool, bias: bool) -> int:
    p = (3 if gated else 2) * h * f
    if bias:
        p += (2 * f if gated else f) + h
    return p


def dense_mlp_params(model: ModelSpec) -> int:
    return _mlp_params(
        model.hidden_size, model.ffn_hidden_size, model.mlp_gated, model.bias == "all"
    )


def moe_mlp_params(model: ModelSpec) -> int:
    moe = model.moe
    assert moe is not None
    h = model.hidden_size
    expert_bias = model.bias in ("qkvo", "all")
    expert = _mlp_params(h, moe.expert_ffn_hidden_size, model.mlp_gated, expert_bias)
    shared = _mlp_params(h, moe.shared_expert_ffn_hidden_size, model.mlp_gated, expert_bias)
    router = h * moe.num_experts + (moe.num_experts if moe.router_bias else 0)
    return moe.num_experts * expert + moe.num_shared_experts * shared + router


def _attention_fwd(model: ModelSpec) -> tuple[float, float, int, float, float]:
    """(matmul FLOPs/token, core FLOPs/token per unit context, GEMM count, activation bytes/token,
    MLA up-projected Q/K/V bytes/token)."""
    h, nh, nkv, dh = (
        model.hidden_size,
        model.num_attention_heads,
        model.num_kv_heads,
        model.head_dim_eff,
    )
    if model.mla is not None:
        m = model.mla
        qk_dim, v_dim = m.qk_nope_head_dim + m.qk_rope_head_dim, m.v_head_dim
        gemms = 5 if m.q_lora_rank else 4
        kv_store = nh * (qk_dim + v_dim) + (m.q_lora_rank + m.kv_lora_rank)
    else:
        qk_dim = v_dim = dh
        gemms = 2  # fused QKV, output projection
        kv_store = 2 * nkv * dh
    # DeepSeek-V3 §3.3.2 recomputes "all RMSNorm operations and MLA up-projections": the
    # per-head Q, K, V and the two norm outputs (GEMM inputs, 2h) are re-derived, not kept
    up_proj = 2.0 * (nh * qk_dim + nh * (qk_dim + v_dim) + 2 * h) if model.mla is not None else 0.0
    matmul = 2.0 * (attention_params(model) - (nh if model.attention_sinks else 0))
    core = 2.0 * nh * (qk_dim + v_dim)  # QKᵀ and AV, per unit of context
    # stored (bytes, bf16): norm input, QKV-GEMM input, Q, K, V, attention output (= o-proj input)
    act = 2.0 * (h + h + nh * qk_dim + kv_store + nh * v_dim)
    return matmul, core, gemms, act, up_proj


@cache
def layer_costs(model: ModelSpec) -> tuple[LayerCost, ...]:
    """The distinct layer kinds of ``model`` as (dense, moe) costs; index 0 dense, 1 MoE if any."""
    h = model.hidden_size
    attn_mm, core, attn_gemms, attn_act, up_proj = _attention_fwd(model)
    norms = model.norms_per_layer * _norm_params(model)
    attn_p = attention_params(model)
    out: list[LayerCost] = []
    f = model.ffn_hidden_size
    gated = model.mlp_gated
    dense_p = dense_mlp_params(model)
    mlp_act = 2.0 * (2 * h + (3 if gated else 2) * f)
    # selective: drop the two norm outputs (GEMM inputs, 2h) and the activation output (f)
    recomputed = 2.0 * (2 * h + f)
    out.append(
        LayerCost(
            params=attn_p + dense_p + norms,
            attn_params=attn_p,
            mlp_params=dense_p,
            norm_params=norms,
            matmul_flops_fwd=attn_mm + 2.0 * (3 if gated else 2) * h * f,
            attn_core_flops_fwd_full=core,
            gemm_count=attn_gemms + (3 if gated else 2),
            expert_flops_fwd=0.0,
            act_bytes_per_token=attn_act + mlp_act,
            act_bytes_selective_per_token=attn_act + mlp_act - recomputed,
            act_bytes_mla_up_proj_per_token=up_proj,
        )
    )
    if model.moe is not None:
        moe = model.moe
        fe, fs = moe.expert_ffn_hidden_size, moe.shared_expert_ffn_hidden_size
        k = 3 if gated else 2
        routed = 2.0 * moe.top_k * k * h * fe
        shared = 2.0 * moe.num_shared_experts * k * h * fs
        router = 2.0 * h * moe.num_experts
        moe_p = moe_mlp_params(model)
        act = 2.0 * (2 * h + moe.top_k * (h + k * fe) + moe.num_shared_experts * k * fs)
        out.append(
            LayerCost(
                params=attn_p + moe_p + norms,
                attn_params=attn_p,
                mlp_params=moe_p,
                norm_params=norms,
                matmul_flops_fwd=attn_mm + routed + shared + router,
                attn_core_flops_fwd_full=core,
                gemm_count=attn_gemms + k * 2 + (k if moe.num_shared_experts else 0) + 1,
                expert_flops_fwd=routed,
                act_bytes_per_token=attn_act + act,
                act_bytes_selective_per_token=attn_act + act - 2.0 * (2 * h + moe.top_k * fe),
                act_bytes_mla_up_proj_per_token=up_proj,
                act_bytes_experts_per_token=2.0 * moe.top_k * (h + k * fe),
            )
        )
    return tuple(out)


def layer_counts(model: ModelSpec) -> tuple[int, int]:
    """(dense layers, MoE layers)."""
    n_moe = model.moe.num_moe_layers if model.moe is not None else 0
    return model.num_layers - n_moe, n_moe


def embedding_params(model: ModelSpec) -> int:
    """Input embedding (+ learned position table + BLOOM's embedding LayerNorm)."""
    h = model.hidden_size
    p = model.vocab_size * h + model.learned_position_embeddings * h
    if model.embedding_norm:
        p += 2 * h
    return p


def head_params(model: ModelSpec) -> int:
    """Output head (0 extra parameters when tied) + final norm."""
    return (0 if model.tied_embeddings else model.vocab_size * model.hidden_size) + _norm_params(
        model
    )


def params_total(model: ModelSpec) -> int:
    """All parameters, embeddings included (MTP modules excluded, as published counts do)."""
    n_dense, n_moe = layer_counts(model)
    costs = layer_costs(model)
    p = n_dense * costs[0].params + (n_moe * costs[1].params if n_moe else 0)
    return p + embedding_params(model) + head_params(model)


def params_active(model: ModelSpec) -> int:
    """Parameters touched per token (top-k routed + shared experts), input embedding included."""
    if model.moe is None:
        return params_total(model)
    moe = model.moe
    expert_bias = model.bias in ("qkvo", "all")
    expert = _mlp_params(
        model.hidden_size, moe.expert_ffn_hidden_size, model.mlp_gated, expert_bias
    )
    idle = (moe.num_experts - moe.top_k) * expert
    return params_total(model) - moe.num_moe_layers * idle


def matmul_flops_per_token_fwd(model: ModelSpec) -> float:
    """Forward matmul FLOPs per token: all layers + LM head (2·V·h). Input embedding is a lookup."""
    n_dense, n_moe = layer_counts(model)
    costs = layer_costs(model)
    f = n_dense * costs[0].matmul_flops_fwd + (n_moe * costs[1].matmul_flops_fwd if n_moe else 0)
    return f + 2.0 * model.vocab_size * model.hidden_size


def attention_flops_per_token_fwd(model: ModelSpec, seq_len: int, causal: bool = True) -> float:
    """Forward QKᵀ + AV FLOPs per token over all layers; causal uses a mean context of (s+1)/2."""
    ctx = (seq_len + 1) / 2 if causal else float(seq_len)
    return model.num_layers * layer_costs(model)[0].attn_core_flops_fwd_full * ctx


def model_flops_per_token(model: ModelSpec, seq_len: int, causal: bool = True) -> float:
    """Training model FLOPs per token (no recompute): 3 × (matmul + attention) forward FLOPs.

    For a dense GPT this equals 6·N_nonembed + 6·V·h + 12·L·h·s (non-causal), the PaLM/MaxText
    convention; ``causal=True`` halves the attention term (Megatron-Core ≥ 0.9 / FlashAttention).
    """
    return 3.0 * (
        matmul_flops_per_token_fwd(model) + attention_flops_per_token_fwd(model, seq_len, causal)
    )


def six_n_flops_per_token(model: ModelSpec) -> float:
    """The 6·N approximation (Kaplan et al. 2020) with N = active parameters."""
    return 6.0 * params_active(model)
