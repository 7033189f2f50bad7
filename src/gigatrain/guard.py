"""Output guard: no NaN, infinite or negative number leaves the library in an estimate.

Every number an estimate reports (memory, times, rates, MFU, parameter counts, breakdown
leaves, bounds) is a size, a duration or a rate, so it must be finite and >= 0. A value that is
not is an internal inconsistency — usually input outside the model's domain that validation
let through — and is raised as :class:`InconsistentResultError` naming the field, the value and
the case, instead of being printed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

from .errors import GigatrainError

T = TypeVar("T")
#: fields that may legitimately be absent (None) and are then skipped
_OPTIONAL = {"days_to_train"}


class InconsistentResultError(GigatrainError):
    """A computed number is NaN, infinite or negative. The CLI exits 1 (not an input error)."""

    exit_code = 1


def _numbers(obj: Any, path: str) -> Iterator[tuple[str, float]]:
    """(dotted field path, value) of every int/float leaf in dataclasses, mappings, tuples."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    if isinstance(obj, int | float):
        yield path, float(obj)
    elif is_dataclass(obj) and not isinstance(obj, type):
        for f in fields(obj):
            yield from _numbers(getattr(obj, f.name), f"{path}.{f.name}" if path else f.name)
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}[{k}]" if path else str(k))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{path}[{i}]")


def first_bad_number(obj: Any) -> tuple[str, float] | None:
    """The first NaN, infinite or negative number in ``obj`` as (field path, value), or None."""
    for path, v in _numbers(obj, ""):
        if not math.isfinite(v) or v < 0:
            return path, v
    return None


def check_estimate(est: T, context: str = "") -> T:
    """Return ``est`` (an :class:`~gigatrain.model.estimate.Estimate`, or any dataclass of
    sizes, times and rates) unchanged, or raise InconsistentResultError naming the first field
    that is NaN, infinite or negative."""
    bad = first_bad_number({k: v for k, v in _items(est) if k not in _OPTIONAL})
    if bad is None:
        return est
    path, value = bad
    what = "NaN" if value != value else ("infinite" if math.isinf(value) else "negative")
    where = context or _describe(est)
    raise InconsistentResultError(
        f"internal inconsistency: {path}={value:g} is {what} ({where}); the inputs are outside "
        "what the model can represent — please report this with the command"
    )


def _items(obj: Any) -> list[tuple[str, Any]]:
    if is_dataclass(obj) and not isinstance(obj, type):
        return [(f.name, getattr(obj, f.name)) for f in fields(obj)]
    if isinstance(obj, Mapping):
        return list(obj.items())
    return [("value", obj)]


def _describe(est: Any) -> str:
    parts = [str(getattr(est, k)) for k in ("model", "chip") if getattr(est, k, None)]
    plan = getattr(est, "plan", None)
    if plan is not None and hasattr(plan, "describe"):
        parts.append(plan.describe())
    return ", ".join(parts) or type(est).__name__
