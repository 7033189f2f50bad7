"""Fit framework efficiency profiles on the shipped measured runs.

For each framework with measured rows, a few named knobs (``FITTED_KNOBS``) are chosen to
minimise the median |log(predicted/measured)| of that framework's rows, by coordinate search
on a log grid (robust to the outliers every benchmark table has). The ``generic`` profile, used
for unknown frameworks, takes the median of the fitted values. Leave-one-source-out scores
(fit without a source, predict it) estimate the error on runs never fitted.

Run: ``python -m gigatrain.validate.fit`` (prints the fit; ``--write`` updates
``catalog/data/frameworks.yaml``).
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import yaml

from ..catalog.frameworks import DATA, load_frameworks
from ..model.knobs import DEFAULT_KNOBS, Knobs
from .runs import DATA as RUNS_DATA
from .runs import Case, case_from_row, read_rows, shipped_rows
from .score import GIB, score_cases

#: knob → candidate values searched (log-spaced where the range spans decades)
FITTED_KNOBS: dict[str, np.ndarray] = {
    "compute_time_scale": np.round(np.geomspace(0.8, 5.0, 34), 3),
    "host_op_overhead_s": np.concatenate([[0.0], np.geomspace(2e-6, 200e-6, 21)]),
    "pp_microbatch_overhead_s": np.concatenate([[0.0], np.geomspace(1e-4, 1.0, 21)]),
    "microbatch_overhead_s": np.concatenate([[0.0], np.geomspace(1e-4, 0.1, 16)]),
    "tp_overlap": np.array([0.0, 0.25, 0.5, 0.75]),
    "elementwise_traffic_ratio": np.array([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]),
    "dp_overlap": np.array([0.5, 0.7, 0.8, 0.9, 1.0]),
}


def _loss(cases: list[Case], knobs: Knobs) -> float:
    res = score_cases(cases, knobs=knobs)
    err = np.array([np.log1p(r.rel_error) for r in res if r.rel_error is not None and r.rel_error > -1])
    return float(np.median(np.abs(err))) if err.size else float("inf")


def fit_knobs(cases: list[Case], start: Knobs = DEFAULT_KNOBS, rounds: int = 2) -> tuple[Knobs, float]:
    """Coordinate search over ``FITTED_KNOBS`` from ``start``; returns (knobs, median |log err|)."""
    best, best_loss = start, _loss(cases, start)
    uses_pp = any(c.plan.pp > 1 for c in cases)
    for _ in range(rounds):
        for name, grid in FITTED_KNOBS.items():
            if name == "pp_microbatch_overhead_s" and not uses_pp:
                continue
            for v in grid:
                cand = best.with_(**{name: float(v)})
                loss = _loss(cases, cand)
                if loss < best_loss - 1e-6:
                    best, best_loss = cand, loss
    return best, best_loss


#: memory knobs fitted per framework on rows that report peak memory
MEMORY_KNOBS: dict[str, np.ndarray] = {
    "activation_memory_scale": np.round(np.geomspace(0.6, 4.0, 25), 3),
    "memory_fragmentation": np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.3]),
    "recompute_working_layers": np.array([1.0, 2.0, 3.0, 4.0, 6.0, 8.0]),
    "memory_overhead_bytes": np.array([0.25, 0.5, 1.0, 1.5, 2.0, 3.0]) * 2**30,
    "logit_bytes": np.array([4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 18.0]),
    "tp_unsharded_act_fraction": np.array([0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3]),
}


def _memory_loss(cases: list[Case], knobs: Knobs, ooms: list[Case] | None = None) -> float:
    """Median |log error| of peak memory, plus the mean log shortfall of OOM records predicted
    to fit (a run that ran out of memory must not be predicted to fit)."""
    res = score_cases(cases, knobs=knobs)
    err = [np.log(r.memory_predicted_gib / r.memory_measured_gib) for r in res if r.memory_measured_gib]
    loss = float(np.median(np.abs(err))) if err else float("inf")
    if ooms:
        mem = np.array([r.memory_predicted_gib * GIB for r in score_cases(ooms, knobs=knobs)])
        cap = np.array([c.system.chip.hbm_bytes for c in ooms])
        total = mem + knobs.runtime_context_bytes
        # weighted so that a record predicted to fit with >20% headroom costs more than the
        # median error can gain
        loss += float(np.mean(np.maximum(np.log(cap / total), 0.0)))
        loss += 5.0 * float(np.mean(np.maximum(np.log(0.8 * cap / total), 0.0)))
    return loss


def oom_cases() -> list[Case]:
    # records flagged AMBIGUOUS_OOM_FLAG also ran and logged memory: not evidence of an OOM
    rows = [r for r in read_rows(RUNS_DATA / "ultrascale_playbook_failures.csv")
            if r.get("outcome") == "oom" and "AMBIGUOUS_OOM_FLAG" not in r.get("notes", "")]
    return [c for c in (case_from_row(r, require_metric=False) for r in rows) if isinstance(c, Case)]


def fit_memory_knobs(cases: list[Case], start: Knobs, ooms: list[Case] | None = None) -> tuple[Knobs, float]:
    with_mem = [c for c in cases if c.peak_mem_gib]
    fw = {c.job.framework for c in with_mem}
    ooms = [c for c in (ooms or []) if c.job.framework in fw]
    best, best_loss = start, _memory_loss(with_mem, start, ooms)
    for _ in range(2):
        for name, grid in MEMORY_KNOBS.items():
            for v in grid:
                cand = best.with_(**{name: float(v)})
                loss = _memory_loss(with_mem, cand, ooms)
                if loss < best_loss - 1e-6:
                    best, best_loss = cand, loss
    return best, best_loss


def cases_by_framework(cases: list[Case]) -> dict[str, list[Case]]:
    out: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        out[c.job.framework].append(c)
    return dict(out)


def shipped_cases() -> list[Case]:
    return [c for c in (case_from_row(r) for r in shipped_rows()) if isinstance(c, Case)]


def fit_all(cases: list[Case], ooms: list[Case] | None = None) -> dict[str, tuple[Knobs, float, int]]:
    """Per framework: (fitted knobs, loss, rows). Generic = median of fitted knob values."""
    fits: dict[str, tuple[Knobs, float, int]] = {}
    profiles = load_frameworks()
    # parents first, so a profile that ``inherits`` starts from its parent's fitted knobs
    order = sorted(cases_by_framework(cases).items(), key=lambda kv: (profiles[kv[0]].inherits is not None, kv[0]))
    for fw, cs in order:
        if fw == "generic":
            continue
        parent = profiles[fw].inherits
        base = fits[parent][0] if parent in fits else profiles[fw].knobs
        start = base.with_(**{k: getattr(DEFAULT_KNOBS, k) for k in FITTED_KNOBS})
        if parent is None and any(c.peak_mem_gib for c in cs):
            start, _ = fit_memory_knobs(cs, start.with_(**{k: getattr(DEFAULT_KNOBS, k) for k in MEMORY_KNOBS}), ooms)
        knobs, loss = fit_knobs(cs, start)
        fits[fw] = (knobs, loss, len(cs))
    med = {k: float(np.median([getattr(f[0], k) for f in fits.values()])) for k in FITTED_KNOBS}
    med["pp_microbatch_overhead_s"] = float(
        np.median([f[0].pp_microbatch_overhead_s for f in fits.values() if f[0].pp_microbatch_overhead_s > 0] or [0.0])
    )
    generic = DEFAULT_KNOBS.with_(**med)
    fits["generic"] = (generic, _loss(cases_by_framework(cases).get("generic", []), generic) if "generic" in cases_by_framework(cases) else float("nan"), 0)
    return fits


def leave_one_source_out(cases: list[Case],
                         progress: Callable[[str, float], None] | None = None) -> dict[str, float]:
    """Median |rel error| of each source when predicted with profiles fitted without it.

    A held-out source's framework keeps its profile only if other sources still fit it;
    otherwise the source is predicted with the generic profile. ``progress(source, error)``
    is called as each source finishes (a full run takes ~15 minutes).
    """
    out: dict[str, float] = {}
    groups = sorted({c.source_group for c in cases})
    for g in groups:
        train = [c for c in cases if c.source_group != g]
        test = [c for c in cases if c.source_group == g]
        fits = fit_all(train)
        overrides = {fw: k for fw, (k, _, n) in fits.items() if n > 0 or fw == "generic"}
        res = score_cases(test, overrides={fw: overrides.get(fw, overrides["generic"]) for fw in {c.job.framework for c in test}})
        out[g] = float(np.median([abs(r.rel_error) for r in res]))
        if progress:
            progress(g, out[g])
    return out


def write_profiles(fits: dict[str, tuple[Knobs, float, int]]) -> None:
    raw = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    today = dt.date.today().isoformat()
    for fw, (knobs, loss, n) in fits.items():
        if fw not in raw:
            continue
        over = {k: v for k, v in asdict(knobs).items() if v != getattr(DEFAULT_KNOBS, k)}
        raw[fw]["knobs"] = over
        raw[fw]["fitted"] = {
            "knobs": sorted(FITTED_KNOBS) + (sorted(MEMORY_KNOBS) if any(
                getattr(knobs, k) != getattr(DEFAULT_KNOBS, k) for k in MEMORY_KNOBS) else []),
            "rows": n,
            "median_abs_log_error": None if loss != loss else round(loss, 4),
            "on": "shipped validation runs (gigatrain/validate/data)",
            "date": today,
        }
    header = DATA.read_text(encoding="utf-8").split("\n\n")[0]
    DATA.write_text(header + "\n\n" + yaml.safe_dump(raw, sort_keys=False, width=100))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="update catalog/data/frameworks.yaml")
    ap.add_argument("--loso", action="store_true", help="also print leave-one-source-out errors")
    args = ap.parse_args()
    cases = shipped_cases()
    fits = fit_all(cases, oom_cases())
    for fw, (knobs, loss, n) in fits.items():
        vals = ", ".join(f"{k}={getattr(knobs, k):.3g}" for k in FITTED_KNOBS)
        print(f"{fw:20s} rows={n:5d} median|log err|={loss:.3f}  {vals}")
    if args.write:
        write_profiles(fits)
        print(f"wrote {DATA}")
    if args.loso:
        def show(g: str, e: float) -> None:
            print(f"held out {g:30s} median |rel err| {e:.3f}", flush=True)

        errs = leave_one_source_out(cases, show)
        print(f"median over sources: {np.median(list(errs.values())):.3f}")


if __name__ == "__main__":
    main()
