"""``gigatrain serve`` (the planner in a browser) and ``gigatrain report`` (one HTML file).

Mounted into the main CLI by ``cli._register_optional``. FastAPI, uvicorn and plotly are
imported inside the commands (``pip install 'gigatrain[web]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import GigatrainError
from ..specs import PRECISIONS

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _need(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise GigatrainError(
            f"{module} is not installed; install the web extra: pip install 'gigatrain[web]'"
        )


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="address to bind (default loopback only)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=0, max=65535)] = 8000,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level")] = "info",
    workers: Annotated[int, typer.Option(help="server processes", min=1, max=64)] = 1,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="a Host name the server answers to besides the loopback names "
            "(repeat; '*' for any); also GIGATRAIN_ALLOWED_HOSTS=a,b",
        ),
    ] = None,
) -> None:
    """Serve the planner page and the JSON API (OpenAPI docs at /docs).

    Searches and comparisons are bounded per process (see ``web.app.Limits``): at most 2 run
    and 2 wait at a time (others get HTTP 429 at once, with Retry-After), each refused above
    20 M candidate plans or stopped after 10 s. Requests whose Host header is not a loopback
    name or an allowed host get HTTP 400 (protection against DNS rebinding).
    """
    import os

    _need("fastapi")
    _need("uvicorn")
    import uvicorn

    from .web.guard import HOSTS_ENV, LOOPBACK_HOSTS

    hosts = [h.strip() for h in (allow_host or []) if h.strip()]
    if host not in (*LOOPBACK_HOSTS, "0.0.0.0", "::"):
        hosts.append(host)  # a specific address bound is a name clients may use
    if hosts:  # the app is built by uvicorn (in each worker): pass the names on by environment
        env = [h for h in os.environ.get(HOSTS_ENV, "").split(",") if h.strip()]
        os.environ[HOSTS_ENV] = ",".join(dict.fromkeys([*env, *hosts]))
    if host not in LOOPBACK_HOSTS:
        typer.echo(
            f"warning: binding {host}: the planner will be reachable from other machines"
            f"; it answers Host names: {os.environ.get(HOSTS_ENV) or 'loopback only'} "
            "(add more with --allow-host)",
            err=True,
        )
    typer.echo(
        f"gigatrain planner on http://{'[' + host + ']' if ':' in host else host}:{port}/  (API docs at /docs)"
    )
    uvicorn.run(
        "gigatrain.interfaces.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        workers=workers,
    )


@app.command()
def report(
    model: Annotated[str, typer.Option("--model", "-m", help="catalog slug, or a HF config.json")],
    chip: Annotated[str, typer.Option("--chip", "-c", help="chip slug")],
    chips: Annotated[int, typer.Option(help="number of chips")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write")] = Path(
        "plan.html"
    ),
    tp: Annotated[
        int | None,
        typer.Option(help="tensor parallel (no plan option: the best plan search finds)"),
    ] = None,
    pp: Annotated[int | None, typer.Option(help="pipeline parallel")] = None,
    cp: Annotated[int | None, typer.Option(help="context parallel")] = None,
    ep: Annotated[int | None, typer.Option(help="expert parallel")] = None,
    vpp: Annotated[int | None, typer.Option(help="virtual pipeline stages")] = None,
    micro_batch: Annotated[
        int | None, typer.Option("--micro-batch", help="micro-batch size")
    ] = None,
    zero: Annotated[int | None, typer.Option(help="ZeRO stage 0-3")] = None,
    fsdp_shard: Annotated[
        int | None, typer.Option("--fsdp-shard", help="hybrid sharding group")
    ] = None,
    recompute: Annotated[str | None, typer.Option(help="none | selective | full")] = None,
    seq: Annotated[int, typer.Option(help="sequence length")] = 4096,
    global_batch: Annotated[
        int, typer.Option("--global-batch", help="global batch (sequences)")
    ] = 1024,
    tokens: Annotated[str, typer.Option(help="training token budget, e.g. 15T")] = "0",
    precision: Annotated[str, typer.Option(help=" | ".join(PRECISIONS))] = "bf16",
    system: Annotated[str | None, typer.Option(help="system slug (default: the chip's)")] = None,
    framework: Annotated[str, typer.Option(help="framework efficiency profile")] = "megatron",
    compare: Annotated[
        list[str] | None,
        typer.Option("--compare", help="chips for the cost/time Pareto plot (repeat)"),
    ] = None,
) -> None:
    """Write one self-contained HTML file: memory, step time, best plans, cost, Pareto front
    across chips, the model's error bars and every assumption — no network needed to view it."""
    _need("plotly")
    from ..units import parse_count
    from .report import build_report

    tok = 0.0 if tokens in ("0", "") else parse_count("tokens", tokens)
    given = {
        "tp": tp,
        "pp": pp,
        "cp": cp,
        "ep": ep,
        "vpp": vpp,
        "micro_batch": micro_batch,
        "zero_stage": zero,
        "fsdp_shard": fsdp_shard,
        "recompute": recompute,
    }
    plan = {k: v for k, v in given.items() if v is not None} or None
    html = build_report(
        model=model,
        chip=chip,
        chips=chips,
        seq=seq,
        global_batch=global_batch,
        tokens=tok,
        precision=precision,
        system=system,
        framework=framework,
        plan=plan,
        compare=list(compare or []),
    )
    try:
        output.write_text(html, encoding="utf-8")
    except OSError as e:
        raise GigatrainError(f"cannot write {output}: {e.strerror}") from None
    typer.echo(f"wrote {output} ({len(html) / 1e6:.1f} MB)")
