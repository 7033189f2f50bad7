"""The largest useful job on a fleet, and a fleet partitioned into jobs.

**Scaling curve.** For chip counts N (doublings up to the fleet), the plan search
(``search.engine.search``, objective time) finds the fastest layout with the global batch at
most the critical-batch bound B_opt(C) of the run (gigatrain.model.critical_batch: DeepSeek LLM
fit, 99M tokens for 1T × 20T). The run's wall clock is

    wall(N) = tokens / tokens_per_s(N) / goodput(N, mitigation)

with goodput from gigatrain.economics.goodput (failures ∝ N). Adding chips stops helping
where a doubling no longer cuts wall(N) by ``min_speedup`` (default 1.25×, i.e. scaling
efficiency ≥ 62.5 % per doubling): the *largest useful job* is the last count reached by such a
doubling. Beyond it come the bubble and DP-sync share growing as the batch per replica shrinks
(the batch bound), and goodput falling as M = 86,400 / (N·λ) approaches the restart time.

**Partition.** A fleet of F chips runs k = ⌊F / (J·(1 + s))⌋ concurrent jobs of J chips, each
with a hot-spare fraction s (goodput.py). Reported: chips in jobs, spares and idle, days per
run, runs per year (k · 365.25 / days), fleet throughput (k · tokens/s · goodput), and
utilisation = model FLOP/s delivered / fleet dense peak.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import GigatrainError
from ..model.critical_batch import BatchBound, batch_bound
from ..model.workload import model_flops_per_token
from ..search.engine import Constraints, search
from ..search.space import smooth_counts
from ..specs import Job, ModelSpec, SystemSpec
from .goodput import MITIGATIONS, Goodput, checkpoint_bytes, goodput

DEFAULT_MIN_SPEEDUP = 1.25


def _smooth(n: int) -> bool:
    """n = k·2^j with k in the odd factors :func:`smooth_counts` uses (or n ≤ 64)."""
    k = n
    while k % 2 == 0 and k > 0:
        k //= 2
    return n <= 64 or k in (1, 3, 5, 9, 15, 45)


@dataclass(frozen=True)
class JobPoint:
    """One job size: the best plan found and the run's time with failures."""

    chips: int
    requested: int
    plan: str
    global_batch: int
    mfu: float
    tokens_per_s: float
    ideal_s: float
    goodput: float
    mtbf_s: float
    wall_s: float
    chip_hours: float
    search_s: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("wall_s", "chip_hours"):
            if not math.isfinite(d[k]):
                d[k] = None
        return d


def job_point(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    chips: int,
    bound: BatchBound,
    mitigation: str = "automated",
) -> JobPoint:
    """Fastest plan on (about) ``chips`` chips with the global batch in [bound/64, bound]
    sequences; a count no layout divides falls back to the nearest smooth counts below
    (:func:`smooth_counts`)."""
    import time

    # batches from 1/64 of the bound up to it: smaller ones only slow a large job down
    cons = Constraints(global_batch=(max(1, bound.seqs // 64), max(1, bound.seqs)))
    t0 = time.perf_counter()
    res = None
    tries = ([chips], smooth_counts(chips)) if _smooth(chips) else (smooth_counts(chips),)
    for counts in tries:
        try:
            res = search(model, system, job, counts, "time", cons, top=1)
            if res.top:
                break
        except GigatrainError:
            continue
    if res is None or not res.top:
        raise GigatrainError(
            f"no plan of {model.slug} fits on ~{chips:,} × {system.chip.slug} with a global "
            f"batch ≤ {bound.seqs:,} sequences"
        )
    b = res.best
    e = b.estimate
    ideal = job.tokens / e.tokens_per_s
    g = goodput(b.chips, checkpoint_bytes(model, job), mitigation=mitigation,
                step_s=e.step_time_s)  # fmt: skip
    wall = g.wall_s(ideal)
    return JobPoint(
        chips=b.chips,
        requested=chips,
        plan=b.plan.describe(),
        global_batch=b.global_batch,
        mfu=e.mfu,
        tokens_per_s=e.tokens_per_s,
        ideal_s=ideal,
        goodput=g.goodput,
        mtbf_s=g.mtbf_s,
        wall_s=wall,
        chip_hours=b.chips * wall / 3600.0,
        search_s=time.perf_counter() - t0,
    )


def doublings(fleet_chips: int, start: int = 8192) -> list[int]:
    """start, 2·start, ... below ``fleet_chips``, then ``fleet_chips`` itself."""
    out, n = [], start
    while n < fleet_chips:
        out.append(n)
        n *= 2
    return [*out, fleet_chips]


@dataclass(frozen=True)
class Scaling:
    points: list[JobPoint]
    largest_useful: JobPoint
    fastest: JobPoint
    min_speedup: float
    bound: BatchBound
    mitigation: str
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "points": [p.to_dict() for p in self.points],
            "largest_useful": self.largest_useful.to_dict(),
            "fastest": self.fastest.to_dict(),
            "min_speedup": self.min_speedup,
            "batch_bound": self.bound.to_dict(),
            "mitigation": self.mitigation,
            "note": self.note,
        }


def scaling(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    counts: list[int],
    *,
    mitigation: str = "automated",
    min_speedup: float = DEFAULT_MIN_SPEEDUP,
    batch_factor: float = 1.0,
) -> Scaling:
    """Job points over ``counts`` and where adding chips stops helping (module docstring)."""
    if not job.tokens > 0:
        raise GigatrainError("a token budget is needed to size jobs (e.g. --tokens 20T)")
    if mitigation not in MITIGATIONS:
        raise GigatrainError(f"mitigation={mitigation!r}; valid: {', '.join(MITIGATIONS)}")

    bound = batch_bound(job.tokens * model_flops_per_token(model, job.seq_len), job.seq_len,
                        batch_factor)  # fmt: skip
    pts: list[JobPoint] = []
    for n in sorted(set(counts)):
        try:
            pts.append(job_point(model, system, job, n, bound, mitigation))
        except GigatrainError:
            continue
    if not pts:
        raise GigatrainError(f"no job size in {counts} has a plan for {model.slug}")
    useful = pts[0]
    for prev, cur in itertools.pairwise(pts):
        if prev.wall_s / cur.wall_s >= min_speedup ** math.log2(cur.chips / prev.chips):
            useful = cur
        else:
            break
    fastest = min(pts, key=lambda p: p.wall_s)
    note = (
        f"largest useful job: {useful.chips:,} chips (each doubling before it cut the wall clock "
        f"by ≥ {min_speedup:g}×); fastest: {fastest.chips:,} chips"
    )
    return Scaling(pts, useful, fastest, min_speedup, bound, mitigation, note)


@dataclass(frozen=True)
class Partition:
    """A fleet split into concurrent jobs of one size."""

    fleet_chips: int
    job: JobPoint
    jobs: int
    chips_in_jobs: int
    spare_chips: int
    idle_chips: int
    days_per_run: float
    runs_per_year: float
    fleet_tokens_per_s: float
    utilisation: float  # delivered model FLOP/s / fleet dense peak
    goodput_by_mitigation: dict[str, Goodput] = field(default_factory=dict)
    #: smaller jobs filling the remainder: (chips per job, jobs, days per run), largest first
    fill: list[tuple[int, int, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["job"] = self.job.to_dict()
        d["goodput_by_mitigation"] = {k: g.to_dict() for k, g in self.goodput_by_mitigation.items()}
        return d


def partition(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    fleet_chips: int,
    point: JobPoint,
    mitigation: str = "automated",
    fill_points: list[JobPoint] | None = None,
) -> Partition:
    """k = ⌊F / (J·(1+s))⌋ jobs of ``point.chips`` (module docstring), with goodput under every
    mitigation for that job size; the remainder is filled greedily with the largest of
    ``fill_points`` (smaller job sizes of the same scaling curve) that still fit."""
    ck = checkpoint_bytes(model, job)
    step_s = job.global_batch_seqs * job.seq_len / point.tokens_per_s
    by = {
        name: goodput(point.chips, ck, mitigation=name, step_s=step_s,
                      replica_chips=max(1, point.chips // max(1, _dp(point.plan))))
        for name in MITIGATIONS
    }  # fmt: skip
    s = by[mitigation].spare_fraction
    per_job = point.chips + math.ceil(point.chips * s)
    k = fleet_chips // per_job
    days = point.wall_s / 86400.0
    tps = k * point.tokens_per_s * by[mitigation].goodput
    runs = k * 365.25 / days if math.isfinite(days) and days > 0 else 0.0
    in_jobs, spares = k * point.chips, k * (per_job - point.chips)
    left = fleet_chips - k * per_job
    fill: list[tuple[int, int, float]] = []
    for q in sorted(fill_points or [], key=lambda x: -x.chips):
        if q.chips >= point.chips or not math.isfinite(q.wall_s) or q.wall_s <= 0:
            continue
        per_q = q.chips + math.ceil(q.chips * s)
        kq = left // per_q
        if kq:
            fill.append((q.chips, kq, q.wall_s / 86400.0))
            tps += kq * q.tokens_per_s * q.goodput
            runs += kq * 365.25 / (q.wall_s / 86400.0)
            in_jobs, spares, left = (
                in_jobs + kq * q.chips,
                spares + kq * (per_q - q.chips),
                left - kq * per_q,
            )
    peak = fleet_chips * system.chip.peak(job.precision)
    util = tps * model_flops_per_token(model, job.seq_len) / peak if peak else 0.0
    return Partition(
        fleet_chips=fleet_chips,
        job=point,
        jobs=k,
        chips_in_jobs=in_jobs,
        spare_chips=spares,
        idle_chips=left,
        days_per_run=days,
        runs_per_year=runs,
        fleet_tokens_per_s=tps,
        utilisation=util,
        goodput_by_mitigation=by,
        fill=fill,
    )


def _dp(plan_text: str) -> int:
    for part in plan_text.split():
        if part.startswith("dp="):
            return int(part[3:])
    return 1


@dataclass(frozen=True)
class FleetJobs:
    """What a fleet does for one model and token budget: scaling, partition, whole-fleet job."""

    model: str
    chip: str
    tokens: float
    seq_len: int
    scaling: Scaling
    partition: Partition
    whole_fleet: dict[str, Goodput]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "chip": self.chip,
            "tokens": self.tokens,
            "seq_len": self.seq_len,
            "scaling": self.scaling.to_dict(),
            "partition": self.partition.to_dict(),
            "whole_fleet_goodput": {k: g.to_dict() for k, g in self.whole_fleet.items()},
        }


def fleet_jobs(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    fleet_chips: int,
    *,
    mitigation: str = "automated",
    min_speedup: float = DEFAULT_MIN_SPEEDUP,
    batch_factor: float = 1.0,
    start: int = 8192,
) -> FleetJobs:
    """Scaling over doublings up to the fleet, the partition at the largest useful job, and the
    goodput of the whole fleet as one synchronous job under every mitigation."""
    counts = doublings(fleet_chips, min(start, fleet_chips))
    sc = scaling(model, system, job, counts, mitigation=mitigation, min_speedup=min_speedup,
                 batch_factor=batch_factor)  # fmt: skip
    part = partition(model, system, job, fleet_chips, sc.largest_useful, mitigation,
                     fill_points=sc.points)  # fmt: skip
    ck = checkpoint_bytes(model, job)
    whole = {name: goodput(fleet_chips, ck, mitigation=name) for name in MITIGATIONS}
    return FleetJobs(model.slug, system.chip.slug, job.tokens, job.seq_len, sc, part, whole)
