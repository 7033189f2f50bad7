"""One sweep point → result rows: the plan search of :func:`gigatrain.search.engine.search`.

A point is searched exactly as ``gigatrain search`` would search it (same resolution of the
model, job and framework through :func:`gigatrain.api.resolve`, same engine), on the variant's
system (a catalog system, or a hypothetical one from :mod:`gigatrain.sweep.whatif`).

``record: best`` gives one row per point: the winner of the spec's objective, or a row with
``feasible = false`` and the reason (nothing fits, the chip count exceeds the system, no
price…). ``record: pareto`` gives one row per plan on the front (``rank`` 0, 1, …), or the
same single infeasible row. ``record: all`` gives one row per valid candidate plan
(:mod:`gigatrain.sweep.every`). Costs are the search's steady-state figures: time to train ×
chips × USD per chip-hour (no failures or ramp; ``gigatrain cost`` adds those).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..api import resolve
from ..catalog.frameworks import knobs_for
from ..errors import GigatrainError
from ..search.engine import Constraints, search
from .spec import Point, SweepSpec
from .whatif import attention_scale, build_system, price_for

if TYPE_CHECKING:
    from ..api import Resolved
    from ..knobs import Knobs
    from ..specs import SystemSpec

SCHEMA = pa.schema(
    [
        ("point_key", pa.string()),
        ("model", pa.string()),
        ("chip", pa.string()),
        ("chip_base", pa.string()),
        ("hypothetical", pa.bool_()),
        ("chip_overrides", pa.string()),
        ("chips", pa.int64()),
        ("global_batch", pa.int64()),
        ("seq", pa.int64()),
        ("tokens", pa.float64()),
        ("precision", pa.string()),
        ("framework", pa.string()),
        ("usd_per_chip_hour", pa.float64()),
        ("price_source", pa.string()),
        ("objective", pa.string()),
        ("record", pa.string()),
        ("rank", pa.int32()),
        ("feasible", pa.bool_()),
        ("reason", pa.string()),
        ("tp", pa.int32()),
        ("pp", pa.int32()),
        ("dp", pa.int32()),
        ("cp", pa.int32()),
        ("ep", pa.int32()),
        ("vpp", pa.int32()),
        ("micro_batch", pa.int32()),
        ("zero", pa.int32()),
        ("fsdp_shard", pa.int32()),
        ("recompute", pa.string()),
        ("sequence_parallel", pa.bool_()),
        ("fits", pa.bool_()),
        ("memory_bytes", pa.float64()),
        ("step_time_s", pa.float64()),
        ("mfu", pa.float64()),
        ("memory_frac", pa.float64()),
        ("tokens_per_s", pa.float64()),
        ("time_to_train_s", pa.float64()),
        ("days_to_train", pa.float64()),
        ("cost_usd", pa.float64()),
        ("usd_per_mtoken", pa.float64()),
        ("energy_j", pa.float64()),
        ("candidates", pa.int64()),
        ("evaluated", pa.int64()),
        ("eval_s", pa.float64()),
    ]
)
COLUMNS = tuple(SCHEMA.names)


def _base_row(
    p: Point, spec: SweepSpec, key: str, price: float | None, price_source: str, framework: str
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        point_key=key,
        model=p.model,
        chip=p.chip.name,
        chip_base=p.chip.base,
        hypothetical=p.chip.hypothetical,
        chip_overrides=json.dumps(dict(p.chip.overrides), default=list) if p.chip.overrides else "",
        chips=p.chips,
        global_batch=p.global_batch,
        seq=p.seq,
        tokens=p.tokens,
        precision=p.precision,
        framework=framework,
        usd_per_chip_hour=price,
        price_source=price_source,
        objective=spec.objective,
        record=spec.record,
        rank=0,
        feasible=False,
        reason="",
    )
    return row


def setup_point(p: Point) -> tuple[Resolved, SystemSpec, Knobs]:
    """(resolved model and job, the variant's system, the framework's knobs with the what-if
    attention scale) for one point — what both the search and the every-plan path evaluate on."""
    r = resolve(
        p.model, p.chip.base, p.seq, p.global_batch, p.tokens, p.precision, framework=p.framework
    )
    system, _ = build_system(p.chip)
    knobs = knobs_for(r.job.framework, system.chip.vendor)
    a = attention_scale(p.chip)
    if a != 1.0:
        knobs = replace(
            knobs, attention_efficiency_ratio=min(1.0, knobs.attention_efficiency_ratio * a)
        )
    return r, system, knobs


def evaluate_point(p: Point, spec: SweepSpec) -> list[dict[str, Any]]:
    """Rows for one point (see the module docstring); bad input for a point is an infeasible row
    with its one-line reason, never an exception that stops the sweep."""
    key = p.key(spec)
    price, price_source = price_for(p.chip, p.usd_per_chip_hour)
    row = _base_row(p, spec, key, price, price_source, p.framework)
    t0 = time.perf_counter()
    try:
        r, system, knobs = setup_point(p)
        row["framework"] = r.job.framework
        res = search(
            r.model,
            system,
            r.job,
            p.chips,
            spec.objective,
            Constraints(max_memory_frac=spec.max_memory_frac),
            top=1,
            usd_per_chip_hour=price,
            pareto=spec.pareto if spec.record == "pareto" else None,
            knobs=knobs,
        )
    except GigatrainError as e:
        row["reason"] = str(e).splitlines()[0][:500]
        row["eval_s"] = time.perf_counter() - t0
        return [row]
    row.update(candidates=res.candidates, evaluated=res.evaluated, eval_s=time.perf_counter() - t0)
    winners = list(res.pareto) if spec.record == "pareto" else list(res.top[:1])
    if not winners:
        row["reason"] = (
            res.diagnosis.message.splitlines()[0][:500] if res.diagnosis else "no plan found"
        )
        return [row]
    out = []
    for i, c in enumerate(winners):
        r2 = dict(row)
        pl, est = c.plan, c.estimate
        r2.update(
            rank=i,
            feasible=True,
            tp=pl.tp,
            pp=pl.pp,
            dp=pl.dp,
            cp=pl.cp,
            ep=pl.ep,
            vpp=pl.vpp,
            micro_batch=pl.micro_batch,
            zero=pl.zero_stage,
            recompute=pl.recompute,
            fsdp_shard=pl.fsdp_shard,
            sequence_parallel=pl.sequence_parallel,
            fits=True,
            memory_bytes=float(est.memory_bytes),
            step_time_s=c.step_time_s,
            mfu=float(est.mfu),
            memory_frac=c.memory_frac,
            time_to_train_s=c.time_to_train_s,
            tokens_per_s=c.global_batch * p.seq / c.step_time_s if c.step_time_s > 0 else None,
            days_to_train=c.time_to_train_s / 86400.0 if c.time_to_train_s is not None else None,
            cost_usd=c.cost_usd if not c.per_step else None,
            usd_per_mtoken=c.cost_usd / p.tokens * 1e6
            if (c.cost_usd is not None and not c.per_step)
            else None,
            energy_j=c.energy_j if not c.per_step else None,
        )
        out.append(r2)
    return out


def evaluate_points(points: list[Point], spec: SweepSpec) -> list[dict[str, Any]]:
    """Rows for a batch of points (one task)."""
    rows: list[dict[str, Any]] = []
    for p in points:
        rows.extend(evaluate_point(p, spec))
    return rows


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)
