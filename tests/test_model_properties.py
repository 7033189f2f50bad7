"""Property tests: invariants of the memory and step-time model over random valid plans.

The bulk test draws ≥ 10,000 random plans over every catalog chip (on its default system) and
every framework profile, evaluates them as arrays (the one code path) and checks the physical
invariants: finite positive totals whose leaves sum, MFU at most the chip's measured GEMM
efficiency, more recompute never more activation memory, a faster chip never slower, a higher
ZeRO stage never more state memory.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gigatrain.catalog.frameworks import knobs_for, load_frameworks
from gigatrain.catalog.hardware import get_system, load_chips
from gigatrain.catalog.models import get_model
from gigatrain.model.estimate import evaluate
from gigatrain.model.plans import RECOMPUTE_CODE, PlanArrays, valid_mask
from gigatrain.specs import Job, Plan

MODELS = [
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "mixtral-8x7b",
    "deepseek-v3",
    "gpt3-175b",
]
CHIPS = ["h100-sxm", "a100-80gb", "gb200", "trn2", "tpu-v5p", "mi300x"]
POW2 = st.sampled_from([1, 2, 4, 8])
PLANS_PER_CASE = 400


def _random_plans(rng: np.random.Generator, model, job: Job, n: int) -> PlanArrays:
    pick = lambda vals: rng.choice(np.asarray(vals, dtype=np.int64), n)  # noqa: E731
    tp, pp, cp = pick([1, 2, 4, 8]), pick([1, 2, 4, 8, 16]), pick([1, 2, 4])
    dp = pick([1, 2, 8, 64, 512])
    ep = pick([1, 2, 4, 8]) if model.moe else np.ones(n, np.int64)
    mbs = pick([1, 2, 4])
    zero = pick([0, 1, 2, 3])
    dpcp = dp * cp
    shard = np.where(zero == 3, np.where(rng.random(n) < 0.5, dpcp, np.maximum(dpcp // 2, 1)), dpcp)
    return PlanArrays(
        tp=tp,
        pp=pp,
        dp=dp,
        cp=cp,
        ep=ep,
        vpp=pick([1, 1, 2, 4]),
        micro_batch=mbs,
        zero_stage=zero,
        fsdp_shard=shard,
        recompute=pick([0, 1, 2]),
        sequence_parallel=rng.random(n) < 0.7,
    )


def _cases():
    chips = load_chips()
    fws = [f for f in load_frameworks() if f != "pytorch-eager"]
    rng = np.random.default_rng(20261201)
    for i, slug in enumerate(sorted(chips)):
        chip = chips[slug]
        precisions = [
            d
            for d in ("bf16", "fp16", "fp8", "fp32")
            if d in chip.peak_flops_per_s or (d == "fp32" and "tf32" in chip.peak_flops_per_s)
        ]
        for j, fw in enumerate(fws):
            model = get_model(MODELS[(i + j) % len(MODELS)])
            prec = precisions[(i * 7 + j) % len(precisions)]
            job = Job(
                seq_len=int(rng.choice([2048, 8192])),
                global_batch_seqs=4096,
                precision=prec,  # type: ignore[arg-type]
                framework=fw,
            )
            yield slug, fw, model, job, rng


def test_invariants_over_ten_thousand_random_plans() -> None:
    checked = 0
    for slug, fw, model, job, rng in _cases():
        system = get_system(slug)
        knobs = knobs_for(fw, system.chip.vendor)
        p = _random_plans(rng, model, job, PLANS_PER_CASE)
        p = p.take(valid_mask(model, job, p))
        if not len(p):
            continue
        r = evaluate(model, system, job, p, knobs)
        where = f"{model.slug} on {slug} with {fw} ({job.precision})"
        for total, prefix in (("memory/total", "memory/"), ("time/total", "time/")):
            leaves = sum(v for k, v in r.items() if k.startswith(prefix) and k != total)
            assert np.all(np.isfinite(r[total]) & (r[total] > 0)), where
            assert np.allclose(leaves, r[total], rtol=1e-9), where
            for k, v in r.items():
                if k.startswith(prefix):
                    assert np.all(v >= 0), f"{k} negative for {where}"
        # MFU can never exceed the chip's best measured GEMM efficiency in the job's format
        assert np.all(r["mfu"] <= system.chip.matmul_efficiency_for(job.precision) + 1e-9), (
            f"MFU {r['mfu'].max():.3f} > peak efficiency for {where}"
        )
        # more recompute never needs more activation memory
        acts = [
            evaluate(model, system, job, replace(p, recompute=np.full(len(p), c)), knobs)[
                "memory/activations"
            ]
            for c in (RECOMPUTE_CODE["none"], RECOMPUTE_CODE["selective"], RECOMPUTE_CODE["full"])
        ]
        assert np.all(acts[0] >= acts[1] - 1e-6) and np.all(acts[1] >= acts[2] - 1e-6), where
        # a chip with twice the FLOP/s and bandwidth is never slower
        chip = system.chip
        fast = replace(
            system,
            chip=replace(
                chip,
                peak_flops_per_s={k: 2 * v for k, v in chip.peak_flops_per_s.items()},
                hbm_bandwidth_bytes_per_s=2 * chip.hbm_bandwidth_bytes_per_s,
                elementwise_bandwidth_bytes_per_s=2 * chip.elementwise_bandwidth_bytes_per_s,
                kernel_overhead_s=chip.kernel_overhead_s / 2,
            ),
        )
        faster = evaluate(model, fast, job, p, knobs)["time/total"]
        assert np.all(faster <= r["time/total"] * (1 + 1e-9)), f"2× chip slower for {where}"
        # ZeRO 0 → 1 → 2 never needs more memory, and ZeRO-3 with its gather buffers never
        # more than plain data parallelism
        totals = [
            evaluate(model, system, job, replace(p, zero_stage=np.full(len(p), z)), knobs)[
                "memory/total"
            ]
            for z in range(4)
        ]
        assert all(np.all(totals[i] >= totals[i + 1] * (1 - 1e-9)) for i in range(2)), where
        assert np.all(totals[3] <= totals[0] * (1 + 1e-9)), where
        checked += len(p)
    assert checked >= 10_000, f"only {checked} valid random plans checked"


@st.composite
def cases(draw):
    model = get_model(draw(st.sampled_from(MODELS)))
    system = get_system(draw(st.sampled_from(CHIPS)))
    tp, pp, cp, dp = (
        draw(POW2),
        draw(POW2),
        draw(st.sampled_from([1, 2])),
        draw(st.sampled_from([1, 2, 8, 64])),
    )
    ep = draw(st.sampled_from([1, 2, 4, 8])) if model.moe else 1
    mbs = draw(st.sampled_from([1, 2]))
    prec = draw(st.sampled_from(["bf16", "fp8"]))
    if prec not in system.chip.peak_flops_per_s:
        prec = "bf16"
    job = Job(
        seq_len=draw(st.sampled_from([2048, 8192])),
        global_batch_seqs=dp * mbs * draw(st.sampled_from([1, 4, 16])),
        precision=prec,
        framework=draw(st.sampled_from(["megatron", "generic", "torchtitan"])),
    )
    plan = Plan(
        tp=tp,
        pp=pp,
        dp=dp,
        cp=cp,
        ep=ep,
        micro_batch=mbs,
        zero_stage=draw(st.integers(0, 3)),
        recompute=draw(st.sampled_from(["none", "selective", "full"])),
    )
    return model, system, job, plan


def _eval(model, system, job, plans):
    arr = PlanArrays.from_plans(plans)
    return arr, evaluate(model, system, job, arr, knobs_for(job.framework))


@settings(max_examples=40, deadline=None)
@given(cases())
def test_more_recompute_never_runs_faster(case) -> None:
    model, system, job, plan = case
    plans = [Plan(**{**plan.__dict__, "recompute": m}) for m in ("none", "selective", "full")]
    _, r = _eval(model, system, job, plans)
    step = r["time/total"]
    assert step[0] <= step[1] * (1 + 1e-9) <= step[2] * (1 + 1e-9)


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


@pytest.mark.parametrize(
    ("chip", "precision"), [("a100-80gb", "fp8"), ("v100-sxm", "bf16"), ("tpu-v4", "fp8")]
)
def test_precision_a_chip_lacks_is_an_error(chip: str, precision: str) -> None:
    from gigatrain.errors import GigatrainError

    with pytest.raises(GigatrainError, match=f"precision {precision} is not supported by {chip}"):
        get_system(chip).chip.matmul_peak(precision)


def test_fp32_runs_at_the_tf32_peak_where_the_chip_has_one() -> None:
    chip = get_system("h100-sxm").chip
    assert chip.matmul_peak("fp32") == chip.peak_flops_per_s["tf32"]
