"""Chip-level GEMM model: physics it must respect, and its error on the shipped H200 profile."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gigatrain.catalog.hardware import get_chip
from gigatrain.errors import GigatrainError
from gigatrain.model.chip_level import (
    MICRO_TABLE,
    apply_micro,
    check_profile,
    fit_curve,
    gemm_efficiency,
    gemm_time,
    micro_for,
    whatif_chip,
)
from gigatrain.yamlio import read_yaml

PROFILE = Path(__file__).resolve().parents[1] / "benchmarks/results/h200-2026-11-26/gpu-profile.yaml"


@pytest.mark.parametrize("slug", [s for s in MICRO_TABLE])
def test_array_reproduces_catalog_peak(slug: str) -> None:
    chip = get_chip(slug)
    m = micro_for(chip)
    assert m.peak_flops() == pytest.approx(chip.peak("bf16"), rel=1e-9)
    assert m.engines * m.flop_per_cycle * m.clock_hz == pytest.approx(chip.peak("bf16"))


def test_efficiency_physics() -> None:
    h100 = get_chip("h100-sxm")
    effs = [gemm_efficiency(s, s, s, h100) for s in (256, 1024, 4096, 16384)]
    assert effs == sorted(effs) and 0 < effs[0] < effs[-1] <= h100.matmul_efficiency
    # wave quantisation: one tile more than the SMs costs a whole extra wave
    one_tile = replace(micro_for(h100), tiles=((128, 256),))
    t132 = gemm_time(128 * 132, 256, 8192, h100, one_tile)
    t133 = gemm_time(128 * 133, 256, 8192, h100, one_tile)
    assert t132.waves == 1 and t133.compute_s > 1.2 * t132.compute_s  # not 133/132 = 1.008
    # more HBM bandwidth never slows a GEMM; a memory-bound skinny GEMM speeds up
    fast = replace(h100, hbm_bandwidth_bytes_per_s=2 * h100.hbm_bandwidth_bytes_per_s)
    for m, n, k in ((8, 8192, 8192), (4096, 4096, 4096), (64, 28672, 8192)):
        assert gemm_time(m, n, k, fast).kernel_s <= gemm_time(m, n, k, h100).kernel_s
    assert gemm_time(8, 8192, 8192, h100).bound == "memory"
    assert gemm_time(8, 8192, 8192, fast).kernel_s < 0.7 * gemm_time(8, 8192, 8192, h100).kernel_s
    # Trainium: moving tiles narrower than 64 columns pay the 64-cycle issue floor
    trn2 = get_chip("trn2")
    assert gemm_efficiency(16384, 32, 8192, trn2) < 0.6 * gemm_efficiency(16384, 64, 8192, trn2)
    # TPU: K padded to the 128-wide MXU
    v5p = get_chip("tpu-v5p")
    assert gemm_time(8192, 8192, 129, v5p).compute_s > 1.5 * gemm_time(8192, 8192, 128, v5p).compute_s


def test_whatif_curve_moves_the_right_way() -> None:
    trn2 = get_chip("trn2")
    e0, f0 = fit_curve(trn2, sustained_fraction=trn2.matmul_efficiency)
    assert 0.5 < e0 <= 1 and 1e8 < f0 < 1e12
    more_bw = whatif_chip(trn2, replace(trn2, hbm_bandwidth_bytes_per_s=2 * trn2.hbm_bandwidth_bytes_per_s), {})
    assert more_bw.matmul_half_flops <= trn2.matmul_half_flops
    assert more_bw.matmul_efficiency == pytest.approx(trn2.matmul_efficiency, rel=0.02)
    clock = whatif_chip(trn2, trn2, {"clock_ghz": "x1.5"})
    assert clock.peak("bf16") == pytest.approx(1.5 * trn2.peak("bf16"))
    assert clock.matmul_half_flops > trn2.matmul_half_flops  # faster arrays need bigger GEMMs
    with pytest.raises(GigatrainError, match="unknown field 'warp'"):
        apply_micro(micro_for(trn2), {"warp": 3})
    with pytest.raises(GigatrainError, match="fits its"):
        gemm_time(4096, 4096, 4096, get_chip("h100-sxm"), apply_micro(micro_for(get_chip("h100-sxm")),
                                                                        {"sram_mib_per_engine": 0.01}))


def test_h200_profile_error() -> None:
    """The README's figures: anchored on one shape (the largest bf16), ≥ 85 % of the other
    tensor-core shapes within 15 % and median ≤ 5 %; at the catalog's MAMF level, median ≤ 15 %."""
    prof = read_yaml(PROFILE, "profile")
    chip = get_chip("h200")
    sus, checks = check_profile(prof, chip, anchor=("bf16", 12288, 12288, 12288))
    errs = np.abs([c.rel_error for c in checks])
    assert len(checks) == 56 and 0.6 < sus < 0.8
    assert np.median(errs) <= 0.05 and np.mean(errs <= 0.15) >= 0.85
    _, checks = check_profile(prof, chip)
    assert np.median(np.abs([c.rel_error for c in checks])) <= 0.15
