"""What the chosen training framework can run, applied to candidate plans.

The capability table lives with each framework profile (``catalog/data/frameworks.yaml``,
``capabilities`` with its source). Search intersects its axes with it and drops every
candidate the framework could not launch (ZeRO-2 with pipelining in DeepSpeed, interleaving in
an engine without it, uneven stages where the partitioner is uniform), so the winner is always
a plan the framework runs; :func:`unrunnable_reasons` says why a given plan is not.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..catalog.frameworks import Capabilities
from ..model.plans import RECOMPUTE_CODE, PlanArrays
from ..specs import ModelSpec, Plan
from .space import Axes


def _meet(allowed: tuple[Any, ...] | None, offered: tuple[Any, ...]) -> tuple[Any, ...]:
    return offered if allowed is None else tuple(v for v in allowed if v in offered)


def framework_axes(caps: Capabilities, axes: Axes) -> Axes:
    """``axes`` narrowed to what the framework offers."""
    out = replace(
        axes,
        zero_stage=_meet(axes.zero_stage, caps.zero_stages),
        recompute=_meet(axes.recompute, caps.recompute),
    )
    if not caps.tensor_parallel:
        out = replace(out, tp=_meet(out.tp, (1,)))
    if not caps.pipeline:
        out = replace(out, pp=_meet(out.pp, (1,)))
    if not (caps.pipeline and caps.interleaved):
        out = replace(out, vpp=_meet(out.vpp, (1,)))
    if not caps.context_parallel:
        out = replace(out, cp=_meet(out.cp, (1,)))
    if not caps.expert_parallel:
        out = replace(out, ep=_meet(out.ep, (1,)))
    if not caps.sequence_parallel:
        out = replace(out, sequence_parallel=_meet(out.sequence_parallel, (False,)))
    return out


def runnable_mask(caps: Capabilities, model: ModelSpec, p: PlanArrays) -> np.ndarray:
    """True where the framework can launch the plan (beyond the axes of :func:`framework_axes`)."""
    L = model.num_layers
    ok = np.isin(p.zero_stage, caps.zero_stages)
    ok &= (p.pp == 1) | np.isin(p.zero_stage, caps.zero_stages_with_pp)
    ok &= np.isin(p.recompute, [RECOMPUTE_CODE[r] for r in caps.recompute])
    if not caps.uneven_pipeline:  # a uniform partitioner needs whole layers per (virtual) stage
        ok &= (p.pp == 1) | (L % (p.pp * p.vpp) == 0)
    for flag, arr in (
        (caps.tensor_parallel, p.tp),
        (caps.pipeline, p.pp),
        (caps.context_parallel, p.cp),
        (caps.expert_parallel, p.ep),
        (caps.interleaved, p.vpp),
    ):
        if not flag:
            ok &= arr == 1
    if not caps.sequence_parallel:
        ok &= ~p.sequence_parallel | (p.tp == 1)
    return ok


def unrunnable_reasons(
    caps: Capabilities, model: ModelSpec, plan: Plan, framework: str
) -> list[str]:
    """One line per reason ``framework`` cannot launch ``plan`` (empty when it can)."""
    out: list[str] = []
    if plan.zero_stage not in caps.zero_stages:
        out.append(
            f"{framework} has no ZeRO-{plan.zero_stage} (it offers "
            f"{', '.join(map(str, caps.zero_stages))})"
        )
    elif plan.pp > 1 and plan.zero_stage not in caps.zero_stages_with_pp:
        out.append(f"{framework} cannot combine ZeRO-{plan.zero_stage} with pipeline parallelism")
    for flag, val, name in (
        (caps.tensor_parallel, plan.tp, "tensor"),
        (caps.pipeline, plan.pp, "pipeline"),
        (caps.context_parallel, plan.cp, "context"),
        (caps.expert_parallel, plan.ep, "expert"),
        (caps.interleaved, plan.vpp, "interleaved-pipeline"),
    ):
        if not flag and val > 1:
            out.append(f"{framework} has no {name} parallelism")
    if not caps.uneven_pipeline and plan.pp > 1 and model.num_layers % (plan.pp * plan.vpp):
        out.append(
            f"{framework} partitions layers uniformly: pp×vpp={plan.pp * plan.vpp} must divide "
            f"{model.num_layers} layers"
        )
    if plan.recompute not in caps.recompute:
        out.append(f"{framework} has no {plan.recompute} recompute")
    return out
