"""The app's outer layers, free of endpoints: :class:`Guard` (Host allow-list, security
headers, a 500 that keeps the connection, the early refusal of heavy requests),
:class:`BodyLimit` (413), and the error handlers that turn every bad input into a 4xx with one
line naming the field and the value."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...errors import GigatrainError
from .workers import BusyError, TooSlowError

log = logging.getLogger("gigatrain.web")

MAX_BODY_BYTES = 256 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
#: the Host names answered by default; more through this environment variable (comma list)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
HOSTS_ENV = "GIGATRAIN_ALLOWED_HOSTS"


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


def allowed_hosts(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Host names the server answers to: the loopback names, those in the environment
    variable ``GIGATRAIN_ALLOWED_HOSTS`` (comma-separated; ``*`` allows any) and ``extra``."""
    env = [h for h in os.environ.get(HOSTS_ENV, "").split(",") if h.strip()]
    return tuple(dict.fromkeys(_host_name(h) for h in (*LOOPBACK_HOSTS, *env, *extra)))


def _host_name(host: str) -> str:
    """``host[:port]`` → the lower-case name without port or IPv6 brackets."""
    h = host.strip().lower()
    if h.startswith("["):
        return h[1:].split("]", 1)[0]
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


class Guard:
    """The outermost layer of the app (pure ASGI, no per-request thread):

    * answers only requests whose ``Host`` header names an allowed host (400 otherwise), so a
      page on another site cannot drive the API through DNS rebinding;
    * adds the security headers (CSP, nosniff, no referrer, no framing) to every response,
      the API docs included;
    * turns an unexpected exception into a logged 500 *without* re-raising it, so the server
      keeps the connection open for the client's next request.
    """

    def __init__(
        self,
        app: ASGIApp,
        hosts: Iterable[str] = LOOPBACK_HOSTS,
        gate: Callable[[str], BusyError | None] | None = None,
    ):
        self.app = app
        self.hosts = frozenset(_host_name(h) for h in hosts)
        self.gate = gate

    def _host_ok(self, scope: Scope) -> tuple[bool, str]:
        raw = next((v for k, v in scope.get("headers", []) if k == b"host"), b"")
        text = raw.decode("latin-1")
        return ("*" in self.hosts or _host_name(text) in self.hosts), text

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ok, host = self._host_ok(scope)
        if not ok:
            await self._bad_host(host)(scope, receive, send)
            return
        started = False
        t0 = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                _add_headers(MutableHeaders(scope=message), t0)
            await send(message)

        busy = self.gate(scope["path"]) if self.gate and scope.get("method") == "POST" else None
        if busy is not None:  # refused before the body is parsed: an overload costs little
            await _drain(receive)
            await JSONResponse(
                {"error": str(busy)},
                status_code=429,
                headers={"Retry-After": str(busy.retry_after_s)},
            )(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # a bug, not bad input: log it; the client gets no traceback
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await JSONResponse(
                    {"error": f"internal error ({type(exc).__name__}); it was logged"},
                    status_code=500,
                )(scope, receive, send_with_headers)

    def _bad_host(self, host: str) -> JSONResponse:
        shown = host[:80].encode("ascii", "backslashreplace").decode()
        msg = (
            f"Host {shown!r} is not served here; allowed: {', '.join(sorted(self.hosts))} "
            f"(add a name with the {HOSTS_ENV} environment variable)"
        )
        return JSONResponse({"error": msg}, status_code=400, headers=SECURITY_HEADERS)


def _add_headers(headers: MutableHeaders, t0: float) -> None:
    """The security headers, and the time spent inside the app as ``Server-Timing: app``
    (so a client can tell server delay from transport delay)."""
    for k, v in SECURITY_HEADERS.items():
        headers.setdefault(k, v)
    app_ms = f"app;dur={1e3 * (time.perf_counter() - t0):.1f}"
    timing = headers.get("server-timing")
    headers["Server-Timing"] = f"{timing}, {app_ms}" if timing else app_ms


async def _drain(receive: Receive, limit: int = MAX_BODY_BYTES) -> None:
    """Read (and drop) a request body, so the connection can carry the next request."""
    seen = 0
    while seen <= limit:
        msg = await receive()
        seen += len(msg.get("body", b""))
        if msg["type"] != "http.request" or not msg.get("more_body"):
            return


#: pydantic's type tags inside an error location (``chips.int``): not field names
_TYPE_TAG = re.compile(
    r"^(int|float|str|bool|none|bytes|constrained-\w+|function-\w+\[.*\]|"
    r"(list|dict|tuple|set|literal|union|nullable|json-or-python|lax-or-strict)"
    r"(\[.*\])?|is-instance\[.*\])$"
)
#: command-line flags that library messages may quote → the API's field names
_FLAGS = {
    "--tokens": "tokens",
    "--chip-price": "chip_price_usd",
    "--chip": "compare",
    "--usd-per-chip-hour": "usd_per_chip_hour",
    "--chip-w": "a chip power",
    "--allin-w": "an all-in power per chip",
    "--power": "power",
    "--budget": "budget",
    "--chips": "chips",
    "--zero": "zero_stage",
    "--global-batch": "global_batch",
}
_FLAG_RE = re.compile(r"--[a-z][a-z0-9-]*")


def api_message(text: str) -> str:
    """A library message for API users: one line, command-line flags named as API fields."""
    text = " ".join(str(text).split())
    return _FLAG_RE.sub(lambda m: _FLAGS.get(m.group(0), m.group(0)[2:].replace("-", "_")), text)


def _loc(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p != "body" and not _TYPE_TAG.match(str(p))]
    return ".".join(parts) or "body"


def _shown(value: Any) -> str:
    """The offending value, short and JSON-safe (``''`` when there is nothing to show)."""
    if isinstance(value, bool) or value is None or isinstance(value, int | float | str):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return ""


def _field_error(e: dict[str, Any]) -> dict[str, Any]:
    field = _loc(e.get("loc", ()))
    msg = str(e.get("msg", "")).removeprefix("Value error, ")
    msg = msg.replace("Input should be", "should be")
    if e.get("type") == "missing":
        msg = "is required"
    elif e.get("type") == "extra_forbidden":
        msg = "is not a field of this request"
    return {
        "field": field,
        "msg": msg,
        "type": str(e.get("type", "")),
        "value": _shown(e.get("input")) if e.get("type") != "missing" else "",
    }


def _one_line(err: dict[str, Any]) -> str:
    field, msg, value = err["field"], err["msg"], err["value"]
    if msg.startswith(f"{field} ") or msg.startswith(f"{field}="):
        return msg  # the validator already named the field (and the value)
    return f"{field}={value}: {msg}" if value else f"{field}: {msg}"


def install_handlers(app: FastAPI) -> None:
    """Every error as JSON: library and validation errors 422 (one line, the field named),
    busy 429, too slow 503, other HTTP errors as they are."""

    @app.exception_handler(GigatrainError)
    async def _bad_input(_: Request, exc: GigatrainError) -> JSONResponse:
        return JSONResponse({"error": api_message(str(exc))}, status_code=422)

    @app.exception_handler(BusyError)
    async def _busy(_: Request, exc: BusyError) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after_s)}
        )

    @app.exception_handler(TooSlowError)
    async def _slow(_: Request, exc: TooSlowError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # only field/msg/type and a short value: the input may be bytes or NaN
        errs = [_field_error(e) for e in exc.errors()][:20]
        if not errs:
            return JSONResponse({"error": "invalid request"}, status_code=422)
        first = errs[0]
        body = {"error": _one_line(first), "field": first["field"].split(".")[0], "detail": errs}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
