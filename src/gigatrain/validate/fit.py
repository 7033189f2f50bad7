"""Fit framework efficiency profiles on the shipped measured runs.

For each framework with measured rows, a few named knobs (``FITTED_KNOBS``) are chosen to
minimise the mean |log(predicted/measured)| of that framework's rows, by coordinate search on
a log grid run until a pass changes nothing. Least absolute deviations is robust to the
outliers every benchmark table has, yet every row counts: a knob only a minority of rows
constrain (TP overlap where a few rows use TP) is set by those rows rather than left wherever a
flat median happens to sit. The ``generic`` profile, used for unknown frameworks, is one fit
over every framework's rows at once (each framework weighing the same, each with its own
catalog semantics). Leave-one-source-out scores
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
from ..knobs import DEFAULT_KNOBS, Knobs
from .error_bars import ERROR_BARS, write_error_bars
from .runs import DATA as RUNS_DATA
from .runs import Case, case_from_row, read_rows, shipped_rows
from .score import GIB, RowResult, score_cases

#: knob → candidate values searched, in order of priority: a framework with n rows gets at most
#: ``max(1, n // ROWS_PER_KNOB)`` of them (never more knobs than rows). Every grid lies inside
#: the knob's physical range (``gigatrain.knobs.KNOB_RANGES``): a framework is never faster than the
#: model (scale ≥ 1), overlaps are fractions, overheads are bounded.
FITTED_KNOBS: dict[str, np.ndarray] = {
    "compute_time_scale": np.round(np.geomspace(1.0, 2.5, 25), 3),
    "dp_overlap": np.array([0.0, 0.25, 0.5, 0.7, 0.8, 0.9, 1.0]),
    "host_op_overhead_s": np.concatenate([[0.0], np.geomspace(2e-6, 50e-6, 15)]),
    "pp_microbatch_overhead_s": np.concatenate([[0.0], np.geomspace(1e-4, 1.0, 21)]),
    "tp_overlap": np.array([0.0, 0.25, 0.5, 0.75]),
}
#: rows needed per fitted knob
ROWS_PER_KNOB = 3
#: knobs earlier fits set that are now left at their sourced defaults (reset before fitting)
RETIRED_KNOBS = ("elementwise_traffic_ratio", "microbatch_overhead_s", "recompute_working_layers")


def knobs_to_fit(cases: list[Case]) -> list[str]:
    """The knobs a framework's rows can support, in priority order (pipeline overhead only
    where rows use pipelining)."""
    uses_pp = any(c.plan.pp > 1 for c in cases)
    names = [k for k in FITTED_KNOBS if k != "pp_microbatch_overhead_s" or uses_pp]
    return names[: max(1, len(cases) // ROWS_PER_KNOB)] if cases else []


def _abs_log_errors(cases: list[Case], knobs: Knobs) -> list[float]:
    """|log(predicted/measured)| of every scored row of ``cases`` under ``knobs``."""
    res = score_cases(cases, knobs=knobs)
    return [abs(np.log1p(r.rel_error)) for r in res if r.rel_error is not None and r.rel_error > -1]


def _loss(cases: list[Case], knobs: Knobs) -> float:
    err = _abs_log_errors(cases, knobs)
    return float(np.mean(err)) if err else float("inf")


def coordinate_search(
    loss: Callable[[Knobs], float],
    start: Knobs,
    grids: dict[str, np.ndarray],
    names: list[str],
    rounds: int = 5,
) -> tuple[Knobs, float]:
    """Minimise ``loss`` one knob at a time over its grid (``grids[name]``), passes over
    ``names`` from ``start`` until one changes nothing (at most ``rounds``); returns (knobs,
    loss). A candidate must improve by 1e-6."""
    best, best_loss = start, loss(start)
    for _ in range(rounds):
        before = best_loss
        for name in names:
            for v in grids[name]:
                cand = best.with_(**{name: float(v)})
                cand_loss = loss(cand)
                if cand_loss < best_loss - 1e-6:
                    best, best_loss = cand, cand_loss
        if best_loss >= before - 1e-6:  # a full pass changed nothing: converged
            break
    return best, best_loss


def fit_knobs(
    cases: list[Case], start: Knobs = DEFAULT_KNOBS, rounds: int = 5
) -> tuple[Knobs, float]:
    """Coordinate search over :func:`knobs_to_fit` from ``start``; returns (knobs, mean
    |log err|)."""
    return coordinate_search(
        lambda k: _loss(cases, k), start, FITTED_KNOBS, knobs_to_fit(cases), rounds
    )


#: memory knobs fitted per framework on rows that report peak memory
MEMORY_KNOBS: dict[str, np.ndarray] = {
    "activation_memory_scale": np.round(np.geomspace(0.6, 3.0, 21), 3),
    "memory_fragmentation": np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.3]),
    "memory_overhead_bytes": np.array([0.25, 0.5, 1.0, 1.5, 2.0, 3.0]) * 2**30,
    "tp_unsharded_act_fraction": np.array([0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3]),
    "logit_bytes": np.array([4.0, 6.0, 8.0, 10.0, 12.0, 14.0]),
}


def _memory_loss(cases: list[Case], knobs: Knobs, ooms: list[Case] | None = None) -> float:
    """Median |log error| of peak memory, plus the mean log shortfall of OOM records predicted
    to fit (a run that ran out of memory must not be predicted to fit)."""
    res = score_cases(cases, knobs=knobs)
    err = [
        np.log(r.memory_predicted_gib / r.memory_measured_gib)
        for r in res
        if r.memory_predicted_gib is not None and r.memory_measured_gib
    ]
    loss = float(np.median(np.abs(err))) if err else float("inf")
    if ooms:
        mem = (
            np.array([r.memory_predicted_gib for r in score_cases(ooms, knobs=knobs)], dtype=float)
            * GIB
        )
        cap = np.array([c.system.chip.hbm_bytes for c in ooms])
        total = mem + knobs.runtime_context_bytes
        # weighted so that a record predicted to fit with >20% headroom costs more than the
        # median error can gain
        loss += float(np.mean(np.maximum(np.log(cap / total), 0.0)))
        # summed, not averaged: each OOM record predicted to fit comfortably is a hard miss
        loss += 5.0 * float(np.sum(np.maximum(np.log(0.8 * cap / total), 0.0)))
    return loss


def oom_cases() -> list[Case]:
    # records flagged AMBIGUOUS_OOM_FLAG also ran and logged memory: not evidence of an OOM
    rows = [
        r
        for r in read_rows(RUNS_DATA / "ultrascale_playbook_failures.csv")
        if r.get("outcome") == "oom" and "AMBIGUOUS_OOM_FLAG" not in r.get("notes", "")
    ]
    return [
        c for c in (case_from_row(r, require_metric=False) for r in rows) if isinstance(c, Case)
    ]


def fit_memory_knobs(
    cases: list[Case], start: Knobs, ooms: list[Case] | None = None
) -> tuple[Knobs, float]:
    with_mem = [c for c in cases if c.peak_mem_gib]
    fw = {c.job.framework for c in with_mem}
    ooms = [c for c in (ooms or []) if c.job.framework in fw]
    names = list(MEMORY_KNOBS)[
        : max(1, len(with_mem) // ROWS_PER_KNOB)
    ]  # never more knobs than rows
    return coordinate_search(lambda k: _memory_loss(with_mem, k, ooms), start, MEMORY_KNOBS, names)


def cases_by_framework(cases: list[Case]) -> dict[str, list[Case]]:
    out: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        out[c.job.framework].append(c)
    return dict(out)


def cases_by_vendor(cases: list[Case]) -> dict[str, list[Case]]:
    """A framework's rows split by chip vendor (``fw@vendor``) when at least two vendors have
    :data:`ROWS_PER_KNOB` rows each: one framework runs through different compilers and kernel
    libraries per vendor (XLA:TPU vs XLA:GPU), so each stack gets its own fit; {} otherwise."""
    out: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        out[f"{c.job.framework}@{c.system.chip.vendor}"].append(c)
    big = {k: v for k, v in out.items() if len(v) >= ROWS_PER_KNOB}
    return big if len(big) >= 2 else {}


def profile_for(
    fits: dict[str, tuple[Knobs, float, int]],
    fitted_on: list[Case],
    fw: str,
    vendor: str,
    generic: Knobs,
) -> Knobs:
    """The fitted knobs that predict ``fw`` on ``vendor``'s chips: the vendor's own fit, else
    the framework's fit where its rows (``fitted_on``) include that vendor, else ``generic``
    (as :func:`gigatrain.catalog.frameworks.knobs_for` does with the catalog)."""
    if f"{fw}@{vendor}" in fits:
        return fits[f"{fw}@{vendor}"][0]
    if _fitted_on_vendor(fits, fitted_on, fw, vendor):
        return fits[fw][0]
    return semantics_with(fw, generic)


def _fitted_on_vendor(
    fits: dict[str, tuple[Knobs, float, int]], fitted_on: list[Case], fw: str, vendor: str
) -> bool:
    """Whether ``fw`` has a fit of its own for ``vendor``'s chips: a vendor fit, or a framework
    fit whose rows (``fitted_on``) include that vendor."""
    if f"{fw}@{vendor}" in fits:
        return True
    return fw in fits and vendor in {c.system.chip.vendor for c in fitted_on}


def semantics_with(fw: str, fitted: Knobs) -> Knobs:
    """``fw``'s catalog semantics (every knob no fit sets: attention kernel, ZeRO-3 gather
    granularity, FlashAttention or not) with every fitted knob taken from ``fitted``: the
    catalog states these about the framework, independent of any measured source."""
    profiles = load_frameworks()
    if fw not in profiles:
        return fitted
    names = (*FITTED_KNOBS, *MEMORY_KNOBS, *RETIRED_KNOBS)
    return profiles[fw].knobs.with_(**{k: getattr(fitted, k) for k in names})


def shipped_cases() -> list[Case]:
    return [c for c in (case_from_row(r) for r in shipped_rows()) if isinstance(c, Case)]


def fit_framework(
    fw: str,
    cs: list[Case],
    fits: dict[str, tuple[Knobs, float, int]],
    ooms: list[Case] | None = None,
) -> tuple[Knobs, float, int]:
    """Fit one framework's knobs on its rows, starting from its parent's fit (``inherits``)
    or its catalog profile with every fitted knob reset to the sourced default."""
    profiles = load_frameworks()
    parent = profiles[fw].inherits
    base = fits[parent][0] if parent in fits else profiles[fw].knobs
    reset = (*FITTED_KNOBS, *RETIRED_KNOBS) + (() if parent in fits else tuple(MEMORY_KNOBS))
    start = base.with_(**{k: getattr(DEFAULT_KNOBS, k) for k in reset})
    if parent is None and any(c.peak_mem_gib for c in cs):
        start, _ = fit_memory_knobs(cs, start, ooms)
    knobs, loss = fit_knobs(cs, start)
    return knobs, loss, len(cs)


def fit_framework_and_vendors(
    fw: str,
    cs: list[Case],
    fits: dict[str, tuple[Knobs, float, int]],
    ooms: list[Case] | None = None,
) -> None:
    """Fit ``fw`` on all its rows into ``fits[fw]`` and, where :func:`cases_by_vendor` splits
    them, each vendor's rows into ``fits["fw@vendor"]`` (starting from the same parent)."""
    fits[fw] = fit_framework(fw, cs, fits, ooms)
    for key, sub in cases_by_vendor(cs).items():
        fits[key] = fit_framework(fw, sub, fits, ooms)


#: rows per framework in the generic profile's pooled fit (evenly spaced through its rows)
GENERIC_ROWS_PER_FRAMEWORK = 40


def _root_frameworks(fits: dict[str, tuple[Knobs, float, int]]) -> list[str]:
    """Fitted frameworks that vote for the generic profile: one per framework, so neither a
    vendor's own fit (``fw@vendor``) nor a profile that ``inherits`` another (a variant of the
    same framework, e.g. a release with a known bug) votes again."""
    profiles = load_frameworks()
    return [
        fw
        for fw, f in fits.items()
        if fw in profiles and fw != "generic" and profiles[fw].inherits is None and f[2] > 0
    ]


def _pooled_loss(pool: dict[str, list[Case]], fitted: Knobs) -> float:
    """Mean |log error| over every framework's rows, each predicted with its own catalog
    semantics and ``fitted``'s fitted knobs; each framework weighs the same in total."""
    errs: list[float] = []
    weights: list[float] = []
    for fw, cs in pool.items():
        e = _abs_log_errors(cs, semantics_with(fw, fitted))
        errs += e
        weights += [1.0 / len(e)] * len(e)
    return float(np.average(errs, weights=weights)) if errs else float("inf")


def generic_profile(
    fits: dict[str, tuple[Knobs, float, int]], cases: list[Case] | None = None
) -> Knobs:
    """The profile for unknown frameworks: one coherent set of fitted knobs that best predicts
    a typical framework — fitted on the pooled rows of every voting framework (each with its
    own catalog semantics, each framework weighing the same), starting from the median of each
    fitted knob over frameworks. Without ``cases``, that median alone."""
    start = _median_profile(fits)
    if not cases:
        return start
    by_fw = cases_by_framework(cases)
    pool = {
        fw: by_fw[fw][:: max(1, -(-len(by_fw[fw]) // GENERIC_ROWS_PER_FRAMEWORK))]
        for fw in _root_frameworks(fits)
        if by_fw.get(fw)
    }
    return coordinate_search(
        lambda k: _pooled_loss(pool, k), start, FITTED_KNOBS, list(FITTED_KNOBS)
    )[0]


def _median_profile(fits: dict[str, tuple[Knobs, float, int]]) -> Knobs:
    """The median of each fitted knob over the voting frameworks (:func:`_root_frameworks`)."""
    fitted = [fits[fw] for fw in _root_frameworks(fits)]
    med = {k: float(np.median([getattr(f[0], k) for f in fitted])) for k in FITTED_KNOBS}
    med["pp_microbatch_overhead_s"] = float(
        np.median(
            [f[0].pp_microbatch_overhead_s for f in fitted if f[0].pp_microbatch_overhead_s > 0]
            or [0.0]
        )
    )
    return DEFAULT_KNOBS.with_(**med)


def fit_all(
    cases: list[Case], ooms: list[Case] | None = None
) -> dict[str, tuple[Knobs, float, int]]:
    """Per framework: (fitted knobs, loss, rows); generic: :func:`generic_profile`."""
    fits: dict[str, tuple[Knobs, float, int]] = {}
    profiles = load_frameworks()
    # parents first, so a profile that ``inherits`` starts from its parent's fitted knobs
    order = sorted(
        cases_by_framework(cases).items(),
        key=lambda kv: (profiles[kv[0]].inherits is not None, kv[0]),
    )
    for fw, cs in order:
        if fw != "generic":
            fit_framework_and_vendors(fw, cs, fits, ooms)
    generic = generic_profile(fits, cases)
    own = cases_by_framework(cases).get("generic", [])
    fits["generic"] = (generic, _loss(own, generic) if own else float("nan"), 0)
    return fits


def leave_one_source_out(
    cases: list[Case],
    ooms: list[Case] | None = None,
    progress: Callable[[str, float], None] | None = None,
    full: dict[str, tuple[Knobs, float, int]] | None = None,
) -> tuple[dict[str, float], list[RowResult]]:
    """Each source predicted by profiles fitted without it: (median |rel error| per source,
    every held-out row's result).

    Only the frameworks the held-out source uses are refitted (the others never saw its rows);
    a framework no other source covers falls back to the generic profile, itself fitted on the
    remaining frameworks' rows, with the framework's own catalog semantics.
    ``progress(source, error)`` is called as each source finishes.
    """
    full = full or fit_all(cases, ooms)
    out: dict[str, float] = {}
    rows: list[RowResult] = []
    profiles = load_frameworks()
    for g in sorted({c.source_group for c in cases}):
        train = [c for c in cases if c.source_group != g]
        test = [c for c in cases if c.source_group == g]
        train_ooms = [c for c in (ooms or []) if c.source_group != g]
        by_fw = cases_by_framework(train)
        fits = {fw: f for fw, f in full.items() if fw != "generic"}
        mine = sorted(
            {c.job.framework for c in test}, key=lambda fw: profiles[fw].inherits is not None
        )
        for fw in mine:
            for key in [k for k in fits if k == fw or k.startswith(f"{fw}@")]:
                del fits[key]
        for fw in mine:
            if fw != "generic" and by_fw.get(fw):
                fit_framework_and_vendors(fw, by_fw[fw], fits, train_ooms)
        # the pooled generic fit costs a few dozen seconds: only where a row falls back to it
        falls_back = not all(
            _fitted_on_vendor(
                fits, by_fw.get(c.job.framework, []), c.job.framework, c.system.chip.vendor
            )
            for c in test
        )
        generic = generic_profile(fits, train if falls_back else None)
        overrides = {
            f"{c.job.framework}@{c.system.chip.vendor}": profile_for(
                fits, by_fw.get(c.job.framework, []), c.job.framework, c.system.chip.vendor, generic
            )
            for c in test
        }
        res = score_cases(test, overrides=overrides)
        rows += res
        out[g] = float(np.median([abs(r.rel_error) for r in res if r.rel_error is not None]))
        if progress:
            progress(g, out[g])
    return out, rows


def write_profiles(
    fits: dict[str, tuple[Knobs, float, int]],
    fitted_names: dict[str, list[str]],
    vendors: dict[str, list[str]] | None = None,
) -> None:
    raw = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    today = dt.date.today().isoformat()
    for entry in raw.values():
        entry.pop("by_vendor", None)
    for key, (knobs, loss, n) in fits.items():
        fw, _, vendor = key.partition("@")
        if fw not in raw:
            continue
        semantic = ("uneven_pipeline_stages", "selective_drops_elementwise")  # set by capabilities
        over = {
            k: v
            for k, v in asdict(knobs).items()
            if v != getattr(DEFAULT_KNOBS, k) and k not in semantic
        }
        target = raw[fw]
        if vendor:  # a vendor's own fit (cases_by_vendor)
            target = raw[fw].setdefault("by_vendor", {}).setdefault(vendor, {})
        target["knobs"] = over
        target["fitted"] = {
            "knobs": fitted_names.get(key, [])
            + (
                sorted(MEMORY_KNOBS)
                if any(getattr(knobs, k) != getattr(DEFAULT_KNOBS, k) for k in MEMORY_KNOBS)
                else []
            ),
            "rows": n,
            # chip vendors of those rows: elsewhere the generic profile applies (knobs_for)
            "vendors": (vendors or {}).get(key, []),
            "mean_abs_log_error": None if loss != loss else round(loss, 4),
            "on": "shipped validation runs (gigatrain/validate/data)",
            "date": today,
        }
    header = DATA.read_text(encoding="utf-8").split("\n\n")[0]
    DATA.write_text(
        header + "\n\n" + yaml.dump(raw, Dumper=_NoAliasDumper, sort_keys=False, width=100)
    )


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated lists in full (the catalog reader refuses YAML aliases)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="update catalog/data/frameworks.yaml")
    ap.add_argument("--loso", action="store_true", help="also print leave-one-source-out errors")
    args = ap.parse_args()
    cases = shipped_cases()
    fits = fit_all(cases, oom_cases())
    for fw, (knobs, loss, n) in fits.items():
        vals = ", ".join(f"{k}={getattr(knobs, k):.3g}" for k in FITTED_KNOBS)
        vals += "; " + ", ".join(f"{k}={getattr(knobs, k):.3g}" for k in MEMORY_KNOBS)
        print(f"{fw:20s} rows={n:5d} mean|log err|={loss:.3f}  {vals}")
    if args.write:
        groups = cases_by_framework(cases)
        for cs in list(groups.values()):
            groups |= cases_by_vendor(cs)
        write_profiles(
            fits,
            {key: knobs_to_fit(cs) for key, cs in groups.items()}
            | {"generic": [k for k in FITTED_KNOBS]},
            {key: sorted({c.system.chip.vendor for c in cs}) for key, cs in groups.items()},
        )
        print(f"wrote {DATA}")
    if args.loso:

        def show(g: str, e: float) -> None:
            print(f"held out {g:30s} median |rel err| {e:.3f}", flush=True)

        errs, held_out = leave_one_source_out(cases, oom_cases(), show, fits)
        a = np.abs([r.rel_error for r in held_out if r.rel_error is not None])
        print(
            f"median over sources: {np.median(list(errs.values())):.3f}; p90 over sources: "
            f"{np.percentile(list(errs.values()), 90):.3f}; over rows: median {np.median(a):.3f}, "
            f"p90 {np.percentile(a, 90):.3f}"
        )
        if args.write:
            write_error_bars(held_out, cases)
            print(f"wrote {ERROR_BARS}")


if __name__ == "__main__":
    main()
