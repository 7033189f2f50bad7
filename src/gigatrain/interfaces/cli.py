"""``gigatrain`` command line. Renders what the library returns; holds no model logic.

Heavy modules (numpy model, torch, FastAPI, matplotlib) are imported inside commands so that
``gigatrain --help`` starts fast.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import GigatrainError, NoFeasiblePlanError
from ..specs import PRECISIONS
from .plan_options import degree_values

app = typer.Typer(
    name="gigatrain",
    help="What it takes to train a transformer on a fleet of accelerators: plan, memory, step time, days, energy, dollars.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # plain click help and errors: option names never truncated at 80 columns, no boxes in
    # logs, and a faster `--help` (Typer's Rich help truncates long option names)
    rich_markup_mode=None,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)


class Recompute(StrEnum):
    none = "none"
    selective = "selective"
    full = "full"


class CatalogKind(StrEnum):
    chips = "chips"
    models = "models"
    systems = "systems"
    prices = "prices"
    economics = "economics"
    frameworks = "frameworks"


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("gigatrain")
        except PackageNotFoundError:  # running from a source tree that is not installed
            v = "unknown (not installed)"
        sys.stdout.write(f"gigatrain {v}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """What it takes to train a transformer on a fleet of accelerators: plan, memory, step
    time, days, energy, dollars."""


def _wide_console() -> Console:
    """A console at least 200 columns wide for ``--wide`` (pipes default to 80)."""
    return console if console.width >= 200 else Console(width=200)


def _dump(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str, allow_nan=False) + "\n")


ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="catalog slug, or a .yaml / HF config.json path")
]
ChipOpt = Annotated[
    str, typer.Option("--chip", "-c", help="chip slug (see `gigatrain catalog chips`)")
]


@app.command()
@degree_values(after="chips")  # --tp, --pp, --cp, --ep, --vpp, --micro-batch (specs.PLAN_DEGREES)
def estimate(
    model: ModelOpt,
    chip: ChipOpt,
    chips: Annotated[int, typer.Option(help="number of chips")],
    degrees: dict[str, Any],
    dp: Annotated[
        int | None, typer.Option(help="data parallel degree (default chips/(tp·pp·cp))")
    ] = None,
    zero: Annotated[int, typer.Option(help="ZeRO stage 0-3 (3 = FSDP)")] = 1,
    fsdp_shard: Annotated[
        int, typer.Option("--fsdp-shard", help="hybrid sharding group (0 = all dp)")
    ] = 0,
    recompute: Annotated[
        Recompute, typer.Option(help="activation recompute")
    ] = Recompute.selective,
    no_sp: Annotated[bool, typer.Option("--no-sp", help="disable sequence parallelism")] = False,
    seq: Annotated[int, typer.Option(help="sequence length")] = 4096,
    global_batch: Annotated[
        int, typer.Option("--global-batch", help="global batch (sequences)")
    ] = 1024,
    tokens: Annotated[str, typer.Option(help="training token budget, e.g. 15T")] = "0",
    precision: Annotated[str, typer.Option(help=" | ".join(PRECISIONS))] = "bf16",
    system: Annotated[str | None, typer.Option(help="system slug (default: the chip's)")] = None,
    framework: Annotated[
        str,
        typer.Option(
            help="framework profile (catalog frameworks); auto = the chip family's usual one"
        ),
    ] = "auto",
    profile: Annotated[Path | None, typer.Option(help="calibration profile YAML")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Memory per rank and step time of one plan, with breakdowns, MFU and days to train."""
    from ..api import estimate_named
    from ..units import parse_count

    tok = 0.0 if tokens in ("0", "") else parse_count("tokens", tokens)
    e = estimate_named(
        model,
        chip,
        chips,
        seq=seq,
        global_batch=global_batch,
        tokens=tok,
        precision=precision,
        system=system,
        profile=profile,
        framework=framework,
        dp=dp,
        **degrees,
        zero_stage=zero,
        fsdp_shard=fsdp_shard,
        recompute=recompute.value,
        sequence_parallel=not no_sp,
    )
    if as_json:
        _dump(e.to_dict())
        return
    from .render import estimate_tables

    estimate_tables(e, console)


@app.command()
def validate(
    runs: Annotated[
        Path | None,
        typer.Option(
            help="a CSV in the published_runs.csv, inference_runs.csv (serving) or posttrain_runs.csv schema, told apart by its header (default: the shipped training runs)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print rows and summary as JSON")] = False,
    show_unsupported: Annotated[
        bool, typer.Option("--unsupported", help="list unsupported rows with reasons")
    ] = False,
) -> None:
    """Score the model against measured runs: training, serving or post-training (error per source)."""
    from ..validate.runs import read_rows, shipped_rows
    from ..validate.score import result_dict, score_rows, summarize

    if runs is not None:
        from ..validate.serving import file_schema

        schema = file_schema(runs)
        if schema != "training":
            from .cli_serving import validate_runs_file

            validate_runs_file(runs, schema, as_json, show_unsupported, console)
            return
    rows = read_rows(runs) if runs else shipped_rows()
    if not rows:
        raise GigatrainError(f"runs file {runs} has no data rows")
    results = score_rows(rows)
    summary = summarize(results)
    if as_json:
        _dump({"rows": [result_dict(r) for r in results], "summary": summary})
        return
    from .render_validate import validation_tables

    validation_tables(results, summary, console, show_unsupported)


@app.command()
def catalog(
    kind: Annotated[
        CatalogKind,
        typer.Argument(help="chips | models | systems | prices | economics | frameworks"),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="every column (sources, notes), however wide")
    ] = False,
) -> None:
    """List catalog entries with their sources and dates (fewer columns when narrow)."""
    from .render_catalog import catalog_records, catalog_table

    records = catalog_records(kind.value)
    if as_json:
        _dump(records)
        return
    catalog_table(kind.value, records, _wide_console() if wide else console, wide=wide)


def _register_optional() -> None:
    """Sub-apps written in their own modules (calibration, search, economics, web)."""
    import importlib

    for mod in (
        "cli_calibrate",
        "cli_search",
        "cli_economics",
        "cli_web",
        "cli_serving",
        "cli_sweep",
        "cli_exports",
    ):
        try:
            sub = importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name and e.name.endswith(mod):
                continue
            raise
        for cmd in sub.app.registered_commands:
            app.registered_commands.append(cmd)


_register_optional()


#: messages of "valid input, but no plan" errors raised as plain GigatrainError by the search
#: engine and the cost path; exit 1 like :class:`NoFeasiblePlanError` (see README "Exit codes")
_NOTHING_FITS = re.compile(r"^(nothing fits|no plan)\b")


def exit_code_for(err: GigatrainError) -> int:
    """2 for usage and input errors, 1 for well-formed input with no feasible plan."""
    if isinstance(err, NoFeasiblePlanError) or _NOTHING_FITS.match(str(err)):
        return 1
    return err.exit_code


def _command_name(info: typer.models.CommandInfo) -> str:
    if info.name:
        return info.name
    assert info.callback is not None  # @app.command() always registers its function
    return info.callback.__name__.lower().replace("_", "-")  # Typer's rule


def _stub(info: typer.models.CommandInfo) -> typer.models.CommandInfo:
    """``info`` with a parameterless callback of the same name and docstring: enough for the
    top-level command list, and nothing for Typer to build."""

    def stub() -> None:  # never invoked: a named command selects the real app
        raise typer.Exit(2)

    stub.__doc__ = info.callback.__doc__
    out = copy.copy(info)
    out.name, out.callback = _command_name(info), stub
    return out


def _app_for(argv: list[str]) -> typer.Typer:
    """Typer builds every command's options from its signature on each run, so a run gets an
    app with only the command it names; anything else (``--help``, ``--version``, no or an
    unknown command) gets the command list built from stubs. Keeps cold starts fast."""
    wanted = argv[0] if argv else None
    found = [c for c in app.registered_commands if _command_name(c) == wanted]
    one = typer.Typer(
        name=app.info.name,
        help=app.info.help,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
    )
    one.registered_callback = app.registered_callback  # stays a group: `gigatrain CMD ...`
    one.registered_commands = (
        found if len(found) == 1 else [_stub(c) for c in app.registered_commands]
    )
    return one


def main(argv: list[str] | None = None) -> None:
    """Entry point. Usage errors go through click's own path (message, exit 2); bad input is one
    escaped line and exit 2; "nothing fits" exits 1; never a traceback."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        _app_for(args)(args=args, prog_name="gigatrain", standalone_mode=True)
    except GigatrainError as e:
        err_console.print(f"[red]error:[/] {escape(str(e))}", highlight=False)
        raise SystemExit(exit_code_for(e)) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as e:  # a bug: one line, no traceback
        err_console.print(
            f"[red]internal error:[/] {escape(f'{type(e).__name__}: {e}')} (please report this)",
            highlight=False,
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
