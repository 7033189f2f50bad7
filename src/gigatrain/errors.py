"""User-facing errors: one line that names the field, the value and what would be valid."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GigatrainError(ValueError):
    """Bad input. Interfaces print ``str(err)`` on one line, never a traceback."""


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> GigatrainError:
    """``unknown chip 'h100'; nearest: h100-sxm, h100-pcie (see `gigatrain catalog chips`)``."""
    options = sorted(valid)
    near = difflib.get_close_matches(name.lower(), options, n=4, cutoff=0.4)
    if not near:
        near = [o for o in options if name.lower()[:3] in o][:4]
    hint = f"; nearest: {', '.join(near)}" if near else f"; valid: {', '.join(options[:12])}"
    return GigatrainError(f"unknown {kind} {name!r}{hint} (list them with `gigatrain catalog {kind}s`)")


def require_positive(field: str, value: float, *, integer: bool = False, maximum: float | None = None) -> None:
    """Reject zero, negative, NaN and absurd sizes with a message naming the field."""
    if value != value or value <= 0:  # NaN fails both comparisons
        raise GigatrainError(f"{field} must be a positive {'integer' if integer else 'number'}, got {value!r}")
    if integer and int(value) != value:
        raise GigatrainError(f"{field} must be an integer, got {value!r}")
    if maximum is not None and value > maximum:
        raise GigatrainError(f"{field}={value:g} is beyond the supported maximum {maximum:g}")
