"""The planner in a browser: a FastAPI app with a JSON API and one static page.

``create_app()`` builds the app; ``gigatrain serve`` runs it with uvicorn on 127.0.0.1.

* JSON API under ``/api`` (OpenAPI schema at ``/docs``): each endpoint validates its request
  with a pydantic model whose bounds keep one request from hanging the server, then calls
  :mod:`.service`, which calls the same library functions the CLI does.
* Bad input never yields a 500: a :class:`GigatrainError` from the library becomes a 422 with
  its one-line message; a malformed request a 422 naming the field; an over-large body a 413.
* Static files are served only from a fixed table of names (``static/`` plus plotly's bundled
  JS from the installed ``plotly`` package): no request path is ever joined onto a directory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...errors import GigatrainError
from . import service
from .schemas import (
    ERRORS,
    SLOW_ERRORS,
    CompareRequest,
    CostRequest,
    EstimateRequest,
    FleetRequest,
    SearchRequest,
)
from .workers import BusyError, TooSlowError, WorkerPool

log = logging.getLogger("gigatrain.web")

STATIC_DIR = Path(__file__).parent / "static"
#: the only files the app serves: URL name -> (file, media type). Never built from a request.
STATIC_FILES: dict[str, tuple[str, str]] = {
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "charts.js": ("charts.js", "text/javascript; charset=utf-8"),
    "style.css": ("style.css", "text/css; charset=utf-8"),
}
#: Swagger UI's two files, served from the installed swagger-ui-bundle-v2 package
SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
                 "swagger-ui.css": "text/css; charset=utf-8"}
MAX_BODY_BYTES = 256 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)


# ---------------------------------------------------------------- middleware and errors
class BodyLimit:
    """Reject request bodies over ``limit`` bytes with a 413 before the app reads them."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length" and (not v.isdigit() or int(v) > self.limit):
                await _too_large(self.limit)(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLargeError
            return msg

        try:
            await self.app(scope, limited, send)
        except _BodyTooLargeError:
            await _too_large(self.limit)(scope, receive, send)


class _BodyTooLargeError(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": f"request body is larger than {limit:,} bytes"}, status_code=413)


def _loc(loc: tuple | list) -> str:
    return ".".join(str(p) for p in loc if p not in ("body",)) or "body"


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(GigatrainError)
    async def _bad_input(_: Request, exc: GigatrainError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.exception_handler(BusyError)
    async def _busy(_: Request, exc: BusyError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=429, headers={"Retry-After": "2"})

    @app.exception_handler(TooSlowError)
    async def _slow(_: Request, exc: TooSlowError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # only loc/msg/type: the offending input may be bytes or NaN, which JSON cannot carry
        errs = [{"loc": [str(p) for p in e.get("loc", ())],
                 "msg": str(e.get("msg", "")).removeprefix("Value error, "),
                 "type": str(e.get("type", ""))} for e in exc.errors()][:20]
        first = errs[0] if errs else {"loc": [], "msg": "invalid request"}
        field = _loc(first["loc"])
        last = first["loc"][-1] if first["loc"] else ""
        msg = first["msg"] if first["msg"].startswith(f"{last}") else f"{field}: {first['msg']}"
        return JSONResponse({"error": msg, "detail": errs}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # a bug, not bad input: log it with its traceback; the client gets no traceback
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); it was logged"},
                            status_code=500)


# ---------------------------------------------------------------- app
@dataclass(frozen=True)
class Limits:
    """Bounds that keep one request from hanging the server.

    A search is refused before it runs when its space holds more than ``max_candidates``
    plans, and stopped by the library after ``search_time_limit_s`` (both a one-line 422).
    Searches, comparisons and searched-plan costs run in ``slots`` worker processes: a request
    waits at most ``queue_s`` for one (then 429), and a task still running after
    ``backstop_s`` is killed (503).
    """

    max_candidates: int = 20_000_000
    search_time_limit_s: float = 10.0
    slots: int = 2
    queue_s: float = 5.0
    backstop_s: float = 30.0


def create_app(*, warm_validation: bool = True, limits: Limits | None = None) -> FastAPI:
    """The web app. ``warm_validation`` scores the validation runs in a background thread at
    startup so the first page load finds the error bars ready; ``limits`` bound long work."""
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
    _install_handlers(app)
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.add_middleware(BodyLimit)

    @app.middleware("http")
    async def _headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if not request.url.path.startswith(("/docs", "/redoc")):
            response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    lim = limits or Limits()
    app.state.limits = lim
    app.state.pool = WorkerPool(lim.slots, lim.backstop_s, lim.queue_s)
    _pages(app)
    _api(app)
    _api_economics(app)
    return app


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
                "</code>.</p>")
        return get_swagger_ui_html(openapi_url="/openapi.json", title="gigatrain API",
                                   swagger_js_url="/static/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger-ui.css",
                                   swagger_favicon_url="/favicon.ico")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name in SWAGGER_FILES:
            folder = service.swagger_ui_dir()
            if folder is None:
                return JSONResponse({"error": "swagger-ui-bundle-v2 is not installed"},
                                    status_code=404)
            return FileResponse(folder / name, media_type=SWAGGER_FILES[name],
                                headers={"Cache-Control": "public, max-age=86400"})
        if name == "plotly.min.js":
            path = service.plotly_js_path()
            if path is None:
                return JSONResponse({"error": "plotly is not installed (pip install plotly)"},
                                    status_code=404)
            return FileResponse(path, media_type="text/javascript; charset=utf-8",
                                headers={"Cache-Control": "public, max-age=86400"})
        entry = STATIC_FILES.get(name)
        if entry is None:
            return JSONResponse({"error": f"no static file {name[:60]!r}"}, status_code=404)
        return FileResponse(STATIC_DIR / entry[0], media_type=entry[1],
                            headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)


def _api(app: FastAPI) -> None:
    @app.get("/api/health", tags=["meta"])
    def health() -> dict[str, Any]:
        """Liveness, and which optional endpoints this build has."""
        return {"ok": True, "version": app.version, "features": service.features()}

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
        prints — plus the validation error bars for the chip."""
        return service.estimate(**req.job_kwargs(), **req.plan_kwargs())

    @app.post("/api/search", tags=["plan"], responses=SLOW_ERRORS)
    def search(req: SearchRequest) -> dict[str, Any]:
        """The best plans (``gigatrain search``): every valid layout through the same model,
        filtered by memory, ranked by the objective. Bounded: see ``Limits``."""
        lim: Limits = app.state.limits
        return app.state.pool.run(
            "search", "search", chips=req.chips, objective=req.objective, top=req.top,
            max_memory_frac=req.max_memory_frac, deadline_days=req.deadline_days,
            global_batch_range=req.global_batch_range, usd_per_chip_hour=req.usd_per_chip_hour,
            pareto=req.pareto, axes=req.axes.model_dump(exclude_none=True) if req.axes else None,
            max_candidates=lim.max_candidates,
            time_limit_s=lim.search_time_limit_s, **req.job_kwargs())

    @app.get("/api/validate", tags=["validate"], responses=ERRORS)
    def validate(rows: Annotated[bool, Query(description="include every scored row")] = False
                 ) -> dict[str, Any]:
        """The model scored against the shipped measured runs: median and p90 |error| per
        source and per chip (``gigatrain validate --json``)."""
        return service.validation(include_rows=rows)


def _api_economics(app: FastAPI) -> None:
    @app.post("/api/cost", tags=["economics"], responses=SLOW_ERRORS)
    def cost(req: CostRequest) -> dict[str, Any]:
        """Whole-run cost of one plan (``gigatrain cost``): days with goodput, energy, dollars
        (rent or own), with every assumption and its source."""
        if not req.best_plan:
            return service.cost(**req.job_kwargs(), **req.plan_kwargs(), **req.cost_kwargs())
        lim: Limits = app.state.limits
        return app.state.pool.run(
            "cost", "cost", best_plan=True, max_candidates=lim.max_candidates,
            time_limit_s=lim.search_time_limit_s, chips=req.chips, **req.job_kwargs(),
            **req.cost_kwargs())

    @app.post("/api/compare", tags=["economics"], responses=SLOW_ERRORS)
    def compare(req: CompareRequest) -> dict[str, Any]:
        """The same run on several chips, each with the plan search picks for it
        (``gigatrain compare``): cost against time, Pareto-optimal chips marked."""
        return app.state.pool.run(
            "compare", "compare", chips=req.chips, compare=req.compare,
            objective=req.objective, **req.job_kwargs(), **req.cost_kwargs())

    @app.post("/api/fleet", tags=["economics"], responses=ERRORS)
    def fleet(req: FleetRequest) -> dict[str, Any]:
        """What a power envelope, a budget or a chip count buys (``gigatrain fleet``)."""
        d = req.model_dump(exclude={"usd_per_chip_hour", "power", "budget"})
        return service.fleet(power_w=req.power, budget_usd=req.budget, **d)


# ---------------------------------------------------------------- a server in this process
@contextmanager
def background_server(app: FastAPI | None = None, host: str = "127.0.0.1", port: int = 0,
                      log_level: str = "warning") -> Iterator[str]:
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
