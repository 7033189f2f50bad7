"""Property tests: invariants of the memory and step-time model over random valid plans."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gigatrain.catalog.frameworks import knobs_for
from gigatrain.catalog.hardware import get_system
from gigatrain.catalog.models import get_model
from gigatrain.model.estimate import evaluate
from gigatrain.model.plans import PlanArrays, valid_mask
from gigatrain.specs import Job, Plan

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "deepseek-v3", "gpt3-175b"]
CHIPS = ["h100-sxm", "a100-80gb", "gb200", "trn2", "tpu-v5p", "mi300x"]
POW2 = st.sampled_from([1, 2, 4, 8])


@st.composite
def cases(draw):
    model = get_model(draw(st.sampled_from(MODELS)))
    system = get_system(draw(st.sampled_from(CHIPS)))
    tp, pp, cp, dp = draw(POW2), draw(POW2), draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 2, 8, 64]))
    ep = draw(st.sampled_from([1, 2, 4, 8])) if model.moe else 1
    mbs = draw(st.sampled_from([1, 2]))
    job = Job(seq_len=draw(st.sampled_from([2048, 8192])), global_batch_seqs=dp * mbs * draw(st.sampled_from([1, 4, 16])),
              precision=draw(st.sampled_from(["bf16", "fp8"])), framework=draw(st.sampled_from(["megatron", "generic", "torchtitan"])))
    plan = Plan(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, micro_batch=mbs, zero_stage=draw(st.integers(0, 3)),
                recompute=draw(st.sampled_from(["none", "selective", "full"])))
    return model, system, job, plan


def _eval(model, system, job, plans):
    arr = PlanArrays.from_plans(plans)
    return arr, evaluate(model, system, job, arr, knobs_for(job.framework))


@settings(max_examples=60, deadline=None)
@given(cases())
def test_totals_are_finite_positive_and_leaves_sum(case) -> None:
    model, system, job, plan = case
    arr, r = _eval(model, system, job, [plan])
    if not valid_mask(model, job, arr)[0]:
        return
    for total, prefix in (("memory/total", "memory/"), ("time/total", "time/")):
        leaves = sum(v[0] for k, v in r.items() if k.startswith(prefix) and k != total)
        assert np.isfinite(r[total][0]) and r[total][0] > 0
        assert np.isclose(leaves, r[total][0], rtol=1e-9)
        assert all(v[0] >= 0 for k, v in r.items() if k.startswith(prefix))
    assert 0 < r["mfu"][0] < 1


@settings(max_examples=40, deadline=None)
@given(cases())
def test_more_recompute_never_needs_more_memory_and_never_runs_faster(case) -> None:
    model, system, job, plan = case
    plans = [Plan(**{**plan.__dict__, "recompute": m}) for m in ("none", "selective", "full")]
    _, r = _eval(model, system, job, plans)
    mem, step = r["memory/activations"], r["time/total"]
    assert mem[0] >= mem[1] >= mem[2]
    assert step[0] <= step[1] * (1 + 1e-9) <= step[2] * (1 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(cases())
def test_higher_zero_stage_never_needs_more_state_memory(case) -> None:
    model, system, job, plan = case
    plans = [Plan(**{**plan.__dict__, "zero_stage": z}) for z in range(4)]
    _, r = _eval(model, system, job, plans)
    states = r["memory/weights"] + r["memory/gradients"] + r["memory/optimizer"]
    assert all(states[i] >= states[i + 1] - 1e-6 for i in range(3))


def test_single_estimate_equals_array_row() -> None:
    """One model, evaluated on arrays: a plan's row in a batch equals its own evaluation."""
    model, system = get_model("llama-3.1-70b"), get_system("h100-sxm")
    job = Job(seq_len=8192, global_batch_seqs=512)
    plans = [Plan(tp=t, pp=p, dp=512 // (t * p)) for t in (2, 4, 8) for p in (1, 2, 4)]
    _, batch = _eval(model, system, job, plans)
    for i, plan in enumerate(plans):
        _, one = _eval(model, system, job, [plan])
        assert one["time/total"][0] == batch["time/total"][i]
        assert one["memory/total"][0] == batch["memory/total"][i]
