"""One Ray task's work: the rows of a batch of sweep points as one Arrow table."""

from __future__ import annotations

import pyarrow as pa

from .evaluate import SCHEMA, evaluate_points, rows_to_table
from .every import every_plan_table
from .spec import Point, SweepSpec


def evaluate_task(points: list[Point], spec: SweepSpec) -> pa.Table:
    """One task's rows as an Arrow table (:data:`SCHEMA`): searched winners for ``best`` and
    ``pareto``, every valid candidate for ``all``."""
    if spec.record == "all":
        tables = [every_plan_table(p, spec) for p in points]
        return pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    return rows_to_table(evaluate_points(points, spec))
