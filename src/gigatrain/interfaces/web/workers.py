"""Long-running API work (search, compare, cost with a searched plan) in worker processes.

A search is bounded by the library itself (``Constraints.max_candidates`` and
``time_limit_s``), but a comparison runs one search per chip with the library's default bounds
and a no-plan diagnosis may take longer still. A Python thread cannot be stopped, so this work
runs in a few spawned processes instead, behind a small admission queue that refuses fast:

* at most ``slots`` tasks run at once, and at most ``queue_max`` more wait for a slot, each for
  at most ``queue_s``; a request beyond that is refused at once with :class:`BusyError`
  (HTTP 429 with ``Retry-After``). Nothing ever waits on one of the server's request threads:
  :meth:`WorkerPool.submit` is a coroutine, and the blocking pipe I/O of a running task happens
  on one of ``slots`` threads of the pool's own, so cheap endpoints keep every request thread;
* a task that outlives ``timeout_s`` has its process killed (and replaced) and the request gets
  :class:`TooSlowError` (HTTP 503): nothing keeps running after the answer;
* worker processes run at a lower CPU priority (``nice`` +10), so the server process that
  answers cheap requests wins the CPU when both want it;
* finished results are kept in a small LRU cache keyed by the task and its arguments (the
  library is deterministic for a given catalog), so the page's repeated searches are free.

Tasks are looked up by name in :data:`TASKS`, never sent as code; arguments and results are
plain JSON-like data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ...errors import GigatrainError

log = logging.getLogger("gigatrain.web")

#: how often a queued request looks for a free slot (seconds)
_POLL_S = 0.01


class BusyError(GigatrainError):
    """Every slot for long-running work is taken: try again shortly (HTTP 429)."""

    retry_after_s = 1


class TooSlowError(GigatrainError):
    """Long-running work passed the server's wall-clock backstop (HTTP 503)."""


def _tasks() -> dict[str, Callable[..., Any]]:
    from . import service

    return {
        "search": service.search,
        "compare": service.compare,
        "cost": service.cost,
        "sleep": _sleep,
        "fail": _fail,
    }


def _sleep(secs: float) -> None:
    """A task that only waits: for the tests of the pool's bounds."""
    time.sleep(min(float(secs), 3600.0))


def _fail(kind: str) -> None:
    """A task that fails: for the tests of error mapping (``bug`` is a crash)."""
    if kind == "bug":
        raise ZeroDivisionError("division by zero")
    raise GigatrainError("a library error")


def _warm() -> None:
    """Lower this process's CPU priority and import what the tasks need before the first
    request arrives."""
    import contextlib
    import os

    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
    with contextlib.suppress(ImportError):
        import gigatrain.economics.cost
        import gigatrain.search.engine  # noqa: F401


def _json(value: Any) -> bytes:
    """A task's result as compact JSON bytes, made in the worker: the server process only
    forwards them (and the pipe carries bytes, cheaper to pickle than nested dicts)."""
    from .service import clean

    return json.dumps(clean(value), allow_nan=False, separators=(",", ":")).encode()


def _worker_main(conn: Any) -> None:
    """A worker: run named tasks until the pipe closes; errors go back as data."""
    import traceback

    _warm()
    tasks = _tasks()
    while True:
        try:
            name, kwargs = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        result: tuple[str, str | bytes]
        try:
            result = ("ok", _json(tasks[name](**kwargs)))
        except GigatrainError as e:
            result = ("error", str(e))
        except Exception as e:  # a bug: the parent logs it and answers 500
            result = ("crash", f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        try:
            conn.send(result)
        except (OSError, ValueError):
            return


class _Worker:
    def __init__(self, ctx: Any):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_worker_main, args=(child,), daemon=True, name="gigatrain-worker"
        )
        self.proc.start()
        child.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()


@dataclass
class Timing:
    """Where a task's time went: waiting for a slot, then running (seconds); ``cached`` when
    the answer came from the result cache."""

    queue_s: float = 0.0
    work_s: float = 0.0
    cached: bool = False

    def header(self) -> str:
        """A ``Server-Timing`` header value (milliseconds)."""
        return f"queue;dur={1e3 * self.queue_s:.1f}, work;dur={1e3 * self.work_s:.1f}" + (
            ", cache;desc=hit" if self.cached else ""
        )


class WorkerPool:
    """At most ``slots`` worker processes (started on first use), at most ``queue_max``
    requests waiting ``queue_s`` for one, each task bounded by ``timeout_s`` of wall time;
    see the module docstring."""

    def __init__(
        self,
        slots: int = 2,
        timeout_s: float = 30.0,
        queue_s: float = 0.5,
        queue_max: int | None = None,
        cache_size: int = 64,
        rate_per_s: float = 20.0,
    ):
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.slots, self.timeout_s, self.queue_s = slots, timeout_s, queue_s
        self.queue_max = slots if queue_max is None else queue_max
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._running = 0
        self._queued = 0
        self._closed = False
        self._io: ThreadPoolExecutor | None = None
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = cache_size
        #: token bucket for :meth:`gate`: at most ``rate_per_s`` long requests per second are
        #: let in (cache hits included), so that even answers from the cache cannot flood
        #: the server's one event loop
        self.rate_per_s = rate_per_s
        self._tokens, self._refilled = rate_per_s, time.monotonic()
        #: counters for /api/health and the load test
        self.stats = {"run": 0, "refused": 0, "cached": 0, "too_slow": 0}

    # ---------------------------------------------------------------- admission
    def _try_start(self, queued: bool) -> bool:
        with self._lock:
            if self._running < self.slots:
                self._running += 1
                self._queued -= int(queued)
                return True
            return False

    def _busy(self, what: str) -> BusyError:
        with self._lock:
            self.stats["refused"] += 1
        return BusyError(
            f"the server is busy with {self.slots} long requests and "
            f"{self.queue_max} waiting; retry the {what} in a moment"
        )

    def full(self) -> bool:
        """Every slot taken and the queue full: a new request would be refused."""
        with self._lock:
            return self._closed or (self._running >= self.slots and self._queued >= self.queue_max)

    def gate(self, what: str) -> BusyError | None:
        """Before a long request's body is even read: refuse it (the error) when the queue is
        full or more than ``rate_per_s`` arrived in the last second, else let it in."""
        if self.full():
            return self._busy(what)
        with self._lock:
            now = time.monotonic()
            self._tokens = min(
                self.rate_per_s, self._tokens + (now - self._refilled) * self.rate_per_s
            )
            self._refilled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
        return self._busy(what)

    async def _admit(self, what: str) -> float:
        """Take a slot now, or wait in the bounded queue for at most ``queue_s``; refuse
        (:class:`BusyError`) at once when the queue is full. Returns the seconds waited."""
        t0 = time.perf_counter()
        if self._try_start(queued=False):
            return 0.0
        with self._lock:
            if self._closed or self._queued >= self.queue_max:
                full = True
            else:
                self._queued += 1
                full = False
        if full:
            raise self._busy(what)
        deadline = t0 + self.queue_s
        while time.perf_counter() < deadline:
            await asyncio.sleep(_POLL_S)
            if self._try_start(queued=True):
                return time.perf_counter() - t0
        with self._lock:
            self._queued -= 1
        raise self._busy(what)

    def _release(self) -> None:
        with self._lock:
            self._running -= 1

    # ---------------------------------------------------------------- cache
    @staticmethod
    def _key(task: str, kwargs: dict[str, Any]) -> str | None:
        try:
            return task + json.dumps(kwargs, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            return None

    def _cached(self, key: str | None) -> tuple[bool, Any]:
        if key is None:
            return False, None
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                self.stats["cached"] += 1
                return True, self._cache[key]
        return False, None

    def _remember(self, key: str | None, value: Any) -> None:
        if key is None or self._cache_size <= 0:
            return
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    # ---------------------------------------------------------------- running
    async def submit(self, what: str, task: str, **kwargs: Any) -> tuple[bytes, Timing]:
        """Run ``TASKS[task](**kwargs)`` in a worker without holding a request thread;
        returns the result as JSON bytes and its :class:`Timing`. Library errors come back as
        :class:`GigatrainError`, a crash as ``RuntimeError``; see the module docstring for
        :class:`BusyError` and :class:`TooSlowError`."""
        key = self._key(task, kwargs)
        hit, value = self._cached(key)
        if hit:
            return value, Timing(cached=True)
        waited = await self._admit(what)
        t0 = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            value = await loop.run_in_executor(
                self._executor(), self._run_blocking, what, task, kwargs
            )
        finally:
            self._release()
        self._remember(key, value)
        return value, Timing(queue_s=waited, work_s=time.perf_counter() - t0)

    def run(self, what: str, task: str, **kwargs: Any) -> Any:
        """The blocking form of :meth:`submit` for callers without an event loop (tests,
        scripts): refuses at once when every slot is taken, never queues; returns the
        result as data."""
        if not self._try_start(queued=False):
            raise self._busy(what)
        try:
            return json.loads(self._run_blocking(what, task, kwargs))
        finally:
            self._release()

    def _executor(self) -> ThreadPoolExecutor:
        """The pool's own threads for pipe I/O (made again after a :meth:`close`)."""
        with self._lock:
            if self._io is None:
                self._io = ThreadPoolExecutor(
                    max_workers=self.slots, thread_name_prefix="gigatrain-pool"
                )
            return self._io

    def _take(self) -> _Worker:
        try:
            w = self._idle.get_nowait()
            if w.proc.is_alive():
                return w
            w.kill()
        except queue.Empty:
            pass
        with self._lock:
            if self._closed:
                raise BusyError("the server is shutting down")
            w = _Worker(self._ctx)
            self._all = [x for x in self._all if x.proc.is_alive()] + [w]
            return w

    def _run_blocking(self, what: str, task: str, kwargs: dict[str, Any]) -> bytes:
        w: _Worker | None = None
        try:
            w = self._take()
            w.conn.send((task, kwargs))
            if not w.conn.poll(self.timeout_s):
                w.kill()
                w = None
                with self._lock:
                    self.stats["too_slow"] += 1
                raise TooSlowError(
                    f"{what} took longer than {self.timeout_s:g} s and was "
                    "stopped; narrow the request (a smaller chip range, fewer "
                    "chips to compare)"
                )
            try:
                status, payload = w.conn.recv()
            except (EOFError, OSError):
                w.kill()
                w = None
                raise RuntimeError(f"the {what} worker process died") from None
        finally:
            if w is not None:
                self._idle.put(w)
        with self._lock:
            self.stats["run"] += 1
        if status == "ok":
            return payload
        if status == "error":
            raise GigatrainError(payload)
        log.error("%s task crashed in its worker: %s", what, payload)
        raise RuntimeError(payload.splitlines()[0])

    # ---------------------------------------------------------------- lifecycle
    def load(self) -> dict[str, int]:
        """Running and waiting tasks now, and the bounds."""
        with self._lock:
            return {
                "running": self._running,
                "queued": self._queued,
                "slots": self.slots,
                "queue_max": self.queue_max,
            }

    def start(self) -> None:
        """Start every worker now (each imports the library in the background), so the first
        requests do not wait for a process to start."""
        with self._lock:
            self._closed = False  # an app started again after a shutdown (tests, ASGI hosts)
            while len([w for w in self._all if w.proc.is_alive()]) < self.slots:
                w = _Worker(self._ctx)
                self._all.append(w)
                self._idle.put(w)

    def close(self) -> None:
        """Kill every worker (the app's shutdown); :meth:`start` starts them again."""
        with self._lock:
            self._closed = True
            for w in self._all:
                w.kill()
            self._all = []
            io, self._io = self._io, None
        if io is not None:
            io.shutdown(wait=False, cancel_futures=True)
