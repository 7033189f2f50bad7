"""Long-running API work (search, compare, cost with a searched plan) in worker processes.

A search is bounded by the library itself (``Constraints.max_candidates`` and
``time_limit_s``), but a comparison runs one search per chip with the library's default bounds
and a no-plan diagnosis may take longer still. A Python thread cannot be stopped, so this work
runs in a few spawned processes instead:

* at most ``slots`` tasks run at once; a request waits up to ``queue_s`` for a free slot and
  then gets :class:`BusyError` (HTTP 429);
* a task that outlives ``timeout_s`` has its process killed (and replaced) and the request gets
  :class:`TooSlowError` (HTTP 503): nothing keeps running after the answer;
* the estimate endpoints stay responsive meanwhile: the work holds no thread of the server's
  and no GIL it shares.

Tasks are looked up by name in :data:`TASKS`, never sent as code; arguments and results are
plain JSON-like data.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ...errors import GigatrainError

log = logging.getLogger("gigatrain.web")


class BusyError(GigatrainError):
    """Every slot for long-running work is taken: try again shortly (HTTP 429)."""


class TooSlowError(GigatrainError):
    """Long-running work passed the server's wall-clock backstop (HTTP 503)."""


def _tasks() -> dict[str, Callable[..., Any]]:
    from . import service

    return {"search": service.search, "compare": service.compare, "cost": service.cost,
            "sleep": _sleep}


def _sleep(secs: float) -> None:
    """A task that only waits: for the tests of the pool's bounds."""
    time.sleep(min(float(secs), 3600.0))


def _warm() -> None:
    """Import what the tasks need before the first request arrives."""
    import contextlib

    with contextlib.suppress(ImportError):
        import gigatrain.economics.cost
        import gigatrain.search.engine  # noqa: F401


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
        try:
            result = ("ok", tasks[name](**kwargs))
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
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True,
                                name="gigatrain-worker")
        self.proc.start()
        child.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()


class WorkerPool:
    """At most ``slots`` worker processes (started on first use), each task bounded by
    ``timeout_s`` of wall time; see the module docstring."""

    def __init__(self, slots: int = 2, timeout_s: float = 30.0, queue_s: float = 5.0):
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.slots, self.timeout_s, self.queue_s = slots, timeout_s, queue_s
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._sem = threading.BoundedSemaphore(slots)
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False

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

    def run(self, what: str, task: str, **kwargs: Any) -> Any:
        """Run ``TASKS[task](**kwargs)`` in a worker; library errors come back as
        :class:`GigatrainError`, a crash as ``RuntimeError``."""
        if not self._sem.acquire(timeout=self.queue_s):
            raise BusyError(f"the server is already running {self.slots} {what} requests; "
                            "retry in a moment")
        w: _Worker | None = None
        try:
            w = self._take()
            w.conn.send((task, kwargs))
            if not w.conn.poll(self.timeout_s):
                w.kill()
                w = None
                raise TooSlowError(f"{what} took longer than {self.timeout_s:g} s and was "
                                   "stopped; narrow the request (a smaller chip range, fewer "
                                   "chips to compare)")
            try:
                status, payload = w.conn.recv()
            except (EOFError, OSError):
                w.kill()
                w = None
                raise RuntimeError(f"the {what} worker process died") from None
        finally:
            if w is not None:
                self._idle.put(w)
            self._sem.release()
        if status == "ok":
            return payload
        if status == "error":
            raise GigatrainError(payload)
        log.error("%s task crashed in its worker: %s", what, payload)
        raise RuntimeError(payload.splitlines()[0])

    def start(self) -> None:
        """Start every worker now (each imports the library in the background), so the first
        requests do not wait for a process to start."""
        with self._lock:
            if self._closed:
                return
            while len([w for w in self._all if w.proc.is_alive()]) < self.slots:
                w = _Worker(self._ctx)
                self._all.append(w)
                self._idle.put(w)

    def close(self) -> None:
        """Kill every worker (the app's shutdown)."""
        with self._lock:
            self._closed = True
            for w in self._all:
                w.kill()
            self._all = []
