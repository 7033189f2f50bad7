"""Search: evaluate every candidate plan through the one model, keep the best.

Candidates come from :mod:`gigatrain.search.space` in bounded chunks, go through
:func:`gigatrain.model.estimate.evaluate` (the same function ``gigatrain estimate`` calls,
DESIGN.md principle 2), are filtered by memory (``memory/total`` ≤ ``max_memory_frac`` ×
HBM) and the deadline, and are ranked by the objective. The winners are re-run through
:func:`~gigatrain.model.estimate.estimate`, so their breakdowns are exactly what
``gigatrain estimate`` prints for the same plan.

Objectives (all ranked *per token*, which is the same order as per step when the global batch
is fixed, and stays fair when the batch is a range):

* ``time``: step time (seconds per token when the global batch varies).
* ``time_to_train``: tokens / tokens-per-second; without a token budget, the step time.
* ``cost``: time_to_train_s × chips × USD per chip-hour / 3600 (per step without a budget).
  The price is the chip's newest on-demand record in ``prices.yaml`` unless given.
* ``energy``: chips × chip TDP × ``power_fraction_of_tdp_training`` (``economics.yaml``) ×
  time. A simple proxy (no host power, no PUE); the economics module owns the full model.

Pruning is by a provable bound only: weights + gradients + optimizer states + the FSDP gather
buffer + the fixed overhead of a layout do not depend on micro-batch, recompute, interleaving
or sequence parallelism, and every other memory leaf is ≥ 0, so a layout whose state bytes
alone exceed the limit cannot fit with any of those options. ``tests/test_search.py`` checks
that pruned and brute-force searches agree.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypedDict, Unpack

import numpy as np

from ..catalog.constants import const, has_const
from ..catalog.frameworks import Capabilities, get_framework, knobs_for
from ..catalog.prices import choose_price
from ..errors import GigatrainError
from ..knobs import Knobs
from ..model.estimate import SECONDS_PER_DAY, Estimate, estimate, evaluate
from ..model.plans import PlanArrays, divisors, valid_mask
from ..pareto import pareto_front
from ..specs import Job, ModelSpec, Plan, SystemSpec
from ..units import gib
from .capabilities import framework_axes, runnable_mask
from .space import (
    FULL_AXES,
    Axes,
    ChipsSpec,
    Space,
    batch_sizes,
    build_space,
    chip_counts,
    fallback_counts,
)

OBJECTIVES = ("time", "time_to_train", "cost", "energy")
PARETO_AXES = ("time", "time_to_train", "cost", "energy", "memory", "chips")
#: memory leaves that do not depend on micro-batch, recompute, vpp or sequence parallelism
STATE_LEAVES = (
    "memory/weights",
    "memory/gradients",
    "memory/optimizer",
    "memory/fsdp_gather",
    "memory/overhead",
)
#: candidates per evaluated chunk: small enough to stay in cache (fastest on one core, and
#: memory stays bounded at ~50 MB whatever the size of the space)
CHUNK_ROWS = 1 << 14
MAX_PARETO_SHOWN = 40

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Constraints:
    """What a plan must satisfy, and the bounds on the search itself."""

    #: a plan fits when memory/total ≤ this fraction of HBM (the model already counts the
    #: framework overhead and fragmentation; lower it to keep headroom)
    max_memory_frac: float = 1.0
    #: time to train the job's tokens must be at most this many days
    deadline_days: float | None = None
    #: global batch: None (the job's), a number, or a range "A-B" / (A, B)
    global_batch: int | str | tuple[int, int] | None = None
    #: refuse searches larger than this many candidates (before evaluating any)
    max_candidates: int = 200_000_000
    #: stop with an error after this many seconds of evaluation
    time_limit_s: float = 300.0


class SearchBounds(TypedDict, total=False):
    """Keyword arguments of :func:`search` that callers pass through (``plan_for``,
    ``compare_chips``): what bounds the search and how it runs (not its progress callback,
    which ``compare_chips`` has its own of)."""

    constraints: Constraints | None
    usd_per_chip_hour: float | None
    pareto: tuple[str, str] | None
    axes: Axes
    knobs: Knobs | None
    prune: bool
    chunk_rows: int
    max_global_batch: int | None


class SearchKw(SearchBounds, total=False):
    """Every keyword argument of :func:`search` (what :func:`best_plan` passes on)."""

    top: int
    allow_fewer: bool
    progress: Progress | None


@dataclass(frozen=True)
class Price:
    usd_per_chip_hour: float
    source: str


@dataclass(frozen=True)
class Candidate:
    """One ranked plan with its full estimate and the derived run figures."""

    plan: Plan
    estimate: Estimate
    chips: int
    global_batch: int
    step_time_s: float
    memory_frac: float  # memory/total over HBM capacity
    time_to_train_s: float | None  # None without a token budget
    cost_usd: float | None  # for the token budget (per step without one); None without price
    energy_j: float | None  # same basis as cost_usd; None without TDP
    per_step: bool  # cost_usd / energy_j are per step (no token budget)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("plan", "estimate")}
        d["plan"] = asdict(self.plan)
        d["estimate"] = self.estimate.to_dict()
        return d


@dataclass(frozen=True)
class Diagnosis:
    """Why nothing qualified: ``reason`` is memory | no_layout | deadline."""

    reason: str
    message: str
    closest: Candidate | None = None
    limit_bytes: float | None = None
    overshoot_bytes: float | None = None
    fixes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "closest"}
        d["closest"] = self.closest.to_dict() if self.closest else None
        return d


@dataclass(frozen=True)
class SearchResult:
    model: str
    system: str
    chip: str
    objective: str
    job: Job
    chip_counts: tuple[int, ...]
    global_batches: tuple[int, ...]
    top: tuple[Candidate, ...]
    pareto: tuple[Candidate, ...]
    pareto_axes: tuple[str, str] | None
    candidates: int  # every candidate in the space (pruned ones included)
    pruned: int  # skipped by the memory bound without evaluation
    evaluated: int  # valid candidates run through the model
    feasible: int  # of those, fitting memory (and the deadline)
    eval_s: float
    wall_s: float
    constraints: Constraints
    price: Price | None
    watts_per_chip: float | None
    diagnosis: Diagnosis | None = None
    #: plausibility flags and why the winner won (filled by the API, which knows the evidence)
    notes: tuple[str, ...] = ()

    @property
    def best(self) -> Candidate:
        if not self.top:
            raise GigatrainError(self.diagnosis.message if self.diagnosis else "no plan found")
        return self.top[0]

    @property
    def plans_per_s(self) -> float:
        return self.evaluated / self.eval_s if self.eval_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "system": self.system,
            "chip": self.chip,
            "objective": self.objective,
            "job": asdict(self.job),
            "chip_counts": list(self.chip_counts),
            "global_batches": list(self.global_batches),
            "top": [c.to_dict() for c in self.top],
            "pareto_axes": list(self.pareto_axes) if self.pareto_axes else None,
            "pareto": [c.to_dict() for c in self.pareto],
            "counts": {
                "candidates": self.candidates,
                "pruned_by_memory_bound": self.pruned,
                "evaluated": self.evaluated,
                "feasible": self.feasible,
            },
            "eval_s": self.eval_s,
            "wall_s": self.wall_s,
            "constraints": asdict(self.constraints),
            "price": asdict(self.price) if self.price else None,
            "watts_per_chip": self.watts_per_chip,
            "diagnosis": self.diagnosis.to_dict() if self.diagnosis else None,
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------------ prices and power
@functools.cache
def default_price(chip: str) -> Price:
    """The chip's on-demand price, chosen as ``gigatrain cost`` chooses it (the newest record in
    ``prices.yaml``), so search's cheapest plan and the economics dollars agree."""
    choice = choose_price(chip, "on_demand")
    return Price(choice.value, f"{choice.basis} ({choice.as_of}), prices.yaml")


def training_watts_per_chip(system: SystemSpec) -> float:
    """Chip TDP × ``power_fraction_of_tdp_training`` (a proxy: no host power, no PUE)."""
    if not system.chip.tdp_w:
        raise GigatrainError(
            f"chip {system.chip.slug} has no TDP in chips.yaml; the energy objective needs one"
        )
    return float(system.chip.tdp_w) * _training_power_fraction()


@functools.cache
def _training_power_fraction() -> float:
    key = "power_fraction_of_tdp_training"
    if not has_const(key):
        raise GigatrainError(f"economics.yaml lacks {key}; the energy objective needs it")
    return const(key)


# ------------------------------------------------------------------------ internals
@dataclass
class _Case:
    chips: int
    job: Job
    space: Space
    lb: np.ndarray  # memory lower bound per layout (bytes)
    offset: int = 0  # flat order of this case's first candidate (for deterministic ties)


@dataclass(order=True)
class _Row:
    key: float
    mem: float
    order: int
    case: int = field(compare=False)
    plan: Plan = field(compare=False)
    a2: float = field(compare=False, default=0.0)


def _state_bound(
    model: ModelSpec, system: SystemSpec, job: Job, lay: PlanArrays, knobs: Knobs
) -> np.ndarray:
    """Per layout: the memory leaves that no option (micro-batch, recompute, vpp, sp) changes.
    ``memory/total`` of every candidate of the layout is at least this much."""
    if len(lay) == 0:
        return np.zeros(0)
    r = evaluate(model, system, job, lay, knobs)
    lb = np.zeros(len(lay))
    for k in STATE_LEAVES:
        if k in r:
            lb = lb + r[k]
    return lb


def _bad(name: str, value: object, valid: Sequence[str]) -> GigatrainError:
    return GigatrainError(f"{name}={value!r}; valid: {', '.join(valid)}")


class _Scorer:
    """Objective and Pareto-axis values per candidate, per token (see module docstring)."""

    def __init__(self, job: Job, price: Price | None, watts: float | None):
        self.tokens = job.tokens
        self.price, self.watts = price, watts

    def values(self, axis: str, case: _Case, step: np.ndarray, mem: np.ndarray) -> np.ndarray:
        per_tok = step / case.job.tokens_per_step
        if axis in ("time", "time_to_train"):
            return per_tok
        if axis == "cost":
            assert self.price is not None
            return per_tok * (case.chips * self.price.usd_per_chip_hour / 3600.0)
        if axis == "energy":
            assert self.watts is not None
            return per_tok * (case.chips * self.watts)
        if axis == "memory":
            return mem
        return np.full(len(step), float(case.chips))


def _front(rows: list[_Row]) -> list[_Row]:
    """2-D Pareto front (minimise ``key`` and ``a2``), first of exact ties kept."""
    rows = sorted(rows, key=lambda r: (r.key, r.a2, r.order))
    out: list[_Row] = []
    best = np.inf
    for r in rows:
        if r.a2 < best:
            out.append(r)
            best = r.a2
    return out


def _min_memory(
    model: ModelSpec, system: SystemSpec, cases: list[_Case], knobs: Knobs, deadline: float
) -> tuple[float, int, Plan] | None:
    """The smallest ``memory/total`` over every candidate of ``cases`` (branch and bound on
    the layout lower bound: exact, and it stops as soon as no layout can beat the best)."""
    if not cases:
        return None
    caps = get_framework(cases[0].job.framework).capabilities
    best: tuple[float, int, Plan] | None = None
    order = [(float(c.lb[i]), ci, i) for ci, c in enumerate(cases) for i in range(len(c.lb))]
    order.sort()
    pos = 0
    while pos < len(order) and time.perf_counter() < deadline:
        if best is not None and order[pos][0] >= best[0]:
            break
        batch = order[pos : pos + 64]
        pos += 64
        by_case: dict[int, list[int]] = {}
        for _, ci, i in batch:
            by_case.setdefault(ci, []).append(i)
        for ci, idx in by_case.items():
            c = cases[ci]
            p = c.space.rows(np.array(idx, dtype=np.int64))
            # only plans the framework can launch: the closest plan must be one it runs
            p = p.take(valid_mask(model, c.job, p) & runnable_mask(caps, model, p))
            if len(p) == 0:
                continue
            mem = evaluate(model, system, c.job, p, knobs)["memory/total"]
            j = int(np.argmin(mem))
            if best is None or mem[j] < best[0]:
                best = (float(mem[j]), ci, p.plan(j))
    return best


# ------------------------------------------------------------------------ the search
def search(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    chips: ChipsSpec,
    objective: str = "time",
    constraints: Constraints | None = None,
    top: int = 10,
    usd_per_chip_hour: float | None = None,
    progress: Progress | None = None,
    *,
    pareto: tuple[str, str] | None = None,
    axes: Axes = FULL_AXES,
    knobs: Knobs | None = None,
    prune: bool = True,
    chunk_rows: int = CHUNK_ROWS,
    allow_fewer: bool = False,
    max_global_batch: int | None = None,
) -> SearchResult:
    """Every valid plan for ``model`` on ``chips`` chips of ``system`` (a count, a range
    ``"A-B"`` / ``(A, B)`` or a list), ranked by ``objective``.

    Returns the ``top`` plans with their estimates, the Pareto front over ``pareto`` (two of
    :data:`PARETO_AXES`) when asked, the counts, and a :class:`Diagnosis` when nothing
    qualifies. ``progress(done, total)`` is called after each evaluated chunk. Absurd
    requests raise :class:`GigatrainError` before any evaluation. With ``allow_fewer``, a
    single chip count that admits no layout (e.g. 1,911,132 chips: 12 × 159,261) is replaced
    by the counts of :func:`~gigatrain.search.space.fallback_counts` (75–100 % of it); with
    ``max_global_batch`` (e.g. the critical-batch bound), a single global batch too small to
    feed the chips is raised (2^k, 3·2^k) until a layout exists, never above it. Notes say what changed.
    """
    t0 = time.perf_counter()
    cons = constraints or Constraints()
    knobs = knobs or knobs_for(job.framework, system.chip.vendor)
    caps = get_framework(job.framework).capabilities
    system.chip.matmul_format(job.precision)  # a precision the chip lacks is a one-line error
    if job.precision not in caps.precisions:
        raise GigatrainError(
            f"framework {job.framework} does not train in {job.precision}; it offers "
            f"{', '.join(caps.precisions)}"
        )
    axes = framework_axes(caps, axes)
    pareto, deadline_s = _check_request(job, objective, top, cons, pareto)
    price, watts = _price_and_watts(system, usd_per_chip_hour, {objective, *(pareto or ())})
    scorer = _Scorer(job, price, watts)

    counts = chip_counts(chips, system)
    batches = batch_sizes(
        cons.global_batch if cons.global_batch is not None else job.global_batch_seqs
    )
    cap = system.chip.hbm_bytes
    limit = cons.max_memory_frac * cap
    cases, full_cases, candidates, pruned = _build_cases(
        model, system, job, counts, batches, axes, knobs, limit, prune, t0, cons.time_limit_s
    )
    total = sum(c.space.size for c in cases)
    if total > cons.max_candidates:
        raise GigatrainError(
            f"the search holds {total:,} candidate plans after pruning, over the limit of "
            f"{cons.max_candidates:,}; narrow the chip range ({counts[0]:,}–{counts[-1]:,}, "
            f"{len(counts)} counts) or the global-batch range ({len(batches)} sizes)"
        )
    off = 0
    for c in cases:
        c.offset = off
        off += c.space.size

    t_eval = time.perf_counter()
    best, front, evaluated, feasible = _scan(
        model,
        system,
        cases,
        caps,
        knobs,
        scorer,
        objective,
        pareto,
        int(top),
        limit,
        deadline_s,
        job.tokens,
        chunk_rows,
        progress,
        total,
        cons.time_limit_s,
    )
    eval_s = time.perf_counter() - t_eval

    def cand(row: _Row) -> Candidate:
        c = cases[row.case]
        return make_candidate(model, system, c.job, row.plan, knobs, price, watts)

    top_c = tuple(cand(r) for r in best)
    if len(front) > MAX_PARETO_SHOWN:  # keep the ends and evenly spaced points between
        pick = np.unique(np.linspace(0, len(front) - 1, MAX_PARETO_SHOWN).round().astype(int))
        front = [front[i] for i in pick]
    pareto_c = tuple(cand(r) for r in front)
    diag = None
    if not top_c:
        diag = diagnose(
            model,
            system,
            job,
            full_cases,
            counts,
            batches,
            cons,
            axes,
            knobs,
            price,
            watts,
            limit,
            deadline_s,
            searched=evaluated,
        )
        if diag.reason == "no_layout" and (allow_fewer or max_global_batch):
            again = _search_again(
                model,
                system,
                job,
                counts,
                batches,
                objective,
                cons,
                top,
                usd_per_chip_hour,
                progress,
                pareto,
                axes,
                knobs,
                prune,
                chunk_rows,
                allow_fewer,
                max_global_batch,
            )
            if again is not None:
                return again
    return SearchResult(
        model=model.slug,
        system=system.slug,
        chip=system.chip.slug,
        objective=objective,
        job=job
        if len(batches) == 1 and batches[0] == job.global_batch_seqs
        else replace(job, global_batch_seqs=batches[0]),
        chip_counts=tuple(counts),
        global_batches=tuple(batches),
        top=top_c,
        pareto=pareto_c,
        pareto_axes=pareto,
        candidates=candidates,
        pruned=pruned,
        evaluated=evaluated,
        feasible=feasible,
        eval_s=eval_s,
        wall_s=time.perf_counter() - t0,
        constraints=cons,
        price=price,
        watts_per_chip=watts,
        diagnosis=diag,
    )


def _check_request(
    job: Job, objective: str, top: int, cons: Constraints, pareto: tuple[str, str] | None
) -> tuple[tuple[str, str] | None, float | None]:
    """Refuse absurd requests before any evaluation: (the Pareto axes as strings, the deadline
    in seconds or None)."""
    if objective not in OBJECTIVES:
        raise _bad("objective", objective, OBJECTIVES)
    if not 1 <= int(top) <= 1000:
        raise GigatrainError(f"top must be between 1 and 1000, got {top}")
    if not 0 < cons.max_memory_frac <= 2:
        raise GigatrainError(f"max_memory_frac must be in (0, 2], got {cons.max_memory_frac}")
    if pareto is not None:
        pareto = (str(pareto[0]), str(pareto[1]))
        for axis in pareto:
            if axis not in PARETO_AXES:
                raise _bad("pareto axis", axis, PARETO_AXES)
        if pareto[0] == pareto[1]:
            raise GigatrainError(f"pareto needs two different axes, got {pareto[0]},{pareto[1]}")
    deadline_s = None
    if cons.deadline_days is not None:
        if not cons.deadline_days > 0:
            raise GigatrainError(f"deadline_days must be positive, got {cons.deadline_days}")
        if not job.tokens > 0:
            raise GigatrainError("a deadline needs a token budget (--tokens)")
        deadline_s = cons.deadline_days * SECONDS_PER_DAY
    return pareto, deadline_s


def _price_and_watts(
    system: SystemSpec, usd_per_chip_hour: float | None, wanted: set[str]
) -> tuple[Price | None, float | None]:
    """The price per chip-hour (given, else the catalog's) and the training watts per chip;
    missing ones are errors only when an objective in ``wanted`` needs them."""
    price: Price | None = None
    if usd_per_chip_hour is not None:
        if not usd_per_chip_hour > 0:
            raise GigatrainError(f"usd_per_chip_hour must be positive, got {usd_per_chip_hour}")
        price = Price(float(usd_per_chip_hour), "given")
    else:
        try:
            price = default_price(system.chip.slug)
        except GigatrainError:
            if "cost" in wanted:
                raise
    watts: float | None = None
    try:
        watts = training_watts_per_chip(system)
    except GigatrainError:
        if "energy" in wanted:
            raise
    return price, watts


def _scan(
    model: ModelSpec,
    system: SystemSpec,
    cases: list[_Case],
    caps: Capabilities,
    knobs: Knobs,
    scorer: _Scorer,
    objective: str,
    pareto: tuple[str, str] | None,
    top: int,
    limit: float,
    deadline_s: float | None,
    tokens: float,
    chunk_rows: int,
    progress: Progress | None,
    total: int,
    time_limit_s: float,
) -> tuple[list[_Row], list[_Row], int, int]:
    """Evaluate every case in chunks: (the running top list, the Pareto front, plans evaluated,
    plans that fit memory and the deadline)."""
    t_eval = time.perf_counter()
    best: list[_Row] = []
    front: list[_Row] = []
    evaluated = feasible = done = 0
    for ci, c in enumerate(cases):
        size = c.space.size
        for a in range(0, size, chunk_rows):
            b = min(a + chunk_rows, size)
            p = c.space.chunk(a, b)
            ok = valid_mask(model, c.job, p) & runnable_mask(caps, model, p)
            flat = np.arange(a, b)
            if not ok.all():
                p, flat = p.take(ok), flat[ok]
            done += b - a
            if len(p):
                r = evaluate(model, system, c.job, p, knobs)
                mem, step = r["memory/total"], r["step_time_s"]
                fits = mem <= limit
                if deadline_s is not None:
                    fits &= step * (tokens / c.job.tokens_per_step) <= deadline_s
                evaluated += len(p)
                idx = np.flatnonzero(fits)
                feasible += int(idx.size)
                if idx.size:
                    key = scorer.values(objective, c, step[idx], mem[idx])
                    best = _merge_top(best, key, mem[idx], idx, flat, p, c, ci, top)
                    if pareto is not None:
                        k1 = scorer.values(pareto[0], c, step[idx], mem[idx])
                        k2 = scorer.values(pareto[1], c, step[idx], mem[idx])
                        f = pareto_front(k1, k2)
                        new = [
                            _Row(
                                float(k1[j]),
                                float(mem[idx[j]]),
                                c.offset + int(flat[idx[j]]),
                                ci,
                                p.plan(int(idx[j])),
                                float(k2[j]),
                            )
                            for j in f
                        ]
                        front = _front(front + new)
            if progress is not None:
                progress(done, total)
            if time.perf_counter() - t_eval > time_limit_s:
                raise GigatrainError(
                    f"search stopped after {time_limit_s:g} s with {done:,} of {total:,} "
                    "candidates evaluated; narrow the chip or global-batch range"
                )
    return best, front, evaluated, feasible


def _search_again(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    counts: list[int],
    batches: list[int],
    objective: str,
    cons: Constraints,
    top: int,
    usd_per_chip_hour: float | None,
    progress: Progress | None,
    pareto: tuple[str, str] | None,
    axes: Axes,
    knobs: Knobs,
    prune: bool,
    chunk_rows: int,
    allow_fewer: bool,
    max_global_batch: int | None,
) -> SearchResult | None:
    """When no layout exists: fewer chips (75–100 %), then larger global batches up to
    ``max_global_batch`` (each with the exact count, then fewer chips). None if nothing helps."""
    single = len(counts) == 1
    n = counts[0]
    tries: list[tuple[Job, ChipsSpec, str]] = []
    if allow_fewer and single and n >= 8:
        fewer = fallback_counts(n, system)
        tries.append(
            (
                job,
                fewer,
                f"no layout the framework runs uses exactly {n:,} chips "
                f"(dp·tp·pp·cp must equal it, dp dividing the global batch); "
                f"searched {len(fewer)} counts from {fewer[0]:,} to "
                f"{fewer[-1]:,} (75–100 % of it) instead",
            )
        )
    if max_global_batch and len(batches) == 1:
        # larger batches of the form 2^k and 3·2^k (what a pipeline and dp can divide)
        grown = sorted(
            {
                m * 2**k
                for m in (1, 3)
                for k in range(40)
                if batches[0] < m * 2**k <= max_global_batch
            }
        )
        for g in grown:
            jg = replace(job, global_batch_seqs=g)
            why = (
                f"a global batch of {batches[0]:,} sequences cannot feed "
                f"{'these' if not single else f'{n:,}'} chips; raised to {g:,} "
                f"({g * job.seq_len / 1e6:,.1f}M tokens; the critical-batch bound is "
                f"{max_global_batch:,} sequences)"
            )
            tries.append((jg, n if single else counts, why))
            if allow_fewer and single and n >= 8:
                tries.append((jg, fallback_counts(n, system), why + ", on 75–100 % of the chips"))
    cons2 = replace(cons, global_batch=None)
    for jg, chips, note in tries:
        res = search(
            model,
            system,
            jg,
            chips,
            objective,
            cons2,
            top,
            usd_per_chip_hour,
            progress,
            pareto=pareto,
            axes=axes,
            knobs=knobs,
            prune=prune,
            chunk_rows=chunk_rows,
        )
        if res.top:
            return replace(res, notes=(note, *res.notes))
    return None


def _build_cases(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    counts: list[int],
    batches: list[int],
    axes: Axes,
    knobs: Knobs,
    limit: float,
    prune: bool,
    t0: float,
    time_limit_s: float,
) -> tuple[list[_Case], list[_Case], int, int]:
    """The search space per (chip count, global batch): the cases kept after the memory
    lower bound, every case (for the diagnosis), the candidate count and the pruned count."""
    cases: list[_Case] = []
    full_cases: list[_Case] = []
    candidates = pruned = 0
    for n in counts:
        for g in batches:
            jg = job if g == job.global_batch_seqs else replace(job, global_batch_seqs=g)
            sp = build_space(model, jg, n, axes)
            if sp.size == 0:
                continue
            lb = _state_bound(model, system, jg, sp.layouts, knobs)
            full_cases.append(_Case(n, jg, sp, lb))
            candidates += sp.size
            if prune:
                keep = lb <= limit
                pruned += int(sp.n_opts[~keep].sum())
                sp, lb = sp.keep(keep), lb[keep]
            if sp.size:
                cases.append(_Case(n, jg, sp, lb))
            if time.perf_counter() - t0 > time_limit_s:
                raise GigatrainError(
                    f"building the search space took over {time_limit_s:g} s;"
                    " narrow the chip or global-batch range"
                )
    return cases, full_cases, candidates, pruned


def _merge_top(
    best: list[_Row],
    key: np.ndarray,
    mem: np.ndarray,
    idx: np.ndarray,
    flat: np.ndarray,
    p: PlanArrays,
    c: _Case,
    ci: int,
    top: int,
) -> list[_Row]:
    """Merge one chunk's feasible candidates into the running top list (ties: less memory,
    then enumeration order, so results are deterministic)."""
    sel = np.arange(key.size)
    if len(best) == top:
        sel = sel[key <= best[-1].key]
        if sel.size == 0:
            return best
    if sel.size > top:
        kth = np.partition(key[sel], top - 1)[top - 1]
        sel = sel[key[sel] <= kth]
        if sel.size > 64 * top:  # many exact ties: order them without building rows for all
            sel = sel[np.lexsort((flat[idx[sel]], mem[sel], key[sel]))[: 64 * top]]
    rows = [
        _Row(float(key[j]), float(mem[j]), c.offset + int(flat[idx[j]]), ci, p.plan(int(idx[j])))
        for j in sel
    ]
    return sorted(best + rows)[:top]


def make_candidate(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    plan: Plan,
    knobs: Knobs,
    price: Price | None,
    watts: float | None,
) -> Candidate:
    """A plan's :func:`estimate` plus time to train, dollars and energy (see module doc)."""
    e = estimate(model, system, job, plan, knobs)
    n = plan.chips
    per_step = not job.tokens > 0
    seconds = e.step_time_s if per_step else job.tokens / e.tokens_per_s
    return Candidate(
        plan=plan,
        estimate=e,
        chips=n,
        global_batch=job.global_batch_seqs,
        step_time_s=e.step_time_s,
        memory_frac=e.memory_bytes / e.memory_capacity_bytes,
        time_to_train_s=None if per_step else seconds,
        cost_usd=seconds * n * price.usd_per_chip_hour / 3600.0 if price else None,
        energy_j=seconds * n * watts if watts else None,
        per_step=per_step,
    )


# ------------------------------------------------------------------------ diagnosis
def diagnose(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    cases: list[_Case],
    counts: list[int],
    batches: list[int],
    cons: Constraints,
    axes: Axes,
    knobs: Knobs,
    price: Price | None,
    watts: float | None,
    limit: float,
    deadline_s: float | None,
    searched: int,
) -> Diagnosis:
    """Why nothing qualified, the closest plan, and which knob would fix it."""
    stop = time.perf_counter() + 30.0
    cap = system.chip.hbm_bytes
    where = f"{counts[0]:,} chips" if len(counts) == 1 else f"{counts[0]:,}–{counts[-1]:,} chips"
    if not cases:
        return _no_layout(model, job, counts, batches, axes, where)
    mm = _min_memory(model, system, cases, knobs, stop)
    if mm is None:
        return _no_layout(model, job, counts, batches, axes, where)
    mem, ci, plan = mm
    closest = make_candidate(model, system, cases[ci].job, plan, knobs, price, watts)
    if mem <= limit and deadline_s is not None:
        # memory is fine: the deadline is what fails. The fastest plan needs this long:
        fast = search(
            model,
            system,
            job,
            counts,
            "time",
            replace(cons, deadline_days=None),
            1,
            price.usd_per_chip_hour if price else None,
            axes=axes,
            knobs=knobs,
        )
        f = fast.best
        days = (f.time_to_train_s or 0.0) / SECONDS_PER_DAY
        need = f.chips * days * SECONDS_PER_DAY / deadline_s
        return Diagnosis(
            "deadline",
            f"no plan on {where} trains {job.tokens:.3g} tokens within "
            f"{cons.deadline_days:g} days: the fastest ({f.plan.describe()}) needs "
            f"{days:,.1f} days",
            f,
            limit,
            None,
            (
                f"more chips: at least ~{need:,.0f} even with perfect scaling",
                "a later deadline or fewer tokens",
            ),
        )
    over = mem - limit
    states = sum(v for k, v in closest.estimate.memory_breakdown.items() if k in STATE_LEAVES)
    lim = (
        f"the {gib(cap)} of HBM"
        if cons.max_memory_frac == 1
        else f"the limit of {gib(limit)} ({cons.max_memory_frac:.0%} of {gib(cap)})"
    )
    msg = (
        f"nothing fits on {where}: the plan using the least memory ({plan.describe()}, "
        f"{plan.chips:,} chips) needs {gib(mem)} per rank, {gib(over)} over {lim}; "
        f"weights, gradients and optimizer states alone take {gib(states)}"
    )
    fixes: list[str] = []
    if cons.max_memory_frac < 1 and mem <= cap:
        fixes.append(
            f"allow more memory: it fits at {mem / cap:.0%} of HBM "
            f"(max_memory_frac is {cons.max_memory_frac:g})"
        )
    for name in axes.restricted():
        lifted = axes.lift(name)
        sub = [
            _Case(c.chips, c.job, s, _state_bound(model, system, c.job, s.layouts, knobs))
            for c in cases
            if (s := build_space(model, c.job, c.chips, lifted)).size
        ]
        got = _min_memory(model, system, sub, knobs, stop) if sub else None
        if got and got[0] <= limit:
            fixes.append(f"lift the {name} restriction: {got[2].describe()} fits ({gib(got[0])})")
    n = counts[-1]
    for _ in range(16):
        n *= 2
        if n > system.max_chips or time.perf_counter() > stop:
            break
        sub = []
        for g in batches:
            jg = replace(job, global_batch_seqs=g)
            s = build_space(model, jg, n, axes)
            if s.size:
                sub.append(_Case(n, jg, s, _state_bound(model, system, jg, s.layouts, knobs)))
        got = _min_memory(model, system, sub, knobs, stop) if sub else None
        if got and got[0] <= limit:
            fixes.append(f"more chips: fits from {n:,} chips ({got[2].describe()}, {gib(got[0])})")
            break
    if states > limit:
        fixes.append(
            "model states alone overflow: more chips for ZeRO-3/FSDP or TP·PP to "
            "shard them, or a chip with more memory"
        )
    else:
        fixes.append("activations overflow: a shorter sequence, or more chips for TP/CP/PP")
    return Diagnosis("memory", msg, closest, limit, over, tuple(fixes))


def _no_layout(
    model: ModelSpec, job: Job, counts: list[int], batches: list[int], axes: Axes, where: str
) -> Diagnosis:
    """No candidate at all: explain the divisibility that failed."""
    from .space import layouts

    n, g = counts[0], batches[0]
    heads = model.num_attention_heads
    tps = [int(d) for d in divisors(n) if heads % d == 0]
    # the data-parallel degrees this chip count allows (ignoring the global batch)
    lay = layouts(model, replace(job, global_batch_seqs=n), n, axes)
    msg = (
        f"no valid layout on {where} for global batch "
        f"{g if len(batches) == 1 else f'{batches[0]}–{batches[-1]}'}: dp = chips/(tp·pp·cp) "
        f"must divide the global batch, tp must divide {heads} heads (valid here: "
        f"{', '.join(map(str, tps))}) and pp at most {model.num_layers} layers"
    )
    if axes.restricted():
        msg += f"; restricted axes: {', '.join(axes.restricted())}"
    fixes: list[str] = []
    if len(lay):
        min_dp = int(lay.dp.min())
        fixes.append(
            f"a global batch that is a multiple of {min_dp} "
            f"(e.g. {max(-(-g // min_dp), 1) * min_dp})"
        )
    if axes.restricted():
        fixes.append("fewer restricted axes")
    fixes.append("a chip count with more small factors (a power of two)")
    return Diagnosis("no_layout", msg, None, None, None, tuple(fixes))


# ------------------------------------------------------------------------ convenience
def best_plan(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    chips: ChipsSpec,
    objective: str = "time",
    **kw: Unpack[SearchKw],
) -> tuple[Plan, Estimate]:
    """The best plan and its estimate (``search(..., top=1)``); raises
    :class:`GigatrainError` with the diagnosis when nothing fits. Keyword arguments go to
    :func:`search` (``constraints``, ``usd_per_chip_hour``, ``axes``, ``knobs``...)."""
    kw.setdefault("top", 1)
    res = search(model, system, job, chips, objective, **kw)
    b = res.best
    return b.plan, b.estimate
