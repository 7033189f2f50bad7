"""The planner in a browser: a FastAPI app with a JSON API and one static page.

``create_app()`` builds the app; ``gigatrain serve`` runs it with uvicorn on 127.0.0.1.

* JSON API under ``/api`` (OpenAPI schema at ``/docs``): each endpoint validates its request
  with a pydantic model whose bounds keep one request from hanging the server, then calls
  :mod:`.service`, which calls the same library functions the CLI does.
* Bad input never yields a 500: a :class:`GigatrainError` from the library becomes a 422 with
  its one-line message; a malformed request a 422 naming the field and the value; an
  over-large body a 413. A bug still answers 500, and the connection stays usable.
* Heavy work (search, compare, cost of a searched plan) runs in worker processes behind a
  bounded queue (:mod:`.workers`): a request beyond it is refused at once (429 with
  ``Retry-After``) and none ever waits on a request thread, so cheap endpoints stay fast.
* :class:`.guard.Guard` answers only allowed ``Host`` names (loopback by default; DNS rebinding) and
  puts the CSP and other security headers on every response, ``/docs`` included.
* Static files are served only from a fixed table of names (``static/`` plus plotly's bundled
  JS from the installed ``plotly`` package): no request path is ever joined onto a directory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from . import service
from .guard import (  # noqa: F401 - re-exported: the app's public names
    CSP,
    HOSTS_ENV,
    LOOPBACK_HOSTS,
    MAX_BODY_BYTES,
    SECURITY_HEADERS,
    BodyLimit,
    Guard,
    allowed_hosts,
    api_message,
    install_handlers,
)
from .schemas import (
    ERRORS,
    SLOW_ERRORS,
    CompareRequest,
    CostRequest,
    EstimateRequest,
    FinetuneRequest,
    FleetRequest,
    InferRequest,
    RLRequest,
    SearchRequest,
)
from .workers import BusyError, WorkerPool

STATIC_DIR = Path(__file__).parent / "static"
#: the only files the app serves: URL name -> (file, media type). Never built from a request.
STATIC_FILES: dict[str, tuple[str, str]] = {
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "charts.js": ("charts.js", "text/javascript; charset=utf-8"),
    "serving.js": ("serving.js", "text/javascript; charset=utf-8"),
    "style.css": ("style.css", "text/css; charset=utf-8"),
    "swagger-init.js": ("swagger-init.js", "text/javascript; charset=utf-8"),
}
#: Swagger UI's two files, served from the installed swagger-ui-bundle-v2 package
SWAGGER_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}


# ---------------------------------------------------------------- app
@dataclass(frozen=True)
class Limits:
    """Bounds that keep one request from hanging the server.

    A search is refused before it runs when its space holds more than ``max_candidates``
    plans, and stopped by the library after ``search_time_limit_s`` (both a one-line 422).
    Searches, comparisons and searched-plan costs run in ``slots`` worker processes; at most
    ``queue_max`` more requests wait, each at most ``queue_s``, for a free one; any other, and
    any search or comparison beyond ``rate_per_s`` a second (cache hits included), is refused
    at once (429 with ``Retry-After``); a task still running after ``backstop_s`` is killed
    (503).
    """

    max_candidates: int = 20_000_000
    search_time_limit_s: float = 10.0
    slots: int = 2
    queue_max: int = 2
    queue_s: float = 0.5
    backstop_s: float = 30.0
    rate_per_s: float = 20.0


def create_app(
    *,
    warm_validation: bool = True,
    limits: Limits | None = None,
    hosts: Iterable[str] | None = None,
) -> FastAPI:
    """The web app. ``warm_validation`` scores the validation runs in a background thread at
    startup so the first page load finds the error bars ready; ``limits`` bound long work;
    ``hosts`` are the Host names it answers to (default :func:`allowed_hosts`)."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        if warm_validation:
            import threading

            threading.Thread(target=service.validation_summary, daemon=True).start()
        app.state.pool.start()
        yield
        app.state.pool.close()

    app = FastAPI(
        title="gigatrain",
        summary="Plans, memory, step time, days, energy and dollars for training transformers.",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,  # served below from local files: FastAPI's default loads a CDN
        redoc_url=None,
    )
    install_handlers(app)
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.add_middleware(BodyLimit)
    app.add_middleware(
        Guard,
        hosts=allowed_hosts() if hosts is None else tuple(hosts),
        gate=lambda path: _gate(app, path),
    )

    lim = limits or Limits()
    app.state.limits = lim
    app.state.pool = WorkerPool(
        lim.slots, lim.backstop_s, lim.queue_s, lim.queue_max, rate_per_s=lim.rate_per_s
    )
    _pages(app)
    _api(app)
    _api_economics(app)
    _api_serving(app)
    return app


#: endpoints whose every request is heavy: refused before parsing when the queue is full or
#: they arrive faster than the pool's rate
HEAVY_PATHS = {"/api/search": "search", "/api/compare": "compare"}


def _gate(app: FastAPI, path: str) -> BusyError | None:
    what = HEAVY_PATHS.get(path)
    return app.state.pool.gate(what) if what else None


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("gigatrain")
    except Exception:  # not installed (running from a source tree)
        return "0"


def _pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        if service.swagger_ui_dir() is None:  # no CDN fallback: a plain page instead
            return HTMLResponse(
                "<!doctype html><title>gigatrain API</title><h1>gigatrain JSON API</h1>"
                "<p>The OpenAPI schema is at <a href='/openapi.json'>/openapi.json</a>. "
                "For the interactive docs offline: <code>pip install swagger-ui-bundle-v2"
                "</code>.</p>"
            )
        # Swagger UI started from a file, not an inline script: the page keeps the CSP
        return FileResponse(STATIC_DIR / "docs.html", media_type="text/html; charset=utf-8")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name in SWAGGER_FILES:
            folder = service.swagger_ui_dir()
            if folder is None:
                return JSONResponse(
                    {"error": "swagger-ui-bundle-v2 is not installed"}, status_code=404
                )
            return FileResponse(
                folder / name,
                media_type=SWAGGER_FILES[name],
                headers={"Cache-Control": "public, max-age=86400"},
            )
        if name == "plotly.min.js":
            path = service.plotly_js_path()
            if path is None:
                return JSONResponse(
                    {"error": "plotly is not installed (pip install plotly)"}, status_code=404
                )
            return FileResponse(
                path,
                media_type="text/javascript; charset=utf-8",
                headers={"Cache-Control": "public, max-age=86400"},
            )
        entry = STATIC_FILES.get(name)
        if entry is None:
            return JSONResponse({"error": f"no static file {name[:60]!r}"}, status_code=404)
        return FileResponse(
            STATIC_DIR / entry[0], media_type=entry[1], headers={"Cache-Control": "no-cache"}
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)


async def _pooled(app: FastAPI, what: str, task: str, **kwargs: Any) -> Response:
    """Run ``task`` in the worker pool (awaited: no request thread waits) and answer with its
    JSON, timed in a ``Server-Timing`` header."""
    result, timing = await app.state.pool.submit(what, task, **kwargs)
    return Response(
        result, media_type="application/json", headers={"Server-Timing": timing.header()}
    )


def _api(app: FastAPI) -> None:
    @app.get("/api/health", tags=["meta"])
    async def health() -> dict[str, Any]:
        """Liveness, which optional endpoints this build has, and the long-work queue."""
        return {
            "ok": True,
            "version": app.version,
            "features": service.features(),
            "queue": app.state.pool.load(),
        }

    @app.get("/api/choices", tags=["catalog"])
    def choices() -> dict[str, Any]:
        """Slugs for the page's pickers (models, chips, systems, frameworks, precisions)."""
        return service.choices()

    @app.get("/api/catalog/{kind}", tags=["catalog"], responses=ERRORS)
    def catalog(kind: Literal[service.CATALOG_KINDS]) -> list[dict[str, Any]]:  # type: ignore[valid-type]
        """Catalog entries with their sources and dates (SI units)."""
        return service.catalog(kind)

    @app.post("/api/estimate", tags=["plan"], responses=ERRORS)
    def estimate(req: EstimateRequest) -> dict[str, Any]:
        """Memory per rank and step time of one plan — what ``gigatrain estimate --json``
        prints — plus the validation error bars for the chip. With ``round_chips`` the chip
        count is an upper bound (a fleet) and the plan runs on the largest count it can."""
        return service.estimate(**req.job_kwargs(), **req.plan_kwargs())

    @app.post("/api/search", tags=["plan"], responses=SLOW_ERRORS, response_model=dict[str, Any])
    async def search(req: SearchRequest) -> Response:
        """The best plans (``gigatrain search``): every valid layout through the same model,
        filtered by memory, ranked by the objective. Bounded: see ``Limits``; refused at once
        with 429 and ``Retry-After`` when the server is busy."""
        lim: Limits = app.state.limits
        return await _pooled(
            app,
            "search",
            "search",
            chips=req.chips,
            objective=req.objective,
            top=req.top,
            max_memory_frac=req.max_memory_frac,
            deadline_days=req.deadline_days,
            global_batch_range=req.global_batch_range,
            usd_per_chip_hour=req.usd_per_chip_hour,
            pareto=req.pareto,
            axes=req.axes.model_dump(exclude_none=True) if req.axes else None,
            max_candidates=lim.max_candidates,
            time_limit_s=lim.search_time_limit_s,
            **req.job_kwargs(),
        )

    @app.get("/api/validate", tags=["validate"], responses=ERRORS)
    def validate(
        rows: Annotated[bool, Query(description="include every scored row")] = False,
    ) -> dict[str, Any]:
        """The model scored against the shipped measured runs: median and p90 |error| per
        source and per chip (``gigatrain validate --json``)."""
        return service.validation(include_rows=rows)


def _api_economics(app: FastAPI) -> None:
    @app.post("/api/cost", tags=["economics"], responses=SLOW_ERRORS, response_model=dict[str, Any])
    async def cost(req: CostRequest) -> Any:
        """Whole-run cost of one plan (``gigatrain cost``): days with goodput, energy, dollars
        (rent or own), with every assumption and its source. A plan that does not fit in
        memory is not priced (422)."""
        if not req.best_plan:
            return await run_in_threadpool(
                service.cost, **req.job_kwargs(), **req.plan_kwargs(), **req.cost_kwargs()
            )
        lim: Limits = app.state.limits
        return await _pooled(
            app,
            "cost",
            "cost",
            best_plan=True,
            max_candidates=lim.max_candidates,
            time_limit_s=lim.search_time_limit_s,
            chips=req.chips,
            **req.job_kwargs(),
            **req.cost_kwargs(),
        )

    @app.post(
        "/api/compare", tags=["economics"], responses=SLOW_ERRORS, response_model=dict[str, Any]
    )
    async def compare(req: CompareRequest) -> Response:
        """The same run on several chips, each with the plan search picks for it
        (``gigatrain compare``): cost against time, Pareto-optimal chips marked."""
        return await _pooled(
            app,
            "compare",
            "compare",
            chips=req.chips,
            compare=req.compare,
            objective=req.objective,
            **req.job_kwargs(),
            **req.cost_kwargs(),
        )

    @app.post("/api/fleet", tags=["economics"], responses=ERRORS)
    def fleet(req: FleetRequest) -> dict[str, Any]:
        """What a power envelope, a budget or a chip count buys (``gigatrain fleet``)."""
        d = req.model_dump(exclude={"usd_per_chip_hour", "power", "budget"})
        # the validators have parsed "2GW" / "$1B" into numbers
        power = None if req.power is None else float(req.power)
        budget = None if req.budget is None else float(req.budget)
        return service.fleet(power_w=power, budget_usd=budget, **d)


def _api_serving(app: FastAPI) -> None:
    @app.post("/api/infer", tags=["serving"], responses=ERRORS)
    async def infer(req: InferRequest) -> dict[str, Any]:
        """The best serving deployment under TTFT/TPOT targets (``gigatrain infer --json``):
        throughput per chip vs tokens/s per user curve, latency parts, memory per chip with the
        KV cache, the fleet for a demand and $ per million tokens. Latencies in seconds. No
        deployment meeting the targets is a 422 with the search's diagnosis."""
        return await run_in_threadpool(service.infer, **req.model_dump())

    @app.post("/api/finetune", tags=["post-training"], responses=ERRORS)
    async def finetune(req: FinetuneRequest) -> dict[str, Any]:
        """Full SFT, LoRA or QLoRA (``gigatrain finetune --json``): memory per chip (adapters,
        frozen weights), step time, days for the tokens and cost."""
        return await run_in_threadpool(service.finetune, **req.model_dump())

    @app.post("/api/rl", tags=["post-training"], responses=ERRORS)
    async def rl(req: RLRequest) -> dict[str, Any]:
        """One PPO/GRPO step (``gigatrain rl --json``): rollout, log-probs, training and weight
        sync times, rollout share, days and cost of ``steps``."""
        return await run_in_threadpool(service.rl, **req.model_dump())


# ---------------------------------------------------------------- a server in this process
@contextmanager
def background_server(
    app: FastAPI | None = None, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> Iterator[str]:
    """Run ``app`` (default ``create_app()``) with uvicorn in a thread; yields its base URL
    and stops it on exit. For the browser tests and the load test (port 0: a free port)."""
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app or create_app(), log_level=log_level, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
