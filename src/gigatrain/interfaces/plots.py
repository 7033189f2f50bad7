"""Static plots (PNG/SVG) for the economics commands. Presentation only: the numbers come from
``gigatrain.economics``. matplotlib is imported lazily (``pip install gigatrain[plot]``) and
always with the non-interactive Agg backend.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ..errors import GigatrainError

_FORMATS = (".png", ".svg", ".pdf")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise GigatrainError("plots need matplotlib: pip install 'gigatrain[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def check_path(path: Path) -> Path:
    """Refuse a plot path with an unknown suffix or a missing folder (before any work)."""
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise GigatrainError(f"plot file {path.name!r}: use one of {', '.join(_FORMATS)}")
    if not path.parent.exists():
        raise GigatrainError(f"plot file {path}: folder {path.parent} does not exist")
    return path


def compare_plot(rows: list[Any], path: Path, title: str = "") -> Path:
    """Wall-clock days vs run cost, one point per chip; Pareto-optimal chips are filled and
    joined by the front line. ``rows`` are :class:`gigatrain.economics.cost.ComparisonRow`."""
    path = check_path(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    pts = [
        (r.cost.days, r.cost.total_usd / 1e6, r.chip, r.pareto)
        for r in rows
        if r.cost.days == r.cost.days and r.cost.days != float("inf")
    ]
    for days, usd, chip, pareto in pts:
        ax.scatter(
            days,
            usd,
            s=60,
            marker="o",
            facecolors="tab:blue" if pareto else "none",
            edgecolors="tab:blue",
            zorder=3,
        )
        ax.annotate(chip, (days, usd), textcoords="offset points", xytext=(6, 4), fontsize=9)
    front = sorted((d, u) for d, u, _, p in pts if p)
    if len(front) > 1:
        ax.plot(
            [d for d, _ in front],
            [u for _, u in front],
            "--",
            color="tab:blue",
            lw=1,
            label="Pareto front (filled: not beaten on both)",
        )
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("wall-clock days (with goodput)")
    ax.set_ylabel("run cost (USD millions)")
    ax.set_title(title or "Time vs cost per chip", fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def roadmap_plot(roadmap: Any, path: Path) -> Path:
    """Fleet size and sustained FLOP/s over time, each run as a bar from start to finish, and
    cumulative energy and cost. ``roadmap`` is :class:`gigatrain.economics.roadmap.Roadmap`."""
    path = check_path(path)
    plt = _pyplot()
    s = roadmap.series
    if not s["date"]:
        raise GigatrainError("the roadmap simulated no days; nothing to plot")
    days = [dt.date.fromisoformat(d) for d in s["date"]]
    fig, (ax1, ax2, ax3) = plt.subplots(
        3, 1, figsize=(9, 9), sharex=True, gridspec_kw={"height_ratios": [2, 1.4, 1.6]}
    )
    ax1.step(days, [f / 1e18 for f in s["sustained_flops_per_s"]], where="post", color="tab:blue")
    ax1.set_ylabel("sustained EFLOP/s", color="tab:blue")
    ax1b = ax1.twinx()
    ax1b.step(
        days, [w / 1e9 for w in s["facility_peak_w"]], where="post", color="tab:orange", ls="--"
    )
    ax1b.set_ylabel("provisioned facility GW", color="tab:orange")
    ax1.set_title(roadmap.title or "Fleet roadmap", fontsize=10)
    ax1.grid(True, alpha=0.3)
    end = days[-1]
    for i, r in enumerate(roadmap.runs):
        if r.start is None:
            continue
        a = dt.date.fromisoformat(r.start)
        b = dt.date.fromisoformat(r.finish) if r.finish else end
        ax2.barh(
            i, (b - a).days + 1, left=a, height=0.6, color="tab:green" if r.finish else "tab:gray"
        )
        ax2.text(
            a, i, f" {r.name}" + ("" if r.finish else " (not finished)"), va="center", fontsize=8
        )
    ax2.set_yticks([])
    ax2.invert_yaxis()
    ax2.set_ylabel("runs")
    ax3.plot(days, [e / 3.6e15 for e in s["cum_energy_j"]], color="tab:red")
    ax3.set_ylabel("cumulative TWh", color="tab:red")
    ax3b = ax3.twinx()
    ax3b.plot(days, [c / 1e9 for c in s["cum_cost_usd"]], color="tab:purple", ls="--")
    ax3b.set_ylabel(f"cumulative $B ({roadmap.pricing})", color="tab:purple")
    ax3.grid(True, alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
