"""``gigatrain fleet | cost | compare | check | roadmap``: economics at the command line.

Rendering only: every number comes from :mod:`gigatrain.economics` (power, goodput, cost,
fleet, claims, roadmap). Quantities are parsed at this edge ("2GW", "$10B", "$0.03/kWh",
"20T") and printed in pretty units; JSON output is SI.
"""

from __future__ import annotations

import contextlib
import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import GigatrainError
from ..specs import PRECISIONS
from .jsonout import dump as _dump

app = typer.Typer()
console = Console()


class Pricing(StrEnum):
    on_demand = "on_demand"
    reserved_1yr = "reserved_1yr"
    reserved_3yr = "reserved_3yr"
    capacity_block = "capacity_block"
    own = "own"


def _opt(parse: Any, field: str, text: str | None) -> float | None:
    return None if text is None else parse(field, text)


def _fmt(dimension: str, v: float | None) -> str:
    from ..economics.quantities import FORMATTERS

    if v is None or not math.isfinite(v):
        return "never (goodput 0)" if dimension == "duration" else "–"
    return FORMATTERS[dimension](v)


# ---------------------------------------------------------------- fleet
@app.command()
def fleet(
    chip: Annotated[
        str, typer.Option("--chip", "-c", help="chip slug (see `gigatrain catalog chips`)")
    ],
    power: Annotated[
        str | None, typer.Option(help="power envelope, e.g. 2GW (facility power)")
    ] = None,
    it: Annotated[
        bool, typer.Option("--it", help="--power is IT load, not facility power")
    ] = False,
    budget: Annotated[
        str | None, typer.Option(help="capital budget, e.g. $10B (chips + building)")
    ] = None,
    chips: Annotated[str | None, typer.Option(help="a chip count instead, e.g. 100k")] = None,
    pue: Annotated[
        float | None, typer.Option(help="facility / IT power (default 1.10, Epoch)")
    ] = None,
    usd_per_kwh: Annotated[
        str | None, typer.Option("--usd-per-kwh", help="electricity, e.g. $0.03/kWh")
    ] = None,
    mfu: Annotated[
        float | None, typer.Option(help="sustained MFU (default 0.375, Epoch median)")
    ] = None,
    precision: Annotated[
        str, typer.Option(help=" | ".join(PRECISIONS) + " (dense peak used)")
    ] = "bf16",
    chip_price: Annotated[
        str | None, typer.Option("--chip-price", help="purchase price per chip, e.g. $30k")
    ] = None,
    allin_w: Annotated[
        str | None, typer.Option("--allin-w", help="provisioned facility W per chip, e.g. 1333W")
    ] = None,
    chip_w: Annotated[
        str | None, typer.Option("--chip-w", help="chip TDP where unpublished, e.g. 1000W")
    ] = None,
    job_chips: Annotated[
        str | None, typer.Option("--job-chips", help="chips in one training job (default all)")
    ] = None,
    train: Annotated[
        list[str] | None, typer.Option(help="Chinchilla-optimal dense model size(s), e.g. 1T")
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="model the fleet is partitioned for")
    ] = "megatron-gpt-1t",
    tokens: Annotated[
        str | None, typer.Option(help="token budget per run (default 20 × parameters)")
    ] = None,
    seq: Annotated[int | None, typer.Option(help="sequence length (default: the model's)")] = None,
    mitigation: Annotated[
        str, typer.Option(help="manual | automated | async | in_memory | elastic")
    ] = "automated",
    min_speedup: Annotated[
        float, typer.Option("--min-speedup", help="a doubling is useful if this much faster")
    ] = 1.25,
    jobs: Annotated[
        bool, typer.Option("--jobs/--no-jobs", help="partition the fleet into jobs (searches)")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (SI units)")] = False,
) -> None:
    """What a power envelope or a budget buys: chips, FLOP/s, energy and $ per year; how big
    one job can usefully be, how many run at once, and goodput under each mitigation."""
    from ..economics.fleet import size_fleet
    from ..economics.quantities import (
        parse_count_words,
        parse_power_w,
        parse_usd,
        parse_usd_per_kwh,
    )

    f = size_fleet(
        chip,
        power_w=_opt(parse_power_w, "--power", power),
        power_is_it=it,
        budget_usd=_opt(parse_usd, "--budget", budget),
        chips=None if chips is None else int(parse_count_words("--chips", chips)),
        pue=pue,
        usd_per_kwh=_opt(parse_usd_per_kwh, "--usd-per-kwh", usd_per_kwh),
        mfu=mfu,
        precision=precision,
        chip_price_usd=_opt(parse_usd, "--chip-price", chip_price),
        allin_w=_opt(parse_power_w, "--allin-w", allin_w),
        chip_w=_opt(parse_power_w, "--chip-w", chip_w),
        job_chips=None if job_chips is None else int(parse_count_words("--job-chips", job_chips)),
        target_params=tuple(parse_count_words("--train", t) for t in train) if train else (1e12,),
    )
    fj = None
    if jobs:
        fj = _fleet_jobs(f.chips, f.chip, model, tokens, seq, precision, mitigation, min_speedup)
    if as_json:
        _dump({**f.to_dict(), "jobs": fj.to_dict() if fj else None})
        return
    console.print(
        f"[bold]{f.chips:,} × {f.chip}[/] sized from {f.sized_from}  ·  MFU {f.mfu:g}  ·  "
        f"{f.precision}"
    )
    console.print(_fleet_table(f))
    console.print(_targets_table(f))
    if fj is not None:
        _jobs_tables(fj)
    for k, v in f.assumptions.items():
        if k != "chips":
            console.print(f"  [dim]{k}: {v}[/]", highlight=False)


def _fleet_table(f: Any) -> Table:
    """What the fleet is: chips, power per chip and in all, FLOP/s, energy and money a year."""
    p = f.power
    t = Table(title="Fleet", title_justify="left", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_column("how")
    t.add_row("chips", f"{f.chips:,}", f.assumptions.get("chips", ""))
    t.add_row("per chip: TDP", _fmt("power", p.tdp_w), p.assumptions.get("tdp_w", ""))
    t.add_row(
        "per chip: IT provisioned",
        _fmt("power", p.it_peak_w),
        p.assumptions.get("it_w", ""),
    )
    t.add_row(
        "per chip: facility provisioned", _fmt("power", p.facility_peak_w), f"× PUE {p.pue:g}"
    )
    t.add_row(
        "per chip: facility average",
        _fmt("power", p.facility_avg_w),
        f"× power fraction {p.power_fraction:.2f} at MFU {f.mfu:g}",
    )
    t.add_row("IT power (provisioned)", _fmt("power", f.it_peak_w), "")
    t.add_row("facility power (provisioned)", _fmt("power", f.facility_peak_w), "")
    t.add_row("facility power (average)", _fmt("power", f.facility_avg_w), "")
    t.add_row("peak dense FLOP/s", _fmt("flop_rate", f.peak_flops_per_s), "")
    t.add_row("sustained FLOP/s", _fmt("flop_rate", f.sustained_flops_per_s), f"× MFU {f.mfu:g}")
    t.add_row("energy per year, full envelope", _fmt("energy", f.energy_per_year_full_j), "8,760 h")
    t.add_row("energy per year, average draw", _fmt("energy", f.energy_per_year_avg_j), "")
    t.add_row(
        f"electricity per year at ${f.usd_per_kwh:g}/kWh",
        f"{_fmt('money', f.energy_usd_per_year_avg)} – {_fmt('money', f.energy_usd_per_year_full)}",
        "average – full envelope",
    )
    if f.capex_usd is not None:
        t.add_row(
            "capex (hardware + building)",
            _fmt("money", f.capex_usd),
            f"{_fmt('money', f.hardware_usd)} + {_fmt('money', f.datacenter_usd)}",
        )
    if f.rent_usd_per_year is not None:
        t.add_row(
            "rent per year (on-demand)", _fmt("money", f.rent_usd_per_year), f.rent_price or ""
        )
    t.add_row(
        "compute per year (sustained)",
        _fmt("flop", f.flop_per_year),
        f"= Chinchilla-optimal {f.chinchilla_params_per_year / 1e12:,.3g}T dense",
    )
    return t


def _targets_table(f: Any) -> Table:
    """What the whole fleet trains as one synchronous job, with failures."""
    tt = Table(title="What it trains (one synchronous job)", title_justify="left")
    for c in ("run", "FLOP", "chips", "failure-free", "MTBF", "goodput", "wall clock"):
        tt.add_column(c, justify="left" if c == "run" else "right")
    for x in f.targets:
        tt.add_row(
            x.name,
            f"{x.flop:.3g}",
            f"{x.chips:,}",
            _fmt("duration", x.ideal_s),
            _fmt("duration", x.mtbf_s),
            f"{x.goodput:.1%}",
            _fmt("duration", x.wall_s),
        )
    return tt


def _fleet_jobs(
    fleet_chips: int,
    chip: str,
    model: str,
    tokens: str | None,
    seq: int | None,
    precision: str,
    mitigation: str,
    min_speedup: float,
) -> Any:
    from ..api import make_job
    from ..catalog.hardware import default_system_for, get_chip
    from ..catalog.models import get_model, model_info
    from ..economics.jobs import fleet_jobs
    from ..model.workload import params_total
    from ..units import parse_count

    m = get_model(model)
    info: dict[str, Any] = {}
    with contextlib.suppress(KeyError):
        info = model_info(m.slug)
    tok = parse_count("--tokens", tokens) if tokens else 20.0 * params_total(m)
    if seq is not None and seq < 1:  # 0 is not "the default": say so rather than guess
        raise GigatrainError(f"seq must be a positive integer (valid: 1..10,000,000), got {seq}")
    s = seq or int(info.get("train_seq_len") or 4096)
    from ..catalog.frameworks import default_framework

    system = default_system_for(get_chip(chip))
    job = make_job(s, 1, tok, precision, default_framework(system.chip.vendor))
    return fleet_jobs(m, system, job, fleet_chips, mitigation=mitigation, min_speedup=min_speedup)


def _jobs_tables(fj: Any) -> None:
    sc, pa = fj.scaling, fj.partition
    b = sc.bound
    t = Table(
        title=f"Job size for {fj.model}, {fj.tokens:.3g} tokens (global batch ≤ {b.seqs:,} × "
        f"{b.seq_len:,} = {b.tokens / 1e6:,.0f}M tokens, critical-batch bound; goodput: "
        f"{sc.mitigation})",
        title_justify="left",
    )
    for c in ("chips", "plan", "batch", "MFU", "goodput", "MTBF", "failure-free", "wall clock", ""):
        t.add_column(c, justify="left" if c in ("plan", "") else "right", overflow="fold")
    for x in sc.points:
        mark = []
        if x is sc.largest_useful:
            mark.append("largest useful")
        if x is sc.fastest:
            mark.append("fastest")
        t.add_row(
            f"{x.chips:,}",
            x.plan,
            f"{x.global_batch:,}",
            f"{x.mfu:.1%}",
            f"{x.goodput:.1%}",
            _fmt("duration", x.mtbf_s),
            _fmt("duration", x.ideal_s),
            _fmt("duration", x.wall_s),
            ", ".join(mark),
        )
    console.print(t)
    console.print(f"  {sc.note}; batch bound: {b.source}", highlight=False)
    pt = Table(title="Fleet partitioned into jobs", title_justify="left", show_header=False)
    pt.add_column("what")
    pt.add_column("value", justify="right")
    j = pa.job
    pt.add_row("jobs × chips", f"{pa.jobs:,} × {j.chips:,}" + "".join(
        f" + {k:,} × {c:,} ({d:,.0f} days per run)" for c, k, d in pa.fill))  # fmt: skip
    pt.add_row("hot spares / idle chips", f"{pa.spare_chips:,} / {pa.idle_chips:,}")
    pt.add_row("days per run" + (" (largest jobs)" if pa.fill else ""), f"{pa.days_per_run:,.1f}")
    pt.add_row("runs per year (whole fleet)", f"{pa.runs_per_year:,.1f}")
    pt.add_row("fleet throughput", f"{pa.fleet_tokens_per_s / 1e6:,.1f}M tokens/s (after goodput)")
    pt.add_row("utilisation (model FLOP/s / fleet peak)", f"{pa.utilisation:.1%}")
    console.print(pt)
    gt = Table(title="Goodput per mitigation", title_justify="left")
    for c in ("mitigation", f"job of {j.chips:,}", f"whole fleet ({pa.fleet_chips:,})", "spares",
              "how"):  # fmt: skip
        gt.add_column(c, justify="left" if c in ("mitigation", "how") else "right")
    for name, g in pa.goodput_by_mitigation.items():
        w = fj.whole_fleet[name]
        gt.add_row(
            name, f"{g.goodput:.1%}", f"{w.goodput:.1%}", f"{g.spare_fraction:.0%}",
            g.assumptions["mitigation"].split(": ", 1)[-1],
        )  # fmt: skip
    console.print(gt)
    g = pa.goodput_by_mitigation[sc.mitigation]
    per_day = ", ".join(f"{k} {v:.2g}" for k, v in g.interruptions_per_day.items())
    console.print(
        f"  [dim]interruptions per day of one {j.chips:,}-chip job, by component: {per_day} "
        f"(Llama 3 Table 5 rates, [L3] §3.3.4)[/]",
        highlight=False,
    )
    for k, v in g.assumptions.items():
        console.print(f"  [dim]goodput/{k}: {escape(v)}[/]", highlight=False)


# ---------------------------------------------------------------- cost
def _job_for(
    model_name: str,
    tokens: str | None,
    seq: int | None,
    global_batch: int | None,
    precision: str,
    framework: str,
) -> tuple[Any, Any]:
    from ..api import make_job
    from ..catalog.models import get_model, model_info
    from ..economics.cost import default_global_batch
    from ..units import parse_count

    m = get_model(model_name)
    info: dict[str, Any] = {}
    with contextlib.suppress(KeyError):
        info = model_info(m.slug)
    if tokens is None:
        if not info.get("training_tokens"):
            raise GigatrainError(
                f"--tokens is required ({m.slug} has no training_tokens in the catalog)"
            )
        tok = float(info["training_tokens"])
    else:
        tok = parse_count("--tokens", tokens)
    if seq is not None and seq < 1:  # 0 is not "the default": say so rather than guess
        raise GigatrainError(f"seq must be a positive integer (valid: 1..10,000,000), got {seq}")
    s = seq or int(info.get("train_seq_len") or 4096)
    from ..model.workload import model_flops_per_token

    gb = global_batch or default_global_batch(s, tok * model_flops_per_token(m, s))
    return m, make_job(s, gb, tok, precision, framework)


def _options(
    pricing: Pricing,
    usd_per_chip_hour: str | None,
    chip_price: str | None,
    usd_per_kwh: str | None,
    pue: float | None,
    provider: str | None,
    goodput: float | None,
    interruptions: float | None,
    restart: str | None,
    mitigation: str = "automated",
    realised: bool = True,
) -> Any:
    from ..economics.cost import CostOptions
    from ..economics.quantities import parse_duration_s, parse_usd, parse_usd_per_kwh

    return CostOptions(
        pricing=pricing.value,
        provider=provider,
        usd_per_chip_hour=_opt(parse_usd, "--usd-per-chip-hour", usd_per_chip_hour),
        chip_price_usd=_opt(parse_usd, "--chip-price", chip_price),
        usd_per_kwh=_opt(parse_usd_per_kwh, "--usd-per-kwh", usd_per_kwh),
        pue=pue,
        goodput=goodput,
        interruptions_per_chip_day=interruptions,
        restart_s=_opt(parse_duration_s, "--restart", restart),
        mitigation=mitigation,
        realised=realised,
    )


def _cost_tables(c: Any) -> None:
    from ..units import pct

    console.print(
        f"[bold]{c.model}[/] on [bold]{c.chips:,} × {c.chip}[/] ({c.system})  ·  {c.plan}  ·  "
        f"{c.tokens:.3g} tokens  ·  pricing {c.pricing}"
        + ("" if c.fits else "  ·  [red]does NOT fit[/]")
    )
    g = c.goodput
    t = Table(title="Run", title_justify="left", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row(
        "global batch",
        f"{c.global_batch:,} sequences × {c.seq_len:,} = "
        f"{c.global_batch * c.seq_len / 1e6:,.3g}M tokens",
    )
    t.add_row("MFU (step-time model)", pct(c.mfu))
    t.add_row("steady-state time (ideal)", _fmt("duration", c.steady_s))
    if c.overheads:
        t.add_row(
            "realised, failure-free",
            f"{_fmt('duration', c.compute_s)} (× "
            + " × ".join(f"{v:.3f} {k}" for k, v in c.overheads.items())
            + ")",
        )
    t.add_row(
        "job MTBF",
        f"{_fmt('duration', g.mtbf_s)} "
        f"({g.chips:,} chips × {g.interruptions_per_chip_day:g}/chip-day)",
    )
    t.add_row(
        "checkpoint",
        f"{g.checkpoint_bytes / 1e12:,.3g} TB in {_fmt('duration', g.checkpoint_write_s)}, "
        f"every {_fmt('duration', g.interval_s)} (Daly)",
    )
    t.add_row(
        "goodput",
        f"{g.goodput:.1%} (lost: checkpoints {g.loss_checkpoint:.1%}, rework "
        f"{g.loss_rework:.1%}, restarts {g.loss_restart:.1%})",
    )
    if g.interruptions_per_day:
        t.add_row(
            "interruptions per day, by component",
            ", ".join(f"{k} {v:.2g}" for k, v in g.interruptions_per_day.items() if v > 0),
        )
    t.add_row("wall clock" + (" (realised run)" if c.overheads else ""), _fmt("duration", c.wall_s))
    t.add_row("chip-hours", f"{c.chip_hours:,.4g}" if math.isfinite(c.chip_hours) else "∞")
    if c.power is not None and c.energy is not None:
        t.add_row("power per chip (facility, average)", _fmt("power", c.power.facility_avg_w))
        t.add_row(
            "energy (facility)",
            f"{_fmt('energy', c.energy.total_j)} (IT {_fmt('energy', c.energy.it_j)})",
        )
    else:
        t.add_row("energy", "unknown (no TDP for this chip)")
    console.print(t)
    ct = Table(title="Cost (parts sum to the total)", title_justify="left")
    ct.add_column("part")
    ct.add_column("USD", justify="right")
    ct.add_column("share", justify="right")
    for k, v in c.parts.items():
        ct.add_row(
            k, _fmt("money", v), pct(v / c.total_usd) if c.total_usd and math.isfinite(v) else "–"
        )
    ct.add_row("[bold]total[/]", f"[bold]{_fmt('money', c.total_usd)}[/]", "100%")
    if c.overheads or c.goodput.goodput < 1:
        ct.add_row(
            "steady-state ideal (no failures, ramp, stragglers)", _fmt("money", c.steady_usd), ""
        )
    ct.add_row("per 10^18 model FLOP delivered", f"${c.usd_per_exaflop:,.3g}", "")
    console.print(ct)
    for k, v in c.assumptions.items():
        console.print(f"  [dim]{escape(k)}: {escape(v)}[/]", highlight=False)


@app.command()
def cost(
    model: Annotated[str, typer.Option("--model", "-m", help="catalog slug or model file")],
    chip: Annotated[str, typer.Option("--chip", "-c", help="chip slug")],
    chips: Annotated[
        str,
        typer.Option(
            help="number of chips, e.g. 16384 or 100k; a range 1024-1M gives the "
            "time-cost Pareto front with its knee"
        ),
    ],
    tokens: Annotated[
        str | None, typer.Option(help="token budget, e.g. 20T (default: the model's)")
    ] = None,
    objective: Annotated[str, typer.Option(help="with a chip range: cost | time | knee")] = "cost",
    deadline: Annotated[
        float | None, typer.Option(help="with a chip range: at most this many days")
    ] = None,
    budget: Annotated[
        str | None, typer.Option(help="with a chip range: at most this much, e.g. $500M")
    ] = None,
    max_slowdown: Annotated[
        float | None,
        typer.Option(
            "--max-slowdown", help="cost winner at most this × the fastest (0 = no limit)"
        ),
    ] = 2.0,
    global_batch: Annotated[
        int | None,
        typer.Option(
            "--global-batch", help="global batch in sequences (default ~16M tokens, Llama 3's)"
        ),
    ] = None,
    seq: Annotated[int | None, typer.Option(help="sequence length (default: the model's)")] = None,
    precision: Annotated[str, typer.Option(help=" | ".join(PRECISIONS))] = "bf16",
    framework: Annotated[
        str,
        typer.Option(
            help="framework profile; auto = each chip family's usual one (GPU: megatron, Trainium: neuron, TPU: jax)"
        ),
    ] = "auto",
    pricing: Annotated[Pricing, typer.Option(help="rent kind, or own")] = Pricing.on_demand,
    usd_per_chip_hour: Annotated[
        str | None, typer.Option("--usd-per-chip-hour", help="override the rental price")
    ] = None,
    chip_price: Annotated[
        str | None, typer.Option("--chip-price", help="override the purchase price (own)")
    ] = None,
    usd_per_kwh: Annotated[
        str | None, typer.Option("--usd-per-kwh", help="electricity (own), e.g. $0.05/kWh")
    ] = None,
    pue: Annotated[float | None, typer.Option(help="facility / IT power")] = None,
    provider: Annotated[
        str | None, typer.Option(help="only prices whose basis names this (AWS, GCP, Azure)")
    ] = None,
    goodput: Annotated[
        float | None, typer.Option(help="fix goodput instead of modelling it")
    ] = None,
    interruptions: Annotated[
        float | None, typer.Option("--interruptions-per-chip-day", help="failure rate")
    ] = None,
    restart: Annotated[str | None, typer.Option(help="restart time, e.g. 5min")] = None,
    mitigation: Annotated[
        str,
        typer.Option(help="failure mitigation: manual | automated | async | in_memory | elastic"),
    ] = "automated",
    steady_state: Annotated[
        bool,
        typer.Option("--steady-state", help="ideal run: no batch ramp, stragglers or diurnal loss"),
    ] = False,
    tp: Annotated[int | None, typer.Option(help="fix the plan instead of searching: tp")] = None,
    pp: Annotated[int, typer.Option(help="with --tp: pipeline degree")] = 1,
    cp: Annotated[int, typer.Option(help="with --tp: context-parallel degree")] = 1,
    ep: Annotated[int, typer.Option(help="with --tp: expert-parallel degree")] = 1,
    micro_batch: Annotated[int, typer.Option("--micro-batch", help="with --tp: micro-batch")] = 1,
    zero: Annotated[int, typer.Option(help="with --tp: ZeRO stage")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (SI units)")] = False,
) -> None:
    """Whole-run time (with failures and checkpoints), energy and dollars for one chip type;
    the plan is the one search finds fastest unless --tp is given."""
    from ..api import make_plan, resolve_system
    from ..economics.cost import plan_for, run_cost
    from ..economics.quantities import parse_count_words
    from ..model.estimate import estimate

    system, *_ = resolve_system(chip)
    if (
        framework == "auto"
    ):  # the chip family's usual framework (GPU Megatron, Trainium Neuron, TPU JAX)
        from ..catalog.frameworks import default_framework

        framework = default_framework(system.chip.vendor)
    m, job = _job_for(model, tokens, seq, global_batch, precision, framework)
    opts = _options(pricing, usd_per_chip_hour, chip_price, usd_per_kwh, pue, provider, goodput,
                    interruptions, restart, mitigation, not steady_state)  # fmt: skip
    if "-" in chips.strip().lstrip("-"):
        _cost_range(m, system, job, chips, objective, opts, max_slowdown, deadline, budget,
                    as_json)  # fmt: skip
        return
    n = int(parse_count_words("--chips", chips))
    if tp is None:
        _, est = plan_for(m, system, job, n, allow_fewer=True, grow_batch=global_batch is None)
    else:
        from ..catalog.frameworks import knobs_for

        est = estimate(
            m,
            system,
            job,
            make_plan(n, tp=tp, pp=pp, cp=cp, ep=ep, micro_batch=micro_batch, zero_stage=zero),
            knobs_for(framework, system.chip.vendor),
        )
    c = run_cost(m, system, est.job, est=est, options=opts)
    extra: dict[str, str] = {}
    if c.chips != n:
        extra["chips"] = f"{c.chips:,} of the {n:,} requested (no valid layout on {n:,})"
    if est.job.global_batch_seqs != job.global_batch_seqs:
        extra["global batch"] = (
            f"{est.job.global_batch_seqs:,} sequences: the default {job.global_batch_seqs:,} "
            f"cannot feed {n:,} chips, so it was raised (never above the critical-batch bound)"
        )
    if extra:
        from dataclasses import replace

        c = replace(c, assumptions={**c.assumptions, **extra})
    if as_json:
        _dump(c.to_dict())
        return
    _cost_tables(c)


def _cost_range(
    m: Any,
    system: Any,
    job: Any,
    chips: str,
    objective: str,
    opts: Any,
    max_slowdown: float | None,
    deadline: float | None,
    budget: str | None,
    as_json: bool,
) -> None:
    from ..economics.objectives import plan_range
    from ..economics.quantities import parse_count_words, parse_usd

    lo_text, hi_text = chips.split("-", 1)
    lo, hi = (int(parse_count_words("--chips", x)) for x in (lo_text, hi_text))
    r = plan_range(m, system, job, (lo, hi), objective, options=opts,
                   max_slowdown=max_slowdown or None, deadline_days=deadline,
                   budget_usd=_opt(parse_usd, "--budget", budget))  # fmt: skip
    if as_json:
        _dump(r.to_dict())
        return
    t = Table(
        title=f"{m.slug} · {job.tokens:.3g} tokens · {system.chip.slug} {lo:,}–{hi:,} chips · "
        f"realised runs (goodput {opts.mitigation}), time–cost Pareto front",
        title_justify="left",
    )
    for col in ("chips", "plan", "MFU", "goodput", "days", "cost", "steady-state cost", ""):
        t.add_column(col, justify="left" if col in ("plan", "") else "right", overflow="fold")
    for i, c in enumerate(r.front):
        mark = [x for x, on in (("knee", i == r.knee), (f"← {objective}", i == r.winner),
                                ("outside limits", not r.allowed[i])) if on]  # fmt: skip
        t.add_row(f"{c.chips:,}", c.plan, f"{c.mfu:.1%}", f"{c.goodput.goodput:.1%}",
                  f"{c.days:,.1f}", _fmt("money", c.total_usd), _fmt("money", c.steady_usd),
                  ", ".join(mark))  # fmt: skip
    console.print(t)
    console.print(f"  {r.note}", highlight=False)


# ---------------------------------------------------------------- compare
@app.command()
def compare(
    model: Annotated[str, typer.Option("--model", "-m", help="catalog slug or model file")],
    chip: Annotated[list[str], typer.Option("--chip", "-c", help="a chip to compare (repeat)")],
    chips: Annotated[str, typer.Option(help="number of chips for every chip type, e.g. 16384")],
    tokens: Annotated[
        str | None, typer.Option(help="token budget, e.g. 15T (default: the model's)")
    ] = None,
    global_batch: Annotated[
        int | None,
        typer.Option(
            "--global-batch", help="global batch in sequences (default ~16M tokens, Llama 3's)"
        ),
    ] = None,
    seq: Annotated[int | None, typer.Option(help="sequence length (default: the model's)")] = None,
    precision: Annotated[str, typer.Option(help=" | ".join(PRECISIONS))] = "bf16",
    framework: Annotated[
        str,
        typer.Option(
            help="framework profile; auto = each chip family's usual one (GPU: megatron, Trainium: neuron, TPU: jax)"
        ),
    ] = "auto",
    pricing: Annotated[Pricing, typer.Option(help="rent kind, or own")] = Pricing.on_demand,
    usd_per_kwh: Annotated[
        str | None, typer.Option("--usd-per-kwh", help="electricity (own)")
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(help="prices from this provider (default: the first chip's price provider)"),
    ] = None,
    mix_providers: Annotated[
        bool, typer.Option("--mix-providers", help="let each chip take its own newest price")
    ] = False,
    plot: Annotated[Path | None, typer.Option(help="write time-vs-cost plot (.png/.svg)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (SI units)")] = False,
) -> None:
    """Time and cost of the same model and token budget on several chips, each with the plan
    search picks for it; price-performance relative to the first chip; Pareto-marked."""
    from rich.progress import Progress

    from ..catalog.hardware import get_chip
    from ..economics.cost import compare_chips
    from ..economics.quantities import parse_count_words

    if plot is not None:
        from .plots import check_path

        check_path(plot)
    m, job = _job_for(model, tokens, seq, global_batch, precision, framework)
    opts = _options(pricing, None, None, usd_per_kwh, None, provider, None, None, None)
    n = int(parse_count_words("--chips", chips))
    with Progress(console=Console(stderr=True), transient=True, disable=as_json) as bar:
        task = bar.add_task("searching plans", total=len(chip))

        def tick(i: int, total: int, name: str) -> None:
            bar.update(
                task, completed=i, description=f"searching plans: {name}" if name else "done"
            )

        rows = compare_chips(m, job, n, chip, options=opts, progress=tick,
                             mix_providers=mix_providers)  # fmt: skip
    if plot is not None:
        from .plots import compare_plot

        compare_plot(rows, plot, f"{m.slug}, {job.tokens:.3g} tokens, {n:,} chips, {pricing.value}")
    if as_json:
        _dump(
            {
                "model": m.slug,
                "tokens": job.tokens,
                "chips": n,
                "pricing": pricing.value,
                "reference": rows[0].chip,
                "rows": [r.to_dict() for r in rows],
                "plot": str(plot) if plot else None,
            }
        )
        return

    provs = sorted({r.cost.price.provider for r in rows if r.cost.price})
    t = Table(
        title=f"{m.slug} · {job.tokens:.3g} tokens · {n:,} chips · {pricing.value} · "
        f"provider {', '.join(provs) or 'none'} (price-performance on the realised training run, "
        f"vs {rows[0].chip}; peak basis secondary; * = Pareto-optimal in time and cost)",
        title_justify="left",
    )
    for col in (
        "chip",
        "plan",
        "MFU",
        "goodput",
        "days",
        "cost",
        "$/EFLOP",
        "price-perf (run)",
        "speed",
        "price-perf (peak)",
        "price (provider, date, label)",
        "",
    ):
        t.add_column(
            col, justify="left" if col in ("chip", "plan", "price") else "right", overflow="fold"
        )
    ref_peak = math.nan
    peaks = []
    for r in rows:
        c = r.cost
        try:
            pk = (
                (c.price.value / (get_chip(c.chip).peak(job.precision) / 1e15))
                if c.price
                else math.nan
            )
        except (GigatrainError, KeyError):
            pk = math.nan
        peaks.append(pk)
    ref_peak = peaks[0]
    for r, pk in zip(rows, peaks, strict=True):
        c = r.cost
        price = (
            f"${c.price.value:,.4g}/chip-h {c.price.provider}, {c.price.as_of}"
            + (f", {c.price.label}" if c.price.label else "")
            if c.price
            else ""
        )
        t.add_row(
            c.chip
            + (" †" if "chips" in c.assumptions else "")
            + ("" if c.assumptions.get("evidence", "backed").startswith("backed") else " ‡"),
            c.plan,
            f"{c.mfu:.1%}",
            f"{c.goodput.goodput:.1%}",
            f"{c.days:,.1f}"
            + (
                f" ({c.interval['days_lo']:,.0f}–{c.interval['days_hi']:,.0f})"
                if c.interval
                else ""
            ),
            _fmt("money", c.total_usd),
            _num(c.usd_per_exaflop, "${:,.3g}"),
            _num(r.price_performance, "{:.2f}×"),
            _num(r.speed, "{:.2f}×"),
            _num(ref_peak / pk if pk else math.nan, "{:.2f}×"),
            price or "no price",
            "*" if r.pareto else "",
        )
    console.print(t)
    console.print("  days (p10–p90): held-out interval of the step-time model", highlight=False)
    for r in rows:
        if "chips" in r.cost.assumptions:
            console.print(f"  † {r.chip}: {r.cost.assumptions['chips']}", highlight=False)
        ev = r.cost.assumptions.get("evidence", "")
        if ev and not ev.startswith("backed"):
            console.print(f"  ‡ {r.chip}: {ev}", highlight=False)
        if r.cost.price is None:
            console.print(f"  {r.chip}: {r.cost.assumptions.get('price', '')}", highlight=False)
    if plot is not None:
        console.print(f"plot written to {plot}")


def _num(v: float, pattern: str) -> str:
    return pattern.format(v) if math.isfinite(v) else "–"


# ---------------------------------------------------------------- check
_STYLE = {"consistent": "green", "inconsistent": "red", "cannot tell": "yellow", "open": "cyan",
          "error": "magenta"}  # fmt: skip


@app.command()
def check(
    claims: Annotated[
        Path, typer.Argument(help="claim file (YAML), e.g. examples/deal-2gw-trainium.yaml")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Recompute each claim of a deal or news story from the catalog and stated assumptions:
    consistent / inconsistent / cannot tell, with the arithmetic."""
    from ..economics.claims import check_claims

    rep = check_claims(claims)
    if as_json:
        _dump(rep.to_dict())
        return
    # claim text is data, never markup: "[/]" or "[red]" in a claim must print as written
    if rep.title:
        console.print(f"[bold]{escape(rep.title)}[/]", highlight=False)
    if rep.source:
        console.print(f"[dim]source: {escape(rep.source)}[/]", highlight=False)
    if rep.assumptions:
        console.print(
            "[dim]assumptions: "
            + escape(", ".join(f"{k}={v}" for k, v in rep.assumptions.items()))
            + "[/]",
            highlight=False,
        )
    for v in rep.verdicts:
        style = _STYLE[v.verdict]
        console.print(
            f"\n[{style} bold]{v.verdict.upper():>13}[/]  [bold]{escape(v.id)}[/]: "
            f"{escape(v.says)}",
            highlight=False,
        )
        for line in v.arithmetic:
            console.print(f"{'':15}{escape(line)}", highlight=False)
        for line in v.thresholds:
            console.print(f"{'':15}[bold]{escape(line)}[/]", highlight=False)
        if v.note:
            console.print(f"{'':15}[dim]note: {escape(v.note)}[/]", highlight=False)
    n = rep.counts()
    console.print("\n" + "  ·  ".join(f"[{_STYLE[k]}]{k}: {c}[/]" for k, c in n.items()))
    errors = [v for v in rep.verdicts if v.verdict == "error"]
    if errors:  # every claim was checked; still tell scripts that some could not be
        for v in errors:
            sys.stderr.write(f"error: {v.note.split(': ', 1)[-1]}\n")
        raise typer.Exit(2)


# ---------------------------------------------------------------- roadmap
@app.command()
def roadmap(
    path: Annotated[Path, typer.Argument(help="roadmap file (YAML), e.g. examples/roadmap.yaml")],
    plot: Annotated[Path | None, typer.Option(help="write the timeline plot (.png/.svg)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    daily: Annotated[bool, typer.Option(help="with --json: include the daily series")] = False,
) -> None:
    """A growing fleet and a queue of training runs: when each starts and finishes, and the
    cumulative energy and cost, per quarter."""
    from ..economics.roadmap import simulate

    if plot is not None:
        from .plots import check_path

        check_path(plot)
    r = simulate(path)
    if plot is not None:
        from .plots import roadmap_plot

        roadmap_plot(r, plot)
    if as_json:
        d = r.to_dict(daily=daily)
        d["plot"] = str(plot) if plot else None
        _dump(d)
        return
    console.print(f"[bold]{r.title}[/]  ·  from {r.start}  ·  pricing {r.pricing}", highlight=False)
    rt = Table(title="Runs", title_justify="left")
    for c in ("run", "FLOP", "chips", "start", "finish", "days", "avg chips", "goodput"):
        rt.add_column(c, justify="left" if c in ("run", "start", "finish") else "right")
    for x in r.runs:
        size = f"{x.chips:,}" if x.chips else f"{x.share:.0%} of fleet"
        rt.add_row(
            x.name,
            f"{x.flop:.3g}",
            size,
            x.start or "not started",
            x.finish or "[red]not finished[/]",
            f"{x.days:,}" if x.days else "–",
            f"{x.chips_avg:,.0f}",
            f"{x.goodput_avg:.1%}",
        )
    console.print(rt)
    qt = Table(
        title="Fleet by quarter (end of quarter; energy and cost cumulative)", title_justify="left"
    )
    for c in (
        "quarter",
        "chips",
        "facility (prov.)",
        "facility (avg)",
        "sustained",
        "energy",
        "cum. energy",
        "cost",
        "cum. cost",
        "running",
    ):
        qt.add_column(
            c, justify="left" if c in ("quarter", "running") else "right", overflow="fold"
        )
    for p in r.periods:
        qt.add_row(
            p.label,
            ", ".join(f"{n:,} {k}" for k, n in p.chips.items()),
            _fmt("power", p.facility_peak_w),
            _fmt("power", p.facility_avg_w),
            _fmt("flop_rate", p.sustained_flops_per_s),
            _fmt("energy", p.energy_j),
            _fmt("energy", p.cum_energy_j),
            _fmt("money", p.cost_usd),
            _fmt("money", p.cum_cost_usd),
            ", ".join(p.running),
        )
    console.print(qt)
    console.print(
        "  [dim]" + ", ".join(f"{k}={v}" for k, v in r.assumptions.items()) + "[/]", highlight=False
    )
    if plot is not None:
        console.print(f"plot written to {plot}")
