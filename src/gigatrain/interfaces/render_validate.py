"""Rich tables for ``gigatrain validate``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..validate.score import RowResult


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def _stats_table(title: str, stats: dict[str, dict[str, Any]]) -> Table:
    """Error statistics per group; short headers so 80 columns hold source names whole."""
    t = Table(
        title=f"{title} · |err| = |predicted/measured − 1|",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    t.add_column("", overflow="fold")
    for col in ("rows", "median |err|", "p90 |err|", "median err", "≤15%"):
        t.add_column(col, justify="right", no_wrap=True)
    for k, s in stats.items():
        t.add_row(
            escape(str(k)),
            str(s["n"]),
            _fmt(s["median_abs_rel_error"]),
            _fmt(s["p90_abs_rel_error"]),
            _fmt(s["median_rel_error"]),
            _fmt(s["within_15pct"]),
        )
    return t


def validation_tables(
    results: list[RowResult], summary: dict[str, Any], console: Console, show_unsupported: bool
) -> None:
    console.print(
        f"[bold]{summary['supported']}[/] of {summary['rows']} rows predicted; "
        f"{summary['unsupported']} unsupported (reasons below). rel_error = predicted/measured − 1 "
        "in the metric each source reports."
    )
    console.print(
        _stats_table(
            "Throughput error",
            {"all supported rows": summary["overall"], "grade A": summary["grade_a"]},
        )
    )
    console.print(_stats_table("By source", summary["by_source"]))
    console.print(_stats_table("By chip", summary["by_chip"]))
    if summary["memory"]["n"]:
        console.print(
            _stats_table(
                "Peak memory (rows that report it)",
                {"all": summary["memory"], "torchtitan": summary["memory_torchtitan"]},
            )
        )
    reasons = Counter(r.reason for r in results if r.status != "ok")
    if reasons:
        t = Table(
            title="Unsupported rows by reason",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
        )
        t.add_column("rows", justify="right")
        t.add_column("reason", overflow="fold")
        for reason, n in reasons.most_common():
            t.add_row(str(n), escape(reason))
        console.print(t)
    if show_unsupported:
        for r in results:
            if r.status != "ok":
                console.print(
                    f"{r.row_id}  {r.source_group}  {r.reason}", markup=False, highlight=False
                )
