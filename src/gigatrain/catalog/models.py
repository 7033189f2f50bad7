"""Model catalog: built-in architectures (``data/models.yaml``), YAML files and Hugging Face
``config.json`` files read from local disk (no hub access).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import GigatrainError, unknown_name
from ..specs import MLASpec, ModelSpec, MoESpec
from ..yamlio import read_yaml

DATA = Path(__file__).parent / "data" / "models.yaml"

_STRUCT_INT = (
    "num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "vocab_size",
)
_OPTIONAL_INT = ("ffn_hidden_size", "head_dim", "learned_position_embeddings", "norms_per_layer", "mtp_modules")
_FLAGS = ("mlp_gated", "tied_embeddings", "attention_sinks", "embedding_norm", "qk_norm")
_CHOICES = {"norm_type": ("rmsnorm", "layernorm", "layernorm_nobias"), "bias": ("none", "qkv", "qkvo", "all")}
# descriptive keys the catalog keeps for people (sources, published counts); not structure
_INFO = {
    "name", "family", "developer", "max_seq_len", "train_seq_len", "parallel_attn_mlp",
    "params_published", "params_exact", "params_computed_shared", "active_params_published",
    "training_tokens", "source", "params_source", "tokens_source", "inferred_fields", "notes", "as_of",
}


def _positive_int(where: str, key: str, value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise GigatrainError(f"{where}: {key} must be an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise GigatrainError(f"{where}: {key} must be {'>= 0' if allow_zero else 'positive'}, got {value!r}")
    if value > 10**8:
        raise GigatrainError(f"{where}: {key}={value} is absurdly large")
    return int(value)


def model_from_dict(slug: str, d: dict[str, Any], where: str = "model") -> ModelSpec:
    """Build and validate a :class:`ModelSpec` from the catalog's YAML schema."""
    if not isinstance(d, dict):
        raise GigatrainError(f"{where}: entry {slug!r} must be a mapping, got {type(d).__name__}")
    known = set(_STRUCT_INT) | set(_OPTIONAL_INT) | set(_FLAGS) | set(_CHOICES) | {"mla", "moe"} | _INFO
    extra = sorted(set(d) - known)
    if extra:
        raise GigatrainError(f"{where}: {slug}: unknown field(s) {', '.join(extra)}; valid: {', '.join(sorted(known))}")
    kw: dict[str, Any] = {}
    for key in _STRUCT_INT:
        if key not in d:
            raise GigatrainError(f"{where}: {slug}: missing required field {key}")
        kw[key] = _positive_int(f"{where}: {slug}", key, d[key])
    for key in _OPTIONAL_INT:
        if key in d and d[key] is not None:
            kw[key] = _positive_int(f"{where}: {slug}", key, d[key], allow_zero=True)
    for key in _FLAGS:
        if key in d:
            if not isinstance(d[key], bool):
                raise GigatrainError(f"{where}: {slug}: {key} must be true or false, got {d[key]!r}")
            kw[key] = d[key]
    for key, choices in _CHOICES.items():
        if key in d:
            if d[key] not in choices:
                raise GigatrainError(f"{where}: {slug}: {key}={d[key]!r}; valid: {', '.join(choices)}")
            kw[key] = d[key]
    if d.get("mla"):
        try:
            kw["mla"] = MLASpec(**{k: int(v) for k, v in d["mla"].items()})
        except (TypeError, ValueError) as e:
            raise GigatrainError(f"{where}: {slug}: bad mla block: {e}") from None
    if d.get("moe"):
        m = dict(d["moe"])
        try:
            kw["moe"] = MoESpec(**m)
        except TypeError as e:
            raise GigatrainError(f"{where}: {slug}: bad moe block: {e}") from None
        if kw["moe"].top_k > kw["moe"].num_experts or kw["moe"].num_moe_layers > kw["num_layers"]:
            raise GigatrainError(f"{where}: {slug}: moe top_k must be <= num_experts and num_moe_layers <= num_layers")
    n_moe = kw["moe"].num_moe_layers if "moe" in kw else 0
    if n_moe < kw["num_layers"] and not kw.get("ffn_hidden_size"):
        raise GigatrainError(f"{where}: {slug}: ffn_hidden_size is required for dense layers")
    heads, kv = kw["num_attention_heads"], kw["num_kv_heads"]
    if "mla" not in kw and heads % kv:
        raise GigatrainError(f"{where}: {slug}: num_kv_heads={kv} must divide num_attention_heads={heads}")
    if not kw.get("head_dim") and kw["hidden_size"] % heads:
        raise GigatrainError(f"{where}: {slug}: hidden_size={kw['hidden_size']} is not divisible by num_attention_heads={heads}; give head_dim")
    return ModelSpec(
        slug=slug,
        name=str(d.get("name", slug)),
        params_published=d.get("params_exact") or d.get("params_published"),
        source=str(d.get("source", "")),
        **kw,
    )


def _read_yaml(path: Path) -> Any:
    return read_yaml(path, "model file")


@cache
def load_models() -> dict[str, ModelSpec]:
    raw = _read_yaml(DATA)
    return {slug: model_from_dict(slug, d, "models.yaml") for slug, d in raw.items()}


@cache
def model_info(slug: str) -> dict[str, Any]:
    """The catalog's descriptive fields for ``slug`` (sources, published counts)."""
    return dict(_read_yaml(DATA)[slug])


def from_hf_config(cfg: dict[str, Any], slug: str) -> ModelSpec:
    """Map a Hugging Face ``config.json`` (Llama/Mistral/Qwen/Mixtral/DeepSeek/GPT-2 style)."""
    def g(*keys: str, default: Any = None) -> Any:
        for k in keys:
            if k in cfg and cfg[k] is not None:
                return cfg[k]
        return default

    h = g("hidden_size", "n_embd", "d_model")
    if h is None:
        raise GigatrainError(f"{slug}: config.json has no hidden_size / n_embd / d_model")
    d: dict[str, Any] = {
        "num_layers": g("num_hidden_layers", "n_layer", "num_layers"),
        "hidden_size": h,
        "ffn_hidden_size": g("intermediate_size", "n_inner", "ffn_dim", default=4 * h),
        "num_attention_heads": g("num_attention_heads", "n_head"),
        "vocab_size": g("vocab_size"),
        "tied_embeddings": bool(g("tie_word_embeddings", default=False)),
    }
    d["num_kv_heads"] = g("num_key_value_heads", default=d["num_attention_heads"])
    if g("head_dim"):
        d["head_dim"] = g("head_dim")
    gpt2 = cfg.get("model_type") in ("gpt2", "gpt_neox", "opt", "bloom", "falcon")
    d["mlp_gated"] = not gpt2 and "gelu" not in str(g("hidden_act", "activation_function", default="silu"))
    d["norm_type"] = "layernorm" if gpt2 else "rmsnorm"
    d["bias"] = "all" if gpt2 else ("qkv" if g("attention_bias", default=False) else "none")
    if cfg.get("model_type") in ("gpt2", "opt"):
        d["learned_position_embeddings"] = g("n_positions", "max_position_embeddings", default=0)
    if g("kv_lora_rank"):
        d["mla"] = {
            "q_lora_rank": g("q_lora_rank", default=0) or 0,
            "kv_lora_rank": g("kv_lora_rank"),
            "qk_nope_head_dim": g("qk_nope_head_dim"),
            "qk_rope_head_dim": g("qk_rope_head_dim"),
            "v_head_dim": g("v_head_dim"),
        }
    n_exp = g("n_routed_experts", "num_local_experts", "num_experts")
    if n_exp:
        first_dense = g("first_k_dense_replace", default=0) or 0
        d["moe"] = {
            "num_experts": n_exp,
            "top_k": g("num_experts_per_tok", "moe_top_k", default=2),
            "expert_ffn_hidden_size": g("moe_intermediate_size", default=d["ffn_hidden_size"]),
            "num_moe_layers": d["num_layers"] - first_dense,
            "num_shared_experts": g("n_shared_experts", default=0) or 0,
            "shared_expert_ffn_hidden_size": g("moe_intermediate_size", default=0) if g("n_shared_experts") else 0,
        }
    missing = [k for k, v in d.items() if v is None]
    if missing:
        raise GigatrainError(f"{slug}: config.json lacks {', '.join(missing)}")
    return model_from_dict(slug, d, "config.json")


def load_model_file(path: Path) -> ModelSpec:
    """A model from a local YAML (catalog schema) or Hugging Face ``config.json`` file."""
    slug = path.stem
    if path.suffix == ".json":
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise GigatrainError(f"{path.name}: not valid JSON (line {e.lineno}: {e.msg})") from None
        except OSError as e:
            raise GigatrainError(f"cannot read {path}: {e.strerror}") from None
        if not isinstance(cfg, dict):
            raise GigatrainError(f"{path.name}: expected a JSON object")
        return from_hf_config(cfg, slug)
    raw = _read_yaml(path)
    if isinstance(raw, dict) and "num_layers" not in raw and len(raw) == 1:
        slug, raw = next(iter(raw.items()))
    return model_from_dict(str(slug), raw, path.name)


#: short names people use for catalog entries
MODEL_ALIASES = {"megatron-1t": "megatron-gpt-1t", "gpt3": "gpt3-175b", "palm": "palm-540b"}


def get_model(name: str) -> ModelSpec:
    """A catalog slug (or alias), or a path to a ``.yaml``/``.yml``/``.json`` model file."""
    models = load_models()
    name = MODEL_ALIASES.get(name, name)
    if name in models:
        return models[name]
    lower = name.lower()
    if lower in models:
        return models[lower]
    p = Path(name)
    if p.suffix in (".json", ".yaml", ".yml"):
        if not p.exists():
            raise GigatrainError(f"model file {name!r} does not exist")
        return load_model_file(p)
    raise unknown_name("model", name, models)
