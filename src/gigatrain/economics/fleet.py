"""What a power envelope or a budget buys: chips, FLOP/s, energy, dollars, and what it trains.

From a power envelope P (facility power, or IT power when stated):

    chips = P_facility / (TDP · r · PUE)        or   P_IT / (TDP · r)

with r the server-to-chip power ratio and PUE from gigatrain.economics.power (hardware.md §3.4,
§4(b): 500 W Trn2 × 1.82 × 1.15 ≈ 1.05 kW all-in → ~1.9M chips per 2 GW).
From a capital budget B (own: hardware plus building):

    chips = B / (purchase price · server_cost_ratio + TDP · r / 1e6 · capex per MW IT)

Throughput: peak = chips · dense peak (precision); sustained = peak · MFU, default Epoch's
median MFU 0.375 ([EPC], hardware.md §3.3; Llama 3 reached 38–43 %).
Energy per year: at the full envelope (P · 8,760 h: an upper bound) and at the average draw
(chips · facility_avg_w · 8,760 h; power.py). Dollars per year: energy · $/kWh.
Training compute of a Chinchilla-optimal dense model of N parameters: D = 20·N tokens
(Hoffmann et al. 2022), C = 6·N·D = 120·N² (1T → 1.2e26 FLOP, hardware.md §4(f)); time =
C / sustained / goodput, goodput for one synchronous job on ``job_chips`` chips with a
14 B/param checkpoint (goodput.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..catalog.constants import cite, const
from ..catalog.hardware import get_chip
from ..catalog.prices import choose_price
from ..errors import GigatrainError
from ..specs import ChipSpec
from .goodput import goodput
from .power import ChipPower, chip_power
from .quantities import J_PER_KWH, S_PER_YEAR


def chinchilla_flop(params: float, tokens_per_param: float | None = None) -> tuple[float, float]:
    """(tokens, training FLOP) of a Chinchilla-optimal dense model: D = 20·N, C = 6·N·D."""
    k = const("tokens_per_param_chinchilla") if tokens_per_param is None else tokens_per_param
    tokens = k * params
    return tokens, 6.0 * params * tokens


def chinchilla_params_for(flop: float, tokens_per_param: float | None = None) -> float:
    """Largest Chinchilla-optimal dense N trainable with ``flop``: N = √(C / (6·20))."""
    k = const("tokens_per_param_chinchilla") if tokens_per_param is None else tokens_per_param
    return math.sqrt(flop / (6.0 * k))


@dataclass(frozen=True)
class TrainTarget:
    """Time for one training run on the fleet (or on ``chips`` of it)."""

    name: str
    params: float
    tokens: float
    flop: float
    chips: int
    ideal_s: float  # failure-free
    goodput: float
    mtbf_s: float
    wall_s: float  # with goodput (inf when a job this size never completes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["wall_s"] = self.wall_s if math.isfinite(self.wall_s) else None
        return d


@dataclass(frozen=True)
class Fleet:
    """A fleet of one chip type: size, power, FLOP/s, energy and dollars per year."""

    chip: str
    precision: str
    sized_from: str  # "facility power", "IT power", "budget", "chips"
    chips: int
    mfu: float
    power: ChipPower
    facility_peak_w: float
    it_peak_w: float
    facility_avg_w: float
    peak_flops_per_s: float
    sustained_flops_per_s: float
    usd_per_kwh: float
    energy_per_year_full_j: float
    energy_per_year_avg_j: float
    energy_usd_per_year_full: float
    energy_usd_per_year_avg: float
    capex_usd: float | None
    hardware_usd: float | None
    datacenter_usd: float | None
    rent_usd_per_year: float | None
    rent_price: str | None
    flop_per_year: float
    chinchilla_params_per_year: float
    targets: list[TrainTarget]
    assumptions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["targets"] = [t.to_dict() for t in self.targets]
        return d


def _chip_count(
    slug: str,
    pw: ChipPower,
    power_w: float | None,
    power_is_it: bool,
    budget_usd: float | None,
    chips: int | None,
    purchase: float | None,
    server_cost_ratio: float,
    capex_mw: float,
    notes: dict[str, str],
) -> tuple[int, str]:
    """(chips, what sized them) from a power envelope (per-chip provisioned watts), a budget
    (chip + its share of the data centre's capex) or a given count; the working goes to ``notes``."""
    if power_w is not None:
        if power_w <= 0:
            raise GigatrainError(f"power must be positive, got {power_w!r}")
        per_chip = pw.it_peak_w if power_is_it else pw.facility_peak_w
        n = int(power_w // per_chip)
        sized = "IT power" if power_is_it else "facility power"
        notes["chips"] = (
            f"{power_w:,.4g} W / {per_chip:,.0f} W per chip "
            f"({'IT' if power_is_it else 'facility'}, provisioned) = {n:,}"
        )
    elif budget_usd is not None:
        if budget_usd <= 0:
            raise GigatrainError(f"budget must be positive, got {budget_usd!r}")
        assert purchase is not None
        per_chip_usd = purchase * server_cost_ratio + pw.it_peak_w / 1e6 * capex_mw
        n = int(budget_usd // per_chip_usd)
        sized = "budget"
        notes["chips"] = (
            f"${budget_usd:,.4g} / (${purchase:,.0f} chip × {server_cost_ratio:g} + "
            f"{pw.it_peak_w:,.0f} W × ${capex_mw / 1e6:,.3g}M/MW) = {n:,} "
            f"({cite('dc_capex_usd_per_mw')})"
        )
    else:
        assert chips is not None
        n = int(chips)
        sized = "chips"
    return n, sized


def _train_target(
    spec: ChipSpec, precision: str, mfu: float, chips: int, params: float
) -> TrainTarget:
    """A Chinchilla-optimal dense run of ``params`` on ``chips`` chips at ``mfu``, with goodput."""
    tokens, flop = chinchilla_flop(params)
    g = goodput(chips, params * const("checkpoint_bytes_per_param_adamw"))
    ideal = flop / (chips * spec.peak(precision) * mfu)
    return TrainTarget(
        f"Chinchilla-optimal {params / 1e12:g}T dense",
        params,
        tokens,
        flop,
        chips,
        ideal,
        g.goodput,
        g.mtbf_s,
        g.wall_s(ideal),
    )


def size_fleet(
    chip: str,
    *,
    power_w: float | None = None,
    power_is_it: bool = False,
    budget_usd: float | None = None,
    chips: int | None = None,
    pue: float | None = None,
    usd_per_kwh: float | None = None,
    mfu: float | None = None,
    precision: str = "bf16",
    chip_price_usd: float | None = None,
    server_cost_ratio: float = 1.0,
    server_ratio: float | None = None,
    allin_w: float | None = None,
    chip_w: float | None = None,
    job_chips: int | None = None,
    target_params: tuple[float, ...] = (1e12,),
) -> Fleet:
    """Size a fleet from exactly one of ``power_w``, ``budget_usd`` or ``chips``."""
    given = [x for x in (power_w, budget_usd, chips) if x is not None]
    if len(given) != 1:
        raise GigatrainError(
            "give exactly one of a power envelope (--power), a budget "
            "(--budget) or a chip count (--chips)"
        )
    spec = get_chip(chip)
    u = const("epoch_median_mfu") if mfu is None else mfu
    if not 0 < u <= 1:
        raise GigatrainError(f"mfu must be in (0, 1], got {u!r}")
    pw = chip_power(spec, u, pue=pue, server_ratio=server_ratio, tdp_w=chip_w, allin_w=allin_w)
    price_kwh = (
        const("electricity_usd_per_kwh_us_industrial") if usd_per_kwh is None else usd_per_kwh
    )
    notes = {f"power/{k}": v for k, v in pw.assumptions.items()}
    notes["mfu"] = f"{u:g}" + ("" if mfu is not None else f" ({cite('epoch_median_mfu')})")
    notes["usd_per_kwh"] = f"{price_kwh:g}" + (
        "" if usd_per_kwh is not None else f" ({cite('electricity_usd_per_kwh_us_industrial')})"
    )
    capex_mw = const("dc_capex_usd_per_mw")
    purchase = None
    if budget_usd is not None or chip_price_usd is not None:
        purchase = (
            chip_price_usd if chip_price_usd is not None else choose_price(spec.slug, "own").value
        )
    n, sized = _chip_count(
        spec.slug,
        pw,
        power_w,
        power_is_it,
        budget_usd,
        chips,
        purchase,
        server_cost_ratio,
        capex_mw,
        notes,
    )
    if n < 1:
        raise GigatrainError(f"that buys less than one {spec.slug} chip")
    peak = n * spec.peak(precision)
    sustained = peak * u
    # sized == "facility power" exactly when power_w is given and not IT power
    facility_w = power_w if power_w is not None and not power_is_it else n * pw.facility_peak_w
    year_full_j = facility_w * S_PER_YEAR
    year_avg_j = n * pw.facility_avg_w * S_PER_YEAR
    hw = dc = capex = None
    if purchase is not None:
        hw = n * purchase * server_cost_ratio
        dc = n * pw.it_peak_w / 1e6 * capex_mw
        capex = hw + dc
    rent = rent_desc = None
    try:
        p = choose_price(spec.slug, "on_demand")
        rent, rent_desc = n * p.value * S_PER_YEAR / 3600.0, p.describe()
    except GigatrainError:
        pass
    flop_year = sustained * S_PER_YEAR
    jc = n if job_chips is None else min(int(job_chips), n)
    targets = [_train_target(spec, precision, u, jc, params) for params in target_params]
    return Fleet(
        chip=spec.slug,
        precision=precision,
        sized_from=sized,
        chips=n,
        mfu=u,
        power=pw,
        facility_peak_w=n * pw.facility_peak_w,
        it_peak_w=n * pw.it_peak_w,
        facility_avg_w=n * pw.facility_avg_w,
        peak_flops_per_s=peak,
        sustained_flops_per_s=sustained,
        usd_per_kwh=price_kwh,
        energy_per_year_full_j=year_full_j,
        energy_per_year_avg_j=year_avg_j,
        energy_usd_per_year_full=year_full_j / J_PER_KWH * price_kwh,
        energy_usd_per_year_avg=year_avg_j / J_PER_KWH * price_kwh,
        capex_usd=capex,
        hardware_usd=hw,
        datacenter_usd=dc,
        rent_usd_per_year=rent,
        rent_price=rent_desc,
        flop_per_year=flop_year,
        chinchilla_params_per_year=chinchilla_params_for(flop_year),
        targets=targets,
        assumptions=notes,
    )


def energy_cost(power_w: float, duration_s: float, usd_per_kwh: float) -> tuple[float, float]:
    """(energy J, cost USD) of drawing ``power_w`` for ``duration_s`` at ``usd_per_kwh``:
    E = P·t; $ = E / 3.6e6 J/kWh · price. 2 GW for 8,760 h = 17.52 TWh = $525.6M at $0.03."""
    e = power_w * duration_s
    return e, e / J_PER_KWH * usd_per_kwh
