"""Model catalog: built-in architectures (``data/models.yaml``), YAML files and Hugging Face
``config.json`` files read from local disk (no hub access).
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import GigatrainError, shown, unknown_name
from ..specs import MLASpec, ModelSpec, MoESpec
from ..yamlio import read_text, read_yaml, read_yaml_cached
from .hf import hf_to_catalog

DATA = Path(__file__).parent / "data" / "models.yaml"

_STRUCT_INT = (
    "num_layers",
    "hidden_size",
    "num_attention_heads",
    "num_kv_heads",
    "vocab_size",
)
_OPTIONAL_INT = (
    "ffn_hidden_size",
    "head_dim",
    "learned_position_embeddings",
    "norms_per_layer",
    "mtp_modules",
)
_FLAGS = ("mlp_gated", "tied_embeddings", "attention_sinks", "embedding_norm", "qk_norm")
_CHOICES = {
    "norm_type": ("rmsnorm", "layernorm", "layernorm_nobias"),
    "bias": ("none", "qkv", "qkvo", "all"),
}
# descriptive keys the catalog keeps for people (sources, published counts); not structure
_INFO = {
    "name",
    "family",
    "developer",
    "max_seq_len",
    "train_seq_len",
    "parallel_attn_mlp",
    "params_published",
    "params_exact",
    "params_computed_shared",
    "active_params_published",
    "training_tokens",
    "source",
    "params_source",
    "tokens_source",
    "inferred_fields",
    "notes",
    "as_of",
}


def _positive_int(where: str, key: str, value: Any, *, allow_zero: bool = False) -> int:
    """An integer in 1..1e8 (0..1e8 with ``allow_zero``); bools, fractions, NaN/inf refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GigatrainError(f"{where}: {key} must be an integer, got {shown(value)}")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise GigatrainError(f"{where}: {key} must be an integer, got {shown(value)}")
    if value < 0 or (value == 0 and not allow_zero):
        raise GigatrainError(
            f"{where}: {key} must be {'>= 0' if allow_zero else 'positive'}, got {shown(value)}"
        )
    if value > 10**8:
        raise GigatrainError(
            f"{where}: {key}={shown(value, 24)} is beyond the supported maximum 1e8"
        )
    return int(value)


def _block(where: str, name: str, raw: Any, fields: dict[str, bool]) -> dict[str, int]:
    """An ``mla``/``moe`` mapping of integer fields (``fields``: name -> zero allowed)."""
    if not isinstance(raw, dict):
        raise GigatrainError(f"{where}: {name} must be a mapping, got {raw!r}")
    extra = sorted(set(raw) - set(fields) - {"router_bias"})
    if extra:
        raise GigatrainError(
            f"{where}: {name}: unknown field(s) {', '.join(map(str, extra))}; "
            f"valid: {', '.join(fields)}"
        )
    out = {
        k: _positive_int(f"{where}: {name}", k, raw[k], allow_zero=zero)
        for k, zero in fields.items()
        if k in raw
    }
    return out


_MLA_FIELDS = {
    "q_lora_rank": True,
    "kv_lora_rank": False,
    "qk_nope_head_dim": False,
    "qk_rope_head_dim": False,
    "v_head_dim": False,
}
_MOE_FIELDS = {
    "num_experts": False,
    "top_k": False,
    "expert_ffn_hidden_size": False,
    "num_moe_layers": True,
    "num_shared_experts": True,
    "shared_expert_ffn_hidden_size": True,
}


def _mla(where: str, raw: Any) -> MLASpec:
    vals = _block(where, "mla", raw, _MLA_FIELDS)
    try:
        return MLASpec(**vals)
    except TypeError as e:
        raise GigatrainError(f"{where}: bad mla block: {e}") from None


def _moe(where: str, raw: Any, num_layers: int) -> MoESpec:
    vals = _block(where, "moe", raw, _MOE_FIELDS)
    rb = raw.get("router_bias", False)
    if not isinstance(rb, bool):
        raise GigatrainError(f"{where}: moe: router_bias must be true or false, got {rb!r}")
    try:
        moe = MoESpec(**vals, router_bias=rb)
    except TypeError as e:
        raise GigatrainError(f"{where}: bad moe block: {e}") from None
    if moe.top_k > moe.num_experts:
        raise GigatrainError(
            f"{where}: moe: top_k={moe.top_k}; valid: 1..{moe.num_experts} "
            f"(num_experts={moe.num_experts})"
        )
    if moe.num_moe_layers > num_layers:
        raise GigatrainError(
            f"{where}: moe: num_moe_layers={moe.num_moe_layers}; valid: "
            f"0..{num_layers} (num_layers={num_layers})"
        )
    return moe


def model_from_dict(slug: str, d: dict[str, Any], where: str = "model") -> ModelSpec:
    """Build and validate a :class:`ModelSpec` from the catalog's YAML schema."""
    if not isinstance(d, dict):
        raise GigatrainError(f"{where}: entry {slug!r} must be a mapping, got {type(d).__name__}")
    known = (
        set(_STRUCT_INT) | set(_OPTIONAL_INT) | set(_FLAGS) | set(_CHOICES) | {"mla", "moe"} | _INFO
    )
    extra = sorted(set(d) - known)
    if extra:
        raise GigatrainError(
            f"{where}: {slug}: unknown field(s) {', '.join(extra)}; valid: {', '.join(sorted(known))}"
        )
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
                raise GigatrainError(
                    f"{where}: {slug}: {key} must be true or false, got {d[key]!r}"
                )
            kw[key] = d[key]
    for key, choices in _CHOICES.items():
        if key in d:
            if d[key] not in choices:
                raise GigatrainError(
                    f"{where}: {slug}: {key}={d[key]!r}; valid: {', '.join(choices)}"
                )
            kw[key] = d[key]
    if d.get("mla"):
        kw["mla"] = _mla(f"{where}: {slug}", d["mla"])
    if d.get("moe"):
        kw["moe"] = _moe(f"{where}: {slug}", d["moe"], kw["num_layers"])
    n_moe = kw["moe"].num_moe_layers if "moe" in kw else 0
    if n_moe < kw["num_layers"] and not kw.get("ffn_hidden_size"):
        raise GigatrainError(f"{where}: {slug}: ffn_hidden_size is required for dense layers")
    heads, kv = kw["num_attention_heads"], kw["num_kv_heads"]
    if "mla" not in kw and heads % kv:
        raise GigatrainError(
            f"{where}: {slug}: num_kv_heads={kv} must divide num_attention_heads={heads}"
        )
    if not kw.get("head_dim") and kw["hidden_size"] % heads:
        raise GigatrainError(
            f"{where}: {slug}: hidden_size={kw['hidden_size']} is not divisible by num_attention_heads={heads}; give head_dim"
        )
    return ModelSpec(
        slug=slug,
        name=str(d.get("name", slug)),
        params_published=d.get("params_exact") or d.get("params_published"),
        source=str(d.get("source", "")),
        **kw,
    )


@cache
def _catalog_raw() -> dict[str, Any]:
    """``models.yaml`` parsed once (C loader); every catalog function reads this."""
    raw = read_yaml_cached(DATA, "model catalog")
    if not isinstance(raw, dict):
        raise GigatrainError("models.yaml: must be a mapping of slug -> model")
    return raw


@cache
def load_models() -> dict[str, ModelSpec]:
    return {slug: model_from_dict(slug, d, "models.yaml") for slug, d in _catalog_raw().items()}


def model_info(slug: str) -> dict[str, Any]:
    """The catalog's descriptive fields for ``slug`` (sources, published counts)."""
    return dict(_catalog_raw()[slug])


def from_hf_config(cfg: dict[str, Any], slug: str) -> ModelSpec:
    """Map a Hugging Face ``config.json`` dict with HF's per-``model_type`` defaults
    (see :mod:`gigatrain.catalog.hf`)."""
    if not isinstance(cfg, dict):
        raise GigatrainError(f"{slug}: config.json must be a JSON object, got {type(cfg).__name__}")
    return model_from_dict(slug, hf_to_catalog(cfg, slug), "config.json")


def _no_constant(name: str) -> Any:
    raise GigatrainError(f"config.json: {name} is not a number JSON allows; use a finite number")


def _json_number(text: str) -> float | int:
    """JSON numbers without float overflow or 5,000-digit integers."""
    if len(text) > 40:
        raise GigatrainError(
            f"config.json: number {text[:20]}... has {len(text)} characters; valid: up to 40"
        )
    return float(text) if any(ch in text for ch in ".eE") else int(text)


def read_hf_config(path: Path) -> dict[str, Any]:
    """A local ``config.json`` as a dict: UTF-8, finite numbers, bounded size and depth."""
    text = read_text(path, "model file", max_bytes=4 * 2**20)
    try:
        cfg = json.loads(
            text, parse_constant=_no_constant, parse_float=_json_number, parse_int=_json_number
        )
    except json.JSONDecodeError as e:
        raise GigatrainError(f"{path.name}: not valid JSON (line {e.lineno}: {e.msg})") from None
    except RecursionError:
        raise GigatrainError(f"{path.name}: JSON nested too deeply") from None
    if not isinstance(cfg, dict):
        raise GigatrainError(f"{path.name}: expected a JSON object, got {type(cfg).__name__}")
    return cfg


def load_model_file(path: Path) -> ModelSpec:
    """A model from a local YAML (catalog schema) or Hugging Face ``config.json`` file."""
    slug = path.stem
    if path.suffix == ".json":
        return from_hf_config(read_hf_config(path), slug)
    raw = read_yaml(path, "model file")
    if isinstance(raw, dict) and "num_layers" not in raw and len(raw) == 1:
        slug, raw = next(iter(raw.items()))
    return model_from_dict(str(slug), raw, path.name)


@cache
def calibration_models() -> dict[str, ModelSpec]:
    """Small dense models for real steps: three CPU-sized ones (a step in well under a second
    on 2 cores at a few hundred tokens) and three GPU-sized ones (~125M, ~350M, ~1.1B), used by
    ``gigatrain measure`` and known to every command by name (not listed in the catalog)."""
    source = "gigatrain calibration model (synthetic)"
    specs = [
        ModelSpec(
            slug="tiny-gpt",
            name="tiny GPT (4×256, GELU, LayerNorm, tied)",
            num_layers=4,
            hidden_size=256,
            ffn_hidden_size=1024,
            num_attention_heads=4,
            num_kv_heads=4,
            vocab_size=8192,
            mlp_gated=False,
            tied_embeddings=True,
            norm_type="layernorm",
            learned_position_embeddings=1024,
            bias="all",
            source=source,
        ),
        ModelSpec(
            slug="small-llama",
            name="small Llama (6×384, SwiGLU, GQA 6/2)",
            num_layers=6,
            hidden_size=384,
            ffn_hidden_size=1024,
            num_attention_heads=6,
            num_kv_heads=2,
            vocab_size=8192,
            source=source,
        ),
        ModelSpec(
            slug="medium-gpt",
            name="medium GPT (6×512, GELU, LayerNorm, tied)",
            num_layers=6,
            hidden_size=512,
            ffn_hidden_size=2048,
            num_attention_heads=8,
            num_kv_heads=8,
            vocab_size=8192,
            mlp_gated=False,
            tied_embeddings=True,
            norm_type="layernorm",
            learned_position_embeddings=1024,
            bias="all",
            source=source,
        ),
        ModelSpec(
            slug="gpt-125m",
            name="GPT-2 small shape (12×768)",
            num_layers=12,
            hidden_size=768,
            ffn_hidden_size=3072,
            num_attention_heads=12,
            num_kv_heads=12,
            vocab_size=50304,
            mlp_gated=False,
            tied_embeddings=True,
            norm_type="layernorm",
            learned_position_embeddings=2048,
            bias="all",
            source=source,
        ),
        ModelSpec(
            slug="llama-350m",
            name="Llama shape 24×1024, GQA 16/8 (~350M)",
            num_layers=24,
            hidden_size=1024,
            ffn_hidden_size=2816,
            num_attention_heads=16,
            num_kv_heads=8,
            vocab_size=32000,
            source=source,
        ),
        ModelSpec(
            slug="llama-1b",
            name="Llama shape 16×2048, GQA 32/8",
            num_layers=16,
            hidden_size=2048,
            ffn_hidden_size=8192,
            num_attention_heads=32,
            num_kv_heads=8,
            vocab_size=32000,
            source=source,
        ),
    ]
    return {s.slug: s for s in specs}


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
    if name in calibration_models():
        return calibration_models()[name]
    p = Path(name)
    if p.suffix in (".json", ".yaml", ".yml"):
        if not p.exists():
            raise GigatrainError(f"model file {name!r} does not exist")
        return load_model_file(p)
    raise unknown_name("model", name, [*models, *calibration_models()])
