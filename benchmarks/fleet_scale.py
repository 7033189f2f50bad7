"""Issue 10 measurements: a 2 GW Trainium2 fleet as one question.

    python benchmarks/fleet_scale.py

Prints: the chip count `fleet --power 2GW --chip trn2` sizes and the all-in watts per chip in
fleet / check / roadmap (one power model); the time of a 1T search at 1.5M chips and of
costing the fleet-sized count; the scaling curve, the largest useful job and the partition of
the fleet into jobs for Chinchilla-optimal 1T (20T tokens), with goodput per mitigation.
"""

from __future__ import annotations

import time
from pathlib import Path

from gigatrain.api import make_job
from gigatrain.catalog.hardware import get_chip, get_system
from gigatrain.catalog.models import get_model
from gigatrain.economics import claims, cost, jobs, roadmap
from gigatrain.economics.fleet import size_fleet
from gigatrain.economics.power import chip_power
from gigatrain.model.critical_batch import batch_bound

EX = Path(__file__).resolve().parents[1] / "src" / "gigatrain" / "examples"


def main() -> None:
    f = size_fleet("trn2", power_w=2e9)
    w = chip_power(get_chip("trn2")).facility_peak_w
    deal = next(v for v in claims.check_claims(EX / "deal-2gw-trainium.yaml").verdicts
                if v.id == "chips-per-2gw")  # fmt: skip
    r = roadmap.simulate(EX / "roadmap.yaml")
    last = r.periods[-1]
    print(f"fleet --power 2GW --chip trn2: {f.chips:,} chips at {w:,.1f} W all-in")
    print(f"  check (deal): {deal.computed:,.0f} chips; roadmap 2027Q4: "
          f"{sum(last.chips.values()):,} chips at "
          f"{last.facility_peak_w / sum(last.chips.values()):,.1f} W")  # fmt: skip

    m, s = get_model("megatron-gpt-1t"), get_system("trn2")
    job = make_job(2048, 8192, 20e12)
    t0 = time.perf_counter()
    p = jobs.job_point(m, s, job, 1_500_000, batch_bound(1.2e26, 2048))
    print(f"1T search at 1.5M chips: {time.perf_counter() - t0:.2f} s -> {p.chips:,} chips, "
          f"{p.plan}, MFU {p.mfu:.1%}, goodput {p.goodput:.1%}")  # fmt: skip
    t0 = time.perf_counter()
    _, e = cost.plan_for(m, s, job, f.chips, allow_fewer=True)
    c = cost.run_cost(m, s, job, est=e)
    print(f"cost at {f.chips:,} chips: {time.perf_counter() - t0:.2f} s -> plan on {c.chips:,}, "
          f"{c.days:,.0f} days realised (steady state {c.steady_s / 86400:,.1f}), "
          f"${c.total_usd / 1e9:,.2f}B")  # fmt: skip

    t0 = time.perf_counter()
    fj = jobs.fleet_jobs(m, s, job, f.chips)
    print(f"fleet partition for 1T / 20T tokens: {time.perf_counter() - t0:.1f} s")
    print(f"  critical batch bound: {fj.scaling.bound.seqs:,} x 2,048 = "
          f"{fj.scaling.bound.tokens / 1e6:,.0f}M tokens")  # fmt: skip
    for x in fj.scaling.points:
        print(f"  {x.chips:>9,} chips  MFU {x.mfu:5.1%}  goodput {x.goodput:5.1%}  "
              f"{x.ideal_s / 86400:6.1f} d failure-free  {x.wall_s / 86400:7.1f} d wall")  # fmt: skip
    pa = fj.partition
    print(f"  {fj.scaling.note}")
    fill = "".join(f" + {k} x {c:,} ({d:.0f} d)" for c, k, d in pa.fill)
    print(f"  partition: {pa.jobs} jobs x {pa.job.chips:,} chips{fill} (+{pa.spare_chips:,} spares, "
          f"{pa.idle_chips:,} idle), {pa.days_per_run:.1f} days per run, "
          f"{pa.runs_per_year:.1f} runs/year, utilisation {pa.utilisation:.1%}")  # fmt: skip
    print("  goodput per mitigation (job / whole fleet as one job):")
    for k, g in pa.goodput_by_mitigation.items():
        print(f"    {k:10s} {g.goodput:6.1%} / {fj.whole_fleet[k].goodput:6.1%}")


if __name__ == "__main__":
    main()
