"""User-facing errors: one line that names the field, the value and what would be valid."""

from __future__ import annotations

import math
from collections.abc import Iterable


class GigatrainError(ValueError):
    """Bad input. Interfaces print ``str(err)`` on one line, never a traceback; the CLI exits
    with :attr:`exit_code` (2: usage or input error)."""

    exit_code = 2


class NoFeasiblePlanError(GigatrainError):
    """Valid input with no answer: nothing fits in memory, or no plan meets the deadline.
    The CLI exits 1 (not 2: the input itself was well-formed)."""

    exit_code = 1


def shown(value: object, limit: int = 40) -> str:
    """``repr(value)`` for a message, at most ``limit`` characters; safe for 5,000-digit
    integers (whose repr Python refuses) and huge floats."""
    try:
        text = repr(value)
    except ValueError:  # int beyond sys.get_int_max_str_digits()
        return (
            f"<a {value.bit_length():,}-bit integer>" if isinstance(value, int) else "<unprintable>"
        )
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> GigatrainError:
    """``unknown chip 'h100'; nearest: h100-sxm, h100-pcie (see `gigatrain catalog chips`)``."""
    import difflib  # only on the error path: keeps `import gigatrain` light

    options = sorted(valid)
    near = difflib.get_close_matches(name.lower(), options, n=4, cutoff=0.4)
    if not near:
        near = [o for o in options if name.lower()[:3] in o][:4]
    hint = f"; nearest: {', '.join(near)}" if near else f"; valid: {', '.join(options[:12])}"
    return GigatrainError(
        f"unknown {kind} {name!r}{hint} (list them with `gigatrain catalog {kind}s`)"
    )


def require_positive(
    field: str, value: float, *, integer: bool = False, maximum: float | None = None
) -> None:
    """Reject zero, negative, NaN and absurd sizes: ``seq must be a positive integer (valid:
    1..10,000,000), got 0``."""
    kind = "integer" if integer else "number"
    valid = f" (valid: {1 if integer else '> 0'}..{maximum:,.0f})" if maximum is not None else ""
    try:
        finite = not isinstance(value, bool) and math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite or value <= 0:
        raise GigatrainError(f"{field} must be a positive {kind}{valid}, got {shown(value)}")
    if integer and int(value) != value:
        raise GigatrainError(f"{field} must be an integer{valid}, got {shown(value)}")
    if maximum is not None and value > maximum:
        raise GigatrainError(f"{field}={value:g} is beyond the supported maximum {maximum:g}")
