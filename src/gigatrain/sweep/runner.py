"""Run a sweep: missing points → tasks of seconds each → Ray (or this process) → Parquet.

* **Resumable**: the points to compute are the spec's points whose keys are in no finished
  file (:func:`gigatrain.sweep.store.done_keys`); rerunning the same command after a crash
  computes only those.
* **Task size**: ``points_per_task`` from the spec, else measured: the first missing point
  is searched here (and written as its own task) and tasks get ⌈target_s / t_point⌉ points
  (clamped to 1–512, and to at most 1/(4·workers) of the work so every worker stays busy), so a
  task runs for seconds, not milliseconds (Ray's per-task overhead is ~1 ms; a search 10 ms–1 s).
* **Ray**: a local runtime by default (``ray.init`` on loopback, no dashboard), an existing
  cluster with ``address``. At most 2 × workers tasks are in flight. A worker killed mid-task
  (``kill -9``) is retried by Ray (``max_retries``) and, if Ray gives up, resubmitted by the
  driver up to :data:`DRIVER_RETRIES` times; a task that still fails is reported, and the
  sweep exits without its points, which a rerun computes.
* **Writes** happen only in the driver, one atomic file per finished task.
* **``record: all``** (every valid candidate plan, :mod:`gigatrain.sweep.every`): the row count
  is estimated before anything runs or is created and must be within the spec's ``max_rows``;
  tasks also stop at :data:`MAX_ROWS_PER_TASK` estimated rows (a point is never split), which
  bounds a task's memory.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import GigatrainError
from .every import RowEstimate, check_row_cap, estimate_rows
from .spec import Point, SweepSpec
from .store import clean_temporaries, done_keys, open_store, write_task
from .task import evaluate_task

TARGET_TASK_S = 5.0
MAX_POINTS_PER_TASK = 512
DRIVER_RETRIES = 2
#: record = all: at most this many estimated rows per task (~50 columns: ~100 MB in memory)
MAX_ROWS_PER_TASK = 1 << 18
Progress = Callable[[int, int, int], None]  # (points done, points total, rows written)


@dataclass
class SweepSummary:
    out: str
    points_total: int
    points_done_before: int
    points_computed: int
    rows_written: int
    tasks: int
    points_per_task: int
    wall_s: float
    executor: str
    workers: int
    failed_tasks: list[str] = field(default_factory=list)
    rows_estimate: int | None = None  # record = all: upper bound on the sweep's rows

    @property
    def rows_per_s(self) -> float:
        return self.rows_written / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def points_missing(self) -> int:
        return self.points_total - self.points_done_before - self.points_computed

    @property
    def points_per_s(self) -> float:
        return self.points_computed / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.update(
            points_missing=self.points_missing,
            points_per_s=self.points_per_s,
            rows_per_s=self.rows_per_s,
        )
        return d


@dataclass(frozen=True)
class Task:
    chip: str
    task_id: str
    points: tuple[Point, ...]


def make_tasks(
    todo: list[tuple[str, Point]],
    per_task: int,
    rows: dict[str, int] | None = None,
    max_rows: int = MAX_ROWS_PER_TASK,
) -> list[Task]:
    """Group missing points by chip (one partition each) into tasks of ``per_task`` points (and,
    given ``rows`` per point key, at most ``max_rows`` rows, a single point excepted); a task's id
    is the hash of its point keys."""
    by_chip: dict[str, list[tuple[str, Point]]] = {}
    for key, p in todo:
        by_chip.setdefault(p.chip.name, []).append((key, p))
    tasks = []

    def add(chip: str, chunk: list[tuple[str, Point]]) -> None:
        tid = hashlib.sha256("".join(sorted(k for k, _ in chunk)).encode()).hexdigest()[:16]
        tasks.append(Task(chip, tid, tuple(p for _, p in chunk)))

    for chip, items in by_chip.items():
        chunk: list[tuple[str, Point]] = []
        n_rows = 0
        for key, p in items:
            w = rows.get(key, 1) if rows is not None else 0
            if chunk and (len(chunk) >= per_task or n_rows + w > max_rows):
                add(chip, chunk)
                chunk, n_rows = [], 0
            chunk.append((key, p))
            n_rows += w
        if chunk:
            add(chip, chunk)
    return tasks


def _ray_task(spec: SweepSpec, points: tuple[Point, ...]) -> pa.Table:
    return evaluate_task(list(points), spec)


def run_sweep(
    spec: SweepSpec,
    out: Path | str,
    *,
    executor: str = "ray",
    address: str | None = None,
    num_cpus: int | None = None,
    progress: Progress | None = None,
    allow_catalog_change: bool = False,
    target_task_s: float = TARGET_TASK_S,
    max_tasks: int | None = None,
    row_estimate: RowEstimate | None = None,
) -> SweepSummary:
    """Compute the spec's missing points into ``out`` (see the module docstring).

    ``executor``: ``ray`` (default) or ``local`` (this process, the same tasks in order — the
    single-process baseline). ``max_tasks`` stops after that many tasks (for tests).
    ``row_estimate``: :func:`~gigatrain.sweep.every.estimate_rows` of the spec when the caller
    already has it (``record: all``; computed here otherwise)."""
    if executor not in ("ray", "local"):
        raise GigatrainError(f"executor={executor!r}; valid: ray, local")
    t0 = time.perf_counter()
    out = Path(out)
    if spec.record == "all":  # refuse before creating anything
        row_estimate = row_estimate or estimate_rows(spec)
        check_row_cap(spec, row_estimate)
    open_store(out, spec, allow_catalog_change)
    clean_temporaries(out)
    pts = spec.points()
    keyed = [(p.key(spec), p) for p in pts]
    done = done_keys(out)
    todo = [(k, p) for k, p in keyed if k not in done]
    before = len(keyed) - len(todo)
    summary = SweepSummary(
        str(out),
        len(keyed),
        before,
        0,
        0,
        0,
        0,
        0.0,
        executor,
        1,
        rows_estimate=row_estimate.rows if spec.record == "all" and row_estimate else None,
    )
    if progress:
        progress(before, len(keyed), 0)
    if not todo:
        summary.wall_s = time.perf_counter() - t0
        return summary
    workers = 1
    ray = None
    started_ray = False
    if executor == "ray":
        if not address:
            # a local runtime listens on loopback only: Ray binds its servers to 127.0.0.1 when
            # it is not in "cluster" mode (read at import, and by services at call time)
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        try:
            import ray as _ray
            import ray._private.ray_constants as _rc
        except ModuleNotFoundError:
            raise GigatrainError(
                "the ray executor needs Ray: pip install 'gigatrain[sweep]' (or run with --local)"
            ) from None
        ray = _ray
        if not address:
            _rc.ENABLE_RAY_CLUSTER = False
        if not ray.is_initialized():
            kw: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=num_cpus or os.cpu_count() or 1, **kw)
            started_ray = True
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    summary.workers = workers
    try:
        per_task = spec.points_per_task
        if per_task is None:  # measure one point here, and keep its result
            key, p = todo[0]
            s = time.perf_counter()
            table = evaluate_task([p], spec)
            dt_point = max(time.perf_counter() - s, 1e-3)
            write_task(out, p.chip.name, hashlib.sha256(key.encode()).hexdigest()[:16], table)
            summary.points_computed += 1
            summary.rows_written += table.num_rows
            summary.tasks += 1
            todo = todo[1:]
            if progress:
                progress(before + 1, len(keyed), summary.rows_written)
            per_task = max(
                1,
                min(
                    MAX_POINTS_PER_TASK,
                    math.ceil(target_task_s / dt_point),
                    math.ceil(len(todo) / (4 * workers)) if todo else 1,
                ),
            )
        summary.points_per_task = per_task
        tasks = make_tasks(
            todo,
            per_task,
            row_estimate.per_point if spec.record == "all" and row_estimate else None,
        )
        if max_tasks is not None:
            tasks = tasks[:max_tasks]

        def finish(task: Task, table: pa.Table) -> None:
            write_task(out, task.chip, task.task_id, table)
            summary.points_computed += len(task.points)
            summary.rows_written += table.num_rows
            summary.tasks += 1
            if progress:
                progress(before + summary.points_computed, len(keyed), summary.rows_written)

        if ray is None:
            for task in tasks:
                finish(task, evaluate_task(list(task.points), spec))
        else:
            _run_ray(ray, spec, tasks, workers, finish, summary)
    finally:
        if started_ray and ray is not None:
            ray.shutdown()
    summary.wall_s = time.perf_counter() - t0
    return summary


def _run_ray(
    ray: Any,
    spec: SweepSpec,
    tasks: list[Task],
    workers: int,
    finish: Callable[[Task, pa.Table], None],
    summary: SweepSummary,
) -> None:
    remote = ray.remote(max_retries=3, retry_exceptions=False, num_cpus=1)(_ray_task)
    spec_ref = ray.put(spec)
    queue = list(reversed(tasks))
    inflight: dict[Any, tuple[Task, int]] = {}
    window = 2 * workers
    while queue or inflight:
        while queue and len(inflight) < window:
            task = queue.pop()
            inflight[remote.remote(spec_ref, task.points)] = (task, 0)
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
        for ref in ready:
            task, tries = inflight.pop(ref)
            try:
                table = ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # the task itself raised: a bug, not a crash
                raise RuntimeError(f"sweep task {task.task_id} failed: {e}") from None
            except ray.exceptions.RayError as e:  # worker died past Ray's retries, object lost
                if tries < DRIVER_RETRIES:
                    inflight[remote.remote(spec_ref, task.points)] = (task, tries + 1)
                else:
                    summary.failed_tasks.append(
                        f"{task.task_id}: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
                    )
                continue
            finish(task, table)
