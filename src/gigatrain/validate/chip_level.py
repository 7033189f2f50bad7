"""The chip-level model (:mod:`gigatrain.model.chip_level`) scored against measurements: a
calibration profile's GEMM shapes (in-sample and held out) and the shipped TPU/Trainium
training rows.

    python -m gigatrain.validate.chip_level benchmarks/results/h200-2026-11-26/gpu-profile.yaml
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

import numpy as np

from ..catalog.hardware import get_chip
from ..model.chip_level import fit_curve, profile_report
from ..specs import ChipSpec
from ..yamlio import read_yaml
from .runs import Case, case_from_row, shipped_rows
from .score import score_cases


def _fmt(st: dict[str, float]) -> str:
    if not st.get("shapes"):
        return "no shapes"
    return (
        f"{st['shapes']} shapes: median |error| {st['median_abs']:.1%}, max {st['max_abs']:.1%}, "
        f"within 15% {st['within_15pct']:.0%}"
    )


def _main(argv: list[str]) -> None:  # pragma: no cover - a report for the README
    """``python -m gigatrain.validate.chip_level PROFILE.yaml [chip]``: errors, in-sample and
    held out, then the TPU/Trainium training rows (:mod:`gigatrain.model.chip_level_rows`)."""
    prof = read_yaml(argv[0], "profile")
    chip = get_chip(argv[1] if len(argv) > 1 else str(prof.get("catalog_chip", "h200")))
    rep = profile_report(prof, chip)
    k = rep["knobs"]
    print(
        f"{chip.slug}: host floor (mm-8) {rep['host_floor_s'] * 1e6:.1f} µs; fitted sustained fraction "
        f"{k['sustained_fraction']:.3f}, kernel fixed time {k['kernel_fixed_s'] * 1e6:.2f} µs"
    )
    print(f"  catalog level, no fit:      {_fmt(rep['catalog'])}")
    print(f"  fitted (in-sample):         {_fmt(rep['fitted'])}")
    for d, st in rep["fitted_by_dtype"].items():
        print(f"    {d:5s}                     {_fmt(st)}")
    print(f"  held out, two-fold:         {_fmt(rep['two_fold'])}")
    for d, st in rep["two_fold_by_dtype"].items():
        print(f"    {d:5s}                     {_fmt(st)}")
    print(f"  held out, leave-family-out: {_fmt(rep['leave_family_out'])}")
    lo = rep["leave_dtype_out"]
    print(f"  held out, fit {lo['fit_on']} only → others: {_fmt(lo)}")
    for line in rep["misses"]:
        print(f"  miss: {line}")
    for line in rep["artefacts"]:
        print(f"  not scored: {line}")


def measured_rows_report(
    chip_prefixes: tuple[str, ...] = ("tpu", "trn"),
) -> dict[str, dict[str, Any]]:
    """Error of the default step model on the shipped measured training rows of chips without
    a GEMM measurement (TPU, Trainium), with the catalog's GEMM curve (e_max, F½ = 2 GFLOP
    default) and with the chip-level model's curve (:func:`fit_curve` at the catalog level)
    in its place — what the chip-level model changes for chips it is used for. Per chip:
    rows scored and median / mean |error| under both (``rel_error`` as ``gigatrain validate``)."""
    cases = [
        c
        for c in (case_from_row(r) for r in shipped_rows())
        if isinstance(c, Case) and c.system.chip.slug.startswith(chip_prefixes)
    ]
    curves: dict[str, ChipSpec] = {}
    swapped = []
    for c in cases:
        ch = c.system.chip
        if ch.slug not in curves:
            e_max, f_half = fit_curve(ch, sustained_fraction=ch.matmul_efficiency)
            curves[ch.slug] = replace(ch, matmul_efficiency=e_max, matmul_half_flops=f_half)
        swapped.append(replace(c, system=replace(c.system, chip=curves[ch.slug])))
    out: dict[str, dict[str, Any]] = {}
    for label, cs in (("catalog", cases), ("chip_level", swapped)):
        for r, c in zip(score_cases(cs), cs, strict=True):
            d = out.setdefault(c.system.chip.slug, {"rows": 0, "catalog": [], "chip_level": []})
            if r.rel_error is not None:  # unsupported rows are not scored
                d[label].append(abs(r.rel_error))
    for slug, d in out.items():
        d["rows"] = len(d["catalog"])
        d["curve"] = {
            "e_max": curves[slug].matmul_efficiency,
            "f_half_flops": curves[slug].matmul_half_flops,
        }
        for label in ("catalog", "chip_level"):
            errs = np.array(d[label])
            d[label] = {
                "median_abs": float(np.median(errs)),
                "mean_abs": float(errs.mean()),
                "within_15pct": float(np.mean(errs <= 0.15)),
            }
    return out


if __name__ == "__main__":  # pragma: no cover
    _main(sys.argv[1:])
