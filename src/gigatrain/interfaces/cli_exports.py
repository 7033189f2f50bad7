"""``gigatrain export`` and ``gigatrain import``: a plan as a training framework's launch
config, and a launch config read back and estimated. Rendering only — the work is in
:mod:`gigatrain.exports`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import GigatrainError
from ..specs import PRECISIONS

app = typer.Typer()
console = Console()
err_console = Console(stderr=True, soft_wrap=True)


@app.command("export")
def export_cmd(
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="megatron | megatron-bridge | deepspeed | torchtitan | maxtext | neuron",
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default: print)")
    ] = None,
    from_search: Annotated[
        Path | None, typer.Option("--from-search", help="`gigatrain search --json` output")
    ] = None,
    rank: Annotated[int, typer.Option(help="which plan of the search result (1 = best)")] = 1,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="catalog slug or model file")
    ] = None,
    chip: Annotated[str | None, typer.Option("--chip", "-c", help="chip slug")] = None,
    chips: Annotated[int | None, typer.Option(help="number of chips")] = None,
    tp: Annotated[int, typer.Option(help="tensor parallel degree")] = 1,
    pp: Annotated[int, typer.Option(help="pipeline parallel degree")] = 1,
    cp: Annotated[int, typer.Option(help="context parallel degree")] = 1,
    ep: Annotated[int, typer.Option(help="expert parallel degree")] = 1,
    dp: Annotated[
        int | None, typer.Option(help="data parallel degree (default chips/(tp·pp·cp))")
    ] = None,
    vpp: Annotated[int, typer.Option(help="virtual pipeline stages")] = 1,
    micro_batch: Annotated[int, typer.Option("--micro-batch", help="micro-batch size")] = 1,
    zero: Annotated[int, typer.Option(help="ZeRO stage 0-3")] = 1,
    fsdp_shard: Annotated[
        int, typer.Option("--fsdp-shard", help="hybrid sharding group (0 = all dp)")
    ] = 0,
    recompute: Annotated[str, typer.Option(help="none | selective | full")] = "selective",
    no_sp: Annotated[bool, typer.Option("--no-sp", help="disable sequence parallelism")] = False,
    seq: Annotated[int, typer.Option(help="sequence length")] = 4096,
    global_batch: Annotated[
        int, typer.Option("--global-batch", help="global batch (sequences)")
    ] = 1024,
    tokens: Annotated[str, typer.Option(help="training token budget, e.g. 15T")] = "0",
    precision: Annotated[str, typer.Option(help=" | ".join(PRECISIONS))] = "bf16",
    system: Annotated[str | None, typer.Option(help="system slug")] = None,
    framework: Annotated[
        str, typer.Option(help="framework profile; auto = the chip family's")
    ] = "auto",
) -> None:
    """Write a plan as a training framework's launch config (what cannot be expressed is
    refused or listed, never dropped)."""
    from ..exports import (
        export_plan,
        load_search_json,
        target_from_search,
        target_named,
        write_export,
    )
    from ..units import parse_count

    if from_search is not None:
        t = target_from_search(load_search_json(from_search), rank)
    else:
        if not (model and chip and chips):
            raise GigatrainError("export needs --model, --chip and --chips (or --from-search FILE)")
        tok = 0.0 if tokens in ("0", "") else parse_count("tokens", tokens)
        t = target_named(
            model,
            chip,
            chips,
            seq=seq,
            global_batch=global_batch,
            tokens=tok,
            precision=precision,
            system=system,
            framework=framework,
            tp=tp,
            pp=pp,
            cp=cp,
            ep=ep,
            dp=dp,
            vpp=vpp,
            micro_batch=micro_batch,
            zero_stage=zero,
            fsdp_shard=fsdp_shard,
            recompute=recompute,
            sequence_parallel=not no_sp,
        )
    ex = export_plan(t, fmt)
    for item in ex.not_expressible:
        err_console.print(f"not expressible in {fmt}: {escape(item)}", highlight=False)
    if output is None:
        for suffix, text in ex.files.items():
            if suffix:
                sys.stdout.write(f"\n# ---- companion file {suffix} ----\n")
            sys.stdout.write(text)
        return
    for p in write_export(ex, output):
        err_console.print(f"wrote {escape(str(p))}", highlight=False)
    first = ex.launch.splitlines()[0].rstrip(" \\")
    more = " ..." if len(ex.launch.splitlines()) > 1 else ""
    err_console.print(f"launch: {escape(first)}{more}", highlight=False)


@app.command("import")
def import_cmd(
    config: Annotated[Path, typer.Argument(help="a launch config (ours or your own)")],
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="format (default: from the content)")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="model (default: the config's)")
    ] = None,
    chip: Annotated[
        str | None, typer.Option("--chip", "-c", help="chip (default: the config's)")
    ] = None,
    chips: Annotated[
        int | None, typer.Option(help="chips (default: the config's); dp absorbs a change")
    ] = None,
    framework: Annotated[
        str | None, typer.Option(help="framework profile (default: the config's)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Read a launch config back and estimate it (``--chips`` asks what it does on more chips)."""
    from dataclasses import asdict

    from ..exports import estimate_config, read_config

    imp = read_config(config, fmt)
    e = estimate_config(imp, model=model, chip=chip, chips=chips, framework=framework)
    if as_json:
        d = {
            "imported": {k: v for k, v in asdict(imp).items() if k != "plan"},
            "estimate": e.to_dict(),
        }
        d["imported"]["plan"] = asdict(imp.plan)
        sys.stdout.write(json.dumps(d, indent=2, default=str, allow_nan=False) + "\n")
        return
    for note in imp.notes:
        err_console.print(f"note: {escape(note)}", highlight=False)
    from .render import estimate_tables

    estimate_tables(e, console)
