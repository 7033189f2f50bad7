"""``gigatrain search``: the best parallel plans for a model on a cluster. Rendering only —
the search itself is :func:`gigatrain.search.engine.search`."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import GigatrainError
from ..specs import PRECISIONS
from ..units import usd
from .plan_options import degree_filters

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from ..search.engine import Candidate, SearchResult

app = typer.Typer()
console = Console()
err_console = Console(stderr=True)


def _ints(name: str, text: str | None) -> tuple[int, ...] | None:
    """``"1,2,4,8"`` → (1, 2, 4, 8); None stays None."""
    if text is None:
        return None
    try:
        vals = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise GigatrainError(f"--{name} takes comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 0:
        raise GigatrainError(f"--{name} takes comma-separated non-negative integers, got {text!r}")
    return vals


def _pareto(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) != 2:
        raise GigatrainError(f"--pareto takes two objectives like time,cost; got {text!r}")
    return parts[0], parts[1]


def _energy(j: float | None) -> str:
    if j is None:
        return "–"
    mwh = j / 3.6e9
    return f"{mwh:,.1f} MWh" if mwh >= 1 else f"{j / 3.6e6:,.2f} kWh"


def _columns(rows: list[Candidate], res: SearchResult, compact: bool) -> list[str]:
    """Column names of the plan table; ``compact`` (under 120 columns) folds vpp into the
    degrees and leaves out sp and tokens/s so that 80 columns hold it."""
    moe = any(c.plan.ep > 1 for c in rows)
    budget = bool(rows) and not rows[0].per_step
    show_energy = "energy" in (res.objective, *(res.pareto_axes or ()))
    cols = ["#"] + (["chips"] if len(res.chip_counts) > 1 else [])
    cols += ["gbs"] if len(res.global_batches) > 1 else []
    cols += ["tp·pp·dp·cp·ep" if moe else "tp·pp·dp·cp"]
    cols += (
        ["mbs", "zero", "rc", "mem", "step", "MFU"]
        if compact
        else ["vpp", "mbs", "zero", "rc", "sp", "memory", "step", "tokens/s", "MFU"]
    )
    cols += ["days"] if budget else []
    cols += ["$ run" if budget else "$/step"]
    cols += ["energy" if budget else "energy/step"] if show_energy else []
    return cols


def _cells(i: int, c: Candidate, cols: list[str]) -> list[str]:
    from ..units import pct, seconds, si

    p, e = c.plan, c.estimate
    values = {
        "#": str(i),
        "chips": f"{c.chips:,}",
        "gbs": f"{c.global_batch:,}",
        "vpp": str(p.vpp),
        "mbs": str(p.micro_batch),
        "zero": f"{p.zero_stage}" + (f"/{p.fsdp_shard}" if p.fsdp_shard else ""),
        "rc": {"none": "none", "selective": "sel", "full": "full"}[p.recompute],
        "sp": "on" if p.sequence_parallel and p.tp > 1 else "–",
        "memory": f"{e.memory_bytes / 2**30:,.1f}G {pct(c.memory_frac)}",
        "mem": f"{e.memory_bytes / 2**30:,.0f}G",
        "step": seconds(e.step_time_s),
        "tokens/s": si(e.tokens_per_s),
        "MFU": pct(e.mfu),
        "days": f"{(c.time_to_train_s or 0) / 86400:,.1f}",
        "$ run": usd(c.cost_usd),
        "$/step": usd(c.cost_usd),
        "energy": _energy(c.energy_j),
        "energy/step": _energy(c.energy_j),
    }
    out = []
    for col in cols:
        if col.startswith("tp·"):
            ep = [p.ep] if col.endswith("·ep") else []
            degrees = "·".join(map(str, [p.tp, p.pp, p.dp, p.cp, *ep]))
            out.append(degrees + (f" v{p.vpp}" if "vpp" not in cols and p.vpp > 1 else ""))
        else:
            out.append(values[col])
    return out


def _plan_table(
    title: str, rows: list[Candidate], res: SearchResult, compact: bool = False
) -> Table:
    from rich import box

    hybrid = any(c.plan.fsdp_shard for c in rows)
    notes = ["zero 3/N: ZeRO-3 (FSDP) sharded over N ranks"] if hybrid else []
    if compact:
        notes += ["vN: N virtual pipeline stages"] if any(c.plan.vpp > 1 for c in rows) else []
        notes += ["--wide for every column"]
    t = Table(
        title=title,
        title_justify="left",
        caption_justify="left",
        caption="; ".join(notes) or None,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    cols = _columns(rows, res, compact)
    for c in cols:
        t.add_column(
            c,
            justify="left" if c in ("rc", "zero") else "right",
            no_wrap=not compact,
            overflow="fold",
        )
    for i, cand in enumerate(rows, 1):
        t.add_row(*_cells(i, cand, cols))
    return t


def render(res: SearchResult, out: Console, wide: bool = False) -> None:
    """Rich tables: summary, top plans, the best plan's breakdown, Pareto front, diagnosis.
    Under 120 columns (pipes get 80) the plan tables are compact unless ``wide``."""
    from .render import estimate_tables

    compact = not wide and out.width < 120
    chips = (
        f"{res.chip_counts[0]:,}"
        if len(res.chip_counts) == 1
        else f"{len(res.chip_counts)} counts {res.chip_counts[0]:,}–{res.chip_counts[-1]:,}"
    )
    out.print(
        f"[bold]search[/] {escape(res.model)} on {escape(res.chip)} ({escape(res.system)}) × "
        f"{chips} chips · objective "
        f"[bold]{escape(res.objective)}[/] · {res.candidates:,} candidates, {res.pruned:,} skipped by "
        f"the memory bound, {res.evaluated:,} evaluated, {res.feasible:,} fit · "
        f"{res.wall_s:.2f} s ({res.plans_per_s / 1e6:,.2f} M plans/s)",
        highlight=False,
    )
    if res.price:
        out.print(
            f"price: ${res.price.usd_per_chip_hour:,.2f}/chip-hour ({escape(res.price.source)})",
            highlight=False,
        )
    if res.watts_per_chip:
        out.print(
            f"energy: {res.watts_per_chip:,.0f} W per chip (TDP × training power "
            "fraction; no host power or PUE — a proxy)",
            highlight=False,
        )
    if res.top:
        out.print(_plan_table(f"Top {len(res.top)} plans", list(res.top), res, compact))
        out.print("[bold]Best plan[/]")
        estimate_tables(res.top[0].estimate, out)
        for note in res.notes:
            out.print(f"• {escape(note)}", highlight=False)
    if res.pareto_axes:
        a, b = res.pareto_axes
        out.print(
            _plan_table(
                f"Pareto front: {a} vs {b} ({len(res.pareto)} plans)",
                list(res.pareto),
                res,
                compact,
            )
        )
    d = res.diagnosis
    if d is not None:
        out.print(f"[red bold]{escape(d.message)}[/]", highlight=False)
        for f in d.fixes:
            out.print(f"  • {escape(f)}", highlight=False)
        if d.closest is not None:
            out.print("closest plan:", highlight=False)
            estimate_tables(d.closest.estimate, out)


def _opt(*names: str, help: str) -> typer.models.OptionInfo:
    info: typer.models.OptionInfo = typer.Option(*names, help=help)  # typed Any for defaults
    return info


@app.command()
@degree_filters(after="chips")  # --tp 1,2,4,8 … one per specs.PLAN_DEGREES
def search(
    model: Annotated[str, _opt("--model", "-m", help="catalog slug, or a .yaml / config.json")],
    chip: Annotated[str, _opt("--chip", "-c", help="chip slug (`gigatrain catalog chips`)")],
    chips: Annotated[
        str, _opt(help="chip count N, or a range A-B (powers of two, 3·2^k, node multiples)")
    ],
    degrees: dict[str, Any],
    global_batch: Annotated[
        str,
        _opt(
            "--global-batch",
            help="global batch (sequences): N, a range A-B, or auto "
            "(with --tokens: ~16M tokens, raised up to the "
            "critical-batch bound when the chips need it; "
            "else 1024)",
        ),
    ] = "auto",
    seq: Annotated[int, _opt(help="sequence length")] = 4096,
    tokens: Annotated[str, _opt(help="training token budget, e.g. 15T (for days and $)")] = "0",
    precision: Annotated[str, _opt(help=" | ".join(PRECISIONS))] = "bf16",
    framework: Annotated[
        str,
        _opt(
            help="framework profile; auto = the chip family's usual one (GPU: megatron, Trainium: neuron, TPU: jax)"
        ),
    ] = "auto",
    system: Annotated[str | None, _opt(help="system slug (default: the chip's)")] = None,
    objective: Annotated[str, _opt(help="time | time_to_train | cost | energy")] = "time",
    top: Annotated[int, _opt(help="how many plans to list")] = 10,
    pareto: Annotated[
        str | None,
        _opt(
            help="two axes for a Pareto front, e.g. time,cost (time, cost, energy, memory, chips)"
        ),
    ] = None,
    max_memory_frac: Annotated[
        float, _opt("--max-memory-frac", help="fit under this fraction of HBM")
    ] = 1.0,
    deadline_days: Annotated[
        float | None, _opt("--deadline-days", help="time-to-train limit (needs --tokens)")
    ] = None,
    usd_per_chip_hour: Annotated[
        float | None,
        _opt("--usd-per-chip-hour", help="price (default: median on-demand in prices.yaml)"),
    ] = None,
    zero: Annotated[str | None, _opt(help="only these ZeRO stages, e.g. 1,3")] = None,
    recompute: Annotated[str | None, _opt(help="only these recompute modes: none,full")] = None,
    as_json: Annotated[bool, _opt("--json", help="print JSON")] = False,
    wide: Annotated[bool, _opt("--wide", help="every column, however wide")] = False,
) -> None:
    """Search every parallel plan (TP, PP, VPP, DP/ZeRO/FSDP, CP, EP, micro-batch, recompute)
    for the fastest, cheapest or least-energy one that fits."""
    from ..api import annotate_search, resolve
    from ..guard import check_estimate
    from ..search.engine import Constraints
    from ..search.engine import search as run_search
    from ..search.space import Axes, batch_sizes
    from ..units import parse_count

    tok = 0.0 if tokens in ("0", "") else parse_count("tokens", tokens)
    auto_batch = global_batch.strip().lower() == "auto"
    if auto_batch:
        global_batch = "1024"
    gbs = batch_sizes(global_batch)
    r = resolve(model, chip, seq, gbs[0], tok, precision, system, None, framework)
    max_gb = None
    if auto_batch and tok > 0:  # cost's default batch, so search and cost agree
        from dataclasses import replace

        from ..economics.cost import default_global_batch, run_batch_bound
        from ..model.workload import model_flops_per_token

        global_batch = str(default_global_batch(seq, tok * model_flops_per_token(r.model, seq)))
        r = replace(r, job=replace(r.job, global_batch_seqs=int(global_batch)))
        max_gb = run_batch_bound(r.model, seq, tok)
    rc = None
    if recompute is not None:
        rc = tuple(x.strip() for x in recompute.split(",") if x.strip())
        bad = [x for x in rc if x not in ("none", "selective", "full")]
        if bad or not rc:
            raise GigatrainError(f"--recompute {recompute!r}; valid: none, selective, full")
    filters: dict[str, Any] = {n: _ints(n.replace("_", "-"), t) for n, t in degrees.items()}
    axes = Axes(**filters, zero_stage=_ints("zero", zero), recompute=rc)
    cons = Constraints(
        max_memory_frac=max_memory_frac, deadline_days=deadline_days, global_batch=global_batch
    )
    bar = _ProgressBar(enabled=not as_json)
    try:
        res = run_search(
            r.model,
            r.system,
            r.job,
            chips,
            objective,
            cons,
            top,
            usd_per_chip_hour,
            bar,
            pareto=_pareto(pareto),
            axes=axes,
            allow_fewer=True,
            max_global_batch=max_gb,
        )
    finally:
        bar.close()
    res = annotate_search(res, r)  # error bars, evidence, plausibility flags, why the winner won
    for c in (*res.top, *res.pareto):  # never print a NaN, infinite or negative number
        check_estimate(c.estimate)
    if as_json:
        sys.stdout.write(json.dumps(res.to_dict(), indent=2, default=str, allow_nan=False) + "\n")
    else:
        render(res, Console(width=max(console.width, 200)) if wide else console, wide)
    if not res.top:  # valid input, but nothing fits: README "Exit codes"
        raise typer.Exit(1)


class _ProgressBar:
    """A Rich progress bar on stderr that appears only when a search runs past 0.5 s."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and err_console.is_terminal
        self.t0 = time.perf_counter()
        self.bar: Progress | None = None
        self.task: TaskID | None = None  # set with the bar

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.t0 < 0.5:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.bar = Progress(
                "searching",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("search", total=total)
        if self.task is not None:
            self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
