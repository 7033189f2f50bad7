"""A fleet that grows over time and a queue of training runs → when each run starts and ends,
and the fleet's cumulative energy and cost.

Roadmap file (YAML)::

    title: "..."
    start: 2026Q1                      # first day simulated (a quarter, 2026-01 or 2026-01-01)
    assumptions: {pue: 1.15, usd_per_kwh: "$0.03/kWh", mfu: 0.4, pricing: on_demand}
    fleet:                             # additions; power is facility power unless power_is: it
      - {at: 2026Q1, chip: trn2, add_power: 250MW}
      - {from: 2026Q2, to: 2027Q4, every: quarter, chip: trn2, add_power: 250MW}
      - {at: 2027Q1, chip: h100-sxm, add_chips: 50k}
    runs:                              # in priority order
      - {name: "1T dense", params: 1T}                    # Chinchilla tokens, whole fleet
      - {name: "405B", model: llama-3.1-405b, tokens: 15.6T, chips: 100k, chip: trn2}
      - {name: "2T", params: 2T, tokens: 40T, after: "1T dense", not_before: 2027Q1, share: 0.5}
      - {name: "the rest", flop: 2e27, share: 1.0, job_chips: 100k}

Simulation, one day at a time (SI inside; days are 86,400 s):

* fleet: each addition brings ``add_chips`` (or ``add_power`` / provisioned facility watts per
  chip from power.py: TDP · r · PUE) chips of its type on its date;
* a run with ``chips`` is a fixed-size job: it starts on the first day its dependencies
  (``after``, ``not_before``) are met and that many chips (of ``chip`` if given) are free,
  and holds them to the end; a run with ``share`` (default 1.0 when neither is given) is
  elastic: it gets that fraction of the fleet's chips each day, as the fleet grows, run as
  concurrent jobs of at most ``job_chips`` chips (default: one job of all of them);
* progress per day = Σ chips · dense peak · MFU · goodput · 86,400 s, goodput for one
  synchronous job of min(chips, job_chips) chips (goodput.py, checkpoint 14 B/param, under
  ``assumptions.mitigation``: manual | automated (default) | async | in_memory | elastic);
* energy per day: chips in use at the MFU-dependent average draw, idle chips at the floor
  fraction (power.py), times PUE; cost per day: rent (fleet chip-hours × price, idle or not)
  or own (purchase amortised over depreciation + data-center capex per MW amortised + energy).

Ignored: mixing chip generations within one job is allowed for elastic runs (their FLOPs add
up, as if split into concurrent sub-jobs); construction lead times; price changes over time.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..catalog.constants import const
from ..catalog.hardware import get_chip
from ..catalog.models import get_model, model_info
from ..catalog.prices import choose_price
from ..errors import GigatrainError
from ..model.workload import model_flops_per_token, params_total
from ..yamlio import read_yaml
from .fleet import chinchilla_flop
from .goodput import DEFAULT_MITIGATION, MITIGATIONS, goodput
from .power import chip_power, power_fraction
from .quantities import (
    J_PER_KWH,
    PARSERS,
    S_PER_DAY,
    S_PER_YEAR,
    parse_duration_s,
    parse_usd_per_kwh,
)

MAX_DAYS = 20 * 366


@dataclass(frozen=True)
class Cohort:
    """Chips of one type that arrive on one date."""

    date: dt.date
    chip: str
    chips: int
    flops_per_s_per_chip: float  # sustained: peak · MFU
    busy_w: float  # facility watts per chip while training
    idle_w: float  # facility watts per chip while idle
    it_peak_w: float
    facility_peak_w: float
    usd_per_chip_day: float  # rent, or amortised purchase (own)


@dataclass
class RunState:
    name: str
    flop: float
    ckpt_bytes: float
    chips: int | None
    share: float | None
    chip: str | None
    after: str | None
    not_before: dt.date | None
    job_chips: int | None = None
    done_flop: float = 0.0
    start: dt.date | None = None
    finish: dt.date | None = None
    held: dict[int, int] = field(default_factory=dict)  # cohort index -> chips
    chip_days: float = 0.0
    goodput_days: float = 0.0


@dataclass(frozen=True)
class RoadmapRun:
    name: str
    flop: float
    chips: int | None
    share: float | None
    start: str | None
    finish: str | None
    days: float | None
    chips_avg: float
    goodput_avg: float


@dataclass(frozen=True)
class RoadmapPeriod:
    label: str
    start: str
    chips: dict[str, int]
    facility_peak_w: float
    facility_avg_w: float
    sustained_flops_per_s: float
    energy_j: float
    cum_energy_j: float
    cost_usd: float
    cum_cost_usd: float
    running: list[str]


@dataclass(frozen=True)
class Roadmap:
    title: str
    start: str
    pricing: str
    periods: list[RoadmapPeriod]
    runs: list[RoadmapRun]
    series: dict[str, list[Any]]  # daily: date, chips, sustained_flops_per_s, cum_energy_j, ...
    assumptions: dict[str, str]

    def to_dict(self, daily: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not daily:
            d.pop("series")
        return d


# ---------------------------------------------------------------- reading the file
def parse_date(where: str, v: Any) -> dt.date:
    """``2026Q3`` (first day of the quarter), ``2026-07``, ``2026-07-01`` or a YAML date."""
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    s = str(v).strip()
    m = re.fullmatch(r"(\d{4})\s*-?\s*[Qq]([1-4])", s)
    if m:
        return dt.date(int(m.group(1)), 3 * int(m.group(2)) - 2, 1)
    m = re.fullmatch(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?", s)
    if m:
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))
        except ValueError:
            pass
    if re.fullmatch(r"\d{4}", s):
        return dt.date(int(s), 1, 1)
    raise GigatrainError(
        f"{where}: cannot read {v!r} as a date (examples: 2026Q3, 2026-07, 2026-07-01)"
    )


def quarter_label(d: dt.date) -> str:
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    return dt.date(d.year + y, m + 1, 1)


_STEP_MONTHS = {"month": 1, "quarter": 3, "half": 6, "year": 12}


def _read(path: Path) -> Mapping[str, Any]:
    data = read_yaml(path, "roadmap file")
    if not isinstance(data, Mapping):
        raise GigatrainError(f"{Path(path).name}: must be a mapping with fleet: and runs:")
    return data


def _num(where: str, v: Any, dimension: str) -> float:
    return PARSERS[dimension](where, v)


def _cohorts(data: Mapping[str, Any], a: Mapping[str, Any], start: dt.date) -> list[Cohort]:
    fleet = data.get("fleet")
    if not isinstance(fleet, list) or not fleet:
        raise GigatrainError(
            "roadmap is empty: 'fleet:' needs at least one addition "
            "(e.g. {at: 2026Q1, chip: trn2, add_power: 250MW})"
        )
    pricing = str(a.get("pricing", "on_demand"))
    mfu = float(_num("assumptions.mfu", a.get("mfu", const("epoch_median_mfu")), "ratio"))
    pue = float(_num("assumptions.pue", a["pue"], "ratio")) if "pue" in a else None
    out: list[Cohort] = []
    for i, raw in enumerate(fleet):
        where = f"fleet[{i}]"
        if not isinstance(raw, Mapping):
            raise GigatrainError(f"{where} must be a mapping (at, chip, add_power | add_chips)")
        known = {
            "at",
            "from",
            "to",
            "every",
            "chip",
            "add_power",
            "add_chips",
            "power_is",
            "usd_per_chip_hour",
            "chip_price",
            "pue",
            "note",
        }
        bad = sorted(set(raw) - known)
        if bad:
            raise GigatrainError(
                f"{where}: unknown field(s) {', '.join(bad)}; valid: {', '.join(sorted(known))}"
            )
        if "chip" not in raw:
            raise GigatrainError(f"{where}.chip is missing (e.g. trn2)")
        spec = get_chip(str(raw["chip"]))
        c_pue = float(_num(f"{where}.pue", raw["pue"], "ratio")) if "pue" in raw else pue
        pw = chip_power(spec, mfu, pue=c_pue)
        idle_w = power_fraction(0.0) * pw.it_peak_w * pw.pue
        if ("add_power" in raw) == ("add_chips" in raw):
            raise GigatrainError(f"{where}: give exactly one of add_power or add_chips")
        if "add_power" in raw:
            p = _num(f"{where}.add_power", raw["add_power"], "power")
            per = (
                pw.it_peak_w
                if str(raw.get("power_is", "facility")).lower() == "it"
                else pw.facility_peak_w
            )
            n = int(p // per)
        else:
            n = int(_num(f"{where}.add_chips", raw["add_chips"], "count"))
        if pricing == "own":
            price = (
                float(_num(f"{where}.chip_price", raw["chip_price"], "money"))
                if "chip_price" in raw
                else choose_price(spec.slug, "own").value
            )
            years = const("chip_depreciation_years")
            dc = (
                pw.it_peak_w
                / 1e6
                * const("dc_capex_usd_per_mw")
                / const("building_depreciation_years")
            )
            usd_day = (price / years + dc) * S_PER_DAY / S_PER_YEAR
        else:
            hourly = (
                float(_num(f"{where}.usd_per_chip_hour", raw["usd_per_chip_hour"], "money"))
                if "usd_per_chip_hour" in raw
                else choose_price(spec.slug, pricing).value
            )
            usd_day = hourly * 24.0
        if "at" in raw:
            dates = [parse_date(f"{where}.at", raw["at"])]
        elif "from" in raw and "to" in raw:
            d0, d1 = parse_date(f"{where}.from", raw["from"]), parse_date(f"{where}.to", raw["to"])
            step = _STEP_MONTHS.get(str(raw.get("every", "quarter")))
            if step is None:
                raise GigatrainError(
                    f"{where}.every: {raw.get('every')!r}; valid: {', '.join(_STEP_MONTHS)}"
                )
            if d1 < d0:
                raise GigatrainError(f"{where}: to {raw['to']} is before from {raw['from']}")
            dates, d = [], d0
            while d <= d1:
                dates.append(d)
                d = _add_months(d, step)
        else:
            raise GigatrainError(f"{where}: give at: DATE, or from:/to: (with every: quarter)")
        sustained = spec.peak(str(a.get("precision", "bf16"))) * mfu
        for d in dates:
            out.append(
                Cohort(
                    max(d, start),
                    spec.slug,
                    n,
                    sustained,
                    pw.facility_avg_w,
                    idle_w,
                    pw.it_peak_w,
                    pw.facility_peak_w,
                    usd_day,
                )
            )
    return sorted(out, key=lambda c: c.date)


def _runs(data: Mapping[str, Any], a: Mapping[str, Any]) -> list[RunState]:
    runs = data.get("runs")
    if not isinstance(runs, list) or not runs:
        raise GigatrainError(
            "roadmap is empty: 'runs:' needs at least one training run "
            "(e.g. {name: 1T dense, params: 1T})"
        )
    out: list[RunState] = []
    names: set[str] = set()
    per_param = const("checkpoint_bytes_per_param_adamw")
    for i, raw in enumerate(runs):
        where = f"runs[{i}]"
        if not isinstance(raw, Mapping):
            raise GigatrainError(f"{where} must be a mapping (name, model | params | flop, ...)")
        known = {
            "name",
            "model",
            "params",
            "tokens",
            "flop",
            "seq",
            "chips",
            "share",
            "chip",
            "after",
            "not_before",
            "job_chips",
            "note",
        }
        bad = sorted(set(raw) - known)
        if bad:
            raise GigatrainError(
                f"{where}: unknown field(s) {', '.join(bad)}; valid: {', '.join(sorted(known))}"
            )
        name = str(raw.get("name", f"run {i + 1}"))
        if name in names:
            raise GigatrainError(f"{where}: duplicate run name {name!r}")
        names.add(name)
        if "flop" in raw:
            flop = _num(f"{where}.flop", raw["flop"], "flop")
            params = math.sqrt(flop / 120)
        elif "model" in raw:
            m = get_model(str(raw["model"]))
            info = model_info(m.slug) if not str(raw["model"]).endswith((".yaml", ".json")) else {}
            tok = raw.get("tokens", info.get("training_tokens"))
            if tok is None:
                raise GigatrainError(f"{where}.tokens is missing ({m.slug} has no training_tokens)")
            seq = int(raw.get("seq", info.get("train_seq_len") or 4096))
            tokens = _num(f"{where}.tokens", tok, "count")
            flop = tokens * model_flops_per_token(m, seq)
            params = float(params_total(m))
        elif "params" in raw:
            params = _num(f"{where}.params", raw["params"], "count")
            if "tokens" in raw:
                flop = 6 * params * _num(f"{where}.tokens", raw["tokens"], "count")
            else:
                flop = chinchilla_flop(params)[1]
        else:
            raise GigatrainError(f"{where}: give model (+ tokens), params (+ tokens) or flop")
        if "chips" in raw and "share" in raw:
            raise GigatrainError(f"{where}: give chips (fixed job) or share (elastic), not both")
        chips = int(_num(f"{where}.chips", raw["chips"], "count")) if "chips" in raw else None
        share = None
        if chips is None:
            share = float(_num(f"{where}.share", raw.get("share", 1.0), "ratio"))
            if not 0 < share <= 1:
                raise GigatrainError(f"{where}.share must be in (0, 1], got {raw.get('share')!r}")
        chip = get_chip(str(raw["chip"])).slug if "chip" in raw else None
        nb = parse_date(f"{where}.not_before", raw["not_before"]) if "not_before" in raw else None
        after = str(raw["after"]) if "after" in raw else None
        jc = (
            int(_num(f"{where}.job_chips", raw["job_chips"], "count"))
            if "job_chips" in raw
            else None
        )
        out.append(RunState(name, flop, params * per_param, chips, share, chip, after, nb, jc))
    for r in out:
        if r.after is not None and r.after not in names:
            raise GigatrainError(
                f"run {r.name!r}: after {r.after!r} is not a run; runs: {', '.join(sorted(names))}"
            )
    _check_no_cycle(out)
    return out


def _check_no_cycle(runs: list[RunState]) -> None:
    """Refuse ``after`` chains that loop back (a run that waits for itself never starts)."""
    after = {r.name: r.after for r in runs}
    for r in runs:
        seen = [r.name]
        nxt = after.get(r.name)
        while nxt is not None:
            if nxt in seen:
                raise GigatrainError(
                    f"runs: circular 'after' dependency {' -> '.join([*seen, nxt])}"
                )
            seen.append(nxt)
            nxt = after.get(nxt)


def _assumptions(a: Mapping[str, Any]) -> tuple[str, float, str]:
    """(pricing, $/kWh, failure mitigation) from the roadmap's ``assumptions``, checked."""
    pricing = str(a.get("pricing", "on_demand"))
    if pricing not in ("on_demand", "reserved_1yr", "reserved_3yr", "capacity_block", "own"):
        raise GigatrainError(
            f"assumptions.pricing={pricing!r}; valid: on_demand, reserved_1yr, "
            "reserved_3yr, capacity_block, own"
        )
    usd_kwh = (
        parse_usd_per_kwh("assumptions.usd_per_kwh", a["usd_per_kwh"])
        if "usd_per_kwh" in a
        else const("electricity_usd_per_kwh_us_industrial")
    )
    mitigation = str(a.get("mitigation", DEFAULT_MITIGATION))
    if mitigation not in MITIGATIONS:
        raise GigatrainError(
            f"assumptions.mitigation={mitigation!r}; valid: {', '.join(MITIGATIONS)}"
        )
    return pricing, usd_kwh, mitigation


def _allocate(r: RunState, free: dict[int, int], cohorts: list[Cohort]) -> dict[int, int]:
    """Chips of each cohort ``r`` runs on today (``free`` is updated): a fixed-size run takes
    its chips once, fastest cohorts first, and keeps them; a share-of-fleet run takes its
    share of what is free each day."""
    take: dict[int, int] = {}
    if r.chips is not None:
        if not r.held:
            pool = sorted(
                (i for i in free if r.chip in (None, cohorts[i].chip)),
                key=lambda i: -cohorts[i].flops_per_s_per_chip,
            )
            if sum(free[i] for i in pool) < r.chips:
                return {}
            need = r.chips
            for i in pool:
                n = min(need, free[i])
                if n:
                    r.held[i] = n
                    free[i] -= n
                    need -= n
        take = dict(r.held)
    else:
        assert r.share is not None
        pool = [i for i in free if r.chip in (None, cohorts[i].chip)]
        want = r.share * sum(cohorts[i].chips for i in pool)
        for i in sorted(pool, key=lambda i: -cohorts[i].flops_per_s_per_chip):
            n = int(min(want, free[i]))
            if n > 0:
                take[i] = n
                free[i] -= n
                want -= n
    return take


def _period(
    day: dt.date,
    start: dt.date,
    avail: list[Cohort],
    series: dict[str, list[Any]],
    watts: float,
    p_e: float,
    cum_e: float,
    p_c: float,
    cum_c: float,
    running: set[str],
) -> RoadmapPeriod:
    """The quarter ending on ``day``: chips by type, power, FLOP/s, energy and cost."""
    q0 = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    chips_by: dict[str, int] = {}
    for c in avail:
        chips_by[c.chip] = chips_by.get(c.chip, 0) + c.chips
    return RoadmapPeriod(
        quarter_label(day),
        max(q0, start).isoformat(),
        chips_by,
        series["facility_peak_w"][-1],
        watts,
        series["sustained_flops_per_s"][-1],
        p_e,
        cum_e,
        p_c,
        cum_c,
        sorted(running),
    )


def _run_result(r: RunState, last_day: dt.date) -> RoadmapRun:
    """One run's dates, days, mean chips and mean goodput while it was active."""
    days = (r.finish - r.start).days + 1 if r.finish and r.start else None
    active = max(1, (((r.finish or last_day) - r.start).days + 1) if r.start else 1)
    return RoadmapRun(
        r.name,
        r.flop,
        r.chips,
        r.share,
        r.start.isoformat() if r.start else None,
        r.finish.isoformat() if r.finish else None,
        days,
        r.chip_days / active,
        r.goodput_days / active if r.start else 0.0,
    )


# ---------------------------------------------------------------- the simulation
def simulate(data: Mapping[str, Any] | Path | str, horizon_s: float | None = None) -> Roadmap:
    """Run the roadmap day by day until every run has finished and the last chips have
    arrived (or the horizon, at most 20 years)."""
    if not isinstance(data, Mapping):
        data = _read(Path(data))
    a = data.get("assumptions") or {}
    if not isinstance(a, Mapping):
        raise GigatrainError("assumptions must be a mapping (pue, usd_per_kwh, mfu, pricing)")
    pricing, usd_kwh, mitigation = _assumptions(a)
    start = parse_date("start", data.get("start", "2026Q1"))
    cohorts = _cohorts(data, a, start)
    runs = _runs(data, a)
    horizon = horizon_s or (
        parse_duration_s("horizon", data["horizon"]) if "horizon" in data else None
    )
    max_days = min(MAX_DAYS, int(horizon / S_PER_DAY)) if horizon else MAX_DAYS
    gp_cache: dict[tuple[int, float], float] = {}
    # simulate at least to the end of the quarter in which the last chips arrive
    ramp_end = _add_months(
        dt.date(cohorts[-1].date.year, 3 * ((cohorts[-1].date.month - 1) // 3) + 1, 1), 3
    ) - dt.timedelta(days=1)

    def gp(n: int, ckpt: float) -> float:
        key = (int(float(f"{n:.3g}")), ckpt)
        if key not in gp_cache:
            gp_cache[key] = goodput(max(key[0], 1), ckpt, mitigation=mitigation).goodput
        return gp_cache[key]

    series: dict[str, list[Any]] = {
        k: []
        for k in (
            "date",
            "chips",
            "sustained_flops_per_s",
            "facility_peak_w",
            "facility_avg_w",
            "cum_energy_j",
            "cum_cost_usd",
        )
    }
    periods: list[RoadmapPeriod] = []
    cum_e = cum_c = 0.0
    p_e = p_c = 0.0
    p_running: set[str] = set()
    day = start
    last_day = start
    for k in range(max_days):
        day = start + dt.timedelta(days=k)
        avail = [c for c in cohorts if c.date <= day]
        held = [0] * len(cohorts)
        for r in runs:
            for ci, n in r.held.items():
                held[ci] += n
        free = {i: c.chips - held[i] for i, c in enumerate(cohorts) if c.date <= day}
        total_chips = sum(c.chips for c in avail)
        busy = [0.0] * len(cohorts)
        for r in runs:
            if r.finish is not None:
                continue
            ready = (r.not_before is None or day >= r.not_before) and (
                r.after is None or next(x for x in runs if x.name == r.after).finish is not None
            )
            if not ready:
                continue
            take = _allocate(r, free, cohorts)
            n_run = sum(take.values())
            if n_run == 0:
                continue
            if r.start is None:
                r.start = day
            g = gp(min(n_run, r.job_chips or n_run), r.ckpt_bytes)
            rate = sum(cohorts[i].flops_per_s_per_chip * n for i, n in take.items())
            r.done_flop += rate * g * S_PER_DAY
            r.chip_days += n_run
            r.goodput_days += g
            p_running.add(r.name)
            for i, n in take.items():
                busy[i] += n
            if r.done_flop >= r.flop:
                r.finish = day
                r.held = {}
        # energy and cost of the whole fleet for this day
        watts = sum(
            c.busy_w * busy[i] + c.idle_w * (c.chips - busy[i])
            for i, c in enumerate(cohorts)
            if c.date <= day
        )
        e = watts * S_PER_DAY
        cost = sum(c.usd_per_chip_day * c.chips for c in avail)
        if pricing == "own":
            cost += e / J_PER_KWH * usd_kwh
        cum_e += e
        cum_c += cost
        p_e += e
        p_c += cost
        series["date"].append(day.isoformat())
        series["chips"].append(total_chips)
        series["sustained_flops_per_s"].append(sum(c.flops_per_s_per_chip * c.chips for c in avail))
        series["facility_peak_w"].append(sum(c.facility_peak_w * c.chips for c in avail))
        series["facility_avg_w"].append(watts)
        series["cum_energy_j"].append(cum_e)
        series["cum_cost_usd"].append(cum_c)
        nxt = day + dt.timedelta(days=1)
        if quarter_label(nxt) != quarter_label(day) or (
            all(r.finish for r in runs) and day >= ramp_end
        ):
            periods.append(
                _period(day, start, avail, series, watts, p_e, cum_e, p_c, cum_c, p_running)
            )
            p_e = p_c = 0.0
            p_running = set()
        last_day = day
        if all(r.finish for r in runs) and day >= ramp_end:
            break
    out_runs = [_run_result(r, last_day) for r in runs]
    notes = {
        "pricing": pricing,
        "usd_per_kwh": f"{usd_kwh:g}",
        "mfu": str(a.get("mfu", const("epoch_median_mfu"))),
        "pue": str(a.get("pue", "per chip: the operator's fleet PUE (economics.power)")),
        "mitigation": mitigation,
        "end": last_day.isoformat(),
    }
    return Roadmap(
        str(data.get("title", "")), start.isoformat(), pricing, periods, out_runs, series, notes
    )
