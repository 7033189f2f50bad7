"""``gigatrain infer | infer-compare | finetune | rl``: serving and post-training at the command
line. Rendering only: numbers come from :mod:`gigatrain.serving` and
:mod:`gigatrain.posttrain`; prices from the catalog via :func:`economics.cost.choose_price`.
Durations are parsed at this edge ("500ms", "0.5s", "30 ms"); JSON output is SI.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import GigatrainError
from ..units import usd
from .jsonout import dump as _dump

if TYPE_CHECKING:
    from ..serving.search import ServingSearchResult

app = typer.Typer()
console = Console()


def _run_search(
    model: str,
    chip: str,
    input_len: int,
    output_len: int,
    ttft: str | None,
    tpot: str | None,
    requests_per_s: float | None,
    tokens_per_s: str | None,
    precision: str,
    max_replica_chips: int,
    spec: int,
    disaggregate: bool,
    pricing: str,
    usd_per_chip_hour: float | None,
    system: str | None = None,
) -> ServingSearchResult:
    from ..serving.named import infer_named

    return infer_named(
        model,
        chip,
        input_len=input_len,
        output_len=output_len,
        ttft=ttft,
        tpot=tpot,
        requests_per_s=requests_per_s,
        tokens_per_s=tokens_per_s,
        precision=precision,
        max_replica_chips=max_replica_chips,
        spec=spec,
        disaggregate=disaggregate,
        pricing=pricing,
        usd_per_chip_hour=usd_per_chip_hour,
        system=system,
    )


def _short(d: Any) -> str:
    """``tp8·ep8 dpa fp4/kv8`` — the layout in table width."""
    s = f"tp{d.tp}" + (f"·pp{d.pp}" if d.pp > 1 else "") + (f"·ep{d.ep}" if d.ep > 1 else "")
    s += (
        " dpa" if d.dp_attention else ""
    ) + f" {d.weight_dtype}/kv{d.kv_dtype.removeprefix('bf').removeprefix('fp')}"
    s += f" spec{d.spec_tokens}" if d.spec_tokens else ""
    s += f" +P{d.prefill_chips}" if d.prefill_chips else ""
    return s


def _ms(x: float) -> str:
    return f"{x * 1e3:,.0f}" if x >= 0.1 else f"{x * 1e3:,.1f}"


def _table(title: str) -> Table:
    from rich import box

    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )


def render_search(res: ServingSearchResult, out: Console) -> None:
    from ..units import gib, seconds, si

    t = res.targets
    tgt = (
        ", ".join(
            x
            for x in (
                f"TTFT ≤ {seconds(t.ttft_s)}" if t.ttft_s else "",
                f"TPOT ≤ {seconds(t.tpot_s)}" if t.tpot_s else "",
            )
            if x
        )
        or "no latency target"
    )
    out.print(
        f"[bold]infer[/] {escape(res.model)} on {escape(res.chip)} ({escape(res.system)}) · "
        f"{res.request.input_len:,} in / {res.request.output_len:,} out · {tgt}",
        highlight=False,
    )
    out.print(
        f"{res.candidates:,} deployments evaluated in {res.eval_s * 1e3:,.0f} ms; {res.fitting:,} fit, "
        f"{res.feasible:,} meet the targets · price: {escape(res.price_note)}",
        highlight=False,
    )
    if res.best is None:
        out.print(f"[red]{escape(res.diagnosis)}[/]", highlight=False)
        return
    tab = _table("best deployments (by output tokens/s per chip)")
    for c in (
        "layout",
        "chips",
        "conc",
        "TTFT ms",
        "TPOT ms",
        "tok/s/user",
        "tok/s/chip",
        "$/M out",
    ):
        tab.add_column(c, justify="left" if c == "layout" else "right", no_wrap=True)
    for e in res.top:
        d = e.deployment
        tab.add_row(
            _short(d),
            str(e.replica_chips),
            f"{d.concurrency:,}",
            _ms(e.ttft_s),
            _ms(e.tpot_s),
            f"{e.tokens_per_s_per_user:,.1f}",
            f"{e.output_tokens_per_s_per_chip:,.1f}",
            usd(e.usd_per_m_output_tokens),
        )
    out.print(tab)
    b = res.best
    mem = b.memory_bytes_per_chip
    out.print(
        f"[bold]best[/]: {escape(b.deployment.describe())} · matmuls in {b.compute_dtype} · "
        f"{usd(b.usd_per_m_input_tokens)}/M input, {usd(b.usd_per_m_output_tokens)}/M output tokens · memory per chip "
        f"{gib(mem['total'])} (weights {gib(mem['weights'])}, KV {gib(mem['kv_cache'])}, workspace "
        f"{gib(mem['workspace'])}) · max concurrency {b.max_concurrency:,}",
        highlight=False,
    )
    parts = ", ".join(
        f"{k.split('/')[-1].removesuffix('_s')} {seconds(v)}"
        for k, v in b.time_s.items()
        if k.startswith("decode/") and v > 0
    )
    out.print(
        f"decode step {seconds(b.time_s['decode_step_s'])} = {parts}; prefill {seconds(b.time_s['prefill_s'])}, "
        f"queue {seconds(b.time_s['queue_s'])}, interference/token {seconds(b.time_s['prefill_interference_s'])}",
        highlight=False,
    )
    if b.joules_per_output_token is not None:
        out.print(
            f"energy {b.joules_per_output_token:,.2f} J per output token (facility, "
            f"{b.watts_per_chip:,.0f} W per chip)",
            highlight=False,
        )
    if res.fleet is not None:
        f = res.fleet
        out.print(
            f"[bold]fleet[/]: {f.replicas:,} replicas × {b.replica_chips} = [bold]{f.chips:,} chips[/], "
            f"capacity {f.requests_per_s:,.1f} req/s ({si(f.requests_per_s * res.request.output_len)} output tok/s)"
            + (
                f", {usd(f.usd_per_hour, '/h')} ({usd(f.usd_per_hour * 8760, '/yr')})"
                if f.usd_per_hour
                else ""
            )
            + (f", {f.facility_watts / 1e6:,.2f} MW" if f.facility_watts else ""),
            highlight=False,
        )
    if res.curve:
        curve = _table("throughput vs interactivity (Pareto front of all fitting deployments)")
        for col in ("tok/s/user", "out tok/s/chip", "TTFT ms", "layout"):
            curve.add_column(col, justify="left" if col == "layout" else "right")
        step = max(1, len(res.curve) // 10)
        for p in res.curve[::step]:
            curve.add_row(
                f"{p.tokens_per_s_per_user:,.1f}",
                f"{p.output_tokens_per_s_per_chip:,.1f}",
                _ms(p.ttft_s),
                p.layout,
            )
        out.print(curve)


InputLen = Annotated[int, typer.Option("--input-len", help="prompt tokens per request")]
OutputLen = Annotated[int, typer.Option("--output-len", help="generated tokens per request")]
Ttft = Annotated[str | None, typer.Option("--ttft", help="time-to-first-token target, e.g. 500ms")]
Tpot = Annotated[str | None, typer.Option("--tpot", help="time-per-output-token target, e.g. 30ms")]
Rps = Annotated[
    float | None, typer.Option("--requests-per-s", help="demand in requests/s (sizes the fleet)")
]
Tps = Annotated[
    str | None, typer.Option("--tokens-per-s", help="demand in output tokens/s, e.g. 10M")
]
Prec = Annotated[
    str,
    typer.Option(
        "--precision",
        help="weight formats to consider: auto (those the chip computes natively) or a list, e.g. bf16,fp8,fp4",
    ),
]
MaxChips = Annotated[int, typer.Option("--max-replica-chips", help="largest replica (chips)")]
Spec = Annotated[
    int, typer.Option("--spec", help="also try speculative decoding with N draft tokens")
]
Disagg = Annotated[bool, typer.Option("--disaggregate", help="also try separate prefill workers")]
PricingOpt = Annotated[
    str, typer.Option("--pricing", help="on_demand | reserved_1yr | reserved_3yr | capacity_block")
]
UsdOpt = Annotated[float | None, typer.Option("--usd-per-chip-hour", help="price override")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
ReportOpt = Annotated[
    Path | None,
    typer.Option(
        "--report",
        help="also write a self-contained HTML report (charts, "
        "tables, accuracy on measured runs) to this file",
    ),
]


def _write_report(kind: str, result: dict[str, Any], path: Path) -> None:
    """``report.build_serving_report`` for ``result`` (the API's dict) written to ``path``."""
    from .report import build_serving_report

    html = build_serving_report(kind, result)
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as e:
        raise GigatrainError(f"cannot write {path}: {e.strerror}") from None
    sys.stderr.write(f"wrote {path} ({len(html) / 1e6:.1f} MB)\n")


@app.command()
def infer(
    model: Annotated[str, typer.Option("--model", "-m", help="catalog slug or config path")],
    chip: Annotated[
        list[str], typer.Option("--chip", "-c", help="chip slug; repeat to compare chips")
    ],
    input_len: InputLen = 1024,
    output_len: OutputLen = 1024,
    ttft: Ttft = None,
    tpot: Tpot = None,
    requests_per_s: Rps = None,
    tokens_per_s: Tps = None,
    precision: Prec = "auto",
    max_replica_chips: MaxChips = 64,
    spec: Spec = 0,
    disaggregate: Disagg = False,
    pricing: PricingOpt = "on_demand",
    usd_per_chip_hour: UsdOpt = None,
    system: Annotated[str | None, typer.Option(help="system slug (default: the chip's)")] = None,
    as_json: JsonOpt = False,
    report: ReportOpt = None,
) -> None:
    """Best serving deployment under TTFT/TPOT targets; fleet and $ per million tokens for a demand."""
    if len(chip) > 1:
        if report is not None:
            raise GigatrainError(
                "--report takes one --chip (a comparison has no single deployment to report)"
            )
        _compare(
            model,
            chip,
            input_len,
            output_len,
            ttft,
            tpot,
            requests_per_s,
            tokens_per_s,
            precision,
            max_replica_chips,
            spec,
            disaggregate,
            pricing,
            as_json,
        )
        return
    res = _run_search(
        model,
        chip[0],
        input_len,
        output_len,
        ttft,
        tpot,
        requests_per_s,
        tokens_per_s,
        precision,
        max_replica_chips,
        spec,
        disaggregate,
        pricing,
        usd_per_chip_hour,
        system,
    )
    if report is not None:
        if res.best is None:
            raise GigatrainError(f"no report: {res.diagnosis}")
        from .web.service import infer_dict

        _write_report("infer", infer_dict(res), report)
    if as_json:
        _dump(res.to_dict())
        return
    render_search(res, console)


@app.command("infer-compare")
def infer_compare(
    model: Annotated[str, typer.Option("--model", "-m", help="catalog slug or config path")],
    chip: Annotated[list[str], typer.Option("--chip", "-c", help="chip slugs to compare (repeat)")],
    input_len: InputLen = 1024,
    output_len: OutputLen = 1024,
    ttft: Ttft = None,
    tpot: Tpot = None,
    requests_per_s: Rps = None,
    tokens_per_s: Tps = None,
    precision: Prec = "auto",
    max_replica_chips: MaxChips = 64,
    spec: Spec = 0,
    disaggregate: Disagg = False,
    pricing: PricingOpt = "on_demand",
    as_json: JsonOpt = False,
) -> None:
    """Serving across chips: the best deployment of each, chips for the demand, $/M tokens."""
    _compare(
        model,
        chip,
        input_len,
        output_len,
        ttft,
        tpot,
        requests_per_s,
        tokens_per_s,
        precision,
        max_replica_chips,
        spec,
        disaggregate,
        pricing,
        as_json,
    )


def _compare(
    model: str,
    chips: list[str],
    input_len: int,
    output_len: int,
    ttft: str | None,
    tpot: str | None,
    requests_per_s: float | None,
    tokens_per_s: str | None,
    precision: str,
    max_replica_chips: int,
    spec: int,
    disaggregate: bool,
    pricing: str,
    as_json: bool,
) -> None:
    if len(chips) < 1 or len(chips) > 16:
        raise GigatrainError(f"give 1 to 16 --chip values, got {len(chips)}")
    results = [
        _run_search(
            model,
            c,
            input_len,
            output_len,
            ttft,
            tpot,
            requests_per_s,
            tokens_per_s,
            precision,
            max_replica_chips,
            spec,
            disaggregate,
            pricing,
            None,
        )
        for c in chips
    ]
    if as_json:
        _dump([r.to_dict() for r in results])
        return
    t = _table(
        f"serving {escape(model)} · {input_len:,} in / {output_len:,} out"
        + (f" · TTFT ≤ {ttft}" if ttft else "")
        + (f" · TPOT ≤ {tpot}" if tpot else "")
    )
    for c in (
        "chip",
        "best layout",
        "TTFT ms",
        "TPOT ms",
        "tok/s/chip",
        "$/M out",
        "J/tok",
        "chips",
        "$/h",
    ):
        t.add_column(c, justify="left" if c in ("chip", "best layout") else "right", no_wrap=True)
    for r in results:
        b = r.best
        if b is None:
            t.add_row(r.chip, f"[red]{escape(r.diagnosis)}[/]", *["–"] * 7)
            continue
        t.add_row(
            r.chip,
            _short(b.deployment) + f" c{b.deployment.concurrency}",
            _ms(b.ttft_s),
            _ms(b.tpot_s),
            f"{b.output_tokens_per_s_per_chip:,.1f}",
            usd(b.usd_per_m_output_tokens),
            f"{b.joules_per_output_token:,.2f}" if b.joules_per_output_token is not None else "–",
            f"{r.fleet.chips:,}" if r.fleet else "–",
            usd(r.fleet.usd_per_hour, "/h") if r.fleet and r.fleet.usd_per_hour else "–",
        )
    console.print(t)
    if any(r.fleet for r in results):
        console.print(
            "chips and $/h: the fleet for the stated demand; J/tok: facility joules per output token",
            highlight=False,
        )


@app.command("validate-serving")
def validate_serving(
    runs: Annotated[
        str | None,
        typer.Option(help="a CSV in the inference_runs.csv schema (default: the shipped runs)"),
    ] = None,
    as_json: JsonOpt = False,
    show_unsupported: Annotated[
        bool, typer.Option("--unsupported", help="list unsupported rows with reasons")
    ] = False,
) -> None:
    """Score the serving model against measured serving runs (median and p90 |error| per source)."""
    validate_runs_file(runs, "serving", as_json, show_unsupported)


def validate_runs_file(
    runs: str | Path | None,
    schema: str,
    as_json: bool,
    show_unsupported: bool,
    out: Console | None = None,
) -> None:
    """Score a serving (``inference_runs.csv``) or post-training (``posttrain_runs.csv``) runs
    file and print the JSON rows ``{row_id, metric, predicted, measured, rel_error, status,
    reason}`` with the summary, or the tables. ``gigatrain validate --runs FILE`` calls this when
    the file's header is one of those schemas; ``runs=None`` scores the shipped file."""
    out = out or console
    if schema == "serving":
        from ..validate.serving import score_serving_file

        rows, summary = score_serving_file(runs)
    elif schema == "posttrain":
        from ..validate.serving_posttrain import score_posttrain, summarize_posttrain

        res = score_posttrain(Path(runs) if runs else None)
        rows, summary = [r.to_dict() for r in res], summarize_posttrain(res)
    else:
        raise GigatrainError(f"schema {schema!r}; valid: serving, posttrain")
    if not rows:
        raise GigatrainError(f"runs file {runs} has no data rows")
    if as_json:
        _dump({"schema": schema, "rows": rows, "summary": summary})
        return
    _validation_tables(schema, rows, summary, show_unsupported, out)


def _validation_tables(
    schema: str, rows: list[dict], summary: dict, show_unsupported: bool, out: Console
) -> None:
    from collections import Counter

    what = "serving" if schema == "serving" else "post-training"
    oom = (
        f" ({summary['predicted_oom']} predicted not to fit)"
        if summary.get("predicted_oom")
        else ""
    )
    out.print(
        f"{what} validation: {summary['rows']:,} rows, {summary['supported']:,} scored{oom}",
        highlight=False,
    )
    out.print(
        "rel_error = predicted/measured − 1 in the metric each source reports", highlight=False
    )
    t = _table("median and p90 |error| per source and metric")
    for c in ("source", "metric", "rows", "median", "p90"):
        t.add_column(c, justify="left" if c in ("source", "metric") else "right")
    for key, st in summary["groups"].items():
        src, met = key.split("|")
        if not st["rows"]:
            continue
        name = f"[bold]{escape(met)}[/]" if met in ("throughput", "latency") else escape(met)
        t.add_row(
            escape(src),
            name,
            f"{st['rows']:,}",
            f"{st['median_abs_error']:.1%}",
            f"{st['p90_abs_error']:.1%}",
        )
    out.print(t)
    per_source: dict[str, list[int]] = {}
    for r in rows:
        counts = per_source.setdefault(r["source"], [0, 0])
        counts[0] += 1
        counts[1] += r["rel_error"] is not None
    for src, (total, scored) in sorted(per_source.items()):
        out.print(f"{src}: {scored:,} of {total:,} rows scored", markup=False, highlight=False)
    reasons = Counter(
        (r["source"], r["reason"].split(";")[0][:90]) for r in rows if r["status"] == "unsupported"
    )
    if reasons:
        u = _table("unsupported rows by reason")
        for c in ("rows", "source", "reason"):
            u.add_column(c, justify="right" if c == "rows" else "left", overflow="fold")
        for (src, reason), n in reasons.most_common():
            u.add_row(f"{n:,}", escape(src), escape(reason))
        out.print(u)
    if show_unsupported:
        for r in rows:
            if r["status"] != "ok":
                out.print(
                    f"{r['row_id']}  {r['source']}  {r['reason']}", markup=False, highlight=False
                )


# ------------------------------------------------------------------ post-training
def _breakdown_table(title: str, d: dict[str, float], unit: str) -> Table:
    from ..units import gib, seconds

    t = _table(title)
    t.add_column("part")
    t.add_column(unit, justify="right")
    for k, v in d.items():
        if v:
            t.add_row(k.split("/", 1)[-1], gib(v) if unit == "memory" else seconds(v))
    return t


@app.command()
def finetune(
    model: Annotated[str, typer.Option("--model", "-m", help="catalog slug or config path")],
    chip: Annotated[str, typer.Option("--chip", "-c", help="chip slug")],
    chips: Annotated[int, typer.Option(help="number of chips")],
    method: Annotated[str, typer.Option(help="full | lora | qlora")] = "lora",
    lora_rank: Annotated[int, typer.Option("--lora-rank", help="adapter rank r")] = 16,
    lora_targets: Annotated[
        str, typer.Option("--lora-targets", help="attention | all (attention + MLP/experts)")
    ] = "all",
    seq: Annotated[int, typer.Option(help="sequence length (packed)")] = 4096,
    global_batch: Annotated[
        int, typer.Option("--global-batch", help="sequences per optimizer step")
    ] = 64,
    tokens: Annotated[str, typer.Option(help="fine-tuning tokens, e.g. 1B (days and cost)")] = "0",
    precision: Annotated[str, typer.Option(help="matmul precision: bf16 | fp8")] = "bf16",
    tp: Annotated[int | None, typer.Option(help="tensor parallel (default: searched)")] = None,
    pp: Annotated[int | None, typer.Option(help="pipeline parallel (default: searched)")] = None,
    dp: Annotated[int | None, typer.Option(help="data parallel (default chips/(tp·pp))")] = None,
    micro_batch: Annotated[int, typer.Option("--micro-batch")] = 1,
    zero: Annotated[int, typer.Option(help="ZeRO stage (3 = FSDP)")] = 1,
    recompute: Annotated[str, typer.Option(help="none | selective | full")] = "selective",
    framework: Annotated[
        str, typer.Option(help="framework profile (catalog frameworks)")
    ] = "megatron",
    pricing: PricingOpt = "on_demand",
    usd_per_chip_hour: UsdOpt = None,
    as_json: JsonOpt = False,
    report: ReportOpt = None,
) -> None:
    """Full SFT, LoRA or QLoRA: memory per chip (adapters, frozen weights), step time, days, cost."""
    from ..posttrain.named import finetune_named
    from ..units import gib, parse_count, seconds

    tok = 0.0 if tokens in ("0", "") else parse_count("--tokens", tokens)
    run = finetune_named(
        model,
        chip,
        chips,
        method=method,
        lora_rank=lora_rank,
        lora_targets=lora_targets,
        seq=seq,
        global_batch=global_batch,
        tokens=tok,
        precision=precision,
        tp=tp,
        pp=pp,
        dp=dp,
        micro_batch=micro_batch,
        zero=zero,
        recompute=recompute,
        framework=framework,
        pricing=pricing,
        usd_per_chip_hour=usd_per_chip_hour,
    )
    e, cost, note = run.estimate, run.cost_usd, run.price
    if report is not None:
        from .web.service import finetune_dict

        _write_report("finetune", finetune_dict(run), report)
    if as_json:
        _dump(run.to_dict())
        return
    console.print(
        f"[bold]finetune[/] {escape(method)} {escape(e.model)} on {e.chips:,} × {escape(e.chip)} · {e.plan.describe()} · "
        f"trainable {e.trainable_params / 1e6:,.1f} M of {e.total_params / 1e9:,.2f} B params · frozen "
        f"{e.frozen_dtype}",
        highlight=False,
    )
    fit = "[green]fits[/]" if e.fits else "[red]does not fit[/]"
    console.print(
        f"memory per chip {gib(e.memory_bytes)} of {gib(e.memory_capacity_bytes)} ({fit}) · step "
        f"{seconds(e.step_time_s)} · {e.tokens_per_s_per_chip:,.0f} tokens/s per chip",
        highlight=False,
    )
    console.print(_breakdown_table("memory per chip", e.memory_breakdown, "memory"))
    console.print(_breakdown_table("step time", e.time_breakdown, "time"))
    if e.days_to_train is not None:
        console.print(
            f"{tok:.3g} tokens: {e.days_to_train:,.2f} days"
            + (f", {usd(cost)} at {escape(note)}" if cost else ""),
            highlight=False,
        )


@app.command()
def rl(
    model: Annotated[str, typer.Option("--model", "-m", help="catalog slug or config path")],
    chip: Annotated[str, typer.Option("--chip", "-c", help="chip slug")],
    chips: Annotated[int, typer.Option(help="number of chips")],
    algorithm: Annotated[str, typer.Option(help="grpo | ppo")] = "grpo",
    prompts: Annotated[int, typer.Option(help="prompts per RL step")] = 512,
    samples: Annotated[int, typer.Option(help="responses per prompt")] = 8,
    prompt_len: Annotated[int, typer.Option("--prompt-len")] = 512,
    response_len: Annotated[
        int, typer.Option("--response-len", help="mean response tokens")
    ] = 1024,
    train_steps: Annotated[
        int, typer.Option("--train-steps", help="optimizer steps per RL step")
    ] = 1,
    gen_tp: Annotated[int, typer.Option("--gen-tp", help="chips per generation replica")] = 8,
    gen_precision: Annotated[
        str, typer.Option("--gen-precision", help="bf16 | fp8 | fp4")
    ] = "bf16",
    placement: Annotated[str, typer.Option(help="colocated | disaggregated")] = "colocated",
    rollout_fraction: Annotated[
        float, typer.Option("--rollout-fraction", help="disaggregated: share of chips generating")
    ] = 0.5,
    off_policy: Annotated[
        int, typer.Option("--off-policy", help="steps of staleness allowed (≥1 overlaps)")
    ] = 0,
    tail_factor: Annotated[
        float, typer.Option("--tail-factor", help="longest / mean response length")
    ] = 1.0,
    no_reference: Annotated[
        bool, typer.Option("--no-reference", help="no KL reference model")
    ] = False,
    reward_model: Annotated[
        bool, typer.Option("--reward-model", help="a learned reward model forward pass")
    ] = False,
    tp: Annotated[
        int | None, typer.Option(help="training tensor parallel (default: searched)")
    ] = None,
    pp: Annotated[
        int | None, typer.Option(help="training pipeline parallel (default: searched)")
    ] = None,
    precision: Annotated[str, typer.Option(help="training matmul precision")] = "bf16",
    framework: Annotated[str, typer.Option(help="training framework profile")] = "megatron",
    steps: Annotated[int, typer.Option(help="RL steps (days and cost)")] = 0,
    pricing: PricingOpt = "on_demand",
    usd_per_chip_hour: UsdOpt = None,
    as_json: JsonOpt = False,
    report: ReportOpt = None,
) -> None:
    """PPO/GRPO: time per RL step (rollout, log-probs, training, weight sync), days and $ for N steps."""
    from ..posttrain.named import rl_named
    from ..units import seconds

    e = rl_named(
        model,
        chip,
        chips,
        algorithm=algorithm,
        prompts=prompts,
        samples=samples,
        prompt_len=prompt_len,
        response_len=response_len,
        train_steps=train_steps,
        gen_tp=gen_tp,
        gen_precision=gen_precision,
        placement=placement,
        rollout_fraction=rollout_fraction,
        off_policy=off_policy,
        tail_factor=tail_factor,
        reference=not no_reference,
        reward_model=reward_model,
        tp=tp,
        pp=pp,
        precision=precision,
        framework=framework,
        steps=steps,
        pricing=pricing,
        usd_per_chip_hour=usd_per_chip_hour,
    )
    spec, plan = e.spec, e.train_plan
    note = next((n.removeprefix("price: ") for n in e.notes if n.startswith("price: ")), "")
    if report is not None:
        from .web.service import rl_dict

        _write_report("rl", rl_dict(e), report)
    if as_json:
        _dump({**e.to_dict(), "price": note})
        return
    console.print(
        f"[bold]rl[/] {escape(algorithm)} {escape(e.model)} on {chips:,} × {escape(e.chip)} ({escape(placement)}) · "
        f"{spec.sequences:,} responses/step ({prompts:,} prompts × {samples}) of {response_len:,} tokens · "
        f"training {plan.describe()}",
        highlight=False,
    )
    t = _table("one RL step")
    for c in ("part", "time", "share"):
        t.add_column(c, justify="left" if c == "part" else "right")
    tot = sum(e.time_s.values())
    for k, v in e.time_s.items():
        t.add_row(k, seconds(v), f"{v / tot:.0%}")
    t.add_row("[bold]step[/]", seconds(e.step_time_s), "")
    console.print(t)
    console.print(
        f"rollout {e.rollout_share:.0%} · train {e.train_share:.0%} · {e.tokens_per_s_per_chip:,.0f} tokens/s per chip"
        f" · generation concurrency {e.rollout_concurrency_per_replica:,} per replica",
        highlight=False,
    )
    if e.days is not None:
        console.print(
            f"{steps:,} steps: {e.days:,.2f} days"
            + (f", {usd(e.cost_usd)} at {escape(note)}" if e.cost_usd else ""),
            highlight=False,
        )
    for n in e.notes:
        console.print(f"note: {escape(n)}", highlight=False)


@app.command("validate-posttrain")
def validate_posttrain(
    runs: Annotated[
        str | None,
        typer.Option(help="a CSV in the posttrain_runs.csv schema (default: the shipped runs)"),
    ] = None,
    as_json: JsonOpt = False,
    show_unsupported: Annotated[
        bool, typer.Option("--unsupported", help="list unsupported rows with reasons")
    ] = False,
) -> None:
    """Score fine-tuning and RL estimates against measured post-training runs."""
    validate_runs_file(runs, "posttrain", as_json, show_unsupported)
