"""What every export format shares: the plan being written (:class:`Target`), what a format
writes (:class:`Exported`), what an import reads back (:class:`Imported`), and the one-line
metadata comment that carries gigatrain's own facts (model slug, chip, chip count, framework
profile) which no framework config holds.

Each format module has ``export(t: Target) -> Exported`` and ``parse(files) -> Imported``.
A plan field a framework cannot run raises :class:`GigatrainError` (one line: field, value,
what is valid); a field that runs but has no config key is listed in
``Exported.not_expressible`` and written into the file as a comment — never dropped silently.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import GigatrainError
from ..specs import PLAN_DEGREES, Job, ModelSpec, Plan


@dataclass(frozen=True)
class Target:
    """One plan to export: model, job and plan, plus where it runs (chip, system, chips)."""

    model: ModelSpec
    job: Job
    plan: Plan
    chip: str
    system: str
    chips_per_node: int
    #: chips in the innermost fast domain (NVLink/ICI slice): MaxText's ICI mesh size
    fast_domain_chips: int

    @property
    def chips(self) -> int:
        return self.plan.chips

    @property
    def nodes(self) -> int:
        return max(1, self.chips // self.chips_per_node)

    @property
    def procs_per_node(self) -> int:
        return min(self.chips, self.chips_per_node)


@dataclass(frozen=True)
class Exported:
    """A framework config: ``files`` maps a file-name suffix ("" = the main file given to
    ``-o``; ".launch.sh" = a companion beside it) to its text."""

    format: str
    files: dict[str, str]
    launch: str
    not_expressible: tuple[str, ...] = ()

    @property
    def main(self) -> str:
        return self.files[""]


@dataclass(frozen=True)
class Imported:
    """What a framework config says, in gigatrain's vocabulary.

    ``plan`` has ``dp`` = 0 when the config does not fix it (Megatron-LM derives it from the
    world size); :func:`gigatrain.exports.to_estimate_inputs` fills it from ``chips``.
    ``model_fields`` are the architecture fields the config sets (ModelSpec names).
    """

    format: str
    plan: Plan
    seq_len: int
    global_batch: int
    precision: str
    framework: str
    chips: int | None = None
    model: str | None = None
    chip: str | None = None
    system: str | None = None
    tokens: float = 0.0
    model_fields: dict[str, Any] = field(default_factory=dict)
    moe_fields: dict[str, Any] = field(default_factory=dict)
    mla_fields: dict[str, Any] = field(default_factory=dict)
    #: replicas of the sharded state (Megatron ``--num-distributed-optimizer-instances``,
    #: torchtitan ``data_parallel_replicate_degree`` under FSDP): fsdp_shard = dp·cp / this
    shard_replicas: int = 1
    notes: tuple[str, ...] = ()


# ---------------------------------------------------------------- metadata comment
META_PREFIX = "gigatrain:"


def meta_line(t: Target) -> str:
    """``gigatrain: model=llama-3.1-405b chip=h100-sxm system=... chips=16384 framework=megatron
    tokens=1.5e+13`` — facts about the run that no framework config carries."""
    parts = {
        "model": t.model.slug,
        "chip": t.chip,
        "system": t.system,
        "chips": t.chips,
        "framework": t.job.framework,
        "tokens": f"{t.job.tokens:g}",
    }
    return META_PREFIX + " " + " ".join(f"{k}={v}" for k, v in parts.items())


_META_RE = re.compile(r"gigatrain:\s+((?:[a-z_]+=\S+\s*)+)")


def read_meta(text: str) -> dict[str, str]:
    """The ``key=value`` pairs of the first gigatrain metadata comment in ``text`` ({} if none)."""
    m = _META_RE.search(text)
    if not m:
        return {}
    return dict(kv.split("=", 1) for kv in m.group(1).split())


def apply_meta(imp: Imported, meta: dict[str, str]) -> Imported:
    """``imp`` with the metadata comment's model, chip, system, chips, framework and tokens."""
    if not meta:
        return imp
    changes: dict[str, Any] = {}
    for key in ("model", "chip", "system"):
        if meta.get(key) and meta[key] != "None":
            changes[key] = meta[key]
    if meta.get("chips"):
        changes["chips"] = to_int("gigatrain: chips", meta["chips"])
    if meta.get("framework"):
        changes["framework"] = meta["framework"]
    if meta.get("tokens"):
        try:
            changes["tokens"] = float(meta["tokens"])
        except ValueError:
            raise GigatrainError(f"gigatrain: tokens={meta['tokens']!r} is not a number") from None
    return replace(imp, **changes)


# ---------------------------------------------------------------- small shared helpers
def to_int(name: str, value: Any) -> int:
    """``value`` as an int, or a one-line error naming ``name``."""
    if isinstance(value, bool):
        raise GigatrainError(f"{name} must be an integer, got {value!r}")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise GigatrainError(f"{name} must be an integer, got {value!r}") from None
    if f != int(f):
        raise GigatrainError(f"{name} must be an integer, got {value!r}")
    return int(f)


def refuse(fmt: str, what: str, value: Any, valid: str) -> GigatrainError:
    """``deepspeed cannot express vpp=4 (...valid...)`` as one line."""
    return GigatrainError(f"{fmt} cannot express {what}={value}; valid: {valid}")


def microbatches(t: Target) -> int:
    """Gradient-accumulation steps (pipeline micro-batches) per step: global batch over
    dp × micro-batch; the global batch must divide evenly (every framework requires it)."""
    per = t.plan.dp * t.plan.micro_batch
    if t.job.global_batch_seqs % per:
        raise GigatrainError(
            f"global_batch={t.job.global_batch_seqs} is not a multiple of dp×micro_batch="
            f"{t.plan.dp}×{t.plan.micro_batch}; frameworks need whole micro-batches"
        )
    return t.job.global_batch_seqs // per


def layers_per_virtual_stage(fmt: str, t: Target, uneven: bool = False) -> tuple[int, bool]:
    """Layers per pipeline chunk, and whether the embedding and the loss count as one layer
    each (Megatron's ``--account-for-embedding/loss-in-pipeline-split``, torchtitan's
    first/last stage ``less_layers``) so that num_layers + 2 splits evenly (Llama 3.1 405B:
    126 + 2 = 128 over pp=16 × vpp=4)."""
    chunks = t.plan.pp * t.plan.vpp
    n = t.model.num_layers
    if n % chunks == 0:
        return n // chunks, False
    if uneven and (n + 2) % chunks == 0:
        return (n + 2) // chunks, True
    valid = f"pp×vpp must divide num_layers={n}" + (" or num_layers+2" if uneven else "")
    raise refuse(
        fmt, "vpp" if t.plan.vpp > 1 else "pp", t.plan.vpp if t.plan.vpp > 1 else t.plan.pp, valid
    )


def moe_layer_pattern(m: ModelSpec) -> str:
    """Megatron's ``--moe-layer-freq`` list: dense layers first (DeepSeek's ``first_k_dense``)."""
    assert m.moe is not None
    dense = m.num_layers - m.moe.num_moe_layers
    return f"([0]*{dense}+[1]*{m.moe.num_moe_layers})" if dense else "1"


def shell_args(argv: list[str]) -> str:
    """Arguments one per line, continued with backslashes (how launch scripts are written)."""
    lines = []
    i = 0
    while i < len(argv):
        if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            lines.append(f"    {argv[i]} {shlex.quote(argv[i + 1])}")
            i += 2
        else:
            lines.append(f"    {argv[i]}")
            i += 1
    return " \\\n".join(lines)


def split_args(text: str) -> dict[str, str | bool]:
    """``--name value`` / ``--flag`` / ``--name=value`` pairs from a launch script or args file
    (comments and line continuations removed); dashes in names become underscores."""
    try:
        tokens = shlex.split(text.replace("\\\n", " "), comments=True)
    except ValueError as e:
        raise GigatrainError(f"cannot read the arguments: {e}") from None
    out: dict[str, str | bool] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--"):
            name, eq, val = tok[2:].partition("=")
            key = name.replace("-", "_")
            if eq:
                out[key] = val
            elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                out[key] = tokens[i + 1]
                i += 1
            else:
                out[key] = True
        i += 1
    return out


#: the parallel degrees every exporter writes (specs.PLAN_DEGREES may hold more)
EXPORTED_DEGREES = frozenset({"tp", "pp", "cp", "ep", "vpp", "micro_batch"})


def check_capabilities(fmt: str, t: Target, framework: str) -> None:
    """Refuse (one line) a plan the framework's capability table (catalog frameworks.yaml)
    says it cannot run: ZeRO stages, ZeRO with PP, interleaving, CP, EP, precision."""
    from ..catalog.frameworks import get_framework

    caps = get_framework(framework).capabilities
    p = t.plan
    for d in PLAN_DEGREES:  # a degree declared after the exporters were written: refuse it
        if d.name not in EXPORTED_DEGREES and getattr(p, d.name) > 1:
            raise refuse(fmt, d.name, getattr(p, d.name), f"1 ({fmt} export does not map it yet)")
    zs = caps.zero_stages_with_pp if p.pp > 1 else caps.zero_stages
    if p.zero_stage not in zs:
        with_pp = " with pp>1" if p.pp > 1 else ""
        raise refuse(fmt, f"zero_stage{with_pp}", p.zero_stage, ", ".join(map(str, zs)))
    if p.vpp > 1 and not caps.interleaved:
        raise refuse(fmt, "vpp", p.vpp, "1 (no interleaved pipeline schedule)")
    if p.cp > 1 and not caps.context_parallel:
        raise refuse(fmt, "cp", p.cp, "1 (no context parallelism)")
    if p.ep > 1 and not caps.expert_parallel:
        raise refuse(fmt, "ep", p.ep, "1 (no expert parallelism)")
    if t.job.precision not in caps.precisions:
        raise refuse(fmt, "precision", t.job.precision, ", ".join(caps.precisions))
    if p.recompute not in caps.recompute:
        raise refuse(fmt, "recompute", p.recompute, ", ".join(caps.recompute))


def comment_block(prefix: str, t: Target, fmt: str, not_expressible: list[str]) -> str:
    """Header comment lines: metadata, the plan, and what the format cannot hold."""
    lines = [
        f"{prefix} {meta_line(t)}",
        f"{prefix} {fmt} config for {t.model.slug} on {t.chips:,} × {t.chip}: {t.plan.describe()}, "
        f"global batch {t.job.global_batch_seqs} × seq {t.job.seq_len}, {t.job.precision}",
    ]
    lines += [f"{prefix} not expressible in {fmt}: {item}" for item in not_expressible]
    return "\n".join(lines) + "\n"


def load_yaml(fmt: str, text: str) -> dict[str, Any]:
    """A YAML mapping, or one line naming the problem and where it is."""
    import yaml

    try:
        d = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise GigatrainError(
            f"{fmt} YAML does not parse{where}: {getattr(e, 'problem', None) or 'invalid YAML'}"
        ) from None
    if not isinstance(d, dict):
        raise GigatrainError(f"{fmt} config must be a YAML mapping, got {type(d).__name__}")
    return d


PRECISION_TORCH = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
