"""DuckDB over a sweep's Parquet results.

The results are exposed as the view ``results`` (every finished task file, one row per point
for ``record: best``, one per front plan for ``record: pareto``, one per valid candidate plan
for ``record: all``) and ``best`` (rank 0 rows of feasible points: the objective's winner in
every mode). Queries run in an in-memory DuckDB; nothing is written to the directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import GigatrainError
from .store import MANIFEST, RESULTS, part_files


def run_query(out: Path | str, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of ``sql`` over the sweep in ``out``; bad SQL is one line."""
    try:
        import duckdb
    except ModuleNotFoundError:
        raise GigatrainError("query needs DuckDB: pip install 'gigatrain[sweep]'") from None
    out = Path(out)
    if not (out / MANIFEST).exists():
        raise GigatrainError(
            f"{out} is not a sweep directory (no {MANIFEST}); run `gigatrain sweep` first"
        )
    if not part_files(out):
        raise GigatrainError(f"{out} holds no results yet")
    con = duckdb.connect(":memory:")
    try:
        glob = str(out / RESULTS / "chip=*" / "part-*.parquet").replace("'", "''")
        con.execute(
            f"CREATE VIEW results AS SELECT * FROM read_parquet('{glob}', hive_partitioning=false, "
            "union_by_name=true)"
        )
        con.execute("CREATE VIEW best AS SELECT * FROM results WHERE feasible AND rank = 0")
        try:
            cur = con.execute(sql)
        except duckdb.Error as e:
            raise GigatrainError(f"query: {str(e).splitlines()[0]}") from None
        if cur.description is None:
            return [], []
        cols = [d[0] for d in cur.description]
        return cols, cur.fetchall()
    finally:
        con.close()
