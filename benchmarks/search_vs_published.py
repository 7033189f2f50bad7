"""How often is the published plan of a measured run within 5% of the best plan the search finds?

Run with ``python benchmarks/search_vs_published.py`` (under a minute on one core; ``--json``
for machine-readable output, ``--tolerance 0.10`` for another threshold).

For every supported grade-A row of the shipped validation runs (``gigatrain validate``), the
search runs on the same model, system, chip count, global batch, sequence length, precision
and framework knobs, objective ``time``; the published plan is estimated with the same
function. Rows whose published plan is predicted not to fit in memory are counted apart
(the search only returns plans that fit). Two figures come out:

* ``within``: the share of rows whose published plan is predicted within ``tolerance`` of
  the best step time found (``published ≤ (1 + tolerance) × best``);
* ``never_slower``: whether the best plan is always predicted at least as fast as the
  published one (it must be: the published plan is inside the search space).

Many rows come from sweeps (vTrain, the Ultra-Scale Playbook) that measure deliberately bad
layouts next to good ones, so the figure is also broken down by source.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from gigatrain.catalog.frameworks import knobs_for
from gigatrain.model.estimate import estimate
from gigatrain.search.engine import search
from gigatrain.search.space import Axes
from gigatrain.validate.runs import Case, case_from_row, shipped_rows


@dataclass(frozen=True)
class RowComparison:
    row_id: str
    source_group: str
    published_step_s: float
    best_step_s: float
    published_fits: bool
    best_plan: str
    published_plan: str

    @property
    def ratio(self) -> float:
        """Published step time over the best found (≥ 1 when the search never loses)."""
        return self.published_step_s / self.best_step_s


def _kept(c: Case, keep: tuple[str, ...]) -> tuple:
    return tuple(getattr(c.plan, k) for k in keep)


def compare(
    cases: list[Case],
    progress: Callable[[int, int], None] | None = None,
    keep: tuple[str, ...] = (),
) -> list[RowComparison]:
    """Search once per (model, system, job, chips) and compare each published plan with it.
    ``keep`` names plan fields held at the published value (e.g. ``zero_stage``,
    ``recompute``): the search then only varies the others."""
    groups: dict[tuple, list[Case]] = defaultdict(list)
    for c in cases:
        groups[(c.model, c.system.slug, c.job, c.plan.chips, _kept(c, keep))].append(c)
    out: list[RowComparison] = []
    for i, ((model, _, job, chips, kept), group) in enumerate(groups.items()):
        system = group[0].system
        knobs = knobs_for(job.framework)
        axes = Axes(**{k: (v,) for k, v in zip(keep, kept, strict=True)})
        res = search(model, system, job, chips, "time", top=1, knobs=knobs, axes=axes)
        for c in group:
            e = estimate(c.model, c.system, c.job, c.plan, knobs)
            best = res.top[0] if res.top else None
            out.append(
                RowComparison(
                    c.row_id,
                    c.source_group,
                    e.step_time_s,
                    best.step_time_s if best else float("inf"),
                    e.fits,
                    best.plan.describe() if best else "",
                    c.plan.describe(),
                )
            )
        if progress:
            progress(i + 1, len(groups))
    return out


def summarize(rows: list[RowComparison], tolerance: float = 0.05) -> dict:
    """The within-tolerance share overall and by source (rows whose published plan fits)."""
    fit = [r for r in rows if r.published_fits]
    slower = [r for r in fit if r.best_step_s > r.published_step_s * (1 + 1e-9)]

    def share(rs: list[RowComparison]) -> dict:
        n_in = sum(r.ratio <= 1 + tolerance for r in rs)
        ratios = sorted(r.ratio for r in rs)
        return {
            "rows": len(rs),
            "within": n_in,
            "share_within": n_in / len(rs) if rs else None,
            "median_ratio": ratios[len(ratios) // 2] if ratios else None,
        }

    by_src: dict[str, list[RowComparison]] = defaultdict(list)
    for r in fit:
        by_src[r.source_group].append(r)
    return {
        "tolerance": tolerance,
        "rows": len(rows),
        "published_plan_does_not_fit": len(rows) - len(fit),
        "never_slower": not slower,
        "slower_rows": [r.row_id for r in slower],
        "overall": share(fit),
        "by_source": {k: share(v) for k, v in sorted(by_src.items())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--keep",
        default="",
        help="plan fields held at the published value, "
        "comma-separated: tp, pp, cp, ep, vpp, micro_batch, zero_stage, recompute",
    )
    args = ap.parse_args()
    keep = tuple(k for k in args.keep.replace(" ", "").split(",") if k)
    valid = ("tp", "pp", "cp", "ep", "vpp", "micro_batch", "zero_stage", "recompute")
    if any(k not in valid for k in keep):
        ap.error(f"--keep takes {', '.join(valid)}")
    t0 = time.perf_counter()
    cases = [
        c for c in map(case_from_row, shipped_rows()) if isinstance(c, Case) and c.spec_grade == "A"
    ]
    rows = compare(cases, keep=keep)
    s = summarize(rows, args.tolerance)
    s["wall_s"] = time.perf_counter() - t0
    s["kept_at_published"] = list(keep)
    if args.json:
        print(json.dumps(s, indent=2))
        return
    o = s["overall"]
    if keep:
        print(f"search holds {', '.join(keep)} at the published values")
    print(
        f"{s['rows']:,} supported grade-A rows; {s['published_plan_does_not_fit']:,} published "
        f"plans predicted not to fit (left out); {s['wall_s']:.0f} s"
    )
    print(
        f"published plan within {args.tolerance:.0%} of the best found: {o['within']:,} of "
        f"{o['rows']:,} = {o['share_within']:.1%} (median published/best step time "
        f"{o['median_ratio']:.2f}x)"
    )
    print(
        f"search never slower than the published plan: {s['never_slower']}"
        + (f" (violations: {', '.join(s['slower_rows'][:10])})" if s["slower_rows"] else "")
    )
    print(f"{'source':34s} {'rows':>6s} {'within':>7s} {'share':>7s} {'median x':>9s}")
    for k, v in s["by_source"].items():
        print(
            f"{k:34s} {v['rows']:6d} {v['within']:7d} {v['share_within']:7.1%} "
            f"{v['median_ratio']:9.2f}"
        )


if __name__ == "__main__":
    main()
