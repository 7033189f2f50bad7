"""``gigatrain calibrate`` and ``gigatrain measure``: device profiles and real-step checks.

Rendering only; the numbers come from :mod:`gigatrain.calibrate`. PyTorch is imported inside
the commands (it is an optional extra).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import GigatrainError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
console = Console()
err_console = Console(stderr=True)


class Device(StrEnum):
    cpu = "cpu"
    cuda = "cuda"


class Mode(StrEnum):
    training = "training"
    serving = "serving"


class Clock(StrEnum):
    auto = "auto"
    wall = "wall"
    process = "process"


def _clock(clock: Clock, device: Device, threads: int | None) -> str:
    """``auto``: the process CPU clock for one-thread CPU runs (immune to waiting for a core on
    a shared machine), wall time otherwise."""
    if clock != Clock.auto:
        return clock.value
    return "process" if device == Device.cpu and threads == 1 else "wall"


@contextmanager
def _progress(what: str) -> Iterator[Callable[[int, int, str], None]]:
    """A transient progress bar on stderr; yields ``progress(done, total, label)``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(
                task,
                completed=done,
                total=total,
                description=escape(f"{what}: {label}"[:48].ljust(48)),
            )

        yield progress


def _warn_if_busy(clock: str, threads: int | None) -> None:
    from ..calibrate.measure import busy_host

    note = busy_host(threads) if clock == "wall" else None
    if note:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)


def _si(value: float, unit: str) -> str:
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _time(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


@app.command()
def calibrate(
    device: Annotated[Device, typer.Option(help="device to benchmark")] = Device.cpu,
    output: Annotated[Path, typer.Option("--output", "-o", help="profile YAML to write")] = Path(
        "device-profile.yaml"
    ),
    force: Annotated[
        bool, typer.Option("--force", help="replace an existing profile file")
    ] = False,
    quick: Annotated[
        bool, typer.Option("--quick", help="small grid, a few seconds (tests)")
    ] = False,
    chip: Annotated[
        str | None, typer.Option(help="catalog chip this device is (default: from its name)")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads for torch (default: torch's choice)")
    ] = None,
    clock: Annotated[
        Clock,
        typer.Option(
            help="auto (process CPU time with --threads 1 on CPU, else wall), wall or process"
        ),
    ] = Clock.auto,
) -> None:
    """Microbenchmark the device (matmul, bandwidth, attention, element-wise, collectives) and
    write a profile the estimator can use (`gigatrain estimate --profile FILE`)."""
    from ..calibrate.microbench import resolve_device, run_microbenchmarks
    from ..calibrate.profile import (
        device_environment,
        fit_profile,
        match_catalog_chip,
        save_profile,
    )

    if output.exists() and not force:  # refuse before spending minutes on benchmarks
        raise GigatrainError(
            f"profile {str(output)!r} already exists; refusing to overwrite it "
            "(pass --force to replace it, or choose another --output)"
        )
    resolve_device(device.value)  # no CUDA device: one line, before anything else
    clk = _clock(clock, device, threads)
    _warn_if_busy(clk, threads)
    env = device_environment(device.value, threads) if device == Device.cpu else None
    with _progress("calibrating") as progress:
        raw = run_microbenchmarks(
            device.value, quick=quick, progress=progress, threads=threads, clock=clk
        )
    env = env or device_environment(device.value)
    catalog = match_catalog_chip(env["device_name"], chip) if device == Device.cuda else None
    prof = save_profile(fit_profile(raw, env, catalog), output, force=force)
    _summary(prof)


def _summary(prof: Any) -> None:
    t = Table(
        title=escape(f"device profile — {prof.device_name} ({prof.kind})"), title_justify="left"
    )
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("note")
    for dname, peak in prof.peak_flops_per_s.items():
        fit = prof.matmul_fits.get(dname)
        note = (
            f"e_max {fit.e_max:.2f}, F½ {_si(fit.f_half, 'FLOP')}, fit rms {fit.rms_log_error:.2f}"
            if fit
            else ""
        )
        t.add_row(f"peak {dname}", _si(peak, "FLOP/s"), escape(f"{prof.peak_source}; {note}"))
    t.add_row(
        "matmul efficiency", f"{prof.matmul_efficiency:.3f}", f"{prof.primary_dtype}, large GEMMs"
    )
    t.add_row("matmul half-efficiency size", _si(prof.matmul_half_flops, "FLOP"), "per GEMM")
    t.add_row("memory bandwidth", _si(prof.hbm_bandwidth_bytes_per_s, "B/s"), "achieved (copy/add)")
    t.add_row(
        "element-wise rate",
        _si(prof.elementwise_bandwidth_bytes_per_s, "B/s"),
        "norms, activations, softmax",
    )
    t.add_row("kernel overhead", f"{prof.kernel_overhead_s * 1e6:.3g} µs", "per kernel")
    t.add_row(
        "attention efficiency", f"{prof.attention_efficiency:.3f}", "SDPA fwd+bwd, causal FLOPs"
    )
    for key, why in prof.measurements.get("skipped", {}).items():
        t.add_row(escape(key), "skipped", escape(why))
    console.print(t)
    console.print(
        escape(
            f"profile written to {prof.source_path} (torch {prof.torch_version}"
            + (
                f", CUDA {prof.cuda_version}, driver {prof.driver_version}"
                if prof.cuda_version
                else ""
            )
            + f", {prof.created})"
        ),
        highlight=False,
    )


@app.command()
def measure(
    device: Annotated[Device, typer.Option(help="device to run on")] = Device.cpu,
    mode: Annotated[
        Mode,
        typer.Option(
            help="training (AdamW steps vs the training model) or serving (prefill + "
            "KV-cached decode vs the serving model: TTFT and TPOT)"
        ),
    ] = Mode.training,
    profile: Annotated[
        Path | None,
        typer.Option(help="profile from `gigatrain calibrate` (default: quick calibration now)"),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="tiny model (tiny-gpt, small-llama, ...) or catalog slug"
        ),
    ] = "tiny-gpt",
    batch: Annotated[int, typer.Option(help="sequences per step")] = 4,
    seq: Annotated[int, typer.Option(help="sequence length")] = 128,
    input_len: Annotated[int, typer.Option(help="serving: prompt tokens per sequence")] = 128,
    output_len: Annotated[int, typer.Option(help="serving: decode steps (tokens generated)")] = 32,
    steps: Annotated[
        int, typer.Option(help="timed steps (serving: timed prefill+decode runs); median reported")
    ] = 5,
    warmup: Annotated[int, typer.Option(help="untimed warm-up steps")] = 2,
    precision: Annotated[
        str | None, typer.Option(help="fp32 | bf16 | fp16 (default: fp32 on CPU, bf16 on GPU)")
    ] = None,
    no_components: Annotated[
        bool, typer.Option("--no-components", help="skip the profiler split")
    ] = False,
    clock: Annotated[
        Clock,
        typer.Option(
            help="auto (process CPU time for one-thread CPU profiles, else wall), wall or process"
        ),
    ] = Clock.auto,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Run real training steps (or, with --mode serving, prefill and KV-cached decode) of a
    model in PyTorch and compare with the estimate."""
    from ..calibrate.measure import compare
    from ..calibrate.microbench import resolve_device
    from ..calibrate.profile import (
        device_environment,
        fit_profile,
        load_profile,
        match_catalog_chip,
    )
    from ..calibrate.torch_model import tiny_models

    resolve_device(device.value)  # no CUDA device: one line, before anything else
    spec = tiny_models().get(model)
    if spec is None:
        from ..catalog.models import get_model

        spec = get_model(model)
    if profile is not None:
        prof = load_profile(profile)
    else:  # a quick one-thread calibration, timed by the process clock: steady under load
        from ..calibrate.microbench import run_microbenchmarks

        threads = 1 if device == Device.cpu else None
        env = device_environment(device.value, threads)
        catalog = match_catalog_chip(env["device_name"]) if device == Device.cuda else None
        with _progress("no --profile: quick calibration") as progress:
            raw = run_microbenchmarks(
                device.value,
                quick=True,
                progress=progress,
                threads=threads,
                clock=_clock(clock, device, threads),
            )
        prof = fit_profile(raw, env, catalog)
    clk = _clock(clock, device, prof.threads if device == Device.cpu else None)
    _warn_if_busy(clk, prof.threads if device == Device.cpu else None)
    if mode == Mode.serving:
        _measure_serving(
            spec, prof, device, batch, input_len, output_len, steps, warmup, precision, clk, as_json
        )
        return
    with err_console.status(escape(f"measuring {steps} training steps of {spec.slug}")):
        res = compare(
            spec,
            prof,
            device.value,
            batch=batch,
            seq=seq,
            steps=steps,
            warmup=warmup,
            precision=precision,
            components=not no_components,
            clock=clk,
        )
    if as_json:
        sys.stdout.write(json.dumps(res.to_dict(), indent=2, default=str) + "\n")
        return
    t = Table(
        title=escape(
            f"{res.model} on {res.device_name}: batch {res.batch} × seq {res.seq}, "
            f"{res.precision}, {res.params / 1e6:.1f}M params, {res.clock} clock"
        ),
        title_justify="left",
    )
    for col in ("", "measured", "predicted", "error"):
        t.add_column(col, justify="right" if col else "left")
    t.add_row(
        "step time",
        _time(res.measured_step_s),
        _time(res.predicted_step_s),
        f"{res.step_rel_error:+.1%}",
    )
    for name, c in res.components.items():
        t.add_row(
            f"  {name}", _time(c["measured_s"]), _time(c["predicted_s"]), f"{c['rel_error']:+.1%}"
        )
    t.add_row(
        "memory",
        _si(res.measured_memory_bytes, "B"),
        _si(res.predicted_memory_bytes, "B"),
        f"{res.memory_rel_error:+.1%}",
    )
    console.print(t)
    console.print(
        f"memory measured as {escape(res.memory_method)}; predicted counts tensors only (no runtime "
        f"context, framework overhead or fragmentation knobs; full estimate {_si(res.predicted_memory_total_bytes, 'B')})",
        highlight=False,
    )
    console.print(f"profile: {escape(res.profile)}", highlight=False)


def _measure_serving(
    spec: Any,
    prof: Any,
    device: Device,
    batch: int,
    input_len: int,
    output_len: int,
    runs: int,
    warmup: int,
    precision: str | None,
    clk: str,
    as_json: bool,
) -> None:
    from ..calibrate.serving_measure import compare_serving

    with err_console.status(
        escape(f"measuring prefill + {output_len} decode steps of {spec.slug}")
    ):
        res = compare_serving(
            spec,
            prof,
            device.value,
            batch=batch,
            input_len=input_len,
            output_len=output_len,
            runs=runs,
            warmup=warmup,
            precision=precision,
            clock=clk,
        )
    if as_json:
        sys.stdout.write(json.dumps(res.to_dict(), indent=2, default=str) + "\n")
        return
    t = Table(
        title=escape(
            f"{res.model} serving on {res.device_name}: batch {res.batch}, input {res.input_len}, "
            f"output {res.output_len}, {res.precision}, {res.params / 1e6:.1f}M params, "
            f"{res.clock} clock"
        ),
        title_justify="left",
    )
    for col in ("metric", "measured", "predicted", "rel_error"):
        t.add_column(col, justify="left" if col == "metric" else "right")
    labels = {"ttft": "TTFT (prefill of the batch)", "tpot": "TPOT (mean decode step)"}
    for row in res.rows:
        t.add_row(
            labels.get(row["metric"], row["metric"]),
            _time(row["measured"]),
            _time(row["predicted"]),
            f"{row['rel_error']:+.1%}",
        )
    console.print(t)
    console.print(
        "predicted: serving model, one chip, static batch, no API front end, default serving knobs",
        highlight=False,
    )
    console.print(f"profile: {escape(res.profile)}", highlight=False)
