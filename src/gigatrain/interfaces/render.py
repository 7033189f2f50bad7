"""Rich rendering of library results for the terminal. Presentation only: no model logic."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..model.estimate import Estimate
from ..units import gib, pct, seconds, si


def _bar(frac: float, width: int = 24) -> str:
    n = max(0, min(width, round(frac * width)))
    return "█" * n + "·" * (width - n)


def estimate_tables(e: Estimate, console: Console) -> None:
    p = e.plan
    console.print(
        f"[bold]{escape(e.model)}[/] on [bold]{e.chips:,} × {escape(e.chip)}[/] ({escape(e.system)})"
        f"  ·  {escape(p.describe())}  ·  seq {e.job.seq_len:,}  ·  global batch "
        f"{e.job.global_batch_seqs:,} seqs ({e.job.tokens_per_step:,} tokens)  ·  {escape(e.job.precision)}"
        + (f"  ·  profile {escape(e.profile)}" if e.profile else ""),
        highlight=False,
    )
    cap = e.memory_capacity_bytes
    mt = Table(
        title=f"Memory per rank (most-loaded: {e.worst_stage} pipeline stage)", title_justify="left"
    )
    mt.add_column("part")
    mt.add_column("size", justify="right")
    mt.add_column("of capacity", justify="right")
    mt.add_column("")
    for k, v in e.memory_breakdown.items():
        if v > 0:
            mt.add_row(k.removeprefix("memory/"), gib(v), pct(v / cap), _bar(v / cap))
    verdict = "[green]fits[/]" if e.fits else "[red]does NOT fit[/]"
    mt.add_row(
        "[bold]total[/]", f"[bold]{gib(e.memory_bytes)}[/]", pct(e.memory_bytes / cap), verdict
    )
    mt.add_row("capacity", gib(cap), "100%", "")
    console.print(mt)

    tt = Table(title="Step time (slowest rank; exposed time only)", title_justify="left")
    tt.add_column("part")
    tt.add_column("time", justify="right")
    tt.add_column("share", justify="right")
    tt.add_column("")
    for k, v in e.time_breakdown.items():
        if v > 0:
            tt.add_row(
                k.removeprefix("time/"), seconds(v), pct(v / e.step_time_s), _bar(v / e.step_time_s)
            )
    tt.add_row(
        "[bold]step[/]",
        f"[bold]{seconds(e.step_time_s)}[/]",
        "100%",
        f"{e.microbatches:g} micro-batches",
    )
    lo, hi = e.step_time_bounds_s
    tt.add_row("bounds", f"{seconds(lo)} – {seconds(hi)}", "", "comm all hidden – none hidden")
    if e.step_time_interval_s:
        a, b = e.step_time_interval_s
        tt.add_row(
            "held-out interval", f"{seconds(a)} – {seconds(b)}", "", "p10–p90 of held-out errors"
        )
    console.print(tt)

    st = Table(title="Throughput", title_justify="left", show_header=False)
    st.add_column("metric")
    st.add_column("value", justify="right")
    st.add_row("tokens/s (cluster)", si(e.tokens_per_s))
    st.add_row("tokens/s per chip", f"{e.tokens_per_s_per_chip:,.0f}")
    st.add_row("MFU (causal attention FLOPs)", pct(e.mfu))
    st.add_row("MFU (full-attention convention)", pct(e.mfu_noncausal))
    st.add_row("HFU (incl. recompute)", pct(e.hfu))
    st.add_row("model FLOPs per token", si(e.model_flops_per_token, "FLOP"))
    st.add_row(
        "parameters (total / active)",
        f"{e.params_total / 1e9:,.2f} B / {e.params_active / 1e9:,.2f} B",
    )
    bar = e.error_bar
    if bar:
        lo_f, hi_f = float(bar["lo"]), float(bar["hi"])  # type: ignore[arg-type]
        st.add_row("MFU held-out interval", f"{pct(e.mfu / hi_f)} – {pct(e.mfu / lo_f)}")
    if e.days_to_train is not None:
        days = f"{e.days_to_train:,.1f} days (no failures)"
        if bar:
            days += f", {e.days_to_train * lo_f:,.1f}–{e.days_to_train * hi_f:,.1f} held-out"
        st.add_row(f"time to train {si(e.job.tokens)} tokens", days)
    console.print(st)
    if bar:
        console.print(
            f"interval: p10–p90 of held-out (leave-one-source-out) errors, {bar['rows']} rows of "
            f"{escape(str(bar['basis']))}",
            highlight=False,
        )
    if e.evidence:
        console.print(f"evidence: {escape(e.evidence)}", highlight=False)
    for w in e.warnings:
        console.print(
            f"[yellow]warning:[/] {escape(w)} (the search never offers this plan)", highlight=False
        )
