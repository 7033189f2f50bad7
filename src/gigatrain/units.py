"""Pretty units at the edge (DESIGN.md conventions): parse "20T", "2GW", "$0.03"; print GiB, days."""

from __future__ import annotations

import math
import re

from .errors import GigatrainError

_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15, "e": 1e18}
_NUM = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbgtpe]?)\s*$", re.IGNORECASE)


def parse_count(field: str, text: str | float | int, maximum: float = 1e24) -> float:
    """``"15T"`` → 1.5e13, ``"2048"`` → 2048.0, ``"1.5e6"`` → 1.5e6 (K, M, B/G, T, P, E suffixes);
    NaN, infinities, zero, negatives and values above ``maximum`` are one-line errors."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = _NUM.match(str(text).replace(",", "").replace("_", ""))
        if not m:
            raise GigatrainError(
                f"{field}: cannot read {text!r} as a number (examples: 2048, 15T, 1.5e12)"
            )
        value = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
    if not math.isfinite(value) or value <= 0:
        raise GigatrainError(f"{field} must be a finite positive number, got {text!r}")
    if value > maximum:
        raise GigatrainError(f"{field}={value:.3g} is beyond the supported maximum {maximum:.0e}")
    return value


def gib(x: float) -> str:
    return f"{x / 2**30:,.1f} GiB"


def seconds(x: float) -> str:
    if x < 1e-3:
        return f"{x * 1e6:,.1f} µs"
    if x < 1:
        return f"{x * 1e3:,.1f} ms"
    if x < 120:
        return f"{x:,.2f} s"
    if x < 7200:
        return f"{x / 60:,.1f} min"
    if x < 2 * 86400:
        return f"{x / 3600:,.1f} h"
    return f"{x / 86400:,.1f} days"


def si(x: float, unit: str = "") -> str:
    for scale, prefix in (
        (1e18, "E"),
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
    ):
        if abs(x) >= scale:
            return f"{x / scale:,.2f} {prefix}{unit}"
    return f"{x:,.2f} {unit}".rstrip()


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def scaled_unit(
    x: float, scales: tuple[tuple[float, str], ...], digits: int, sep: str = " "
) -> str | None:
    """``x`` in the largest unit it reaches *after* rounding (999.99 MW prints as 1 GW)."""
    for scale, unit in scales:
        v = float(f"{x / scale:.{digits}g}")
        if abs(v) >= 1:
            return f"{v:,.{digits}g}{sep}{unit}"
    return None


def fmt_usd(usd: float) -> str:
    """5.256e8 -> '$525.6M'."""
    s = scaled_unit(usd, ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")), 4, sep="")
    if s:
        return f"${s}"
    return f"${usd:,.3g}" if abs(usd) < 1 else f"${usd:,.2f}"  # $0.0843/Mtok keeps its digits


def usd(x: float | None, per: str = "") -> str:
    """Dollars for tables: ``fmt_usd`` (4 significant digits, k/M/B/T) plus a ``per`` suffix
    ("/h", "/Mtok"); "–" when there is no price."""
    return "–" if x is None else fmt_usd(x) + per
