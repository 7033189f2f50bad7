"""Critical batch bound, largest useful job, fleet partition, and the no-cap scale check."""

from __future__ import annotations

import itertools
import time

import pytest

from gigatrain.api import make_job
from gigatrain.catalog.hardware import get_system, load_systems
from gigatrain.catalog.models import get_model
from gigatrain.economics import jobs
from gigatrain.economics.fleet import size_fleet
from gigatrain.model import critical_batch as cb


def test_critical_batch_hand_checks() -> None:
    # B_opt = 0.2920 · C^0.3271 (DeepSeek LLM): 1e24 → 20.7M, 1.2e26 (1T × 20T) → 99M tokens
    assert cb.deepseek_optimal_batch_tokens(1e24) == pytest.approx(0.2920 * 1e24**0.3271)
    assert cb.deepseek_optimal_batch_tokens(1e24) == pytest.approx(20.7e6, rel=0.01)
    assert cb.deepseek_optimal_batch_tokens(1.2e26) == pytest.approx(99.1e6, rel=0.01)
    b = cb.batch_bound(1.2e26, 8192)
    assert b.seqs == int(b.tokens // 8192) == 12_091
    assert cb.batch_bound(1.2e26, 8192, factor=2).seqs == pytest.approx(2 * b.seqs, abs=1)
    # grows as C^0.327: 10× compute → 2.12× batch
    r = cb.deepseek_optimal_batch_tokens(1e25) / cb.deepseek_optimal_batch_tokens(1e24)
    assert r == pytest.approx(10**0.3271)
    assert cb.kaplan_critical_batch_tokens(2.0) == pytest.approx(7.54e6, rel=0.01)
    with pytest.raises(Exception, match="positive"):
        cb.batch_bound(0, 8192)


def test_smooth_counts() -> None:
    for n in (100_000, 1_500_000, 1_911_132):
        cs = jobs.smooth_counts(n)
        assert cs and all(0.75 * n <= c <= n for c in cs)
        for c in cs:
            k = c
            while k % 2 == 0:
                k //= 2
            assert k in (1, 3, 5, 9, 15, 45)


def test_no_system_capped_at_one_million() -> None:
    systems = load_systems()
    capped = [s.slug for s in systems.values() if s.max_chips <= 1_000_000]
    # only vendor-stated limits remain: TPU v5p Multislice, TPU v3 pod, AWS p5
    assert sorted(capped) == ["p5-h100", "tpu-v3", "tpu-v5p"]
    for s in systems.values():
        assert s.tiers[-1].domain_chips >= 10_000_000
        assert s.tiers[-1].name == "campus" and s.tiers[-2].domain_chips == 65_536


def test_fleet_count_is_searchable_within_5_s() -> None:
    """`fleet --power 2GW --chip trn2` sizes ~1.91M chips; a 1T job on 1.5M chips searches in
    well under 5 s (issue 10)."""
    n = size_fleet("trn2", power_w=2e9).chips
    assert n == 1_911_132
    m, s = get_model("megatron-gpt-1t"), get_system("trn2")
    job = make_job(2048, 1, 20e12)
    bound = cb.batch_bound(1.2e26, 2048)
    t0 = time.perf_counter()
    p = jobs.job_point(m, s, job, 1_500_000, bound)
    assert time.perf_counter() - t0 < 5.0
    assert 0.75 * 1_500_000 <= p.chips <= 1_500_000 and p.global_batch <= bound.seqs
    assert 0 < p.mfu < 0.6 and 0 <= p.goodput < 0.2  # fails every ~2 min as one job


def test_scaling_and_partition_properties() -> None:
    m, s = get_model("llama-3.1-8b"), get_system("h100-sxm")
    job = make_job(8192, 1, 15e12)
    sc = jobs.scaling(m, s, job, [1024, 4096, 16384, 65536, 262144])
    pts = sc.points
    assert [p.chips for p in pts] == sorted(p.chips for p in pts)
    for p in pts:
        assert p.wall_s == pytest.approx(p.ideal_s / p.goodput)
        assert p.global_batch <= sc.bound.seqs
    # goodput falls with size; the largest useful job is one of the points, ≤ the fastest
    assert all(a.goodput >= b.goodput for a, b in itertools.pairwise(pts))
    assert sc.largest_useful in pts and sc.largest_useful.chips <= sc.fastest.chips
    fleet_chips = 300_000
    pa = jobs.partition(m, s, job, fleet_chips, sc.largest_useful)
    j = sc.largest_useful.chips
    assert pa.jobs == fleet_chips // (j + -(-j * 5 // 100))
    assert pa.chips_in_jobs + pa.spare_chips + pa.idle_chips == fleet_chips
    assert pa.runs_per_year == pytest.approx(pa.jobs * 365.25 / pa.days_per_run)
    assert 0 < pa.utilisation < 1
    assert set(pa.goodput_by_mitigation) == {"manual", "automated", "async", "in_memory",
                                             "elastic"}  # fmt: skip
    # the remainder filled with smaller jobs of the same curve: nothing that fits is left idle
    pf = jobs.partition(m, s, job, fleet_chips, sc.largest_useful, fill_points=pts)
    assert pf.chips_in_jobs + pf.spare_chips + pf.idle_chips == fleet_chips
    smaller = [p.chips for p in pts if p.chips < j]
    if smaller:
        assert pf.idle_chips < min(smaller) * 1.05 + 1
        assert pf.runs_per_year > pa.runs_per_year and pf.utilisation > pa.utilisation
