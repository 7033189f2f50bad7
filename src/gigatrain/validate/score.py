"""Predict every measured run it can represent and score the error.

``rel_error = predicted / measured − 1`` in the metric the source reports (step time,
tokens/s, or TFLOP/s under that source's FLOPs convention: validation README §2). Cases that
share model, system and job are evaluated together as one plan array, so scoring ~3,300 rows
takes about a second.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ..catalog.frameworks import knobs_as_of, knobs_for, load_frameworks
from ..catalog.hardware import load_systems
from ..catalog.models import load_models
from ..knobs import Knobs
from ..model.estimate import evaluate
from ..model.plans import PlanArrays
from ..model.workload import model_flops_per_token, six_n_flops_per_token
from .runs import Case, Unsupported, case_from_row

GIB = 2**30


@dataclass(frozen=True)
class RowResult:
    row_id: str
    source_group: str
    chip_type: str
    metric: str
    predicted: float | None
    measured: float | None
    rel_error: float | None
    status: str  # ok | unsupported
    reason: str
    spec_grade: str = ""
    memory_predicted_gib: float | None = None
    memory_measured_gib: float | None = None
    #: what the row did not state and the prediction assumed (vocab, layout, peak basis)
    assumptions: str = ""


def megatron_eq3_flops_per_token(case: Case) -> float:
    """Narayanan et al. 2021 Eq. 3 per token: 96·l·h²·(1 + s/6h + V/16lh) (counts recompute)."""
    m, s = case.model, case.job.seq_len
    L, h, V = m.num_layers, m.hidden_size, m.vocab_size
    return 96.0 * L * h * h * (1 + s / (6 * h) + V / (16 * L * h))


def _predicted_metric(case: Case, r: dict[str, np.ndarray], i: int) -> float:
    if case.metric == "step_time_s":
        return float(r["step_time_s"][i])
    if case.metric == "tokens_per_s":
        return float(r["tokens_per_s"][i])
    tps_chip = float(r["tokens_per_s_per_chip"][i])
    if case.metric == "tokens_per_s_per_chip":
        return tps_chip
    conv = case.flops_convention
    if conv == "megatron_eq3":
        return tps_chip * megatron_eq3_flops_per_token(case) / 1e12
    if conv == "six_n":
        return tps_chip * six_n_flops_per_token(case.model) / 1e12
    flops = model_flops_per_token(case.model, case.job.seq_len, causal=conv == "model_causal")
    if conv == "hardware_noncausal" and case.plan.recompute == "full":
        flops *= 4.0 / 3.0  # hardware FLOPs count the recomputed forward
    return tps_chip * flops / 1e12


def score_cases(
    cases: list[Case], knobs: Knobs | None = None, overrides: dict[str, Knobs] | None = None
) -> list[RowResult]:
    """Predict each case with its framework's knobs (``overrides`` by framework slug, or one
    ``knobs`` for all), under the semantics the framework had when the source was published
    (:func:`~gigatrain.catalog.frameworks.knobs_as_of`)."""
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, c in enumerate(cases):
        groups[(c.model, c.system.slug, c.job, c.source_year)].append(i)
    out: list[RowResult | None] = [None] * len(cases)
    for idx in groups.values():
        first = cases[idx[0]]
        arr = PlanArrays.from_plans([cases[i].plan for i in idx])
        measured = [cases[i].scale_out_bytes_per_s for i in idx]
        if any(m is not None for m in measured):  # each row on its own measured fabric
            arr = replace(arr, scale_out_bytes_per_s=np.array(measured, dtype=float))
        fw = first.job.framework
        vendor = first.system.chip.vendor
        ov = overrides or {}
        k = knobs or ov.get(f"{fw}@{vendor}") or ov.get(fw) or knobs_for(fw, vendor)
        k = knobs_as_of(fw, k, first.source_year)
        r = evaluate(first.model, first.system, first.job, arr, k)
        for j, i in enumerate(idx):
            c = cases[i]
            pred = _predicted_metric(c, r, j)
            # sources report PyTorch allocator peaks, which exclude the CUDA context
            mem = float(r["memory/total"][j] - r["memory/runtime_context"][j]) / GIB
            out[i] = RowResult(
                c.row_id,
                c.source_group,
                c.chip_type,
                c.metric,
                pred,
                c.measured,
                pred / c.measured - 1.0,
                "ok",
                "",
                c.spec_grade,
                mem,
                c.peak_mem_gib,
                "; ".join(c.assumptions),
            )
    return [o for o in out if o is not None]


def score_rows(
    rows: Iterable[dict[str, str]],
    knobs: Knobs | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[RowResult]:
    # a broken catalog is one error for the whole run, not a reason on every row
    load_frameworks(), load_systems(), load_models()
    parsed = [case_from_row(r) for r in rows]
    cases = [p for p in parsed if isinstance(p, Case)]
    scored = iter(score_cases(cases, knobs))
    results: list[RowResult] = []
    for p in parsed:
        if isinstance(p, Unsupported):
            results.append(
                RowResult(
                    p.row_id,
                    p.source_group,
                    p.chip_type,
                    "",
                    None,
                    None,
                    None,
                    "unsupported",
                    p.reason,
                    p.spec_grade,
                )
            )
        else:
            results.append(next(scored))
        if progress:
            progress(1)
    return results


def _stats(errs: list[float]) -> dict[str, float | int | None]:
    a = np.abs(np.array(errs)) if errs else np.array([np.nan])
    signed = np.array(errs) if errs else np.array([np.nan])
    return {
        "n": len(errs),
        "median_abs_rel_error": float(np.median(a)) if errs else None,
        "p90_abs_rel_error": float(np.percentile(a, 90)) if errs else None,
        "median_rel_error": float(np.median(signed)) if errs else None,
        "within_15pct": float(np.mean(a <= 0.15)) if errs else None,
    }


def summarize(results: list[RowResult]) -> dict[str, Any]:
    ok = [r for r in results if r.status == "ok"]
    grade_a = [r for r in results if r.spec_grade == "A"]
    by_group: dict[str, list[float]] = defaultdict(list)
    by_chip: dict[str, list[float]] = defaultdict(list)
    # every "ok" row has a prediction, its error and its predicted memory
    errs = [(r, r.rel_error) for r in ok if r.rel_error is not None]
    for r, e in errs:
        by_group[r.source_group].append(e)
        by_chip[r.chip_type].append(e)
    mem = [
        r.memory_predicted_gib / r.memory_measured_gib - 1
        for r in ok
        if r.memory_predicted_gib is not None and r.memory_measured_gib
    ]
    mem_tt = [
        r.memory_predicted_gib / r.memory_measured_gib - 1
        for r in ok
        if r.memory_predicted_gib is not None
        and r.memory_measured_gib
        and r.source_group.startswith("torchtitan")
    ]
    return {
        "rows": len(results),
        "supported": len(ok),
        "unsupported": len(results) - len(ok),
        "grade_a_rows": len(grade_a),
        "grade_a_supported_fraction": (sum(r.status == "ok" for r in grade_a) / len(grade_a))
        if grade_a
        else None,
        "overall": _stats([e for _, e in errs]),
        "grade_a": _stats([e for r, e in errs if r.spec_grade == "A"]),
        "by_source": {k: _stats(v) for k, v in sorted(by_group.items())},
        "by_chip": {k: _stats(v) for k, v in sorted(by_chip.items())},
        "memory": _stats(mem),
        "memory_torchtitan": _stats(mem_tt),
    }


def result_dict(r: RowResult) -> dict[str, Any]:
    return asdict(r)


def measured_mfu(case: Case) -> float | None:
    """The row's measured MFU in gigatrain's convention (model FLOPs with causal attention over
    the dense peak of the matmul format), from whatever throughput figure it reports."""
    m, job, chips = case.model, case.job, case.plan.chips
    if case.metric == "step_time_s":
        tps_chip = job.tokens_per_step / case.measured / chips
    elif case.metric == "tokens_per_s":
        tps_chip = case.measured / chips
    elif case.metric == "tokens_per_s_per_chip":
        tps_chip = case.measured
    elif case.metric == "tflops_per_chip":
        per_token = _predicted_metric(
            case, {"tokens_per_s_per_chip": np.array([1.0])}, 0
        )  # TFLOP per token
        tps_chip = case.measured / per_token
    else:
        return None
    return (
        tps_chip
        * model_flops_per_token(m, job.seq_len, causal=True)
        / case.system.chip.matmul_peak(job.precision)
    )
