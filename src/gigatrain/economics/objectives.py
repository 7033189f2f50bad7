"""Objectives over a chip range: the time–cost Pareto front of realised runs, its knee, the
user's deadline and budget, and a cost winner that is not absurdly slow.

1. The plan search (``search.engine.search``, ``pareto=("time_to_train", "cost")``) returns the
   failure-free front over every chip count of the range.
2. Each front point is re-costed as a realised run (gigatrain.economics.cost.run_cost: batch
   ramp, stragglers, diurnal, goodput with the chosen mitigation, the chosen pricing), and the
   front is recomputed on (wall clock, total USD): goodput falls with chips, so some large
   points drop out. (Approximation: a point dominated before goodput is not reconsidered.)
3. Knee: with x = log wall and y = log cost scaled to [0, 1] over the front, the point farthest
   below the chord from the fastest to the cheapest point (Satopää et al. 2011, "Kneedle"):
   beyond it, each further saving costs proportionally more time.
4. Deadline (wall ≤ days) and budget (total ≤ USD) filter the front.
5. ``cost`` winner: the cheapest point no slower than ``max_slowdown`` × the fastest point's
   wall clock (default 2×, stated in the result; ``None`` lifts the limit). ``time`` winner:
   the fastest within the budget. ``knee``: the knee if it meets the limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..catalog.prices import choose_price
from ..errors import GigatrainError
from ..search.engine import search
from ..specs import Job, ModelSpec, SystemSpec
from .cost import CostOptions, RunCost, pareto_mask, run_cost

DEFAULT_MAX_SLOWDOWN = 2.0


@dataclass(frozen=True)
class RangeResult:
    front: list[RunCost]  # realised Pareto front, fastest first
    knee: int  # index into front
    allowed: list[bool]  # meets deadline and budget
    winner: int | None  # index of the chosen point for the objective (None: nothing allowed)
    objective: str
    max_slowdown: float | None
    deadline_days: float | None
    budget_usd: float | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "front": [c.to_dict() for c in self.front],
            "knee": self.knee,
            "allowed": self.allowed,
            "winner": self.winner,
            "objective": self.objective,
            "max_slowdown": self.max_slowdown,
            "deadline_days": self.deadline_days,
            "budget_usd": self.budget_usd,
            "note": self.note,
        }


def knee_index(times: list[float], costs: list[float]) -> int:
    """Kneedle on log axes: the point farthest below the chord from the first (fastest) to the
    last (cheapest) point of a front sorted by time. Fronts of ≤ 2 points: the first."""
    n = len(times)
    if n <= 2:
        return 0
    x = [math.log(t) for t in times]
    y = [math.log(c) for c in costs]
    x0, x1, y0, y1 = min(x), max(x), min(y), max(y)
    if x1 == x0 or y1 == y0:
        return 0
    xs = [(v - x0) / (x1 - x0) for v in x]
    ys = [(v - y0) / (y1 - y0) for v in y]
    # chord from (xs[0], ys[0]) to (xs[-1], ys[-1]); distance below it
    ax, ay, bx, by = xs[0], ys[0], xs[-1], ys[-1]
    dist = [((bx - ax) * (ay - yy) - (ax - xx) * (by - ay)) for xx, yy in zip(xs, ys, strict=True)]
    return max(range(n), key=lambda i: dist[i])


def choose(
    front: list[RunCost],
    objective: str = "cost",
    *,
    max_slowdown: float | None = DEFAULT_MAX_SLOWDOWN,
    deadline_days: float | None = None,
    budget_usd: float | None = None,
) -> RangeResult:
    """Knee, limits and winner over a realised front (module docstring, steps 3–5)."""
    if objective not in ("cost", "time", "knee"):
        raise GigatrainError(f"objective={objective!r}; valid: cost, time, knee")
    if max_slowdown is not None and not max_slowdown >= 1:
        raise GigatrainError(f"max_slowdown must be >= 1, got {max_slowdown!r}")
    pts = sorted((c for c in front if math.isfinite(c.wall_s) and math.isfinite(c.total_usd)),
                 key=lambda c: c.wall_s)  # fmt: skip
    if not pts:
        raise GigatrainError("no plan in the range completes (goodput 0 or no price)")
    knee = knee_index([c.wall_s for c in pts], [c.total_usd for c in pts])
    allowed = [
        (deadline_days is None or c.wall_s <= deadline_days * 86400.0)
        and (budget_usd is None or c.total_usd <= budget_usd)
        for c in pts
    ]
    fastest = pts[0].wall_s
    ok = [i for i in range(len(pts)) if allowed[i]]
    win: int | None = None
    if objective == "time":
        win = min(ok, key=lambda i: pts[i].wall_s) if ok else None
    elif objective == "knee":
        win = knee if allowed[knee] else (ok[0] if ok else None)
    else:
        lim = [i for i in ok if max_slowdown is None or pts[i].wall_s <= max_slowdown * fastest]
        win = min(lim, key=lambda i: pts[i].total_usd) if lim else None
    note = (
        f"{len(pts)} Pareto points; knee at {pts[knee].chips:,} chips"
        + (
            f"; cost winner limited to ≤ {max_slowdown:g}× the fastest wall clock"
            if objective == "cost" and max_slowdown is not None
            else ""
        )
        + ("" if win is not None else "; nothing meets the deadline/budget")
    )
    return RangeResult(pts, knee, allowed, win, objective, max_slowdown, deadline_days,
                       budget_usd, note)  # fmt: skip


def plan_range(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    chips: str | tuple[int, int],
    objective: str = "cost",
    *,
    options: CostOptions | None = None,
    max_slowdown: float | None = DEFAULT_MAX_SLOWDOWN,
    deadline_days: float | None = None,
    budget_usd: float | None = None,
    **search_kw: object,
) -> RangeResult:
    """Steps 1–5 of the module docstring over the chip range ``chips`` ("A-B")."""
    o = options or CostOptions()
    usd = o.usd_per_chip_hour
    if usd is None and o.pricing != "own":
        usd = choose_price(system.chip.slug, o.pricing, o.provider).value
    res = search(model, system, job, chips, "time", top=1, pareto=("time_to_train", "cost"),
                 usd_per_chip_hour=usd, **search_kw)  # type: ignore[arg-type]  # fmt: skip
    cands = list(res.pareto) or list(res.top)
    if not cands:
        raise GigatrainError(res.diagnosis.message if res.diagnosis else "no plan in the range")
    costs = [run_cost(model, system, job, est=c.estimate, options=o) for c in cands]
    mask = pareto_mask([c.wall_s for c in costs], [c.total_usd for c in costs])
    front = [c for c, m in zip(costs, mask, strict=True) if m]
    return choose(front or costs, objective, max_slowdown=max_slowdown,
                  deadline_days=deadline_days, budget_usd=budget_usd)  # fmt: skip
