"""``record: all``: every valid candidate plan of a point as a row, and the row-count guard.

``search(top=…)`` keeps at most 1,000 plans, so this path walks the search space itself, as
:func:`gigatrain.search.engine.search` does: :func:`~gigatrain.search.space.build_space` on the
framework's axes (:func:`~gigatrain.search.capabilities.framework_axes`), in chunks of
:data:`~gigatrain.search.engine.CHUNK_ROWS`, keeping the candidates that pass
:func:`~gigatrain.model.plans.valid_mask` and
:func:`~gigatrain.search.capabilities.runnable_mask`, through
:func:`~gigatrain.model.estimate.evaluate` (the one model). No memory pruning: plans that do not
fit are written too, with ``fits = false``.

One row per valid candidate: the plan (``tp``, ``pp``, ``dp``, ``cp``, ``ep``, ``vpp``,
``micro_batch``, ``zero``, ``fsdp_shard`` — 0: over all dp·cp ranks, as in
:class:`~gigatrain.specs.Plan` — ``recompute``, ``sequence_parallel``), ``memory_bytes`` and
``memory_frac`` (of HBM), ``fits`` (memory ≤ ``max_memory_frac`` × HBM, also in ``feasible``),
``step_time_s``, ``mfu``, ``tokens_per_s``, ``time_to_train_s``/``days_to_train``,
``cost_usd``/``usd_per_mtoken`` (null without a price) and ``energy_j``. ``rank`` orders the
fitting plans of a point by the objective (at one chip count and batch every objective orders
as step time; ties: less memory, then enumeration order — the search's order), so ``rank = 0``
is the plan ``record: best`` writes and the ``best`` view works in every mode; plans that do not
fit have a null rank. A point with no valid candidate (or bad input) writes the same single
``feasible = false`` row with its reason as the other modes, so every point leaves at least one
row and resume (keyed on points) stays exact.

Before anything runs, :func:`estimate_rows` sums ``build_space(...).size`` over the points (an
upper bound: the masks drop some candidates) and :func:`check_row_cap` refuses a spec without
``max_rows`` or with an estimate above it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..api import resolve
from ..catalog.frameworks import get_framework
from ..errors import GigatrainError
from ..model.estimate import evaluate
from ..model.plans import valid_mask
from ..search.capabilities import framework_axes, runnable_mask
from ..search.engine import CHUNK_ROWS, training_watts_per_chip
from ..search.space import FULL_AXES, build_space, chip_counts
from ..specs import RECOMPUTE_MODES
from .evaluate import COLUMNS, SCHEMA, _base_row, rows_to_table, setup_point
from .spec import Point, SweepSpec
from .whatif import price_for

#: columns that vary within a point (everything else is the point's, repeated)
_PLAN_INT = ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch")


@dataclass(frozen=True)
class RowEstimate:
    """Upper bound on the rows of an every-plan sweep: per point key, and in all."""

    rows: int
    per_point: dict[str, int]
    wall_s: float


def _space_size(p: Point) -> int:
    """``build_space(...).size`` for a point on its framework's axes; 1 (the single infeasible
    row) when the point cannot be set up or has no candidate."""
    try:
        r = resolve(
            p.model,
            p.chip.base,
            p.seq,
            p.global_batch,
            p.tokens,
            p.precision,
            framework=p.framework,
        )
        if p.chips > r.system.max_chips:
            return 1
        caps = get_framework(r.job.framework).capabilities
        return max(1, build_space(r.model, r.job, p.chips, framework_axes(caps, FULL_AXES)).size)
    except GigatrainError:
        return 1


def estimate_rows(spec: SweepSpec) -> RowEstimate:
    """Sum over the spec's points of the candidates each would write (see the module
    docstring). Points that share a model, base chip, size, batch, sequence, precision and
    framework share a space, so each space is built once."""
    t0 = time.perf_counter()
    cache: dict[tuple[Any, ...], int] = {}
    per: dict[str, int] = {}
    for p in spec.points():
        k = (p.model, p.chip.base, p.chips, p.global_batch, p.seq, p.precision, p.framework)
        if k not in cache:
            cache[k] = _space_size(p)
        per[p.key(spec)] = cache[k]
    return RowEstimate(sum(per.values()), per, time.perf_counter() - t0)


def check_row_cap(spec: SweepSpec, est: RowEstimate) -> None:
    """One-line error when an every-plan spec has no ``max_rows`` or its estimate is over it."""
    if spec.record != "all":
        return
    if spec.max_rows is None:
        raise GigatrainError(
            f"sweep spec: record: all would write up to {est.rows:,} rows and max_rows is "
            f"missing; add max_rows: {est.rows:,} (or more) to the spec to run it"
        )
    if est.rows > spec.max_rows:
        raise GigatrainError(
            f"sweep spec: record: all would write up to {est.rows:,} rows, over "
            f"max_rows={spec.max_rows:,}; raise max_rows or narrow the axes"
        )


def every_plan_table(p: Point, spec: SweepSpec) -> pa.Table:
    """Every valid candidate plan of one point as rows of :data:`~gigatrain.sweep.evaluate.SCHEMA`
    (see the module docstring); bad input is the single infeasible row, never an exception."""
    key = p.key(spec)
    price, price_source = price_for(p.chip, p.usd_per_chip_hour)
    row = _base_row(p, spec, key, price, price_source, p.framework)
    t0 = time.perf_counter()
    parts: list[tuple[Any, dict[str, np.ndarray]]] = []
    try:
        r, system, knobs = setup_point(p)
        row["framework"] = r.job.framework
        caps = get_framework(r.job.framework).capabilities
        system.chip.matmul_format(
            r.job.precision
        )  # a precision the chip lacks: one line, as search
        if r.job.precision not in caps.precisions:
            raise GigatrainError(
                f"framework {r.job.framework} does not train in {r.job.precision}; it "
                f"offers {', '.join(caps.precisions)}"
            )
        chip_counts([p.chips], system)  # refuses a count above the system's largest cluster
        sp = build_space(r.model, r.job, p.chips, framework_axes(caps, FULL_AXES))
        for a in range(0, sp.size, CHUNK_ROWS):
            plans = sp.chunk(a, min(a + CHUNK_ROWS, sp.size))
            ok = valid_mask(r.model, r.job, plans) & runnable_mask(caps, r.model, plans)
            if not ok.all():
                plans = plans.take(ok)
            if len(plans):
                parts.append((plans, evaluate(r.model, system, r.job, plans, knobs)))
    except GigatrainError as e:
        row["reason"] = str(e).splitlines()[0][:500]
        row["eval_s"] = time.perf_counter() - t0
        return rows_to_table([row])
    n = sum(len(pl) for pl, _ in parts)
    row.update(candidates=sp.size, evaluated=n)
    if n == 0:
        row["reason"] = (
            f"no valid plan on {p.chips:,} chips for global batch {p.global_batch:,}: "
            "dp·tp·pp·cp must equal the chips, dp dividing the global batch"
        )
        row["eval_s"] = time.perf_counter() - t0
        return rows_to_table([row])

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(pl, name) for pl, _ in parts])

    def res(name: str) -> np.ndarray:
        return np.concatenate([rr[name] for _, rr in parts]).astype(np.float64)

    mem_bytes, step_s, tok_s, mfu = (
        res("memory/total"),
        res("step_time_s"),
        res("tokens_per_s"),
        res("mfu"),
    )
    hbm_bytes = float(system.chip.hbm_bytes)
    fits = mem_bytes <= spec.max_memory_frac * hbm_bytes
    fit_idx = np.flatnonzero(fits)
    order = fit_idx[np.lexsort((fit_idx, mem_bytes[fit_idx], step_s[fit_idx]))]
    rank = np.full(n, -1, dtype=np.int32)
    rank[order] = np.arange(order.size, dtype=np.int32)
    train_s = p.tokens / tok_s
    try:
        watts: float | None = training_watts_per_chip(system)
    except GigatrainError:
        watts = None
    cost = train_s * p.chips * price / 3600.0 if price is not None else None
    row["eval_s"] = time.perf_counter() - t0

    cols: dict[str, pa.Array] = {}
    for name in _PLAN_INT:
        cols[name] = pa.array(cat(name).astype(np.int32))
    cols["zero"] = pa.array(cat("zero_stage").astype(np.int32))
    shard, dpcp = cat("fsdp_shard"), cat("dp") * cat("cp")
    cols["fsdp_shard"] = pa.array(
        np.where(shard == dpcp, 0, shard).astype(np.int32)
    )  # Plan's: 0 = all
    cols["recompute"] = pc.take(pa.array(list(RECOMPUTE_MODES)), pa.array(cat("recompute")))
    cols["sequence_parallel"] = pa.array(cat("sequence_parallel").astype(bool))
    cols["fits"] = cols["feasible"] = pa.array(fits)
    cols["rank"] = pa.array(rank, mask=rank < 0)
    cols["memory_bytes"] = pa.array(mem_bytes)
    cols["memory_frac"] = pa.array(mem_bytes / hbm_bytes)
    cols["step_time_s"] = pa.array(step_s)
    cols["mfu"] = pa.array(mfu)
    cols["tokens_per_s"] = pa.array(tok_s)
    cols["time_to_train_s"] = pa.array(train_s)
    cols["days_to_train"] = pa.array(train_s / 86400.0)
    if cost is not None:
        cols["cost_usd"] = pa.array(cost)
        cols["usd_per_mtoken"] = pa.array(cost / p.tokens * 1e6)
    if watts is not None:
        cols["energy_j"] = pa.array(train_s * p.chips * watts)
    arrays = [
        cols[c] if c in cols else pa.repeat(pa.scalar(row[c], type=SCHEMA.field(c).type), n)
        for c in COLUMNS
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)
