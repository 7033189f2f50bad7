"""`cost` defaults to the realised run: steady state × sourced overheads, then goodput."""

from __future__ import annotations

import math

import pytest

from gigatrain.api import make_job
from gigatrain.catalog.hardware import get_system
from gigatrain.catalog.models import get_model
from gigatrain.economics import cost


@pytest.fixture(scope="module")
def est70():
    m, s = get_model("llama-3.1-70b"), get_system("h100-sxm")
    job = make_job(8192, 2048, 15e12)
    _, e = cost.plan_for(m, s, job, 4096)
    return m, s, job, e


def test_realised_is_steady_times_factors(est70) -> None:
    m, s, job, e = est70
    real = cost.run_cost(m, s, job, est=e, options=cost.CostOptions(usd_per_chip_hour=2.0))
    ideal = cost.run_cost(m, s, job, est=e,
                          options=cost.CostOptions(usd_per_chip_hour=2.0, realised=False))  # fmt: skip
    assert real.steady_s == pytest.approx(job.tokens / e.tokens_per_s)
    assert real.compute_s == pytest.approx(real.steady_s * math.prod(real.overheads.values()))
    assert set(real.overheads) == {"batch_ramp", "stragglers", "diurnal"}
    assert all(1.0 <= v < 1.1 for v in real.overheads.values())
    assert real.overheads["stragglers"] == pytest.approx(1 + 0.7 / 55.2, rel=1e-3)  # MegaScale
    assert ideal.overheads == {} and ideal.compute_s == pytest.approx(ideal.steady_s)
    assert real.wall_s == pytest.approx(real.compute_s / real.goodput.goodput)
    assert real.total_usd > ideal.total_usd
    assert real.steady_usd == pytest.approx(real.total_usd * real.steady_s / real.wall_s)
    # a mitigation changes goodput only
    mem = cost.run_cost(m, s, job, est=e,
                        options=cost.CostOptions(usd_per_chip_hour=2.0, mitigation="in_memory"))  # fmt: skip
    assert mem.compute_s == pytest.approx(real.compute_s)
    assert mem.goodput.mitigation == "in_memory"


def test_default_batch_respects_critical_bound() -> None:
    assert cost.default_global_batch(8192) == 2048
    # 7B × 2T: B_opt(8.4e22) ≈ 9.2M tokens → 2,048 × 4,096 = 8.4M, not 16.8M
    assert cost.default_global_batch(4096, 6 * 7e9 * 2e12) == 2048
    assert cost.default_global_batch(2048, 1.2e26) == 8192


def test_fleet_sized_count_can_be_costed() -> None:
    """1.5M chips has no layout for a power-of-two batch; the plan falls back to a smooth count
    (1,310,720 = 5·2^18) instead of refusing."""
    m, s = get_model("megatron-gpt-1t"), get_system("trn2")
    job = make_job(2048, 8192, 20e12)
    _, e = cost.plan_for(m, s, job, 1_500_000, allow_fewer=True)
    assert 0.75 * 1_500_000 <= e.chips <= 1_500_000
    c = cost.run_cost(m, s, job, est=e)
    assert c.total_usd > 0 and "warning/scale" in c.assumptions
