"""What whole runs realise beyond the steady-state step time (economics.yaml, each sourced).

Failure-free realised time of a run, before goodput (gigatrain.economics.goodput):

    T = T_steady · [(1 − r) + r · tps(B)/tps(b·B)] · f_straggler · f_diurnal

* batch ramp: a fraction r of the tokens is trained at a smaller batch b·B, where the same plan
  runs more slowly (fewer micro-batches per step: larger pipeline bubble, less DP overlap).
  r = 3.17 % (DeepSeek-V3: 469B of 14.8T tokens ramped from 1/5 to the full batch), b = 1/2
  (the ramp's mean 0.6, rounded to a divisible batch; ESTIMATE). Evaluated with the step-time
  model on the run's own plan, or — when that plan has more replicas than the ramp batch has
  sequences — on the fastest plan the search finds for the smaller batch on the same chips.
* stragglers: a synchronous step waits for the slowest machine; MegaScale found ~0.5 % of
  machines ~10 % slower and gained +0.7 MFU points (of 55.2 %) by excluding them: ×1.0127 for
  multi-node jobs (SECONDARY).
* diurnal: Llama 3 saw 1–2 % throughput variation from mid-day heat (DVFS): ×1.015 (midpoint).

Ignored (no sourced figure in shared/facts): evaluation passes during training, data-loader
stalls, loss-spike rollbacks (OPT-175B's uptime shows they can dominate), hyper-parameter
restarts, and compute spent outside the main run (ablations, annealing data experiments) that
model cards may count.
"""

from __future__ import annotations

from dataclasses import replace

from ..catalog.constants import cite, const
from ..catalog.frameworks import knobs_for
from ..errors import GigatrainError
from ..knobs import Knobs
from ..model.estimate import Estimate, estimate
from ..search.engine import best_plan
from ..specs import Job, ModelSpec, SystemSpec


def ramp_speed_ratio(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    est: Estimate,
    knobs: Knobs | None = None,
    batch_fraction: float | None = None,
) -> float | None:
    """tokens/s at the full batch over tokens/s at ``batch_fraction`` of it, same plan (None when
    the plan cannot take the smaller batch)."""
    b = const("batch_ramp_batch_fraction") if batch_fraction is None else batch_fraction
    plan = est.plan
    small = int(job.global_batch_seqs * b)
    if small < 1:
        return None
    job2 = replace(job, global_batch_seqs=small)
    e2: Estimate | None = None
    if small % plan.dp == 0:
        per_replica = small // plan.dp
        mbs = max(d for d in range(1, plan.micro_batch + 1) if per_replica % d == 0)
        try:
            e2 = estimate(model, system, job2, replace(plan, micro_batch=mbs),
                          knobs or knobs_for(job.framework, system.chip.vendor))  # fmt: skip
        except GigatrainError:
            e2 = None
    if e2 is None:  # the plan has more replicas than the ramp has sequences: re-plan
        try:
            _, e2 = best_plan(model, system, job2, est.chips, "time")
        except GigatrainError:
            return None
    return est.tokens_per_s / e2.tokens_per_s if e2.tokens_per_s > 0 else None


def realised_factors(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    est: Estimate,
    knobs: Knobs | None = None,
) -> tuple[dict[str, float], dict[str, str]]:
    """Time factors (≥ 1 each; their product multiplies the steady-state time) and notes."""
    r = const("batch_ramp_token_fraction")
    ratio = ramp_speed_ratio(model, system, job, est, knobs)
    b = const("batch_ramp_batch_fraction")
    factors: dict[str, float] = {}
    notes: dict[str, str] = {}
    if ratio is not None:
        factors["batch_ramp"] = (1 - r) + r * max(ratio, 1.0)
        notes["batch_ramp"] = (
            f"{r:.2%} of tokens at {b:g}× the batch, {max(ratio, 1.0):.3f}× slower there "
            f"({cite('batch_ramp_token_fraction')})"
        )
    else:
        notes["batch_ramp"] = "not applied: the plan cannot take the smaller ramp batch"
    if est.chips > system.chips_per_node:
        factors["stragglers"] = const("straggler_time_factor")
        notes["stragglers"] = f"×{factors['stragglers']:.4g} ({cite('straggler_time_factor')})"
    factors["diurnal"] = const("diurnal_time_factor")
    notes["diurnal"] = f"×{factors['diurnal']:.4g} ({cite('diurnal_time_factor')})"
    return factors, notes
