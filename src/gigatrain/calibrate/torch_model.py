"""A real decoder-only transformer in PyTorch, built from a :class:`ModelSpec`.

The module has exactly the parameters :func:`gigatrain.model.workload.params_total` counts
(checked by the test suite), so a measured step and a predicted one describe the same model:

* attention: one fused QKV projection h → (n_h + 2·n_kv)·d_h (GQA when n_kv < n_h; K/V heads
  are repeated for SDPA), causal ``scaled_dot_product_attention``, output projection
  n_h·d_h → h; biases per ``ModelSpec.bias``; optional per-head RMSNorm on q and k (``qk_norm``);
  RoPE unless the model has a learned position table.
* MLP: gated SiLU (SwiGLU, three matrices) or GELU (two), per ``mlp_gated``.
* norms: RMSNorm, LayerNorm or LayerNorm without bias, per ``norm_type``; two pre-norms per
  layer (``norms_per_layer=2``) or pre+post norms (4, Gemma-2 style); a final norm.
* embeddings: token table (+ learned positions, + an embedding LayerNorm), LM head tied or not.

Rejected with a clear error: MoE, MLA and attention sinks (measure them on a real framework).
"""

from __future__ import annotations

from typing import Any

from ..catalog.models import calibration_models
from ..errors import GigatrainError
from ..specs import ModelSpec


def _require_torch() -> Any:
    try:
        import torch
    except ImportError as err:  # pragma: no cover
        raise GigatrainError("measuring needs PyTorch: `pip install gigatrain[torch]`") from err
    return torch


def tiny_models() -> dict[str, ModelSpec]:
    """Small dense models for real steps (defined in the catalog so that ``estimate`` knows
    them too; see :func:`gigatrain.catalog.models.calibration_models`)."""
    return calibration_models()


def check_buildable(spec: ModelSpec) -> None:
    """Raise a one-line GigatrainError for features this reference model does not implement."""
    if spec.moe is not None:
        raise GigatrainError(f"model {spec.slug!r} is MoE; `measure` builds dense models only")
    if spec.mla is not None:
        raise GigatrainError(
            f"model {spec.slug!r} uses MLA attention; `measure` supports MHA/GQA only"
        )
    if spec.attention_sinks:
        raise GigatrainError(f"model {spec.slug!r} has attention sinks; not supported by `measure`")
    if spec.norms_per_layer not in (2, 4):
        raise GigatrainError(
            f"norms_per_layer={spec.norms_per_layer} for {spec.slug!r}; "
            "`measure` builds 2 (pre-norm) or 4 (pre+post) norms per layer"
        )
    if spec.num_attention_heads % spec.num_kv_heads:
        raise GigatrainError(
            f"num_kv_heads={spec.num_kv_heads} does not divide "
            f"num_attention_heads={spec.num_attention_heads} in {spec.slug!r}"
        )


def build_model(spec: ModelSpec, max_seq: int = 2048) -> Any:
    """A ``torch.nn.Module`` for ``spec``: ``model(tokens) -> logits`` (batch, seq, vocab).

    Weights are drawn from N(0, 0.02²) (GPT-2 init); norms start at one.
    """
    torch = _require_torch()
    from torch import Tensor, nn  # typed: the modules below subclass the real nn.Module

    F = torch.nn.functional

    check_buildable(spec)
    h, nh, nkv, dh = (
        spec.hidden_size,
        spec.num_attention_heads,
        spec.num_kv_heads,
        spec.head_dim_eff,
    )
    if spec.learned_position_embeddings and max_seq > spec.learned_position_embeddings:
        max_seq = spec.learned_position_embeddings
    qkv_bias = spec.bias in ("qkv", "qkvo", "all")
    o_bias = spec.bias in ("qkvo", "all")
    mlp_bias = spec.bias == "all"

    def norm(dim: int) -> Any:
        if spec.norm_type == "rmsnorm":
            return nn.RMSNorm(dim, eps=1e-6)
        return nn.LayerNorm(dim, eps=1e-5, bias=spec.norm_type == "layernorm")

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(h, (nh + 2 * nkv) * dh, bias=qkv_bias)
            self.o = nn.Linear(nh * dh, h, bias=o_bias)
            self.q_norm = nn.RMSNorm(dh, eps=1e-6) if spec.qk_norm else None
            self.k_norm = nn.RMSNorm(dh, eps=1e-6) if spec.qk_norm else None

        def forward(self, x: Any, rope: tuple[Any, Any] | None) -> Any:
            b, s, _ = x.shape
            q, k, v = self.qkv(x).split([nh * dh, nkv * dh, nkv * dh], dim=-1)
            q = q.view(b, s, nh, dh).transpose(1, 2)
            k = k.view(b, s, nkv, dh).transpose(1, 2)
            v = v.view(b, s, nkv, dh).transpose(1, 2)
            if self.q_norm is not None and self.k_norm is not None:
                q, k = self.q_norm(q), self.k_norm(k)
            if rope is not None:
                q, k = _apply_rope(q, *rope), _apply_rope(k, *rope)
            if nkv != nh:
                k = k.repeat_interleave(nh // nkv, dim=1)
                v = v.repeat_interleave(nh // nkv, dim=1)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.o(y.transpose(1, 2).reshape(b, s, nh * dh))

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            f = spec.ffn_hidden_size
            self.up = nn.Linear(h, f, bias=mlp_bias)
            self.gate = nn.Linear(h, f, bias=mlp_bias) if spec.mlp_gated else None
            self.down = nn.Linear(f, h, bias=mlp_bias)

        def forward(self, x: Any) -> Any:
            if self.gate is not None:
                return self.down(F.silu(self.gate(x)) * self.up(x))
            return self.down(F.gelu(self.up(x), approximate="tanh"))

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.attn, self.norm2, self.mlp = norm(h), Attention(), norm(h), MLP()
            post = spec.norms_per_layer == 4
            self.post1 = norm(h) if post else None
            self.post2 = norm(h) if post else None

        def forward(self, x: Any, rope: tuple[Any, Any] | None) -> Any:
            a = self.attn(self.norm1(x), rope)
            x = x + (self.post1(a) if self.post1 is not None else a)
            m = self.mlp(self.norm2(x))
            return x + (self.post2(m) if self.post2 is not None else m)

    class Decoder(nn.Module):
        rope_cos: Tensor  # buffers (with rotary embeddings)
        rope_sin: Tensor

        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(spec.vocab_size, h)
            self.pos = (
                nn.Embedding(spec.learned_position_embeddings, h)
                if spec.learned_position_embeddings
                else None
            )
            self.embed_norm = nn.LayerNorm(h) if spec.embedding_norm else None
            self.blocks = nn.ModuleList(Block() for _ in range(spec.num_layers))
            self.final_norm = norm(h)
            self.head = None if spec.tied_embeddings else nn.Linear(h, spec.vocab_size, bias=False)
            if self.pos is None:
                inv = 1.0 / (10000.0 ** (torch.arange(0, dh, 2, dtype=torch.float32) / dh))
                ang = torch.outer(torch.arange(max_seq, dtype=torch.float32), inv)
                self.register_buffer("rope_cos", ang.cos(), persistent=False)
                self.register_buffer("rope_sin", ang.sin(), persistent=False)
            self.apply(_init_weights)

        def forward(self, tokens: Any) -> Any:
            s = tokens.shape[1]
            x = self.embed(tokens)
            rope = None
            if self.pos is not None:
                x = x + self.pos(torch.arange(s, device=tokens.device))
            else:
                rope = (self.rope_cos[:s].to(x.dtype), self.rope_sin[:s].to(x.dtype))
            if self.embed_norm is not None:
                x = self.embed_norm(x)
            for block in self.blocks:
                x = block(x, rope)
            x = self.final_norm(x)
            weight = self.embed.weight if self.head is None else self.head.weight
            return F.linear(x, weight)

    def _init_weights(mod: Any) -> None:
        if isinstance(mod, nn.Linear | nn.Embedding):
            nn.init.normal_(mod.weight, std=0.02)
            bias = getattr(mod, "bias", None)  # Embedding has none
            if bias is not None:
                nn.init.zeros_(bias)

    return Decoder()


def _apply_rope(x: Any, cos: Any, sin: Any) -> Any:
    """Rotary embedding on the two halves of the head dimension (GPT-NeoX layout)."""
    torch = _require_torch()
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def count_parameters(module: Any) -> int:
    """Distinct parameters (a tied weight counts once)."""
    return sum(p.numel() for p in module.parameters())
