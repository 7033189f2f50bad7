"""Hugging Face ``config.json`` → the catalog's model schema, with HF's semantics.

Keys follow ``transformers``' configuration classes (read locally, no hub access). Where a key
is absent, the default of that ``model_type``'s config class applies — e.g. ``GPT2Config``
does not set ``tie_word_embeddings``, so it inherits ``PretrainedConfig``'s ``True`` and a GPT-2
checkpoint ties its embeddings; ``LlamaConfig`` sets ``False``. Every value is checked where it
is read and errors name the config's own key: integers where integers (``1.5`` experts, ``true``
layers, NaN and infinities refused), top-k within 1..experts, a dense prefix within the layers.
"""

from __future__ import annotations

import builtins
import math
from typing import Any, overload

from ..errors import GigatrainError, shown

#: ``tie_word_embeddings`` default of each ``model_type``'s config class in transformers;
#: classes that do not set it inherit PretrainedConfig's True. Unknown types: False (the
#: common case for current decoder-only models), stated in the docs.
TIED_BY_DEFAULT = {
    "gpt2": True, "gpt_bigcode": True, "opt": True, "bloom": True, "falcon": True,
    "mpt": True, "gemma": True, "gemma2": True, "gemma3_text": True, "starcoder2": True,
    "cohere": True, "cohere2": True,
    "llama": False, "mistral": False, "mixtral": False, "qwen2": False, "qwen2_moe": False,
    "qwen3": False, "qwen3_moe": False, "deepseek_v2": False, "deepseek_v3": False,
    "gpt_neox": False, "gptj": False, "phi": False, "phi3": False, "olmo": False,
    "olmo2": False, "granite": False, "stablelm": False, "nemotron": False, "dbrx": False,
}  # fmt: skip
#: ``num_experts_per_tok`` default per config class (when the key is absent)
TOP_K_DEFAULT = {"mixtral": 2, "qwen2_moe": 4, "qwen3_moe": 8, "deepseek_v3": 8}
#: families with LayerNorm, biases everywhere and a plain (non-gated) MLP
_GPT_STYLE = (
    "gpt2",
    "gpt_neox",
    "opt",
    "bloom",
    "falcon",
    "gpt_bigcode",
    "gptj",
    "phi",
    "starcoder2",
)
#: gated MLPs whose activation is a GeLU (GeGLU), which the activation name does not reveal
_GATED_GELU = ("gemma", "gemma2", "gemma3_text")
MAX_DIM = 10**8


def _fail(key: str, value: Any, valid: str) -> GigatrainError:
    return GigatrainError(f"config.json: {key}={shown(value)}; {valid}")


class _Config:
    """Typed access to a config dict: every read names the HF key it came from."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg

    def find(self, *keys: str) -> tuple[str, Any]:
        """(the first of ``keys`` present and not null, its value) or (keys[0], None)."""
        for k in keys:
            if self.cfg.get(k) is not None:
                return k, self.cfg[k]
        return keys[0], None

    # (``builtins.int``: inside the class, ``int`` names this method)
    @overload
    def int(
        self,
        *keys: str,
        default: builtins.int,
        minimum: builtins.int = 1,
        maximum: builtins.int = MAX_DIM,
        why: str = "",
    ) -> builtins.int: ...
    @overload
    def int(
        self,
        *keys: str,
        default: None = None,
        minimum: builtins.int = 1,
        maximum: builtins.int = MAX_DIM,
        why: str = "",
    ) -> builtins.int | None: ...
    def int(
        self,
        *keys: str,
        default: int | None = None,
        minimum: int = 1,
        maximum: int = MAX_DIM,
        why: str = "",
    ) -> int | None:
        """An integer in [minimum, maximum]; floats with an integer value are accepted."""
        key, v = self.find(*keys)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _fail(key, v, "expected an integer")
        if isinstance(v, float) and (not math.isfinite(v) or not v.is_integer()):
            raise _fail(key, v, "expected an integer")
        if not minimum <= v <= maximum:
            raise _fail(key, v, f"valid: {minimum}..{maximum:,}{why}")
        return int(v)

    def flag(self, key: str, default: bool) -> bool:
        v = self.cfg.get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise _fail(key, v, "expected true or false")
        return v

    def text(self, *keys: str, default: str = "") -> str:
        key, v = self.find(*keys)
        if v is None:
            return default
        if not isinstance(v, str):
            raise _fail(key, v, "expected a string")
        return v


def _mla(c: _Config) -> dict[str, int] | None:
    if not c.int("kv_lora_rank", default=0, minimum=0):
        return None
    need = ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
    read = {k: c.int(k) for k in need}
    missing = [k for k, v in read.items() if v is None]
    if missing:
        raise GigatrainError(f"config.json: kv_lora_rank (MLA) needs {', '.join(missing)}")
    out = {k: v for k, v in read.items() if v is not None}  # all of them: none is missing
    out["q_lora_rank"] = c.int("q_lora_rank", default=0, minimum=0)
    return out


def _moe(c: _Config, model_type: str, layers: int, ffn: int) -> dict[str, int] | None:
    exp_key, _ = c.find("n_routed_experts", "num_local_experts", "num_experts")
    n_exp = c.int(exp_key, default=0, minimum=0)
    if not n_exp:
        return None
    top_key, _ = c.find("num_experts_per_tok", "moe_top_k")
    top_k = c.int(
        top_key,
        default=min(TOP_K_DEFAULT.get(model_type, 2), n_exp),
        maximum=n_exp,
        why=f" ({exp_key}={n_exp})",
    )
    assert top_k is not None
    first_dense = (
        c.int(
            "first_k_dense_replace",
            default=0,
            minimum=0,
            maximum=layers,
            why=f" (num_hidden_layers={layers})",
        )
        or 0
    )
    expert_ffn = c.int("moe_intermediate_size", default=ffn)
    n_shared = c.int("n_shared_experts", default=0, minimum=0) or 0
    shared_ffn = expert_ffn if n_shared else 0
    qwen_shared = c.int("shared_expert_intermediate_size", default=0, minimum=0) or 0
    if qwen_shared and not n_shared:  # Qwen2-MoE: one shared expert of its own width
        n_shared, shared_ffn = 1, qwen_shared
    return {
        "num_experts": n_exp,
        "top_k": top_k,
        "expert_ffn_hidden_size": expert_ffn,
        "num_moe_layers": layers - first_dense,
        "num_shared_experts": n_shared,
        "shared_expert_ffn_hidden_size": shared_ffn,
    }


def _kv_heads(c: _Config, model_type: str, heads: int) -> int | None:
    """``num_key_value_heads`` (Falcon: ``num_kv_heads``; its default is multi-query, one KV
    head, unless ``new_decoder_architecture``), else multi-head attention."""
    kv = c.int("num_key_value_heads", "num_kv_heads")
    if kv is not None:
        return kv
    if (
        model_type == "falcon"
        and c.flag("multi_query", True)
        and not c.flag("new_decoder_architecture", False)
    ):
        return 1
    return heads


def _bias(c: _Config, model_type: str, gpt_style: bool) -> str:
    if model_type == "falcon":  # FalconConfig(bias=False): no biases by default
        return "all" if c.flag("bias", False) else "none"
    if gpt_style:
        return "all"
    return "qkv" if c.flag("attention_bias", False) else "none"


def hf_to_catalog(cfg: dict[str, Any], slug: str) -> dict[str, Any]:
    """The catalog-schema dict for a Hugging Face ``config.json`` (Llama, Mistral, Mixtral, Qwen,
    DeepSeek, Gemma, GPT-2, GPT-NeoX, OPT, Falcon...). Raises GigatrainError naming the key."""
    c = _Config(cfg)
    model_type = c.text("model_type").lower()
    h = c.int("hidden_size", "n_embd", "d_model")
    layers = c.int("num_hidden_layers", "n_layer", "num_layers")
    heads = c.int("num_attention_heads", "n_head")
    vocab = c.int("vocab_size")
    need = {
        "hidden_size": h,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "vocab_size": vocab,
    }
    missing = [k for k, v in need.items() if v is None]
    if missing:
        raise GigatrainError(f"{slug}: config.json lacks {', '.join(missing)}")
    assert h is not None and layers is not None and heads is not None
    ffn = c.int("intermediate_size", "n_inner", "ffn_dim", default=4 * h)
    assert ffn is not None
    gpt_style = model_type in _GPT_STYLE
    act = c.text("hidden_act", "hidden_activation", "activation_function", default="silu")
    d: dict[str, Any] = {
        "num_layers": layers,
        "hidden_size": h,
        "ffn_hidden_size": ffn,
        "num_attention_heads": heads,
        "vocab_size": vocab,
        "num_kv_heads": _kv_heads(c, model_type, heads),
        "tied_embeddings": c.flag("tie_word_embeddings", TIED_BY_DEFAULT.get(model_type, False)),
        "mlp_gated": not gpt_style and (model_type in _GATED_GELU or "gelu" not in act),
        "norm_type": "layernorm" if gpt_style else "rmsnorm",
        "bias": _bias(c, model_type, gpt_style),
    }
    head_dim = c.int("head_dim", default=0, minimum=0)
    if head_dim:
        d["head_dim"] = head_dim
    if model_type in ("gpt2", "opt"):
        d["learned_position_embeddings"] = c.int(
            "n_positions", "max_position_embeddings", default=0, minimum=0
        )
    if (
        model_type == "falcon"
        and c.flag("parallel_attn", True)
        and not c.flag("new_decoder_architecture", False)
    ):
        d["norms_per_layer"] = 1  # one LayerNorm feeds both attention and MLP (Falcon-7B)
    mla = _mla(c)
    if mla:
        d["mla"] = mla
    moe = _moe(c, model_type, layers, ffn)
    if moe:
        d["moe"] = moe
    return d
