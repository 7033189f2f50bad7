"""Framework efficiency profiles (``data/frameworks.yaml``): named knob overrides per framework."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import GigatrainError, unknown_name
from ..knobs import DEFAULT_KNOBS, KNOB_RANGES, Knobs
from ..specs import PRECISIONS
from ..yamlio import read_yaml_cached

DATA = Path(__file__).parent / "data" / "frameworks.yaml"


@dataclass(frozen=True)
class Capabilities:
    """What a training framework can run (``capabilities`` in frameworks.yaml, with its
    source): search offers only these layouts, and an estimate of anything else says so."""

    tensor_parallel: bool = True
    pipeline: bool = True
    interleaved: bool = True
    #: first/last pipeline stages may hold fewer layers (balanced around embedding and loss)
    uneven_pipeline: bool = False
    context_parallel: bool = True
    expert_parallel: bool = True
    sequence_parallel: bool = True
    zero_stages: tuple[int, ...] = (0, 1, 2, 3)
    zero_stages_with_pp: tuple[int, ...] = (0, 1, 2, 3)
    recompute: tuple[str, ...] = ("none", "selective", "full")
    #: "attention" = Megatron-Core selective (core attention only); "ops" = op-level selective
    #: checkpointing that also recomputes norm and activation outputs
    selective_recompute: str = "attention"
    #: ZeRO stage a run uses when its description names none
    default_zero_stage: int = 1
    #: activation recompute a run uses when its description names none
    default_recompute: str = "none"
    #: the stated micro-batch counts sequences per chip (JAX's ``per_device_batch_size``), and
    #: without pipelining a step runs each data-parallel rank's whole batch at once, with no
    #: gradient accumulation: the rank's batch is global batch / dp, whatever the TP degree
    batch_per_device: bool = False
    precisions: tuple[str, ...] = PRECISIONS
    source: str = ""


@dataclass(frozen=True)
class Era:
    """A framework semantic that held before a dated change (``history`` in frameworks.yaml):
    runs published before ``before_year`` ran with ``knobs`` instead of the current ones."""

    before_year: int
    knobs: dict[str, float]
    source: str

    @property
    def knobs_text(self) -> str:
        """The knobs as ``name=value`` pairs, e.g. ``flash_attention=0``."""
        return ", ".join(f"{k}={v:g}" for k, v in self.knobs.items())


@dataclass(frozen=True)
class Framework:
    slug: str
    match: tuple[str, ...]
    note: str
    knobs: Knobs
    fitted: dict[str, Any]
    inherits: str | None = None
    capabilities: Capabilities = Capabilities()
    #: chip vendor → knobs fitted on that vendor's rows alone (``by_vendor`` in the catalog):
    #: one framework runs through a different compiler and kernels per vendor (XLA:TPU/GPU)
    vendor_knobs: dict[str, Knobs] = field(default_factory=dict)
    #: dated semantic changes, oldest first: what the framework ran before each one
    history: tuple[Era, ...] = ()


def _history(slug: str, raw: Any) -> tuple[Era, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise GigatrainError(f"frameworks.yaml: {slug}.history must be a list")
    eras = []
    for i, e in enumerate(raw):
        where = f"{slug}.history[{i}]"
        if not isinstance(e, dict) or set(e) != {"before_year", "knobs", "source"}:
            raise GigatrainError(
                f"frameworks.yaml: {where} must be a mapping of before_year, knobs and source"
            )
        year = e["before_year"]
        if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
            raise GigatrainError(
                f"frameworks.yaml: {where}.before_year must be a year, got {year!r}"
            )
        eras.append(Era(year, _knob_overrides(f"{where}.knobs", e["knobs"]), str(e["source"])))
    return tuple(sorted(eras, key=lambda e: e.before_year))


def _capabilities(slug: str, raw: Any) -> Capabilities:
    if raw is None:
        return Capabilities()
    if not isinstance(raw, dict):
        raise GigatrainError(f"frameworks.yaml: {slug}.capabilities must be a mapping")
    valid = {f.name: f for f in fields(Capabilities)}
    bad = sorted(set(raw) - set(valid))
    if bad:
        raise GigatrainError(
            f"frameworks.yaml: {slug}.capabilities has unknown key(s) {', '.join(bad)}; "
            f"valid: {', '.join(sorted(valid))}"
        )
    vals: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    if vals.get("selective_recompute", "attention") not in ("attention", "ops"):
        raise GigatrainError(
            f"frameworks.yaml: {slug}.capabilities.selective_recompute must be "
            f"'attention' or 'ops', got {vals['selective_recompute']!r}"
        )
    return Capabilities(**vals)


def _knob_overrides(where: str, over: Any) -> dict[str, float]:
    """``over`` checked as knob name → value inside the knob's physical range."""
    if not isinstance(over, dict):
        raise GigatrainError(f"frameworks.yaml: {where} must be a mapping")
    valid = {f.name for f in fields(Knobs)}
    bad = sorted(set(over) - valid)
    if bad:
        raise GigatrainError(
            f"frameworks.yaml: {where} has unknown knob(s) {', '.join(bad)}; valid: {', '.join(sorted(valid))}"
        )
    for k, v in over.items():
        if not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
            raise GigatrainError(f"frameworks.yaml: {where}.{k} must be a number >= 0, got {v!r}")
        lo, hi = KNOB_RANGES.get(k, (0.0, float("inf")))
        if not lo <= v <= hi:
            raise GigatrainError(
                f"frameworks.yaml: {where}.{k}={v!r} is outside its physical range [{lo:g}, {hi:g}]"
            )
    return {k: float(v) for k, v in over.items()}


def _parse(slug: str, raw: Any) -> Framework:
    if not isinstance(raw, dict):
        raise GigatrainError(f"frameworks.yaml: {slug} must be a mapping")
    over = _knob_overrides(f"{slug}.knobs", raw.get("knobs") or {})
    caps = _capabilities(slug, raw.get("capabilities"))
    # the framework's semantics travel to the model as knobs (the model reads knobs only)
    semantics = {
        "uneven_pipeline_stages": float(caps.uneven_pipeline),
        "selective_drops_elementwise": float(caps.selective_recompute == "ops"),
    }
    by_vendor = raw.get("by_vendor") or {}
    if not isinstance(by_vendor, dict):
        raise GigatrainError(f"frameworks.yaml: {slug}.by_vendor must be a mapping")
    vendor_knobs = {
        str(v): DEFAULT_KNOBS.with_(
            **_knob_overrides(f"{slug}.by_vendor.{v}.knobs", (fit or {}).get("knobs") or {}),
            **semantics,
        )
        for v, fit in by_vendor.items()
    }
    return Framework(
        slug,
        tuple(str(m).lower() for m in raw.get("match") or ()),
        str(raw.get("note", "")),
        DEFAULT_KNOBS.with_(**over, **semantics),
        dict(raw.get("fitted") or {}),
        raw.get("inherits"),
        caps,
        vendor_knobs,
        _history(slug, raw.get("history")),
    )


@cache
def load_frameworks() -> dict[str, Framework]:
    raw = read_yaml_cached(DATA, "framework catalog")
    out = {}
    for slug, v in raw.items():
        parent = raw.get(v.get("inherits")) if isinstance(v, dict) else None
        if parent is not None and "capabilities" not in v:  # inherits its parent's capabilities
            v = {**v, "capabilities": parent.get("capabilities")}
        out[slug] = _parse(slug, v)
    return out


def get_framework(name: str) -> Framework:
    fw = load_frameworks()
    if name in fw:
        return fw[name]
    raise unknown_name("framework", name, fw)


def framework_for_text(text: str) -> str:
    """The profile whose ``match`` substrings occur in a free-text framework description."""
    t = text.lower()
    for slug, f in load_frameworks().items():
        if any(m in t for m in f.match):
            return slug
    return "generic"


def fitted_on_vendor(framework: str, vendor: str) -> bool:
    """Whether the framework's profile was fitted on runs of ``vendor``'s chips
    (``fitted.vendors`` in frameworks.yaml; a profile that lists none applies everywhere)."""
    vendors = get_framework(framework).fitted.get("vendors") or ()
    return not vendors or vendor in vendors


def knobs_for(framework: str, vendor: str | None = None) -> Knobs:
    """The framework's knobs on ``vendor``'s chips: the vendor's own fit (``by_vendor``) where
    there is one; on a vendor the fit never saw, the generic profile's — a framework's measured
    efficiency on one vendor's stack (JAX/XLA on TPUs) says nothing about another's (XLA on
    GPUs), so the generic profile (fitted on every framework's rows at once) is the better prior
    there; the framework's own catalog semantics stay (:func:`with_generic_fit`)."""
    fw = get_framework(framework)
    if vendor is not None and vendor in fw.vendor_knobs:
        return fw.vendor_knobs[vendor]
    if vendor is not None and not fitted_on_vendor(framework, vendor):
        return with_generic_fit(fw.knobs)
    return fw.knobs


def eras_before(framework: str, year: int | None) -> list[Era]:
    """The ``history`` entries of ``framework`` dated after ``year``, newest first (none for a
    run of unknown date: a publication year bounds the run date from above only, so only
    changes made after it are certain not to have been in the run)."""
    if year is None:
        return []
    return [e for e in reversed(get_framework(framework).history) if year < e.before_year]


def knobs_as_of(framework: str, knobs: Knobs, year: int | None) -> Knobs:
    """``knobs`` with the semantics ``framework`` had in ``year`` (:func:`eras_before`; where
    two changes touch one knob, the older state wins)."""
    changes: dict[str, float] = {}
    for era in eras_before(framework, year):  # newest first: the oldest state is applied last
        changes.update(era.knobs)
    return knobs.with_(**changes) if changes else knobs


def with_generic_fit(knobs: Knobs) -> Knobs:
    """``knobs`` with the generic profile's fitted values (``fitted.knobs`` of ``generic``):
    what a framework's measurements cannot tell (its speed on a stack never measured) comes
    from the pooled fit over every framework, while what the catalog states about the framework itself (its
    attention kernel, how it buckets ZeRO-3 gathers, its pipeline split) stays."""
    generic = get_framework("generic")
    names = generic.fitted.get("knobs") or []
    return knobs.with_(**{k: getattr(generic.knobs, k) for k in names})


#: the framework each chip family trains with unless the user names one: Trainium with the
#: Neuron SDK (NeuronX Distributed), TPUs with JAX (MaxText), GPUs with Megatron-Core
FAMILY_FRAMEWORK = {"AWS": "neuron", "Google": "jax"}


def default_framework(vendor: str) -> str:
    """The framework a chip of ``vendor`` is assumed to train with (:data:`FAMILY_FRAMEWORK`)."""
    return FAMILY_FRAMEWORK.get(vendor, "megatron")
