"""``gigatrain sweep``, ``query`` and ``sweep-plot``: design-space sweeps. Rendering only — the
sweep itself is :mod:`gigatrain.sweep`."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import GigatrainError
from ..pareto import pareto_front

app = typer.Typer()
console = Console()
err_console = Console(stderr=True)


def _progress_bar() -> tuple[Any, Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    prog = Progress(
        TextColumn("points"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} pts/s"),
        TextColumn("rows {task.fields[rows]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    return prog, prog.add_task("sweep", total=None, rate="–", rows=0)


@app.command()
def sweep(
    spec: Annotated[
        Path, typer.Argument(help="sweep spec YAML (see src/gigatrain/examples/sweep-*.yaml)")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="results directory (created; rerun to resume)")
    ],
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local runtime)")
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="run in this process, without Ray")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="CPUs of the local Ray runtime (default: all)")
    ] = None,
    allow_catalog_change: Annotated[
        bool,
        typer.Option("--allow-catalog-change", help="resume even though the catalog files changed"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Run a design-space sweep (models × chips incl. what-if × sizes × budgets × prices) on Ray;
    results as Parquet in --out, resumable after any crash."""
    from ..sweep.runner import run_sweep
    from ..sweep.spec import load_spec

    if workers is not None and not 1 <= workers <= 4096:
        raise GigatrainError(f"--workers must be in 1..4096, got {workers}")
    sp = load_spec(spec)
    est = None
    if sp.record == "all":  # every plan: say how big before anything runs (and refuse over the cap)
        from ..sweep.every import check_row_cap, estimate_rows

        est = estimate_rows(sp)
        cap = f"max_rows {sp.max_rows:,}" if sp.max_rows is not None else "no max_rows"
        err_console.print(
            f"record: all — at most {est.rows:,} rows over {sp.size:,} points ({cap}; "
            f"estimated in {est.wall_s:.1f} s)",
            highlight=False,
        )
        check_row_cap(sp, est)
    prog, tid = _progress_bar()
    t0 = time.perf_counter()
    first: list[int] = []

    def progress(done: int, total: int, rows: int) -> None:
        if not first:
            first.append(done)
        dt = time.perf_counter() - t0
        rate = (done - first[0]) / dt if dt > 0 and done > first[0] else 0.0
        prog.update(
            tid, completed=done, total=total, rate=f"{rate:,.1f}" if rate else "–", rows=f"{rows:,}"
        )

    with prog:
        summary = run_sweep(
            sp,
            out,
            executor="local" if local else "ray",
            address=address,
            num_cpus=workers,
            progress=progress,
            allow_catalog_change=allow_catalog_change,
            row_estimate=est,
        )
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict(), indent=2, default=str) + "\n")
    else:
        t = Table(title=f"sweep {escape(sp.name)} → {escape(str(out))}", title_justify="left")
        for c in (
            "points",
            "before",
            "computed",
            "rows",
            "tasks",
            "per task",
            "cpus",
            "wall",
            "pts/s",
            "rows/s",
        ):
            t.add_column(c, justify="right")
        t.add_row(
            f"{summary.points_total:,}",
            f"{summary.points_done_before:,}",
            f"{summary.points_computed:,}",
            f"{summary.rows_written:,}",
            f"{summary.tasks:,}",
            str(summary.points_per_task),
            str(summary.workers),
            f"{summary.wall_s:,.1f} s",
            f"{summary.points_per_s:,.1f}",
            f"{summary.rows_per_s:,.0f}",
        )
        console.print(t)
        hypo = [c.describe() for c in sp.chips if c.hypothetical]
        for h in hypo:
            console.print(f"[yellow]hypothetical chip:[/] {escape(h)}", highlight=False)
        console.print(
            f'query it: gigatrain query {escape(str(out))} "SELECT chip, chips, min(usd_per_mtoken) '
            'FROM best GROUP BY ALL ORDER BY 3"',
            highlight=False,
        )
    if summary.failed_tasks:
        for f in summary.failed_tasks:
            err_console.print(f"[red]task failed:[/] {escape(f)}", highlight=False)
        err_console.print(
            f"{summary.points_missing:,} points missing; rerun the same command to compute them"
        )
        raise typer.Exit(1)


def _cell(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


@app.command()
def query(
    out: Annotated[Path, typer.Argument(help="sweep results directory")],
    sql: Annotated[str, typer.Argument(help="DuckDB SQL over the views `results` and `best`")],
    as_json: Annotated[bool, typer.Option("--json", help="rows as JSON objects")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="rows as CSV")] = False,
) -> None:
    """Run DuckDB SQL over a sweep's Parquet results (views: results, best)."""
    from ..sweep.query import run_query

    if as_json and as_csv:
        raise GigatrainError("choose one of --json and --csv")
    cols, rows = run_query(out, sql)
    if as_json:
        sys.stdout.write(
            json.dumps([dict(zip(cols, r, strict=True)) for r in rows], indent=2, default=str)
            + "\n"
        )
        return
    if as_csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(cols)
        w.writerows(rows)
        return
    t = Table(title=f"{len(rows):,} rows", title_justify="left")
    cells = [[_cell(v) for v in r] for r in rows[:1000]]
    for c in cols:
        t.add_column(escape(c), no_wrap=True)
    for r in cells:
        t.add_row(*[escape(v) for v in r])
    # a query's columns are the user's choice: widen past the terminal rather than fold cells
    need = sum(max([len(c), *(len(r[i]) for r in cells)]) + 3 for i, c in enumerate(cols)) + 1
    (console if console.width >= need else Console(width=need)).print(t)
    if len(rows) > 1000:
        console.print(f"(first 1,000 of {len(rows):,} rows; --csv or --json print all)")


@app.command("sweep-plot")
def sweep_plot(
    out: Annotated[Path, typer.Argument(help="sweep results directory")],
    output: Annotated[Path, typer.Option("--output", "-o", help="image file (.png, .svg, .pdf)")],
    metric: Annotated[
        str, typer.Option(help="usd_per_mtoken | days_to_train | mfu | cost_usd")
    ] = "usd_per_mtoken",
    view: Annotated[
        str, typer.Option(help="best (metric vs chips) | pareto (cost vs days fronts)")
    ] = "best",
) -> None:
    """Best $ per million tokens (or days, MFU) against chip count, one line per chip and one
    panel per model (--view pareto: each chip's cost-vs-days front over all its plans);
    hypothetical chips dashed and labelled."""
    from ..sweep.query import run_query

    if view not in ("best", "pareto"):
        raise GigatrainError(f"--view={view!r}; valid: best, pareto")
    if view == "pareto":
        _pareto_plot(out, output)
        return

    metrics = {
        "usd_per_mtoken": ("best $ per million trained tokens", "min"),
        "cost_usd": ("best cost of the run ($, steady state)", "min"),
        "days_to_train": ("days to train (best plan)", "min"),
        "mfu": ("MFU of the best plan", "max"),
    }
    if metric not in metrics:
        raise GigatrainError(f"--metric={metric!r}; valid: {', '.join(metrics)}")
    _check_suffix(output)
    label, agg = metrics[metric]
    _cols, rows = run_query(
        out,
        f"SELECT model, chip, any_value(hypothetical), chips, {agg}({metric}) FROM best "
        f"WHERE {metric} IS NOT NULL GROUP BY model, chip, chips ORDER BY model, chip, chips",
    )
    if not rows:
        raise GigatrainError(f"{out}: no feasible points with {metric} to plot")
    plt = _pyplot()
    models = list(dict.fromkeys(r[0] for r in rows))
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.2), squeeze=False)
    for ax, m in zip(axes[0], models, strict=True):
        series: dict[tuple[str, bool], list[tuple[int, float]]] = {}
        for model, chip, hypo, n, v in rows:
            if model == m:
                series.setdefault((chip, bool(hypo)), []).append((n, v))
        for (chip, hypo), pts in series.items():
            xs, ys = zip(*sorted(pts), strict=True)
            ax.plot(
                xs,
                ys,
                "--" if hypo else "-",
                marker="o",
                label=f"{chip} (hypothetical)" if hypo else chip,
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("chips")
        ax.set_ylabel(label)
        ax.set_title(m)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, output)
    console.print(f"wrote {escape(str(output))} ({len(rows)} points, {len(models)} models)")


def _check_suffix(output: Path) -> None:
    if output.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise GigatrainError(f"--output {output}: use a .png, .svg or .pdf file name")


def _pyplot() -> Any:
    """matplotlib's pyplot on the non-interactive Agg backend, or a one-line error."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError:
        raise GigatrainError("sweep-plot needs matplotlib: pip install 'gigatrain[plot]'") from None
    return plt


def _save(fig: Any, output: Path) -> None:
    """Lay out, write and close ``fig``; an unwritable path is a one-line error."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        fig.savefig(output)
    except OSError as e:
        raise GigatrainError(f"cannot write {output}: {e.strerror or e}") from None
    finally:
        plt.close(fig)


def _front(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated in (days, cost), sorted by days (:func:`gigatrain.pareto.pareto_front`)."""
    days, cost = (
        np.array([p[0] for p in pts], dtype=float),
        np.array([p[1] for p in pts], dtype=float),
    )
    return [pts[int(i)] for i in pareto_front(days, cost)]


def _pareto_plot(out: Path, output: Path) -> None:
    """Cost against days to train: each chip's non-dominated plans over every point of the sweep."""
    from ..sweep.query import run_query

    _check_suffix(output)
    _cols, rows = run_query(
        out,
        "SELECT model, chip, hypothetical, days_to_train, cost_usd FROM results "
        "WHERE feasible AND days_to_train IS NOT NULL AND cost_usd IS NOT NULL",
    )
    if not rows:
        raise GigatrainError(f"{out}: no feasible plans with a token budget and a price to plot")
    plt = _pyplot()
    import matplotlib.ticker

    models = list(dict.fromkeys(r[0] for r in rows))
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.2), squeeze=False)
    for ax, m in zip(axes[0], models, strict=True):
        series: dict[tuple[str, bool], list[tuple[float, float]]] = {}
        for model, chip, hypo, d, c in rows:
            if model == m:
                series.setdefault((chip, bool(hypo)), []).append((d, c / 1e6))
        for (chip, hypo), pts in series.items():
            xs, ys = zip(*_front(pts), strict=True)
            ax.step(
                xs,
                ys,
                "--" if hypo else "-",
                where="post",
                marker="o",
                label=f"{chip} (hypothetical)" if hypo else chip,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{v:,.4g}")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(plain)
        ax.set_xlabel("days to train")
        ax.set_ylabel("cost of the run ($M, steady state)")
        ax.set_title(f"{m}: time-cost Pareto fronts")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, output)
    console.print(f"wrote {escape(str(output))} ({len(rows)} plans, {len(models)} models)")
