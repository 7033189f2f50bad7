"""Error bars and evidence labels from held-out (leave-one-source-out) residuals.

Every held-out row's speed error ``e = ln(predicted throughput / measured throughput)`` (for a
step-time row, ``−ln(predicted step / measured step)``) is grouped by framework profile, chip
vendor and job scale. A prediction then carries the 10th–90th percentile interval of the most
specific group with at least :data:`MIN_ROWS` rows (falling back to framework+vendor, vendor,
then all rows): throughput ∈ [pred·e^(−q90), pred·e^(−q10)], step time and days ∈
[pred·e^(q10), pred·e^(q90)]. Its evidence label counts the shipped measured rows of the same
chip, vendor and framework, so a prediction for a chip with no measurement says so.

``python -m gigatrain.validate.fit --loso --write`` regenerates ``data/error_bars.yaml``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from ..yamlio import read_yaml

if TYPE_CHECKING:
    from .runs import Case
    from .score import RowResult

ERROR_BARS = Path(__file__).parent / "data" / "error_bars.yaml"
#: fewest held-out rows a group needs before its percentiles are used
MIN_ROWS = 8
#: job-size buckets (chips): small single-node-ish, mid-size, large
SCALES = ((64, "≤64"), (1024, "65–1024"), (math.inf, ">1024"))


def scale_bucket(chips: int) -> str:
    return next(name for limit, name in SCALES if chips <= limit)


def speed_error(r: RowResult) -> float:
    """ln(predicted/measured) in throughput terms (positive = predicted too fast)."""
    assert r.rel_error is not None
    e = math.log1p(r.rel_error)
    return -e if r.metric == "step_time_s" else e


@dataclass(frozen=True)
class ErrorBar:
    """Multiplicative interval on a predicted time (step, days, $): [lo, hi] × prediction."""

    lo: float
    hi: float
    rows: int
    basis: str  # which held-out group the interval comes from

    def describe(self) -> str:
        return f"×{self.lo:.2f}–{self.hi:.2f} (held-out p10–p90, {self.rows} rows: {self.basis})"

    def within_physics(self, hfu: float, ceiling: float) -> ErrorBar:
        """This interval with its fast end raised so that it never implies a hardware-FLOPs
        utilisation above ``ceiling`` (the chip's best GEMM efficiency, MAMF/peak): a step of
        predicted utilisation ``hfu`` cannot take less than hfu/ceiling of its predicted time,
        whatever the residuals of other jobs say."""
        floor = hfu / ceiling if ceiling > 0 else 0.0
        if floor <= self.lo:
            return self
        basis = f"{self.basis}; fast end capped at the chip's best GEMM efficiency"
        return replace(self, lo=min(floor, self.hi), basis=basis)


@dataclass(frozen=True)
class Evidence:
    chip_rows: int
    vendor_rows: int
    framework_vendor_rows: int
    label: str


def _quantiles(errs: list[float]) -> dict[str, float | int]:
    a = np.array(errs)
    return {
        "rows": len(errs),
        "q10": round(float(np.percentile(a, 10)), 4),
        "q50": round(float(np.percentile(a, 50)), 4),
        "q90": round(float(np.percentile(a, 90)), 4),
    }


def write_error_bars(held_out: list[RowResult], cases: list[Case]) -> None:
    """Group the held-out residuals and the shipped rows' evidence into ``data/error_bars.yaml``."""
    by_id = {c.row_id: c for c in cases}
    groups: dict[str, list[float]] = defaultdict(list)
    for r in held_out:
        c = by_id.get(r.row_id)
        if c is None or r.rel_error is None or r.rel_error <= -1:
            continue
        fw, vendor, scale = c.job.framework, c.system.chip.vendor, scale_bucket(c.plan.chips)
        e = speed_error(r)
        for key in (f"{fw}|{vendor}|{scale}", f"{fw}|{vendor}", f"*|{vendor}", "*"):
            groups[key].append(e)
    from .score import measured_mfu

    best: dict[str, float] = {}
    for c in cases:
        mfu = measured_mfu(c)
        if mfu is not None and 0 < mfu < 1:
            key = f"{c.system.chip.vendor}|{scale_bucket(c.plan.chips)}"
            best[key] = max(best.get(key, 0.0), round(mfu, 4))
    chip_rows = Counter(c.system.chip.slug for c in cases)
    vendor_rows = Counter(c.system.chip.vendor for c in cases)
    fw_vendor = Counter(f"{c.job.framework}|{c.system.chip.vendor}" for c in cases)
    doc = {
        "generated": dt.date.today().isoformat(),
        "command": "python -m gigatrain.validate.fit --loso --write",
        "meaning": "ln(predicted/measured throughput) of leave-one-source-out predictions; "
        "keys framework|vendor|scale, framework|vendor, *|vendor, *",
        "groups": {k: _quantiles(v) for k, v in sorted(groups.items()) if len(v) >= 1},
        "best_measured_mfu": dict(sorted(best.items())),
        "evidence": {
            "chip": dict(sorted(chip_rows.items())),
            "vendor": dict(sorted(vendor_rows.items())),
            "framework_vendor": dict(sorted(fw_vendor.items())),
        },
    }
    ERROR_BARS.write_text(
        "# generated by `python -m gigatrain.validate.fit --loso --write`; do not edit\n"
        + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100),
        encoding="utf-8",
    )
    _table.cache_clear()


@cache
def _table() -> dict[str, Any]:
    if not ERROR_BARS.exists():
        return {"groups": {}, "evidence": {"chip": {}, "vendor": {}, "framework_vendor": {}}}
    table: dict[str, Any] = read_yaml(ERROR_BARS, "error bars")
    return table


def error_bar(framework: str, vendor: str, chips: int) -> ErrorBar | None:
    """The held-out interval for a prediction (None before the table has been generated)."""
    groups = _table()["groups"]
    keys = (
        (
            f"{framework}|{vendor}|{scale_bucket(chips)}",
            f"{framework} on {vendor} at {scale_bucket(chips)} chips",
        ),
        (f"{framework}|{vendor}", f"{framework} on {vendor}"),
        (f"*|{vendor}", f"any framework on {vendor}"),
        ("*", "all held-out rows"),
    )
    for key, basis in keys:
        g = groups.get(key)
        if g and g["rows"] >= MIN_ROWS:
            # a time is too short where throughput was predicted too fast: time × e^(q) bounds
            return ErrorBar(math.exp(g["q10"]), math.exp(g["q90"]), int(g["rows"]), basis)
    return None


def best_measured_mfu(vendor: str, chips: int) -> float | None:
    """The highest MFU measured on ``vendor`` chips at this job scale (shipped rows), or None."""
    v = _table().get("best_measured_mfu", {}).get(f"{vendor}|{scale_bucket(chips)}")
    return float(v) if v is not None else None


def evidence(framework: str, vendor: str, chip: str) -> Evidence:
    """How many shipped measured runs back a prediction for ``chip`` under ``framework``."""
    ev = _table()["evidence"]
    if not ev["vendor"]:  # the table has not been generated: say nothing rather than "none"
        return Evidence(0, 0, 0, "")
    n_chip = int(ev["chip"].get(chip, 0))
    n_vendor = int(ev["vendor"].get(vendor, 0))
    n_fw = int(ev["framework_vendor"].get(f"{framework}|{vendor}", 0))
    if n_chip:
        label = (
            f"backed by {n_chip:,} measured runs on {chip} ({n_fw:,} with {framework} on {vendor})"
        )
    elif n_vendor:
        label = (
            f"no measured runs on {chip}: extrapolated from {n_vendor:,} runs on other {vendor} chips "
            f"({n_fw:,} with {framework})"
        )
    else:
        label = f"no measured runs on any {vendor} chip: extrapolated from other vendors' runs"
    return Evidence(n_chip, n_vendor, n_fw, label)


def annotate(
    est: object, framework: str, vendor: str, chip: str, ceiling: float = 0.0
) -> dict[str, object]:
    """The ``error_bar`` / ``evidence`` fields for an estimate of ``chip`` chips (a mapping for
    ``dataclasses.replace``); a ``ceiling`` (the chip's best GEMM efficiency) caps the fast end
    (:meth:`ErrorBar.within_physics`)."""
    chips = int(getattr(est, "chips", 1))
    bar = error_bar(framework, vendor, chips)
    if bar is not None and ceiling > 0:
        bar = bar.within_physics(float(getattr(est, "hfu", 0.0)), ceiling)
    return {
        "error_bar": None
        if bar is None
        else {"lo": bar.lo, "hi": bar.hi, "rows": bar.rows, "basis": bar.basis},
        "evidence": evidence(framework, vendor, chip).label,
    }
