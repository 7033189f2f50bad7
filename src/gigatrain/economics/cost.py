"""Dollars for a whole training run: rent or own, per run and per 10^18 FLOP delivered.

Whole-run time (DESIGN.md question 3):

    steady_s  = tokens / tokens_per_s             (steady state, from the step-time model)
    compute_s = steady_s · Π realised factors      (batch ramp, stragglers, diurnal:
                                                    gigatrain.economics.realised; off with
                                                    ``CostOptions(realised=False)``)
    wall_s    = compute_s / goodput               (gigatrain.economics.goodput, mitigation
                                                    "automated" by default)
    chip_h    = chips · wall_s / 3600

Rent:  cost = chip_h · price per chip-hour (on-demand, 1-yr or 3-yr commitment, capacity block).
       The price includes power and the building; energy is reported but not charged again.
       Missing commitment prices are derived from the on-demand price with Epoch's default
       committed-use discount for the provider named in the price's basis (AWS 41 %/64 %,
       GCP 37 %/56 %, Azure 25 %/49 %; hardware.md §2.1). A commitment is charged pro rata
       (the rest of the term is assumed used by other work).
Own:   cost = hardware + data center + energy, with
       hardware    = chips · purchase price · server_cost_ratio · wall_s / depreciation period
       data center = chips · IT peak W / 1e6 · capex per MW · wall_s / building life
       energy      = facility energy (kWh) · $/kWh
       (Cottier et al., arXiv:2405.21015 amortise hardware the same way; defaults: 5-year
       chip depreciation [EPC], $11.7M per MW of IT load (Cushman & Wakefield 2025), 20-year
       building life (ESTIMATE), $0.0771/kWh US industrial 2024 [EPC]).

Every part is a named key in ``RunCost.parts`` and the parts sum to ``total_usd``.
``usd_per_exaflop`` = total / (model FLOPs delivered / 1e18), with model FLOPs = tokens ·
``model_flops_per_token`` (causal attention, no recompute: the MFU convention).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Unpack

import numpy as np

from ..catalog.constants import cite, const
from ..catalog.frameworks import default_framework, knobs_for
from ..catalog.hardware import default_system_for, get_chip
from ..catalog.prices import PRICINGS, PriceChoice
from ..catalog.prices import choose_price as choose_price  # re-exported for callers
from ..errors import GigatrainError
from ..knobs import Knobs
from ..model.critical_batch import batch_bound
from ..model.estimate import Estimate, estimate
from ..model.workload import model_flops_per_token
from ..pareto import pareto_front
from ..search.engine import SearchBounds, search
from ..specs import ChipSpec, Job, ModelSpec, Plan, SystemSpec
from ..validate.error_bars import error_bar, evidence
from .goodput import Goodput, checkpoint_bytes, goodput
from .power import ChipPower, Energy, chip_power, run_energy
from .quantities import J_PER_KWH, S_PER_HOUR, S_PER_YEAR
from .realised import realised_factors

#: below this MFU a cost report warns that the job is past its useful size
LOW_MFU = 0.15


@dataclass(frozen=True)
class CostOptions:
    """Every assumption of a run's cost; ``None`` means the catalog default (economics.yaml)."""

    pricing: str = "on_demand"
    provider: str | None = None
    usd_per_chip_hour: float | None = None
    chip_price_usd: float | None = None
    server_cost_ratio: float = 1.0
    depreciation_years: float | None = None
    dc_capex_usd_per_mw: float | None = None
    building_years: float | None = None
    usd_per_kwh: float | None = None
    pue: float | None = None
    server_ratio: float | None = None
    power_fraction: float | None = None
    chip_w: float | None = None
    allin_w: float | None = None
    interruptions_per_chip_day: float | None = None
    restart_s: float | None = None
    checkpoint_bytes_per_s_per_chip: float | None = None
    goodput: float | None = None
    #: failure mitigation (economics.goodput.MITIGATIONS)
    mitigation: str = "automated"
    #: add what whole runs realise beyond the steady state (economics.realised); False = ideal
    realised: bool = True


@dataclass(frozen=True)
class RunCost:
    """A whole run: time with goodput, energy, dollars; ``sum(parts.values()) == total_usd``."""

    model: str
    chip: str
    system: str
    chips: int
    plan: str
    pricing: str
    tokens: float
    model_flops: float
    tokens_per_s: float
    mfu: float
    step_time_s: float
    compute_s: float
    wall_s: float
    chip_hours: float
    goodput: Goodput
    power: ChipPower | None  # None: chip TDP unknown (rent only; the price covers power)
    energy: Energy | None
    parts: dict[str, float]
    total_usd: float
    usd_per_exaflop: float
    price: PriceChoice | None
    assumptions: dict[str, str] = field(default_factory=dict)
    fits: bool = True
    global_batch: int = 0
    seq_len: int = 0
    #: failure-free steady-state time (step-time model only) and the cost at that time
    steady_s: float = 0.0
    steady_usd: float = 0.0
    #: realised-run time factors (batch ramp, stragglers, diurnal); product × steady_s = compute_s
    overheads: dict[str, float] = field(default_factory=dict)
    #: held-out p10–p90 interval on days and dollars (validate.error_bars), None before it exists
    interval: dict[str, float] | None = None

    @property
    def days(self) -> float:
        return self.wall_s / 86400.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["days"] = self.days if math.isfinite(self.days) else None
        for k in ("wall_s", "chip_hours", "total_usd", "usd_per_exaflop"):
            if not math.isfinite(d[k]):
                d[k] = None
        d["parts"] = {k: (v if math.isfinite(v) else None) for k, v in self.parts.items()}
        return d


def run_cost(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    plan: Plan | None = None,
    *,
    options: CostOptions | None = None,
    knobs: Knobs | None = None,
    est: Estimate | None = None,
    price_optional: bool = False,
) -> RunCost:
    """Time, energy and dollars to train ``job.tokens`` tokens with ``plan`` (or ``est``).

    ``price_optional``: a chip without a rental price gets NaN dollars (and a note) instead of
    an error, so a comparison still shows its time.
    """
    o = options or CostOptions()
    if o.pricing not in PRICINGS:
        raise GigatrainError(f"pricing={o.pricing!r}; valid: {', '.join(PRICINGS)}")
    if not job.tokens > 0:
        raise GigatrainError("tokens must be given (e.g. --tokens 15T) to cost a run")
    if est is None:
        if plan is None:
            raise GigatrainError("run_cost needs a plan or an estimate")
        est = estimate(
            model, system, job, plan, knobs or knobs_for(job.framework, system.chip.vendor)
        )
    chips = est.chips
    steady_s = job.tokens / est.tokens_per_s
    notes: dict[str, str] = {}
    overheads: dict[str, float] = {}
    if o.realised:
        overheads, ov_notes = realised_factors(model, system, job, est, knobs)
        notes.update({f"realised/{k}": v for k, v in ov_notes.items()})
    compute_s = steady_s * math.prod(overheads.values())
    g = goodput(
        chips,
        checkpoint_bytes(model, job),
        per_chip_day=o.interruptions_per_chip_day,
        restart_s=o.restart_s,
        write_bytes_per_s_per_chip=o.checkpoint_bytes_per_s_per_chip,
        fixed=o.goodput,
        mitigation=o.mitigation,
        step_s=est.step_time_s,
    )
    wall_s = g.wall_s(compute_s)
    chip_h = chips * wall_s / S_PER_HOUR
    pw, energy, kwh = _power_and_energy(system, est, o, chips, wall_s, notes)
    if o.pricing == "own":
        assert pw is not None
        price: PriceChoice | None
        price, parts = _own_parts(system, o, chips, wall_s, pw, kwh, notes)
    else:
        price, parts = _rent_parts(system, o, chip_h, price_optional, notes)
    total = sum(parts.values())
    flops = job.tokens * est.model_flops_per_token
    notes.update(_scale_warnings(model, job, est, flops))
    if pw is not None:
        notes.update({f"power/{k}": v for k, v in pw.assumptions.items()})
    notes.update({f"goodput/{k}": v for k, v in g.assumptions.items()})
    interval = _held_out_interval(job, system.chip, chips, est.hfu, wall_s, total, notes)
    return RunCost(
        model=model.slug,
        chip=system.chip.slug,
        system=system.slug,
        chips=chips,
        plan=est.plan.describe(),
        pricing=o.pricing,
        tokens=job.tokens,
        model_flops=flops,
        tokens_per_s=est.tokens_per_s,
        mfu=est.mfu,
        step_time_s=est.step_time_s,
        compute_s=compute_s,
        wall_s=wall_s,
        chip_hours=chip_h,
        goodput=g,
        power=pw,
        energy=energy,
        parts=parts,
        total_usd=total,
        usd_per_exaflop=total / (flops / 1e18),
        price=price,
        assumptions=notes,
        fits=est.fits,
        global_batch=job.global_batch_seqs,
        seq_len=job.seq_len,
        steady_s=steady_s,
        steady_usd=total * steady_s / wall_s if wall_s > 0 and math.isfinite(wall_s) else total,
        overheads=overheads,
        interval=interval,
    )


def _power_and_energy(
    system: SystemSpec,
    est: Estimate,
    o: CostOptions,
    chips: int,
    wall_s: float,
    notes: dict[str, str],
) -> tuple[ChipPower | None, Energy | None, float]:
    """All-in power per chip (economics.power) and the run's energy; for a rented chip
    without a power rating, (None, None, NaN) and a note — the rent covers power."""
    try:
        pw = chip_power(
            system.chip,
            est.mfu,
            pue=o.pue,
            server_ratio=o.server_ratio,
            fraction=o.power_fraction,
            tdp_w=o.chip_w,
            allin_w=o.allin_w,
        )
    except GigatrainError as e:
        if o.pricing == "own" or system.chip.tdp_w is not None:
            raise
        notes["energy"] = f"unknown: {e}"
        return None, None, math.nan
    energy = run_energy(pw, chips, wall_s if math.isfinite(wall_s) else 0.0)
    if not math.isfinite(wall_s):
        energy = replace(energy, duration_s=math.inf, total_j=math.inf)
    return pw, energy, energy.total_j / J_PER_KWH


def _own_parts(
    system: SystemSpec,
    o: CostOptions,
    chips: int,
    wall_s: float,
    pw: ChipPower,
    kwh: float,
    notes: dict[str, str],
) -> tuple[PriceChoice, dict[str, float]]:
    """Owning: hardware and data-centre capex amortised over the run, plus electricity."""
    price = (
        PriceChoice(system.chip.slug, "purchase", o.chip_price_usd, "given", "user", "")
        if o.chip_price_usd is not None
        else choose_price(system.chip.slug, "own", o.provider)
    )
    years = o.depreciation_years or const("chip_depreciation_years")
    capex_mw = o.dc_capex_usd_per_mw or const("dc_capex_usd_per_mw")
    b_years = o.building_years or const("building_depreciation_years")
    usd_kwh = (
        o.usd_per_kwh
        if o.usd_per_kwh is not None
        else const("electricity_usd_per_kwh_us_industrial")
    )
    it_mw = chips * pw.it_peak_w / 1e6
    parts = {
        "cost/hardware": chips * price.value * o.server_cost_ratio * wall_s / (years * S_PER_YEAR),
        "cost/datacenter": it_mw * capex_mw * wall_s / (b_years * S_PER_YEAR),
        "cost/energy": kwh * usd_kwh,
    }
    notes.update(
        {
            "purchase": price.describe()
            + (f" × server ratio {o.server_cost_ratio:g}" if o.server_cost_ratio != 1 else ""),
            "depreciation": f"{years:g} years"
            + ("" if o.depreciation_years else f" ({cite('chip_depreciation_years')})"),
            "dc_capex": f"${capex_mw / 1e6:,.3g}M per MW IT × {it_mw:,.4g} MW"
            + ("" if o.dc_capex_usd_per_mw else f" ({cite('dc_capex_usd_per_mw')})"),
            "building_life": f"{b_years:g} years"
            + ("" if o.building_years else f" ({cite('building_depreciation_years')})"),
            "usd_per_kwh": f"{usd_kwh:g}"
            + (
                ""
                if o.usd_per_kwh is not None
                else f" ({cite('electricity_usd_per_kwh_us_industrial')})"
            ),
        }
    )
    return price, parts


def _rent_parts(
    system: SystemSpec, o: CostOptions, chip_h: float, price_optional: bool, notes: dict[str, str]
) -> tuple[PriceChoice | None, dict[str, float]]:
    """Renting: chip-hours × the price per chip-hour (power and building included)."""
    price: PriceChoice | None
    try:
        price = (
            PriceChoice(system.chip.slug, o.pricing, o.usd_per_chip_hour, "given", "user", "")
            if o.usd_per_chip_hour is not None
            else choose_price(system.chip.slug, o.pricing, o.provider)
        )
    except GigatrainError as e:
        if not price_optional:
            raise
        price = None
        notes["price"] = f"unknown: {e}"
    parts = {"cost/rent": chip_h * price.value if price else math.nan}
    if price:
        notes["price"] = price.describe()
    notes.setdefault("energy", "included in the rental price (shown, not charged)")
    return price, parts


def _scale_warnings(model: ModelSpec, job: Job, est: Estimate, flops: float) -> dict[str, str]:
    """A batch above the critical-batch bound, and an MFU so low the job is past its useful size."""
    notes: dict[str, str] = {}
    chips = est.chips
    bound = batch_bound(flops, job.seq_len)
    if job.global_batch_seqs > bound.seqs:
        notes["warning/batch"] = (
            f"global batch {job.global_batch_seqs:,} is above the critical-batch bound "
            f"{bound.seqs:,} sequences ({bound.source}): extra sequences buy fewer steps saved"
        )
    if est.mfu < LOW_MFU:
        notes["warning/scale"] = (
            f"MFU {est.mfu:.1%} on {chips:,} chips: adding chips has stopped helping this job "
            f"(global batch {job.global_batch_seqs:,}, ≤ {bound.seqs:,} useful); `gigatrain "
            f"fleet --chips {chips} --model {model.slug}` finds the largest useful job"
        )
    return notes


def _held_out_interval(
    job: Job,
    chip: ChipSpec,
    chips: int,
    hfu: float,
    wall_s: float,
    total_usd: float,
    notes: dict[str, str],
) -> dict[str, float] | None:
    """Days and dollars scaled by the step-time model's held-out p10–p90 error
    (:mod:`gigatrain.validate.error_bars`), its fast end capped where it would imply a
    utilisation ``hfu`` above the chip's best GEMM efficiency; the evidence label goes into
    ``notes``."""
    label = evidence(job.framework, chip.vendor, chip.slug).label
    if label:
        notes["evidence"] = label
    bar = error_bar(job.framework, chip.vendor, chips)
    if bar is None or not math.isfinite(wall_s):
        return None
    bar = bar.within_physics(hfu, chip.matmul_efficiency_for(job.precision))
    days = wall_s / 86400.0
    notes["interval"] = (
        f"held-out p10–p90 {days * bar.lo:,.1f}–{days * bar.hi:,.1f} days, "
        f"${total_usd * bar.lo / 1e6:,.2f}M–${total_usd * bar.hi / 1e6:,.2f}M "
        f"({bar.describe()})"
    )
    return {
        "lo": bar.lo,
        "hi": bar.hi,
        "days_lo": days * bar.lo,
        "days_hi": days * bar.hi,
        "usd_lo": total_usd * bar.lo,
        "usd_hi": total_usd * bar.hi,
    }


# ---------------------------------------------------------------- plans and comparisons
def default_global_batch(seq_len: int, compute_flop: float | None = None) -> int:
    """Sequences per batch for ~16M tokens (Llama 3 405B's batch, [L3] Table 4), rounded to a
    power of two: seq 8,192 → 2,048; 4,096 → 4,096; 2,048 → 8,192. With the run's
    ``compute_flop``, never above the critical-batch bound B_opt(C) (model.critical_batch:
    DeepSeek LLM fit; a 7B × 2T run gets 8M tokens, not 16M)."""
    target = const("tokens_per_batch_large_run") / max(seq_len, 1)
    b: int = max(1, 2 ** round(math.log2(max(target, 1.0))))  # int ** int is Any in typeshed
    if compute_flop:
        bound = batch_bound(compute_flop, seq_len).seqs
        while b > bound and b > 1:
            b //= 2
    return b


def run_batch_bound(model: ModelSpec, seq_len: int, tokens: float) -> int:
    """The critical-batch bound (sequences) of a run of ``tokens`` tokens: B_opt(C) at
    C = tokens × model FLOPs per token (model.critical_batch)."""
    return batch_bound(tokens * model_flops_per_token(model, seq_len), seq_len).seqs


def plan_for(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    chips: int,
    objective: str = "time",
    *,
    allow_fewer: bool = False,
    grow_batch: bool = False,
    **kw: Unpack[SearchBounds],
) -> tuple[Plan, Estimate]:
    """The plan a chip would use: ``search.engine.best_plan`` (the project's search).

    With ``allow_fewer``, a chip count that admits no layout (e.g. 100,000 chips and a
    power-of-two batch) falls back to the best plan on 75–100 % of the chips (search's chip
    range: both ends, powers of two and 3·2ᵏ; then k·2ʲ for k in 1, 3, 5, 9, 15, 45); the
    estimate's ``chips`` says how many. With ``grow_batch``, a global batch too small to feed
    the chips is raised up to the run's critical-batch bound (``model.critical_batch``); the
    estimate's ``job`` has the batch used.
    """
    if grow_batch and job.tokens > 0:
        kw.setdefault("max_global_batch", run_batch_bound(model, job.seq_len, job.tokens))
    res = search(model, system, job, chips, objective, allow_fewer=allow_fewer, top=1, **kw)
    b = res.best
    return b.plan, b.estimate


@dataclass(frozen=True)
class ComparisonRow:
    chip: str
    cost: RunCost
    price_performance: float  # (reference cost) / (this cost): > 1 = cheaper than reference
    speed: float  # (reference wall time) / (this wall time)
    pareto: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "chip": self.chip,
            "price_performance_vs_ref": self.price_performance,
            "speed_vs_ref": self.speed,
            "pareto": self.pareto,
            **self.cost.to_dict(),
        }


def pareto_mask(times: list[float], costs: list[float]) -> list[bool]:
    """True for points no other point beats in both time and cost (exact ties all stay)."""
    on = set(
        pareto_front(
            np.array(times, dtype=float), np.array(costs, dtype=float), keep_ties=True
        ).tolist()
    )
    return [i in on for i in range(len(times))]


def compare_chips(
    model: ModelSpec,
    job: Job,
    chips: int,
    chip_slugs: list[str],
    *,
    options: CostOptions | None = None,
    objective: str = "time",
    progress: object | None = None,
    mix_providers: bool = False,
    **search_kw: Unpack[SearchBounds],
) -> list[ComparisonRow]:
    """Cost and time of the same model and token budget on each chip, each with the plan
    search picks for it; ratios relative to the first chip. ``progress(i, n, chip)`` is called
    before each chip (the CLI draws a progress bar); ``search_kw`` (e.g. ``constraints`` with a
    time limit) bound each chip's search.

    Prices come from one provider at a time: ``options.provider``, else the provider of the
    first chip's price; a chip that provider does not sell gets no price (and a note) unless
    ``mix_providers`` lets each chip take its own newest price."""
    if not chip_slugs:
        raise GigatrainError("compare needs at least one --chip")
    if job.tokens <= 0:
        raise GigatrainError("compare needs a token budget (--tokens, e.g. 15T)")
    o = options or CostOptions()
    provider = o.provider
    if (
        provider is None
        and not mix_providers
        and o.pricing != "own"
        and o.usd_per_chip_hour is None
    ):
        try:
            provider = choose_price(get_chip(chip_slugs[0]).slug, o.pricing).provider
        except GigatrainError:
            provider = None
    opts = replace(o, provider=provider)
    rows: list[RunCost] = []
    for i, name in enumerate(chip_slugs):
        if callable(progress):
            progress(i, len(chip_slugs), name)
        chip = get_chip(name)
        system = default_system_for(chip)
        # "auto": each chip trains with its family's usual framework (Trainium → Neuron, TPU → JAX)
        jc = (
            replace(job, framework=default_framework(chip.vendor))
            if job.framework == "auto"
            else job
        )
        _, est = plan_for(model, system, jc, chips, objective, allow_fewer=True, **search_kw)
        rc = run_cost(model, system, jc, est=est, options=opts, price_optional=True)
        if rc.price is None and provider is not None:
            rc = replace(rc, assumptions={**rc.assumptions, "price": (
                f"no {o.pricing} price from {provider} in prices.yaml; choose another "
                f"--provider or allow --mix-providers")})  # fmt: skip
        if est.chips != chips:
            rc = replace(
                rc,
                assumptions={
                    **rc.assumptions,
                    "chips": f"{est.chips:,} of the "
                    f"{chips:,} requested (no valid layout on {chips:,})",
                },
            )
        rows.append(rc)
    if callable(progress):
        progress(len(chip_slugs), len(chip_slugs), "")
    ref = rows[0]
    mask = pareto_mask([r.wall_s for r in rows], [r.total_usd for r in rows])
    return [
        ComparisonRow(
            r.chip,
            r,
            ref.total_usd / r.total_usd if r.total_usd > 0 else math.nan,
            ref.wall_s / r.wall_s if r.wall_s else math.nan,
            m,
        )
        for r, m in zip(rows, mask, strict=True)
    ]


def peak_price_performance(
    chip: str, kind: str = "on_demand", provider: str | None = None, precision: str = "bf16"
) -> tuple[float, PriceChoice]:
    """USD per dense peak PFLOP-hour (hardware.md §2.1 DERIVED table): price / peak·1e-15."""
    spec = get_chip(chip)
    p = choose_price(spec.slug, kind, provider)
    return p.value / (spec.peak(precision) / 1e15), p
