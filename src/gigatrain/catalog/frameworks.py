"""Framework efficiency profiles (``data/frameworks.yaml``): named knob overrides per framework."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import GigatrainError, unknown_name
from ..model.knobs import DEFAULT_KNOBS, Knobs
from ..yamlio import read_yaml

DATA = Path(__file__).parent / "data" / "frameworks.yaml"


@dataclass(frozen=True)
class Framework:
    slug: str
    match: tuple[str, ...]
    note: str
    knobs: Knobs
    fitted: dict[str, Any]
    inherits: str | None = None


def _parse(slug: str, raw: Any) -> Framework:
    if not isinstance(raw, dict):
        raise GigatrainError(f"frameworks.yaml: {slug} must be a mapping")
    valid = {f.name for f in fields(Knobs)}
    over = raw.get("knobs") or {}
    bad = sorted(set(over) - valid)
    if bad:
        raise GigatrainError(f"frameworks.yaml: {slug}.knobs has unknown knob(s) {', '.join(bad)}; valid: {', '.join(sorted(valid))}")
    for k, v in over.items():
        if not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
            raise GigatrainError(f"frameworks.yaml: {slug}.knobs.{k} must be a number >= 0, got {v!r}")
    return Framework(slug, tuple(str(m).lower() for m in raw.get("match") or ()), str(raw.get("note", "")),
                     DEFAULT_KNOBS.with_(**over), dict(raw.get("fitted") or {}), raw.get("inherits"))


@cache
def load_frameworks() -> dict[str, Framework]:
    raw = read_yaml(DATA, "framework catalog")
    return {slug: _parse(slug, v) for slug, v in raw.items()}


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


def knobs_for(framework: str) -> Knobs:
    return get_framework(framework).knobs
