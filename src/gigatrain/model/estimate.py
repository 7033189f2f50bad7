"""One pure estimate: (model, system, job, plans) → memory and step time for each plan.

``evaluate`` works on :class:`PlanArrays` (search calls it on millions of plans); ``estimate``
is the same call on an array of length one, returned as an :class:`Estimate` with its
breakdowns. There is no second code path.

MFU = model FLOPs (no recompute, causal attention) per second / (chips · dense peak of the
matmul precision). HFU adds the recomputed forward. ``mfu_noncausal`` uses the full-attention
convention (PaLM/MaxText/llm-foundry) for comparison with sources that use it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..knobs import DEFAULT_KNOBS, Knobs
from ..specs import Job, ModelSpec, Plan, SystemSpec
from .memory import memory_breakdown
from .placement import stage_split
from .plans import PlanArrays, RecomputeCode, check_plan
from .step import step_breakdown
from .workload import model_flops_per_token, params_active, params_total

SECONDS_PER_DAY = 86400.0


def evaluate(
    model: ModelSpec, system: SystemSpec, job: Job, plans: PlanArrays, knobs: Knobs = DEFAULT_KNOBS
) -> dict[str, np.ndarray]:
    """Memory and time breakdowns plus derived throughput for every plan in ``plans``."""
    split = stage_split(model, job, plans, knobs)
    mem = memory_breakdown(model, job, plans, knobs, split)
    time = step_breakdown(model, system, job, plans, knobs, split)
    chips = plans.chips
    step_s = time["time/total"]
    tokens_per_s = job.tokens_per_step / step_s
    peak = system.chip.matmul_peak(job.precision)
    f_causal = model_flops_per_token(model, job.seq_len, causal=True)
    f_full = model_flops_per_token(model, job.seq_len, causal=False)
    mfu = tokens_per_s * f_causal / (chips * peak)
    # HFU: full recompute re-runs the forward (+1/3 of model FLOPs)
    hfu = mfu * np.where(plans.recompute == RecomputeCode.FULL, 4.0 / 3.0, 1.0)
    out = {**mem, **time}
    out.update(
        step_time_s=step_s,
        tokens_per_s=tokens_per_s,
        tokens_per_s_per_chip=tokens_per_s / chips,
        mfu=mfu,
        hfu=hfu,
        mfu_noncausal=tokens_per_s * f_full / (chips * peak),
        fits=mem["memory/total"] <= system.chip.hbm_bytes,
    )
    return out


@dataclass(frozen=True)
class Estimate:
    """A single plan's estimate; every ``*_breakdown`` sums to its total."""

    model: str
    chip: str
    system: str
    plan: Plan
    job: Job
    chips: int
    memory_bytes: float
    memory_capacity_bytes: float
    fits: bool
    memory_breakdown: dict[str, float]
    step_time_s: float
    time_breakdown: dict[str, float]
    tokens_per_s: float
    tokens_per_s_per_chip: float
    mfu: float
    hfu: float
    mfu_noncausal: float
    model_flops_per_token: float
    params_total: int
    params_active: int
    microbatches: float
    worst_stage: str
    days_to_train: float | None
    #: step time with every communication overlapped / none overlapped (the knobs' bounds)
    step_time_bounds_s: tuple[float, float] = (0.0, 0.0)
    knobs: dict[str, float] = field(default_factory=dict)
    profile: str | None = None
    #: held-out interval on step time (and so days and dollars): (low, high) multipliers of the
    #: prediction with the group they come from; set by the API from validation residuals
    error_bar: dict[str, object] | None = None
    #: which measured runs back this prediction (chip, vendor, framework), in words
    evidence: str = ""
    #: why the chosen framework could not run this plan as given (empty when it can)
    warnings: tuple[str, ...] = ()

    @property
    def step_time_interval_s(self) -> tuple[float, float] | None:
        if not self.error_bar:
            return None
        return (
            self.step_time_s * float(self.error_bar["lo"]),  # type: ignore[arg-type]
            self.step_time_s * float(self.error_bar["hi"]),  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["plan"] = asdict(self.plan)
        d["job"] = asdict(self.job)
        d["step_time_interval_s"] = self.step_time_interval_s
        if self.error_bar and self.days_to_train:
            d["days_to_train_interval"] = (
                self.days_to_train * float(self.error_bar["lo"]),  # type: ignore[arg-type]
                self.days_to_train * float(self.error_bar["hi"]),  # type: ignore[arg-type]
            )
            d["mfu_interval"] = (
                self.mfu / float(self.error_bar["hi"]),  # type: ignore[arg-type]
                self.mfu / float(self.error_bar["lo"]),  # type: ignore[arg-type]
            )
        return d


def estimate(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    plan: Plan,
    knobs: Knobs | None = None,
    profile: str | None = None,
) -> Estimate:
    """Estimate one plan (validated first: bad degrees raise a one-line GigatrainError)."""
    knobs = knobs or DEFAULT_KNOBS
    check_plan(model, job, plan)
    arr = PlanArrays.from_plans([plan])
    r = evaluate(model, system, job, arr, knobs)
    mem = {k: float(v[0]) for k, v in r.items() if k.startswith("memory/") and k != "memory/total"}
    tim = {k: float(v[0]) for k, v in r.items() if k.startswith("time/") and k != "time/total"}
    step_s = float(r["step_time_s"][0])
    tps = float(r["tokens_per_s"][0])
    lo, hi = (
        float(evaluate(model, system, job, arr, k)["step_time_s"][0])
        for k in knobs.overlap_bounds()
    )
    return Estimate(
        model=model.slug,
        chip=system.chip.slug,
        system=system.slug,
        plan=plan,
        job=job,
        chips=plan.chips,
        memory_bytes=float(r["memory/total"][0]),
        memory_capacity_bytes=system.chip.hbm_bytes,
        fits=bool(r["fits"][0]),
        memory_breakdown=mem,
        step_time_s=step_s,
        time_breakdown=tim,
        tokens_per_s=tps,
        tokens_per_s_per_chip=float(r["tokens_per_s_per_chip"][0]),
        mfu=float(r["mfu"][0]),
        hfu=float(r["hfu"][0]),
        mfu_noncausal=float(r["mfu_noncausal"][0]),
        model_flops_per_token=model_flops_per_token(model, job.seq_len),
        params_total=params_total(model),
        params_active=params_active(model),
        microbatches=float(r["info/microbatches"][0]),
        worst_stage="last" if bool(r["worst_stage_is_last"][0]) else "first",
        days_to_train=(job.tokens / tps / SECONDS_PER_DAY) if job.tokens else None,
        step_time_bounds_s=(lo, hi),
        knobs=asdict(knobs),
        profile=profile,
    )
