"""Serving search: the best deployment under latency targets, the fleet for a demand, its price.

Candidates are every combination of chips per stage (tp: powers of two up to
``max_replica_chips``), pipeline stages (1, 2, 4), attention layout (tensor- or data-parallel;
the latter only for MoE/MLA models), expert parallelism (1 or the whole tp group, MoE only),
weight and KV precision, speculative draft length and concurrency (1…4096 per replica) — packed
into arrays and evaluated at once by :func:`gigatrain.serving.perf.evaluate` (the same function
a single estimate uses). Feasible = fits in memory and meets TTFT and TPOT targets. The best one
maximises output tokens per second per chip (= least $ per output token at one chip price).

Fleet sizing: replicas = ⌈demand requests/s ÷ replica requests/s⌉ (a token demand is converted
with the output length); chips = replicas × replica chips. The throughput–interactivity curve is
the Pareto front of (tokens/s per user, output tokens/s per chip) over all fitting candidates,
the curve InferenceMAX plots.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import GigatrainError
from ..pareto import pareto_front
from ..specs import DTYPE_BYTES, ModelSpec, SystemSpec
from .deploy import SERVING_DTYPES, DeploymentArrays, Request, check_dtype, compute_dtype
from .estimate import ServingEstimate, estimate_serving, facility_watts_per_chip
from .knobs import DEFAULT_SERVING_KNOBS, ServingKnobs
from .kv import served_model
from .perf import evaluate

CONCURRENCIES = tuple(2**i for i in range(13))  # 1 … 4096


@dataclass(frozen=True)
class ServingTargets:
    ttft_s: float | None = None
    tpot_s: float | None = None
    requests_per_s: float | None = None  # demand (fleet sizing)
    output_tokens_per_s: float | None = None  # demand, alternative to requests_per_s


@dataclass(frozen=True)
class CurvePoint:
    tokens_per_s_per_user: float
    output_tokens_per_s_per_chip: float
    layout: str
    ttft_s: float
    tpot_s: float


@dataclass(frozen=True)
class Fleet:
    replicas: int
    chips: int
    requests_per_s: float  # capacity of the fleet
    usd_per_hour: float | None
    facility_watts: float | None


@dataclass(frozen=True)
class ServingSearchResult:
    model: str
    chip: str
    system: str
    request: Request
    targets: ServingTargets
    best: ServingEstimate | None
    fleet: Fleet | None
    top: list[ServingEstimate]
    curve: list[CurvePoint]
    candidates: int
    fitting: int
    feasible: int
    eval_s: float
    diagnosis: str = ""
    price_note: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["best"] = self.best.to_dict() if self.best is not None else None
        d["top"] = [e.to_dict() for e in self.top]
        return d


def _candidates(
    model: ModelSpec,
    system: SystemSpec,
    req: Request,
    precisions: tuple[str, ...],
    max_replica_chips: int,
    spec_tokens: tuple[int, ...],
    disaggregate: bool,
) -> tuple[DeploymentArrays, list[tuple[str, str]]]:
    s = served_model(model)
    moe = model.moe is not None
    tps = [t for t in (1, 2, 4, 8, 16, 32, 64, 128) if t <= max_replica_chips]
    rows: list[tuple] = []
    dtypes: list[tuple[str, str]] = []
    for tp, pp, dpa, w, spec in itertools.product(
        tps, (1, 2, 4), (False, True), precisions, spec_tokens
    ):
        if (
            tp * pp > max_replica_chips
            or pp > model.num_layers
            or (dpa and (tp == 1 or not (moe or s.mla)))
        ):
            continue
        if not dpa and model.mla is None and model.num_attention_heads % tp:
            continue
        eps = [1] + ([tp] if moe and tp > 1 and model.moe.num_experts % tp == 0 else [])  # type: ignore[union-attr]
        kvs = ["bf16"] + (["fp8"] if w in ("fp8", "fp4") else [])
        pfs = [0] + ([tp * pp, 2 * tp * pp] if disaggregate else [])
        for ep, kv, pf in itertools.product(eps, kvs, pfs):
            for c in CONCURRENCIES:
                rows.append(
                    (
                        tp,
                        pp,
                        ep,
                        dpa,
                        DTYPE_BYTES[w],
                        DTYPE_BYTES[kv],
                        compute_dtype(w, system.chip.peak_flops_per_s),
                        c,
                        spec,
                        pf,
                        tp,
                    )
                )
                dtypes.append((w, kv))
    if not rows:
        raise GigatrainError(
            f"no serving layout of {model.slug} fits max_replica_chips={max_replica_chips}"
        )
    cols = list(zip(*rows, strict=True))
    n = len(rows)
    arr = DeploymentArrays(
        tp=np.array(cols[0]),
        pp=np.array(cols[1]),
        ep=np.array(cols[2]),
        dp_attention=np.array(cols[3], dtype=bool),
        weight_bytes=np.array(cols[4], dtype=float),
        kv_bytes=np.array(cols[5], dtype=float),
        compute_dtype=np.array(cols[6], dtype=object),
        concurrency=np.array(cols[7], dtype=float),
        static=np.zeros(n, dtype=bool),
        spec_tokens=np.array(cols[8], dtype=float),
        prefill_chips=np.array(cols[9]),
        prefill_tp=np.array(cols[10]),
        api_server=np.ones(n, dtype=bool),
        input_len=np.full(n, float(req.input_len)),
        output_len=np.full(n, float(req.output_len)),
    )
    return arr, dtypes


def _pareto(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices on the upper-right front of (x, y) (both maximised), sorted by x."""
    idx = pareto_front(-np.asarray(x, dtype=float), -np.asarray(y, dtype=float))
    return idx[np.argsort(np.asarray(x)[idx], kind="stable")].astype(int)


def search_serving(
    model: ModelSpec,
    system: SystemSpec,
    request: Request,
    targets: ServingTargets = ServingTargets(),
    *,
    precisions: tuple[str, ...] = ("bf16", "fp8", "fp4"),
    max_replica_chips: int = 64,
    spec_tokens: tuple[int, ...] = (0,),
    disaggregate: bool = False,
    usd_per_chip_hour: float | None = None,
    watts_per_chip: float | None = None,
    knobs: ServingKnobs = DEFAULT_SERVING_KNOBS,
    top: int = 5,
) -> ServingSearchResult:
    """The fastest-per-chip deployment meeting ``targets``, its fleet and the curve."""
    precisions = tuple(check_dtype("precision", p, SERVING_DTYPES) for p in precisions)
    for name in ("ttft_s", "tpot_s", "requests_per_s", "output_tokens_per_s"):
        v = getattr(targets, name)
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise GigatrainError(f"{name}={v!r} must be a positive number")
    if not 1 <= max_replica_chips <= 4096:
        raise GigatrainError(f"max_replica_chips={max_replica_chips} must be in 1..4096")
    if request.input_len < 1 or request.output_len < 1:
        raise GigatrainError(
            f"input/output length must be ≥ 1, got {request.input_len}/{request.output_len}"
        )
    t0 = time.perf_counter()
    arr, dtypes = _candidates(
        model, system, request, precisions, max_replica_chips, spec_tokens, disaggregate
    )
    r = evaluate(served_model(model), system, arr, knobs)
    eval_s = time.perf_counter() - t0
    fits = r["fits"]
    ok = fits.copy()
    if targets.ttft_s:
        ok &= r["ttft_s"] <= targets.ttft_s
    if targets.tpot_s:
        ok &= r["tpot_s"] <= targets.tpot_s
    if watts_per_chip is None:
        watts_per_chip = facility_watts_per_chip(system, knobs)
    fit_idx = np.flatnonzero(fits)
    curve: list[CurvePoint] = []
    if len(fit_idx):
        front = fit_idx[
            _pareto(r["tokens_per_s_per_user"][fit_idx], r["output_tokens_per_s_per_chip"][fit_idx])
        ]
        curve = [
            CurvePoint(
                float(r["tokens_per_s_per_user"][i]),
                float(r["output_tokens_per_s_per_chip"][i]),
                arr.deployment(int(i), *dtypes[i]).describe(),
                float(r["ttft_s"][i]),
                float(r["tpot_s"][i]),
            )
            for i in front
        ]
    feas = np.flatnonzero(ok)
    best = fleet = None
    tops: list[ServingEstimate] = []
    diagnosis = ""
    if len(feas):
        order = feas[np.argsort(-r["output_tokens_per_s_per_chip"][feas], kind="stable")]
        seen: set[str] = set()
        for i in order:
            d = arr.deployment(int(i), *dtypes[i])
            key = d.describe().rsplit(" conc=", 1)[0]
            if key in seen:
                continue
            seen.add(key)
            tops.append(
                estimate_serving(
                    model, system, d, request, knobs, usd_per_chip_hour, watts_per_chip
                )
            )
            if len(tops) >= top:
                break
        best = tops[0]
        demand = targets.requests_per_s
        if demand is None and targets.output_tokens_per_s:
            demand = targets.output_tokens_per_s / request.output_len
        if demand:
            replicas = max(1, math.ceil(demand / best.requests_per_s - 1e-9))
            chips = replicas * best.replica_chips
            fleet = Fleet(
                replicas,
                chips,
                replicas * best.requests_per_s,
                chips * usd_per_chip_hour if usd_per_chip_hour is not None else None,
                chips * watts_per_chip if watts_per_chip is not None else None,
            )
    else:
        diagnosis = _diagnose(r, targets, fits)
    return ServingSearchResult(
        model=model.slug,
        chip=system.chip.slug,
        system=system.slug,
        request=request,
        targets=targets,
        best=best,
        fleet=fleet,
        top=tops,
        curve=curve,
        candidates=len(arr),
        fitting=int(fits.sum()),
        feasible=len(feas),
        eval_s=eval_s,
        diagnosis=diagnosis,
    )


def _diagnose(r: dict[str, np.ndarray], t: ServingTargets, fits: np.ndarray) -> str:
    """Why nothing is feasible: one line naming the closest miss."""
    if not fits.any():
        return (
            "no layout fits in memory with up to the allowed chips per replica; allow more "
            "(--max-replica-chips) or a smaller precision"
        )
    parts = []
    if t.ttft_s:
        parts.append(
            f"best TTFT that fits {r['ttft_s'][fits].min() * 1e3:,.0f} ms (target {t.ttft_s * 1e3:,.0f} ms)"
        )
    if t.tpot_s:
        parts.append(
            f"best TPOT that fits {r['tpot_s'][fits].min() * 1e3:,.1f} ms (target {t.tpot_s * 1e3:,.1f} ms)"
        )
    return "no deployment meets the targets: " + "; ".join(parts)
