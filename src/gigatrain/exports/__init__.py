"""Exports and imports of training-framework launch configs (a layer above :mod:`gigatrain.api`).

``export_plan(target, fmt)`` writes a plan as the framework's own config; ``read_config(path)``
reads one back (ours or a user's) and ``estimate_config`` estimates it, optionally on another
chip count (``chips=``), keeping tp/pp/cp/ep and letting dp absorb the change.

Formats: ``megatron`` (Megatron-LM launch script), ``megatron-bridge`` (recipe overrides),
``deepspeed`` (JSON + Megatron-DeepSpeed launcher), ``torchtitan`` (a Python config
registry module, torchtitan 0.3), ``maxtext`` (YAML overrides with ICI/DCN mesh axes),
``neuron`` (NeuronX Distributed Training YAML).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import GigatrainError, unknown_name
from ..specs import MLASpec, ModelSpec, MoESpec
from . import bridge, deepspeed, maxtext, megatron, neuron, torchtitan
from .base import Exported, Imported, Target, apply_meta, read_meta

if TYPE_CHECKING:
    from ..model.estimate import Estimate


class Format(Protocol):
    """What a format module provides (each module below is one)."""

    def export(self, t: Target) -> Exported: ...
    def parse(self, files: dict[str, str]) -> Imported: ...


FORMATS: dict[str, Format] = {
    "megatron": megatron,
    "megatron-bridge": bridge,
    "deepspeed": deepspeed,
    "torchtitan": torchtitan,
    "maxtext": maxtext,
    "neuron": neuron,
}

__all__ = [
    "FORMATS",
    "Exported",
    "Imported",
    "Target",
    "estimate_config",
    "export_plan",
    "read_config",
    "target_from_search",
    "target_named",
    "write_export",
]


def _module(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise unknown_name("format", fmt, FORMATS)
    return FORMATS[fmt]


def target_named(
    model: str | ModelSpec,
    chip: str,
    chips: int,
    *,
    seq: int = 4096,
    global_batch: int = 1024,
    tokens: float = 0.0,
    precision: str = "bf16",
    system: str | None = None,
    framework: str = "auto",
    **plan: Any,
) -> Target:
    """A :class:`Target` from catalog names and degrees (``gigatrain estimate``'s inputs)."""
    from ..api import make_plan, resolve
    from ..model.plans import check_tp

    r = resolve(model, chip, seq, global_batch, tokens, precision, system, None, framework)
    tp = plan.get("tp", 1)
    if isinstance(tp, int) and tp > 0:
        check_tp(r.model, tp)
    p = make_plan(chips, **plan)
    return Target(
        r.model,
        r.job,
        p,
        r.system.chip.slug,
        r.system.slug,
        r.system.chips_per_node,
        r.system.tiers[0].domain_chips,
    )


def target_from_search(data: dict[str, Any], rank: int = 1) -> Target:
    """The ``rank``-th plan (1 = best) of ``gigatrain search --json`` output."""
    top = data.get("top") if isinstance(data, dict) else None
    if not top:
        raise GigatrainError(
            "search result has no plans under 'top' (was it `gigatrain search --json` output?)"
        )
    if not 1 <= rank <= len(top):
        raise GigatrainError(f"rank={rank}; valid: 1..{len(top)} (plans in this search result)")
    cand, job = top[rank - 1], data.get("job") or {}
    p = cand["plan"]
    keys = (
        "tp",
        "pp",
        "cp",
        "ep",
        "dp",
        "vpp",
        "micro_batch",
        "zero_stage",
        "fsdp_shard",
        "recompute",
        "sequence_parallel",
    )
    try:
        return target_named(
            data["model"],
            data["chip"],
            int(cand["chips"]),
            seq=int(job["seq_len"]),
            global_batch=int(cand.get("global_batch") or job["global_batch_seqs"]),
            tokens=float(job.get("tokens", 0.0)),
            precision=str(job.get("precision", "bf16")),
            system=data.get("system"),
            framework=str(job.get("framework", "auto")),
            **{k: p[k] for k in keys if k in p},
        )
    except KeyError as e:
        raise GigatrainError(
            f"search result lacks {e.args[0]!r}; give `gigatrain search --json` output"
        ) from None


def export_plan(t: Target, fmt: str) -> Exported:
    """``t`` as format ``fmt``'s config; raises one line for what the framework cannot run."""
    return _module(fmt).export(t)


def write_export(ex: Exported, path: Path) -> list[Path]:
    """Write the main file at ``path`` and companions beside it (``path`` + suffix)."""
    out = []
    for suffix, text in ex.files.items():
        p = path if not suffix else path.with_name(path.name + suffix)
        p.write_text(text)
        out.append(p)
    return out


def detect_format(path: Path, text: str) -> str:
    """The format of a config file from its content (and extension)."""
    if path.suffix == ".json":
        return "deepspeed"
    if path.suffix == ".py" or ("torchtitan" in text and "def " in text):
        return "torchtitan"
    if "ici_" in text or "dcn_" in text or "per_device_batch_size" in text:
        return "maxtext"
    if "distributed_strategy" in text:
        return "neuron"
    if "model.tensor_model_parallel_size=" in text or "run_recipe" in text:
        return "megatron-bridge"
    if "--tensor-model-parallel-size" in text or "pretrain_gpt" in text:
        return "megatron"
    raise GigatrainError(f"cannot tell the format of {path}; give --format ({', '.join(FORMATS)})")


def read_config(path: str | Path, fmt: str | None = None) -> Imported:
    """Read a framework config (and its companions beside it) into gigatrain's vocabulary."""
    path = Path(path)
    if not path.is_file():
        raise GigatrainError(f"config file {path} does not exist")
    text = path.read_text()
    fmt = fmt or detect_format(path, text)
    mod = _module(fmt)
    files = {"": text}
    for suffix in getattr(mod, "COMPANIONS", ()):
        comp = path.with_name(path.name + suffix)
        if comp.is_file():
            files[suffix] = comp.read_text()
    imp = mod.parse(files)
    return apply_meta(imp, read_meta("\n".join(files.values())))


def model_for(imp: Imported, model: str | ModelSpec | None = None) -> ModelSpec:
    """The model: ``model`` (or the metadata's slug) with the config's architecture fields on
    top; with neither, a model built from the config's fields alone."""
    from ..catalog.models import get_model

    name = model if model is not None else imp.model
    fields = {k: v for k, v in imp.model_fields.items() if v is not None}
    if name is not None:
        base = name if isinstance(name, ModelSpec) else get_model(name)
        m = base.with_(**{k: v for k, v in fields.items() if getattr(base, k) != v})
    else:
        need = ("num_layers", "hidden_size", "num_attention_heads", "vocab_size")
        miss = [k for k in need if k not in fields]
        if miss:
            raise GigatrainError(
                f"the config does not give {', '.join(miss)}; name the model with --model"
            )
        fields.setdefault("num_kv_heads", fields["num_attention_heads"])
        fields.setdefault("ffn_hidden_size", 4 * fields["hidden_size"])
        m = ModelSpec(slug=f"imported-{imp.format}", **fields)
    if imp.moe_fields:
        mf = dict(imp.moe_fields)
        shared = mf.pop("shared_intermediate", 0)
        old = m.moe
        n_shared = (
            old.num_shared_experts if old and old.num_shared_experts else (1 if shared else 0)
        )
        moe = MoESpec(
            num_experts=mf["num_experts"],
            top_k=mf["top_k"],
            expert_ffn_hidden_size=mf.get("expert_ffn_hidden_size")
            or (old.expert_ffn_hidden_size if old else m.ffn_hidden_size),
            num_moe_layers=mf.get("num_moe_layers")
            or (old.num_moe_layers if old else m.num_layers),
            num_shared_experts=n_shared,
            shared_expert_ffn_hidden_size=shared // n_shared
            if n_shared and shared
            else (old.shared_expert_ffn_hidden_size if old else 0),
            router_bias=mf.get("router_bias", old.router_bias if old else False),
        )
        m = m.with_(moe=moe)
    if imp.mla_fields:
        m = m.with_(mla=MLASpec(**imp.mla_fields))
    return m


def estimate_config(
    imp: Imported,
    *,
    model: str | ModelSpec | None = None,
    chip: str | None = None,
    chips: int | None = None,
    system: str | None = None,
    framework: str | None = None,
    tokens: float | None = None,
) -> Estimate:
    """Estimate an imported config. ``chips`` overrides the config's count (tp/pp/cp/ep kept,
    dp absorbs the change; the global batch is kept)."""
    from ..api import estimate_named

    chip = chip or imp.chip
    if not chip:
        raise GigatrainError("the config does not name the chip; give --chip")
    n = chips or imp.chips
    p = imp.plan
    if not n:
        if p.dp:
            n = p.chips
        else:
            raise GigatrainError("the config does not fix the chip count; give --chips")
    dp = None if (chips or not p.dp) else p.dp
    model_par = p.tp * p.pp * p.cp
    if dp is None and n % model_par:
        raise GigatrainError(
            f"chips={n} is not a multiple of tp×pp×cp={p.tp}×{p.pp}×{p.cp}={model_par}"
        )
    dp_eff = dp or n // model_par
    fsdp_shard = p.fsdp_shard
    if imp.shard_replicas > 1:
        if (dp_eff * p.cp) % imp.shard_replicas:
            raise GigatrainError(
                f"{imp.shard_replicas} shard replicas do not divide dp×cp={dp_eff * p.cp}"
            )
        fsdp_shard = dp_eff * p.cp // imp.shard_replicas
    return estimate_named(
        model_for(imp, model),
        chip,
        n,
        seq=imp.seq_len,
        global_batch=imp.global_batch,
        tokens=imp.tokens if tokens is None else tokens,
        precision=imp.precision,
        system=system or (imp.system if imp.chip == chip else None),
        framework=framework or imp.framework,
        tp=p.tp,
        pp=p.pp,
        cp=p.cp,
        ep=p.ep,
        dp=dp,
        vpp=p.vpp,
        micro_batch=p.micro_batch,
        zero_stage=p.zero_stage,
        fsdp_shard=fsdp_shard,
        recompute=p.recompute,
        sequence_parallel=p.sequence_parallel,
    )


def load_search_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, json.JSONDecodeError) as e:
        raise GigatrainError(f"cannot read search result {path}: {e}") from None
