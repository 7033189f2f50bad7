"""Check published claims (power, chips, $/kWh, cost, price-performance, time to train) by
recomputing each from the catalog and the stated assumptions.

A claim file is YAML::

    title: "..."
    assumptions: {chip: trn2, pue: 1.15, usd_per_kwh: "$0.03/kWh", mfu: 0.4, tolerance: 10%}
    claims:
      - id: chips-per-2gw
        says: "2 GW ≈ 1.5 million Trainium chips at full load"
        kind: chips_for_power
        power: 2GW
        claimed: 1.5M
        alternatives: {chip: [trn2, trn3]}

``claimed`` is a point (``1.5M``, ± tolerance), a range (``3-5``, ``[3, 5]``) or a bound
(``">=100"``, ``"<= $90M"``). Values may name catalog constants: ``const:pue_aws_fleet``.

Verdict rule, with c the value computed under the stated assumptions and [lo, hi] the band
over the claim's ``alternatives`` (every combination; [c, c] without any):

* **consistent**    c lies in the claimed interval (a point widened by ± tolerance);
* **cannot tell**   c does not, but the band reaches the claimed interval: the claim holds only
                    under assumptions it does not state; also when an input is unknown;
* **inconsistent**  neither c nor any point of the band reaches the claimed interval.

Kinds (fields; ``chip``, ``pue``, ``server_ratio``, ``usd_per_kwh``, ``mfu`` fall back to
``assumptions``): ``chips_for_power`` (power → chips), ``power_for_chips`` (chips → power),
``watts_per_chip`` (all-in W), ``energy`` (power, period → J), ``energy_cost`` (power, period,
usd_per_kwh → $), ``ratio`` (numerator / denominator, same dimension), ``price_performance``
(chip vs ``versus`` chips: on price per dense peak FLOP, or ``basis: training`` on whole-run
cost of ``model``/``tokens``/``chips``), ``training_compute`` (params, tokens or Chinchilla →
FLOP), ``time_to_train`` (FLOP on chips at MFU, with goodput → duration), ``statement`` (not
arithmetic: always cannot tell, with the note given).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from ..catalog.constants import const, const_record
from ..catalog.hardware import get_chip
from ..catalog.models import get_model
from ..catalog.prices import choose_price
from ..errors import GigatrainError
from ..inputs import make_job
from ..specs import ChipSpec
from ..yamlio import read_yaml
from .cost import CostOptions, compare_chips
from .fleet import chinchilla_flop, energy_cost
from .goodput import goodput
from .power import chip_power
from .quantities import FORMATTERS, PARSERS, fmt_power

VERDICTS = ("consistent", "inconsistent", "cannot tell", "open", "error")
DEFAULT_TOLERANCE = 0.10
_RANGE_SPLIT = re.compile(r"\s*(?:–|—|\bto\b|(?<![eE\s])-(?=\s*[\d$.]))\s*")


class CannotTellError(Exception):
    """An input the claim needs is unknown (e.g. an unpublished TDP)."""


@dataclass(frozen=True)
class Claimed:
    """The claimed interval in SI, already widened by the tolerance."""

    lo: float
    hi: float
    text: str


@dataclass(frozen=True)
class Verdict:
    id: str
    says: str
    kind: str
    verdict: str
    dimension: str
    computed: float | None
    band: tuple[float, float] | None
    claimed: str
    claimed_interval: tuple[float, float] | None
    arithmetic: list[str]
    note: str = ""
    #: for each assumption, the values for which the claim holds ("holds if pue ≤ 1.39")
    thresholds: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("computed",):
            if d[k] is not None and not math.isfinite(d[k]):
                d[k] = None
        if d["claimed_interval"] is not None:
            d["claimed_interval"] = [x if math.isfinite(x) else None for x in d["claimed_interval"]]
        return d


@dataclass(frozen=True)
class CheckReport:
    title: str
    source: str
    assumptions: dict[str, str]
    verdicts: list[Verdict] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {v: sum(1 for x in self.verdicts if x.verdict == v) for v in VERDICTS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "source": self.source,
            "assumptions": self.assumptions,
            "counts": self.counts(),
            "claims": [v.to_dict() for v in self.verdicts],
        }


def fmt(dimension: str, value: float) -> str:
    if not math.isfinite(value):
        return "∞"
    return FORMATTERS[dimension](value)


# ---------------------------------------------------------------- reading values
class _Getter:
    """Typed access to a claim's fields (falling back to the file's assumptions), with errors
    that name the claim and the field."""

    def __init__(
        self,
        cid: str,
        claim: Mapping[str, Any],
        assumptions: Mapping[str, Any],
        overrides: Mapping[str, Any] | None = None,
    ):
        self.cid, self.claim, self.assumptions = cid, claim, assumptions
        self.overrides = dict(overrides or {})
        self.reads: set[str] = set()
        self.inline: Mapping[str, Any] = assumptions.get("_inline_chips") or {}

    def where(self, name: str) -> str:
        return f"claim {self.cid!r}: {name}"

    def raw(self, name: str, default: Any = None, required: bool = True) -> Any:
        self.reads.add(name)
        for src in (self.overrides, self.claim, self.assumptions):
            if name in src and src[name] is not None:
                return src[name]
        if default is not None or not required:
            return default
        raise GigatrainError(
            f"{self.where(name)} is missing (kind {self.claim.get('kind')!r} "
            f"needs it, in the claim or in assumptions)"
        )

    @overload
    def q(
        self,
        name: str,
        dimension: str,
        default: float | None = None,
        required: Literal[True] = True,
    ) -> float: ...
    @overload
    def q(
        self, name: str, dimension: str, default: float | None = None, required: bool = True
    ) -> float | None: ...
    def q(
        self, name: str, dimension: str, default: float | None = None, required: bool = True
    ) -> float | None:
        """A quantity in SI; never None when ``required`` (a missing one raises)."""
        v = self.raw(name, default, required)
        if v is None:
            return None
        if isinstance(v, str) and v.startswith("const:"):
            key = v.removeprefix("const:").strip()
            try:
                return const_record(key).value
            except KeyError:
                raise GigatrainError(
                    f"{self.where(name)}: {key!r} is not a constant in "
                    f"economics.yaml (see `gigatrain catalog economics`)"
                ) from None
        if isinstance(v, list | dict):
            raise GigatrainError(f"{self.where(name)}: expected one value, got {v!r}")
        return PARSERS[dimension](self.where(name), v)

    def span(self, name: str, dimension: str) -> tuple[float, float]:
        """A value or a range (``[a, b]``, ``"a - b"``): (low, high)."""
        v = self.raw(name)
        parts = (
            v if isinstance(v, list) else _RANGE_SPLIT.split(str(v)) if isinstance(v, str) else [v]
        )
        if len(parts) not in (1, 2):
            raise GigatrainError(f"{self.where(name)}: {v!r} is neither a value nor a range a-b")
        vals = [_Getter(self.cid, {name: p}, {}).q(name, dimension) for p in parts]
        return min(vals), max(vals)

    def chip(self, name: str = "chip") -> Any:
        slug = str(self.raw(name))
        if slug in self.inline:
            return self.inline[slug]
        return get_chip(slug)

    @overload
    def num(self, name: str, default: float) -> float: ...
    @overload
    def num(self, name: str, default: None = None) -> float | None: ...
    def num(self, name: str, default: float | None = None) -> float | None:
        """A plain number or ratio (``0.4``, ``40%``); ``default`` when absent (None: optional)."""
        v = self.raw(name, default, required=False)
        if isinstance(v, str) and v.startswith("const:"):
            return self.q(name, "ratio")
        return None if v is None else PARSERS["ratio"](self.where(name), v)


def parse_claimed(where: str, text: Any, dimension: str, tolerance: float) -> Claimed:
    """``1.5M`` → [1.5M·(1−t), 1.5M·(1+t)]; ``3-5`` → [3(1−t), 5(1+t)];
    ``>=100`` → [100(1−t), ∞)."""
    if text is None:
        raise GigatrainError(f"{where} is missing: what does the source claim?")
    parse = PARSERS[dimension]
    if isinstance(text, list):
        if len(text) != 2:
            raise GigatrainError(f"{where}: a range needs two values, got {text!r}")
        a, b = sorted(parse(where, x) for x in text)
        return Claimed(a * (1 - tolerance), b * (1 + tolerance), f"{text[0]}–{text[1]}")
    s = str(text).strip()
    m = re.match(r"^(>=|<=|>|<|≥|≤|at least|at most|over|under|more than|less than)\s*(.+)$", s)
    if m:
        op, rest = m.group(1), m.group(2)
        v = parse(where, rest)
        if op in (">=", ">", "≥", "at least", "over", "more than"):
            return Claimed(v * (1 - tolerance), math.inf, s)
        return Claimed(0.0, v * (1 + tolerance), s)
    parts = _RANGE_SPLIT.split(s)
    if len(parts) == 2 and all(parts):
        a, b = sorted(parse(where, x) for x in parts)
        return Claimed(a * (1 - tolerance), b * (1 + tolerance), s)
    v = parse(where, s)
    return Claimed(v * (1 - tolerance), v * (1 + tolerance), s)


# ---------------------------------------------------------------- the kinds
Result = tuple[float, list[str]]


def _power_per_chip(g: _Getter) -> tuple[float, str, list[str]]:
    """All-in provisioned watts per chip (facility, or IT when power_is: it). A mixed fleet
    (``fleet: [{chip, share}]``, shares of the power) gets the share-weighted harmonic mean:
    chips = Σ share_i·P / W_i, so W = 1 / Σ(share_i / W_i)."""
    mix = g.raw("fleet", required=False)
    if mix is not None:
        return _mixed_power_per_chip(g, mix)
    return _single_power_per_chip(g)


def _mixed_power_per_chip(g: _Getter, mix: Any) -> tuple[float, str, list[str]]:
    if not isinstance(mix, list) or not mix:
        raise GigatrainError(f"{g.where('fleet')}: a list of {{chip, share}}, got {mix!r}")
    inv, lines, total, basis = 0.0, [], 0.0, "facility"
    for i, part in enumerate(mix):
        if not isinstance(part, Mapping) or "chip" not in part:
            raise GigatrainError(f"{g.where(f'fleet[{i}]')}: needs chip and share")
        share = PARSERS["ratio"](g.where(f"fleet[{i}].share"), part.get("share", 1.0))
        sub = _Getter(g.cid, {**g.claim, **part, "fleet": None}, g.assumptions, g.overrides)
        sub.inline = g.inline
        per, basis, sub_lines = _single_power_per_chip(sub)
        g.reads |= sub.reads
        inv += share / per
        total += share
        lines += [f"{share:.0%} of the power: " + x for x in sub_lines]
    if abs(total - 1) > 0.01:
        raise GigatrainError(f"{g.where('fleet')}: shares sum to {total:.0%}, not 100%")
    per = 1 / inv
    lines.append(f"mixed fleet: 1 / Σ(share / W) = {per:,.0f} W per chip ({basis})")
    return per, basis, lines


def _single_power_per_chip(g: _Getter) -> tuple[float, str, list[str]]:
    chip = g.chip()
    allin = g.q("allin_w", "power", required=False)
    tdp = g.q("chip_w", "power", required=False)
    try:
        pw = chip_power(
            chip,
            pue=g.num("pue"),
            server_ratio=g.num("server_ratio"),
            tdp_w=tdp,
            allin_w=allin,
        )
    except GigatrainError as e:
        if "TDP" not in str(e):
            raise
        raise CannotTellError(f"{chip.slug}: {e}") from None
    it = str(g.raw("power_is", "facility")).lower() == "it"
    per = pw.it_peak_w if it else pw.facility_peak_w
    line = (
        f"all-in per {chip.slug}: {pw.it_peak_w:,.0f} W IT ({pw.assumptions.get('it_w', '')})"
        + ("" if it else f" × PUE {pw.pue:g}")
        + f" = {per:,.0f} W ({'IT' if it else 'facility'})"
    )
    return per, ("IT" if it else "facility"), [line]


def _chips_for_power(g: _Getter) -> Result:
    p = g.q("power", "power")
    per, basis, lines = _power_per_chip(g)
    n = p / per
    return n, [*lines, f"chips = {fmt_power(p)} ({basis}) / {per:,.0f} W = {n:,.0f}"]


def _power_for_chips(g: _Getter) -> Result:
    n = g.q("chips", "count")
    per, basis, lines = _power_per_chip(g)
    return n * per, [
        *lines,
        f"power = {n:,.0f} chips × {per:,.0f} W = {fmt_power(n * per)} ({basis})",
    ]


def _watts_per_chip(g: _Getter) -> Result:
    per, _, lines = _power_per_chip(g)
    return per, lines


def _energy(g: _Getter) -> Result:
    p, t = g.q("power", "power"), g.q("period", "duration")
    e, _ = energy_cost(p, t, 0.0)
    return e, [f"energy = {fmt_power(p)} × {t / 3600:,.0f} h = {fmt('energy', e)}"]


def _energy_cost(g: _Getter) -> Result:
    p, t = g.q("power", "power"), g.q("period", "duration")
    price = g.q("usd_per_kwh", "energy_price")
    e, usd = energy_cost(p, t, price)
    return usd, [
        f"energy = {fmt_power(p)} × {t / 3600:,.0f} h = {fmt('energy', e)}",
        f"cost = {e / 3.6e6:,.4g} kWh × ${price:g}/kWh = {fmt('money', usd)}",
    ]


def _ratio(g: _Getter) -> Result:
    dim = str(g.raw("dimension", "energy_price"))
    if dim not in PARSERS:
        raise GigatrainError(f"{g.where('dimension')}: {dim!r}; valid: {', '.join(PARSERS)}")
    n_lo, n_hi = g.span("numerator", dim)
    d_lo, d_hi = g.span("denominator", dim)
    n, d = (n_lo + n_hi) / 2, (d_lo + d_hi) / 2
    lines = [f"ratio = {fmt(dim, n)} / {fmt(dim, d)} = {n / d:.3g}×"]
    if (n_lo, d_lo) != (n_hi, d_hi):
        lines.append(f"over the stated ranges: {n_lo / d_hi:.3g}× – {n_hi / d_lo:.3g}×")
    g.overrides["_band"] = (n_lo / d_hi, n_hi / d_lo)
    return n / d, lines


def _training_compute(g: _Getter) -> Result:
    params = g.q("params", "count")
    tokens = g.q("tokens", "count", required=False)
    if tokens is None:
        tokens, flop = chinchilla_flop(params)
        how = f"Chinchilla-optimal: D = {const('tokens_per_param_chinchilla'):g}·N"
    else:
        flop, how = 6.0 * params * tokens, "tokens as stated"
    return flop, [
        f"N = {params:.3g} parameters, D = {tokens:.3g} tokens ({how})",
        f"C = 6·N·D = {flop:.3g} FLOP",
    ]


def _time_to_train(g: _Getter) -> Result:
    flop = g.q("flop", "flop", required=False)
    lines: list[str] = []
    params = g.q("params", "count", required=False)
    if flop is None:
        if params is None:
            raise GigatrainError(f"{g.where('flop')} is missing (give flop, or params [+ tokens])")
        flop, lines = _training_compute(g)
    chip, n = g.chip(), g.q("chips", "count")
    prec = str(g.raw("precision", "bf16"))
    mfu = g.num("mfu", const("epoch_median_mfu"))
    rate = n * chip.peak(prec) * mfu
    ideal = flop / rate
    lines.append(
        f"rate = {n:,.0f} × {chip.peak(prec) / 1e12:,.0f} TFLOP/s ({chip.slug} {prec} dense) "
        f"× MFU {mfu:g} = {fmt('flop_rate', rate)}"
    )
    lines.append(f"failure-free time = {flop:.3g} / {rate:.3g} = {fmt('duration', ideal)}")
    if str(g.raw("goodput", "true")).lower() in ("false", "no", "0"):
        return ideal, lines
    ckpt = (params or math.sqrt(flop / 120)) * const("checkpoint_bytes_per_param_adamw")
    gp = goodput(int(n), ckpt)
    wall = gp.wall_s(ideal)
    lines.append(
        f"one synchronous job: MTBF {fmt('duration', gp.mtbf_s)}, goodput "
        f"{gp.goodput:.1%} → {fmt('duration', wall)}"
    )
    return wall, lines


def _price_performance(g: _Getter) -> Result:
    chip = g.chip()
    versus = g.raw("versus")
    vs = versus if isinstance(versus, list) else [versus]
    kind = str(g.raw("pricing", "on_demand"))
    provider = g.raw("provider", required=False)
    basis = str(g.raw("basis", "peak"))
    prec = str(g.raw("precision", "bf16"))
    ratios, lines = [], []
    if basis == "peak":

        def usd_per_pf_h(slug: str) -> tuple[float, str]:
            c = get_chip(slug)
            try:
                p = choose_price(c.slug, kind, provider)
            except GigatrainError as e:
                raise CannotTellError(str(e)) from None
            v = p.value / (c.peak(prec) / 1e15)
            return v, (
                f"{c.slug}: ${p.value:.4g}/chip-h ({p.basis}, {p.as_of}) / "
                f"{c.peak(prec) / 1e15:.3g} PFLOP/s = ${v:.3g} per PFLOP-h"
            )

        mine, line = usd_per_pf_h(chip.slug)
        lines.append(line)
        for slug in vs:
            theirs, line = usd_per_pf_h(str(slug))
            lines.append(line + f" → ratio {theirs / mine:.3g}×")
            ratios.append(theirs / mine)
        lines.append("peak-FLOP ratios ignore achieved MFU (hardware.md §2.1)")
    elif basis == "training":
        model = get_model(str(g.raw("model")))
        tokens = g.q("tokens", "count")
        job = make_job(int(g.raw("seq", 4096)), int(g.raw("global_batch", 1024)), tokens, prec)
        rows = compare_chips(
            model,
            job,
            int(g.q("chips", "count")),
            [chip.slug, *map(str, vs)],
            options=CostOptions(pricing=kind, provider=provider),
        )
        ref = rows[0].cost
        lines.append(
            f"{ref.chip}: {ref.plan}, MFU {ref.mfu:.1%}, {ref.days:,.1f} days, "
            f"{fmt('money', ref.total_usd)}"
        )
        for r in rows[1:]:
            c = r.cost
            lines.append(
                f"{c.chip}: {c.plan}, MFU {c.mfu:.1%}, {c.days:,.1f} days, "
                f"{fmt('money', c.total_usd)} → ratio {c.total_usd / ref.total_usd:.3g}×"
            )
            ratios.append(c.total_usd / ref.total_usd)
    else:
        raise GigatrainError(f"{g.where('basis')}: {basis!r}; valid: peak, training")
    g.overrides["_band"] = (min(ratios), max(ratios))
    return ratios[0], lines


def _chips_and_power(g: _Getter) -> tuple[float, float, list[str]]:
    """(chips, facility-or-IT power) from whichever of ``chips`` / ``power`` the claim gives."""
    per, basis, lines = _power_per_chip(g)
    n = g.q("chips", "count", required=False)
    if n is None:
        p = g.q("power", "power")
        n = p / per
        lines.append(f"chips = {fmt_power(p)} ({basis}) / {per:,.0f} W = {n:,.0f}")
    else:
        p = n * per
        lines.append(f"power = {n:,.0f} chips × {per:,.0f} W = {fmt_power(p)} ({basis})")
    return n, p, lines


def _capex(g: _Getter) -> Result:
    """Capital cost: chips × purchase price × server cost ratio + IT MW × data-center capex
    per MW (Cushman & Wakefield 2025 mean $11.7M/MW, economics.yaml)."""
    n, p, lines = _chips_and_power(g)
    chip = g.chip()
    price = g.q("chip_price", "money", required=False)
    if price is None:
        try:
            pc = choose_price(chip.slug, "own")
        except GigatrainError as e:
            raise CannotTellError(f"{e} (state chip_price)") from None
        price, src = pc.value, f"{pc.basis}; {pc.source}, {pc.as_of}"
    else:
        src = "stated"
    ratio = g.num("server_cost_ratio", 1.0)
    capex_mw = g.q("dc_capex_usd_per_mw", "money", const("dc_capex_usd_per_mw"))
    pw = chip_power(chip, pue=g.num("pue"), server_ratio=g.num("server_ratio"),
                    tdp_w=g.q("chip_w", "power", required=False),
                    allin_w=g.q("allin_w", "power", required=False))  # fmt: skip
    it_mw = n * pw.it_peak_w / 1e6
    hw, dc = n * price * ratio, it_mw * capex_mw
    lines += [
        f"hardware = {n:,.0f} × ${price:,.0f} ({src}) × {ratio:g} = {fmt('money', hw)}",
        f"building = {it_mw:,.4g} MW IT × ${capex_mw / 1e6:,.3g}M/MW = {fmt('money', dc)}",
        f"capex = {fmt('money', hw + dc)}",
    ]
    g.overrides["_power"] = p
    return hw + dc, lines


def _capex_per_gw(g: _Getter) -> Result:
    total, lines = _capex(g)
    p = g.overrides.pop("_power")
    v = total / (p / 1e9)
    lines.append(f"per GW = {fmt('money', total)} / {p / 1e9:,.4g} GW = {fmt('money', v)}")
    return v, lines


def _contract_value(g: _Getter) -> Result:
    """Rental value of a contract: chips × $/chip-hour × period (hours)."""
    n, _, lines = _chips_and_power(g)
    t = g.q("period", "duration")
    rate = g.q("usd_per_chip_hour", "money", required=False)
    if rate is None:
        try:
            pc = choose_price(g.chip().slug, str(g.raw("pricing", "on_demand")),
                              g.raw("provider", required=False))  # fmt: skip
        except GigatrainError as e:
            raise CannotTellError(f"{e} (state usd_per_chip_hour)") from None
        rate, src = pc.value, pc.describe()
    else:
        src = "stated"
    v = n * rate * t / 3600.0
    lines.append(
        f"value = {n:,.0f} chips × ${rate:,.4g}/chip-h ({src}) × {t / 3600:,.0f} h = "
        f"{fmt('money', v)}"
    )
    return v, lines


def _quarter_key(where: str, v: Any) -> str:
    """'2026Q3' / '2026-09' / '2026-09-30' / 2026 → a sortable 'YYYY-MM' (quarter → its last
    month)."""
    t = str(v).strip().upper()
    m = re.fullmatch(r"(\d{4})\s*-?\s*Q([1-4])", t)
    if m:
        return f"{m.group(1)}-{int(m.group(2)) * 3:02d}"
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-\d{2})?", t)
    if m:
        return f"{m.group(1)}-{m.group(2) or '12'}"
    raise GigatrainError(f"{where}: {v!r} is not a date (2026Q3, 2026-09, 2026)")


def _chips_by_date(g: _Getter) -> Result:
    """A build schedule: ``schedule: [{by, power | chips}]`` (increments); chips online by
    ``at`` = Σ chips of the steps due by then (power steps / all-in W per chip)."""
    sched = g.raw("schedule")
    if not isinstance(sched, list) or not sched:
        raise GigatrainError(f"{g.where('schedule')}: a list of {{by, power | chips}}")
    at = _quarter_key(g.where("at"), g.raw("at"))
    per, basis, lines = _power_per_chip(g)
    total = 0.0
    for i, step in enumerate(sched):
        w = g.where(f"schedule[{i}]")
        if not isinstance(step, Mapping) or "by" not in step:
            raise GigatrainError(f"{w}: needs by and power or chips")
        if _quarter_key(w, step["by"]) > at:
            continue
        if "chips" in step:
            n = PARSERS["count"](w, step["chips"])
            lines.append(f"by {step['by']}: +{n:,.0f} chips")
        else:
            raw: Any = step.get("power")  # a YAML value; None (absent) is refused by the parser
            p = PARSERS["power"](w, raw)
            n = p / per
            lines.append(f"by {step['by']}: +{fmt_power(p)} / {per:,.0f} W = +{n:,.0f} chips")
        total += n
    lines.append(f"online by {g.raw('at')}: {total:,.0f} chips ({basis} power basis)")
    return total, lines


def _statement(g: _Getter) -> Result:
    raise CannotTellError(str(g.raw("note", "not an arithmetic claim; check the cited sources")))


KINDS: dict[str, tuple[Callable[[_Getter], Result], str]] = {
    "chips_for_power": (_chips_for_power, "count"),
    "power_for_chips": (_power_for_chips, "power"),
    "watts_per_chip": (_watts_per_chip, "power"),
    "energy": (_energy, "energy"),
    "energy_cost": (_energy_cost, "money"),
    "ratio": (_ratio, "ratio"),
    "price_performance": (_price_performance, "ratio"),
    "training_compute": (_training_compute, "flop"),
    "time_to_train": (_time_to_train, "duration"),
    "capex": (_capex, "money"),
    "capex_per_gw": (_capex_per_gw, "money"),
    "contract_value": (_contract_value, "money"),
    "chips_by_date": (_chips_by_date, "count"),
    "statement": (_statement, "ratio"),
}

#: assumptions whose flip points are searched, with their dimension and plausible range
THRESHOLD_RANGES: dict[str, tuple[str, float, float, str]] = {
    "allin_w": ("power", 100.0, 5000.0, "all-in power per chip"),
    "pue": ("ratio", 1.0, 2.0, "PUE"),
    "mfu": ("ratio", 0.05, 0.9, "MFU"),
    "usd_per_kwh": ("energy_price", 0.01, 0.5, "electricity price"),
    "usd_per_chip_hour": ("money", 0.1, 50.0, "price per chip-hour"),
    "chip_price": ("money", 1e3, 1e6, "chip price"),
    "dc_capex_usd_per_mw": ("money", 2e6, 5e7, "data-center capex per MW"),
}
_GRID = 48


def _as_text(dim: str, v: float) -> Any:
    """An override value the parsers accept (power needs a unit)."""
    return f"{v:.9g} W" if dim == "power" else v


def thresholds(
    fn: Callable[[_Getter], Result],
    cid: str,
    raw: Mapping[str, Any],
    assumptions: Mapping[str, Any],
    names: set[str],
    claimed: Claimed,
) -> list[str]:
    """For each assumption in ``names`` ∩ :data:`THRESHOLD_RANGES`: the values (within its
    plausible range) for which the computed value lies in the claimed interval, found on a log
    grid and refined by bisection. "holds if all-in power per chip 1,260 W – 1,470 W"."""
    out = []
    for name in sorted(names & set(THRESHOLD_RANGES)):
        dim, lo, hi, label = THRESHOLD_RANGES[name]

        def inside(x: float, name: str = name, dim: str = dim) -> bool | None:
            try:
                v = fn(_Getter(cid, raw, assumptions, {name: _as_text(dim, x)}))[0]
            except (CannotTellError, GigatrainError, ZeroDivisionError):
                return None
            return claimed.lo <= v <= claimed.hi

        xs = [lo * (hi / lo) ** (i / (_GRID - 1)) for i in range(_GRID)]
        ins = [inside(x) for x in xs]
        if all(v is None for v in ins):
            continue
        edges = []
        for i in range(1, _GRID):
            if ins[i - 1] is not None and ins[i] is not None and ins[i - 1] != ins[i]:
                a, b = xs[i - 1], xs[i]
                for _ in range(30):
                    mid = math.sqrt(a * b)
                    if inside(mid) == ins[i - 1]:
                        a = mid
                    else:
                        b = mid
                edges.append(math.sqrt(a * b))
        spans, start = [], (lo if ins[0] else None)
        for e in edges:
            if start is None:
                start = e
            else:
                spans.append((start, e))
                start = None
        if start is not None:
            spans.append((start, hi))

        def f(x: float, dim: str = dim) -> str:
            return fmt(dim, x) if dim != "ratio" else f"{x:.3g}"

        if not spans:
            out.append(f"no {label} in {f(lo)} – {f(hi)} makes it hold")
            continue
        parts = []
        for a, b in spans:
            if a == lo and b == hi:
                parts.append(f"any {label} in {f(lo)} – {f(hi)}")
            elif a == lo:
                parts.append(f"{label} ≤ {f(b)}")
            elif b == hi:
                parts.append(f"{label} ≥ {f(a)}")
            else:
                parts.append(f"{label} {f(a)} – {f(b)}")
        out.append("holds if " + " or ".join(parts))
    return out


def _tolerance(where: str, v: Any) -> float:
    t = PARSERS["ratio"](where, v) if v is not None else DEFAULT_TOLERANCE
    if not 0 <= t < 1:
        raise GigatrainError(f"{where} must be between 0 and 100%, got {v!r}")
    return t


def check_claim(i: int, raw: Any, assumptions: Mapping[str, Any]) -> Verdict:
    """Recompute claim number ``i`` (0-based) and give its verdict."""
    if not isinstance(raw, Mapping):
        raise GigatrainError(
            f"claim #{i + 1} must be a mapping with kind, claimed, ..., got {raw!r}"
        )
    cid = str(raw.get("id", f"#{i + 1}"))
    kind = raw.get("kind")
    if kind not in KINDS:
        raise GigatrainError(
            f"claim {cid!r}: kind {kind!r} is not known; valid: {', '.join(KINDS)}"
        )
    fn, dim = KINDS[kind]
    says = str(raw.get("says", ""))
    tol = _tolerance(
        f"claim {cid!r}: tolerance", raw.get("tolerance", assumptions.get("tolerance"))
    )
    g = _Getter(cid, raw, assumptions)
    is_open = kind != "statement" and raw.get("claimed") is None
    try:
        claimed = (
            parse_claimed(g.where("claimed"), raw.get("claimed"), dim, tol)
            if kind != "statement" and not is_open
            else None
        )
        value, lines = fn(g)
    except CannotTellError as e:
        return Verdict(
            cid,
            says,
            kind,
            "cannot tell",
            dim,
            None,
            None,
            str(raw.get("claimed", "")),
            None,
            [],
            str(e),
        )
    if is_open:
        return Verdict(cid, says, kind, "open", dim, value, None, "", None,
                       [*lines, f"computed {fmt(dim, value)} (open question: no claimed value)"],
                       str(raw.get("note", "")))  # fmt: skip
    assert claimed is not None
    band = g.overrides.pop("_band", (value, value))
    g.overrides.pop("_power", None)
    alts = raw.get("alternatives") or {}
    if not isinstance(alts, Mapping):
        raise GigatrainError(f"claim {cid!r}: alternatives must map an assumption to a list")
    if alts:
        names = list(alts)
        options = [v if isinstance(v, list) else [v] for v in alts.values()]
        vals = [value, *band]
        for combo in itertools.product(*options):
            try:
                vals.append(
                    fn(_Getter(cid, raw, assumptions, dict(zip(names, combo, strict=True))))[0]
                )
            except CannotTellError:
                continue
        band = (min(vals), max(vals))
        over = ", ".join(f"{k} ∈ {v}" for k, v in zip(names, options, strict=True))
        lines.append(f"over alternatives {over}: {fmt(dim, band[0])} – {fmt(dim, band[1])}")
    inside = claimed.lo <= value <= claimed.hi
    reach = band[1] >= claimed.lo and band[0] <= claimed.hi
    verdict = "consistent" if inside else "cannot tell" if reach else "inconsistent"
    tol_text = f" (±{tol:.0%})" if tol else ""
    lines.append(
        f"claimed {claimed.text}{tol_text} → {fmt(dim, claimed.lo)} – "
        f"{fmt(dim, claimed.hi)}; computed {fmt(dim, value)} → {verdict}"
    )
    expensive = kind == "price_performance" and str(raw.get("basis", "peak")) == "training"
    flips = [] if expensive else thresholds(fn, cid, raw, assumptions, g.reads, claimed)
    return Verdict(
        cid,
        says,
        kind,
        verdict,
        dim,
        value,
        band if band[0] != band[1] else None,
        claimed.text,
        (claimed.lo, claimed.hi),
        lines,
        str(raw.get("note", "")),
        flips,
    )


def _read(path: Path) -> Mapping[str, Any]:
    data = read_yaml(path, "claim file")
    if (
        not isinstance(data, Mapping)
        or not isinstance(data.get("claims"), list)
        or not data["claims"]
    ):
        raise GigatrainError(f"{Path(path).name}: needs a non-empty 'claims:' list")
    return data


def check_claims(data: Mapping[str, Any] | Path | str) -> CheckReport:
    """Check every claim of a claim file (path) or an already-loaded mapping."""
    if not isinstance(data, Mapping):
        data = _read(Path(data))
    assumptions = data.get("assumptions") or {}
    if not isinstance(assumptions, Mapping):
        raise GigatrainError("assumptions must be a mapping (chip, pue, usd_per_kwh, ...)")
    claims = data.get("claims")
    if not isinstance(claims, list) or not claims:
        raise GigatrainError("the claim file needs a non-empty 'claims:' list")
    inline = inline_chips(data.get("chips"))
    ctx = {**assumptions, "_inline_chips": inline} if inline else assumptions
    verdicts = []
    for i, c in enumerate(claims):
        try:
            verdicts.append(check_claim(i, c, ctx))
        except (GigatrainError, KeyError, ValueError, TypeError) as e:
            cid = str(c.get("id", f"#{i + 1}")) if isinstance(c, Mapping) else f"#{i + 1}"
            says = str(c.get("says", "")) if isinstance(c, Mapping) else ""
            kind = str(c.get("kind", "")) if isinstance(c, Mapping) else ""
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            verdicts.append(Verdict(cid, says, kind, "error", "ratio", None, None,
                                    str(c.get("claimed", "")) if isinstance(c, Mapping) else "",
                                    None, [], f"{type(e).__name__}: {msg}"))  # fmt: skip
    return CheckReport(
        str(data.get("title", "")),
        str(data.get("source", "")),
        {str(k): str(v) for k, v in assumptions.items()},
        verdicts,
    )


def inline_chips(raw: Any) -> dict[str, Any]:
    """Chips given in the claim file (``chips: {slug: {bf16_tflops, tdp_w, hbm_gb, ...}}``) as
    :class:`ChipSpec` — for chips not in the catalog (e.g. an announced part)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise GigatrainError("chips: must map a slug to {bf16_tflops, tdp_w, ...}")
    out = {}
    for slug, spec in raw.items():
        where = f"chips.{slug}"
        if not isinstance(spec, Mapping):
            raise GigatrainError(f"{where}: must be a mapping (bf16_tflops, tdp_w, ...)")
        known = {"name", "bf16_tflops", "fp8_tflops", "tdp_w", "hbm_gb", "hbm_tb_per_s",
                 "source", "note"}  # fmt: skip
        bad = sorted(set(spec) - known)
        if bad:
            raise GigatrainError(f"{where}: unknown field(s) {', '.join(bad)}; valid: "
                                 f"{', '.join(sorted(known))}")  # fmt: skip
        if "bf16_tflops" not in spec:
            raise GigatrainError(f"{where}.bf16_tflops is missing")
        peaks = {"bf16": PARSERS["ratio"](f"{where}.bf16_tflops", spec["bf16_tflops"]) * 1e12}
        if "fp8_tflops" in spec:
            peaks["fp8"] = PARSERS["ratio"](f"{where}.fp8_tflops", spec["fp8_tflops"]) * 1e12
        tdp = spec.get("tdp_w")
        out[str(slug)] = ChipSpec(
            slug=str(slug),
            name=str(spec.get("name", slug)),
            vendor="given",
            peak_flops_per_s=peaks,
            hbm_bytes=float(spec.get("hbm_gb", 0) or 0) * 1e9,
            hbm_bandwidth_bytes_per_s=float(spec.get("hbm_tb_per_s", 0) or 0) * 1e12,
            tdp_w=None
            if tdp is None
            else PARSERS["power"](f"{where}.tdp_w", tdp if isinstance(tdp, str) else f"{tdp} W"),
            labels={"tdp_w": "ESTIMATE"},
            source=str(spec.get("source", "given in the claim file")),
        )
    return out
