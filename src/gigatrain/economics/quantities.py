"""Physical quantities at the edge: "2GW", "17.52 TWh", "$0.03/kWh", "$10B", "90d" -> SI floats.

Every parser returns an SI value (W, J, USD, s, FLOP, FLOP/s) or, for electricity prices,
USD per kWh (the unit named in the result, ``usd_per_kwh``; 1 kWh = 3.6e6 J). A value whose
unit belongs to another dimension is refused with a message that says what it is:
``power: '2 GWh' is an energy, not a power (use W, kW, MW, GW)``.

Conventions: a year is 365 days = 8,760 h (hardware.md §4(c) uses 8,760 h; the Julian year of
8,766 h would add 0.07 %); a month is a twelfth of that; a quarter a quarter of it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import GigatrainError
from ..units import fmt_usd, scaled_unit

J_PER_KWH = 3.6e6
S_PER_HOUR = 3600.0
S_PER_DAY = 86400.0
S_PER_YEAR = 365.0 * S_PER_DAY  # 8,760 h
HOURS_PER_YEAR = S_PER_YEAR / S_PER_HOUR

# dimension -> (pretty name with article, example units shown in errors)
DIMENSIONS: dict[str, tuple[str, str]] = {
    "power": ("a power", "W, kW, MW, GW"),
    "energy": ("an energy", "kWh, MWh, GWh, TWh, J"),
    "money": ("an amount of money", "$90M, $10B, 1.5e9 USD"),
    "energy_price": ("an electricity price", "$0.03/kWh, 3 c/kWh, $30/MWh"),
    "duration": ("a duration", "s, min, h, d, w, mo, q, y"),
    "flop": ("an amount of compute", "FLOP, PFLOP-day, 1.2e26"),
    "flop_rate": ("a compute rate", "FLOP/s, PFLOP/s, EFLOP/s"),
    "count": ("a count", "1.5M, 1.5 million, 100k"),
    "ratio": ("a ratio", "3, 3x, 40%"),
}

_SI_PREFIX = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "Z": 1e21}

# unit text (lower-case unless case matters) -> (dimension, factor to SI)
_UNITS: dict[str, tuple[str, float]] = {}
for _p, _f in _SI_PREFIX.items():
    _UNITS[f"{_p}W".lower()] = ("power", _f)
    _UNITS[f"{_p}Wh".lower()] = ("energy", _f * 3600.0)
    _UNITS[f"{_p}J".lower()] = ("energy", _f)
    for _flop in ("flop", "flops"):
        _UNITS[f"{_p}{_flop}".lower()] = ("flop", _f)
        _UNITS[f"{_p}{_flop}/s".lower()] = ("flop_rate", _f)
        _UNITS[f"{_p}{_flop}-s".lower()] = ("flop", _f)
        _UNITS[f"{_p}{_flop}-day".lower()] = ("flop", _f * S_PER_DAY)
        _UNITS[f"{_p}{_flop}-days".lower()] = ("flop", _f * S_PER_DAY)
# "mw" must mean megawatt (milliwatts do not occur here); lower-casing made it so already
_UNITS.update(
    {
        "watt": ("power", 1.0),
        "watts": ("power", 1.0),
        "kilowatt": ("power", 1e3),
        "kilowatts": ("power", 1e3),
        "megawatt": ("power", 1e6),
        "megawatts": ("power", 1e6),
        "gigawatt": ("power", 1e9),
        "gigawatts": ("power", 1e9),
        "s": ("duration", 1.0),
        "sec": ("duration", 1.0),
        "second": ("duration", 1.0),
        "seconds": ("duration", 1.0),
        "min": ("duration", 60.0),
        "minute": ("duration", 60.0),
        "minutes": ("duration", 60.0),
        "h": ("duration", S_PER_HOUR),
        "hr": ("duration", S_PER_HOUR),
        "hour": ("duration", S_PER_HOUR),
        "hours": ("duration", S_PER_HOUR),
        "d": ("duration", S_PER_DAY),
        "day": ("duration", S_PER_DAY),
        "days": ("duration", S_PER_DAY),
        "w": ("duration", 7 * S_PER_DAY),
        "wk": ("duration", 7 * S_PER_DAY),
        "week": ("duration", 7 * S_PER_DAY),
        "weeks": ("duration", 7 * S_PER_DAY),
        "mo": ("duration", S_PER_YEAR / 12),
        "month": ("duration", S_PER_YEAR / 12),
        "months": ("duration", S_PER_YEAR / 12),
        "q": ("duration", S_PER_YEAR / 4),
        "quarter": ("duration", S_PER_YEAR / 4),
        "quarters": ("duration", S_PER_YEAR / 4),
        "y": ("duration", S_PER_YEAR),
        "yr": ("duration", S_PER_YEAR),
        "year": ("duration", S_PER_YEAR),
        "years": ("duration", S_PER_YEAR),
        "%": ("ratio", 0.01),
        "x": ("ratio", 1.0),
        "×": ("ratio", 1.0),
        "usd": ("money", 1.0),
        "dollars": ("money", 1.0),
    }
)
# "W" alone is both watt and week after lower-casing: watts win (power is what people type);
# weeks need "wk" or "week".
_UNITS["w"] = ("power", 1.0)
_UNITS["m"] = ("count", 1e6)  # "1.5M" (chips); "MW" etc. are matched first as longer units

# count / money multipliers written as words or letters
_MULT = {
    "": 1.0,
    "k": 1e3,
    "thousand": 1e3,
    "m": 1e6,
    "mm": 1e6,
    "mn": 1e6,
    "million": 1e6,
    "b": 1e9,
    "bn": 1e9,
    "billion": 1e9,
    "t": 1e12,
    "tn": 1e12,
    "trillion": 1e12,
}
_ENERGY_PRICE_UNIT = {"wh": 1e-3, "kwh": 1.0, "mwh": 1e3, "gwh": 1e6}  # -> per kWh
_CURRENCY = {"$": 1.0, "usd": 1.0, "c": 0.01, "¢": 0.01, "cents": 0.01, "cent": 0.01}

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RE_NUM_UNIT = re.compile(rf"^({_NUMBER})\s*(.*)$")


@dataclass(frozen=True)
class Quantity:
    """A parsed value in SI (or USD per kWh for ``energy_price``) with its dimension."""

    value: float
    dimension: str
    text: str


def _clean(text: str) -> str:
    t = str(text).strip().replace(",", "").replace("_", "").replace("\u2009", "")
    t = t.lstrip("~≈").strip()
    return t.removeprefix("about ").removeprefix("approx. ").removeprefix("approximately ")


def _fail(field: str, text: object, dimension: str, why: str = "") -> GigatrainError:
    name, examples = DIMENSIONS[dimension]
    if why == "no unit":
        return GigatrainError(f"{field}: {text!r} needs a unit to be read as {name} ({examples})")
    why = f" {why}" if why else ""
    return GigatrainError(f"{field}: cannot read {text!r} as {name}{why} (examples: {examples})")


def _classify(field: str, text: str) -> Quantity:
    """Any quantity: the number, then the unit decides the dimension."""
    t = _clean(text)
    low = t.lower()
    # electricity price: "$0.03/kWh", "3 c/kWh", "0.03 USD/kWh", "$30/MWh"
    m = re.match(rf"^(\$|usd\s*)?\s*({_NUMBER})\s*(\$|usd|c|¢|cents?)?\s*/\s*([kmg]?wh)$", low)
    if m:
        cur = m.group(3) or "$"
        per_kwh = float(m.group(2)) * _CURRENCY[cur.strip()] / _ENERGY_PRICE_UNIT[m.group(4)]
        return Quantity(per_kwh, "energy_price", text)
    # money: "$10B", "$90 million", "1.5e9 USD", "$525.6M"
    m = re.match(rf"^\$\s*({_NUMBER})\s*([a-z]*)$", low) or re.match(
        rf"^({_NUMBER})\s*([a-z]*)\s*(?:usd|dollars|\$)$", low
    )
    if m and m.group(2) in _MULT:
        return Quantity(float(m.group(1)) * _MULT[m.group(2)], "money", text)
    m = _RE_NUM_UNIT.match(t)
    if not m:
        raise GigatrainError(f"{field}: cannot read {text!r} as a number with a unit")
    number, unit = float(m.group(1)), m.group(2).strip()
    ulow = unit.lower().replace(" ", "")
    if ulow in _UNITS:
        dim, factor = _UNITS[ulow]
        return Quantity(number * factor, dim, text)
    if ulow in _MULT:  # bare count: "1.5M", "2 million", "100k", "2048"
        return Quantity(number * _MULT[ulow], "count", text)
    raise GigatrainError(f"{field}: unknown unit {unit!r} in {text!r}")


def parse_quantity(
    field: str,
    text: str | float | int,
    dimension: str,
    *,
    bare_unit: float | None = None,
    allow_zero: bool = False,
) -> float:
    """Parse ``text`` as ``dimension`` and return its SI value.

    A bare number is accepted only when ``bare_unit`` is given (its factor to SI: e.g. 1.0 for
    a count, 1.0 for USD per kWh). Zero is refused unless ``allow_zero``; negatives always are.
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    name, examples = DIMENSIONS[dimension]
    if isinstance(text, bool):
        raise _fail(field, text, dimension)
    if isinstance(text, int | float):
        if bare_unit is None:
            raise _fail(field, text, dimension, "no unit")
        q = Quantity(float(text) * bare_unit, dimension, str(text))
    else:
        if not str(text).strip():
            raise _fail(field, text, dimension, "(empty)")
        try:
            q = _classify(field, str(text))
        except GigatrainError:
            raise _fail(field, text, dimension) from None
        if q.dimension == "count" and dimension != "count":
            bare = re.fullmatch(_NUMBER, _clean(str(text)))
            if bare_unit is not None and bare:
                q = Quantity(q.value * bare_unit, dimension, q.text)
            elif dimension == "money" and not bare:
                q = Quantity(q.value, "money", q.text)  # "10B" where money is expected
            elif dimension == "flop" and bare:
                q = Quantity(q.value, "flop", q.text)
            elif bare:
                raise _fail(field, text, dimension, "no unit")
        if dimension == "ratio" and q.dimension == "count":
            q = Quantity(q.value, "ratio", q.text)
        if q.dimension != dimension:
            other = DIMENSIONS[q.dimension][0]
            raise GigatrainError(f"{field}: {text!r} is {other}, not {name} (use {examples})")
    if not math.isfinite(q.value):
        raise GigatrainError(f"{field}: {text!r} is not a finite number")
    if q.value < 0 or (q.value == 0 and not allow_zero):
        raise GigatrainError(f"{field} must be positive, got {text!r}")
    return q.value


#: the largest power a fleet question can mean: 1 TW, a third of the world's average electricity
#: generation (~3.4 TW in 2023, Ember Global Electricity Review 2024); beyond it is a typo
MAX_POWER_W = 1e12


def parse_power_w(field: str, text: str | float) -> float:
    """``"2GW"`` -> 2e9 W; ``"500 MW"``, ``"1.5e6 W"``. A unit is required; at most 1 TW."""
    value = parse_quantity(field, text, "power")
    if value > MAX_POWER_W:
        raise GigatrainError(
            f"{field}={text!r} is over 1 TW (a third of the world's electricity); "
            "did you mean MW or GW?"
        )
    return value


def parse_energy_j(field: str, text: str | float) -> float:
    """``"17.52 TWh"`` -> 6.3072e16 J; ``"3 GWh"``, ``"1e15 J"``. A unit is required."""
    return parse_quantity(field, text, "energy")


def parse_usd_per_kwh(field: str, text: str | float) -> float:
    """``"$0.03/kWh"``, ``"0.03"``, ``"3 c/kWh"``, ``"$30/MWh"`` -> 0.03 (USD per kWh)."""
    value = parse_quantity(field, text, "energy_price", bare_unit=1.0)
    if value > 10:
        raise GigatrainError(f"{field}: {text!r} is over $10/kWh; did you mean $/MWh?")
    return value


def parse_usd(field: str, text: str | float) -> float:
    """``"$10B"`` -> 1e10; ``"$90 million"``, ``"1.5e9 USD"``, bare numbers are USD."""
    return parse_quantity(field, text, "money", bare_unit=1.0)


def parse_duration_s(field: str, text: str | float) -> float:
    """``"1y"`` -> 3.1536e7 s (365 days); ``"90d"``, ``"2160 h"``, ``"1 quarter"`` (unit needed)."""
    return parse_quantity(field, text, "duration")


def parse_flop(field: str, text: str | float) -> float:
    """``"1.2e26"`` or ``"1.2e26 FLOP"`` -> 1.2e26; ``"1.39M PFLOP-days"`` is not supported,
    ``"1.39e6 PFLOP-days"`` is."""
    return parse_quantity(field, text, "flop", bare_unit=1.0)


def parse_flop_rate(field: str, text: str | float) -> float:
    """``"400 EFLOP/s"`` -> 4e20 FLOP/s."""
    return parse_quantity(field, text, "flop_rate")


def parse_ratio(field: str, text: str | float) -> float:
    """``"3"``, ``"3x"``, ``"40%"`` -> 3.0, 3.0, 0.4."""
    return parse_quantity(field, text, "ratio", bare_unit=1.0)


def parse_count_words(field: str, text: str | float) -> float:
    """``"1.5M"``, ``"1.5 million"``, ``"100k"``, ``"2048"`` -> a count."""
    return parse_quantity(field, text, "count", bare_unit=1.0)


PARSERS: dict[str, Callable[[str, str | float], float]] = {
    "power": parse_power_w,
    "energy": parse_energy_j,
    "energy_price": parse_usd_per_kwh,
    "money": parse_usd,
    "duration": parse_duration_s,
    "flop": parse_flop,
    "flop_rate": parse_flop_rate,
    "ratio": parse_ratio,
    "count": parse_count_words,
}


# ---------------------------------------------------------------- pretty printing (edge)
def fmt_power(w: float) -> str:
    """1.74e9 -> '1.74 GW'."""
    return scaled_unit(w, ((1e12, "TW"), (1e9, "GW"), (1e6, "MW"), (1e3, "kW")), 3) or f"{w:,.0f} W"


def fmt_energy(j: float) -> str:
    """6.3072e16 J -> '17.52 TWh'."""
    wh = j / 3600.0
    return (
        scaled_unit(wh, ((1e12, "TWh"), (1e9, "GWh"), (1e6, "MWh"), (1e3, "kWh")), 4)
        or f"{wh:,.3g} Wh"
    )


def fmt_duration(s: float) -> str:
    """Seconds as the largest readable unit: '3.5 days', '1.2 years', '83 h'."""
    if s >= 2 * S_PER_YEAR:
        return f"{s / S_PER_YEAR:,.3g} years"
    if s >= 2 * S_PER_DAY:
        return f"{s / S_PER_DAY:,.4g} days"
    if s >= 2 * S_PER_HOUR:
        return f"{s / S_PER_HOUR:,.3g} h"
    if s >= 120:
        return f"{s / 60:,.3g} min"
    return f"{s:,.3g} s"


def fmt_count(n: float) -> str:
    """1.91e6 -> '1.91M'."""
    return (
        scaled_unit(n, ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")), 3, sep="") or f"{n:,.4g}"
    )


def fmt_flop(f: float, per_s: bool = False) -> str:
    """1.2e26 -> '1.2e+26 FLOP'; rates as 'EFLOP/s'."""
    if per_s:
        for scale, unit in ((1e18, "EFLOP/s"), (1e15, "PFLOP/s"), (1e12, "TFLOP/s")):
            if abs(f) >= scale:
                return f"{f / scale:,.4g} {unit}"
        return f"{f:.3g} FLOP/s"
    return f"{f:.3g} FLOP"


FORMATTERS: dict[str, Callable[[float], str]] = {
    "power": fmt_power,
    "energy": fmt_energy,
    "money": fmt_usd,
    "duration": fmt_duration,
    "count": fmt_count,
    "flop": fmt_flop,
    "flop_rate": lambda v: fmt_flop(v, per_s=True),
    "energy_price": lambda v: f"${v:.4g}/kWh",
    "ratio": lambda v: f"{v:.3g}×",
}
