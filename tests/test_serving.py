"""Serving model: KV-cache identities, roofline behaviour, array/scalar equivalence, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gigatrain.catalog.hardware import get_system
from gigatrain.catalog.models import get_model
from gigatrain.errors import GigatrainError
from gigatrain.serving import Deployment, Request, estimate_serving
from gigatrain.serving.deploy import to_arrays
from gigatrain.serving.knobs import DEFAULT_SERVING_KNOBS
from gigatrain.serving.kv import kv_bytes_per_token, served_model
from gigatrain.serving.perf import evaluate


def test_kv_bytes_gqa_and_mla_identities() -> None:
    # Llama 3.1 70B: 80 layers × 2 (K,V) × 8 KV heads × 128 × 2 bytes = 327,680 B (vLLM prints 320 KiB)
    assert kv_bytes_per_token(get_model("llama-3.1-70b"), 2.0) == 80 * 2 * 8 * 128 * 2
    # DeepSeek-V3 MLA: 61 layers × (512 latent + 64 RoPE) × 2 bytes = 70,272 B
    assert kv_bytes_per_token(get_model("deepseek-v3"), 2.0) == 61 * 576 * 2
    # fp8 halves it
    assert kv_bytes_per_token(get_model("llama-3.1-8b"), 1.0) * 2 == kv_bytes_per_token(
        get_model("llama-3.1-8b"), 2.0
    )


def _est(model: str = "llama-3.1-70b", chip: str = "h100-sxm", **kw: object):
    req = Request(int(kw.pop("input_len", 1024)), int(kw.pop("output_len", 1024)))  # type: ignore[call-overload]
    return estimate_serving(
        get_model(model), get_system(chip), Deployment(**kw), req, usd_per_chip_hour=3.0
    )  # type: ignore[arg-type]


def test_decode_is_bandwidth_bound_at_batch_one() -> None:
    e = _est(tp=8, weight_dtype="bf16", concurrency=1)
    # 70.6 B params × 2 bytes / 8 chips at 3.35 TB/s: the weight read sets TPOT (≥ 5 ms)
    floor_s = 70.6e9 * 2 / 8 / 3.35e12
    assert e.tpot_s > floor_s
    assert e.time_s["decode/gemm_s"] > e.time_s["decode/attention_s"]
    assert e.fits and e.max_concurrency > 100


def test_throughput_grows_and_interactivity_falls_with_concurrency() -> None:
    prev = None
    for c in (1, 8, 64, 256):
        e = _est(tp=8, weight_dtype="fp8", kv_dtype="fp8", concurrency=c)
        if prev is not None:
            assert e.output_tokens_per_s_per_chip > prev.output_tokens_per_s_per_chip
            assert e.tokens_per_s_per_user < prev.tokens_per_s_per_user
        prev = e


def test_fp8_weights_halve_weight_memory_and_speed_up_decode() -> None:
    a, b = _est(tp=4, weight_dtype="bf16"), _est(tp=4, weight_dtype="fp8")
    assert b.memory_bytes_per_chip["weights"] == pytest.approx(
        a.memory_bytes_per_chip["weights"] / 2, rel=0.01
    )
    assert b.tpot_s < a.tpot_s


def test_fused_engine_launches_fewer_kernels_per_layer() -> None:
    # TensorRT-LLM fuses norms/RoPE/activation: 3 non-GEMM kernels per layer instead of 6
    a, b = _est(tp=8, concurrency=4), _est(tp=8, concurrency=4, fused_kernels=True)
    k = DEFAULT_SERVING_KNOBS
    layers = get_model("llama-3.1-70b").num_layers
    saved = (
        layers
        * (k.kernels_per_layer - k.fused_kernels_per_layer)
        * get_system("h100-sxm").chip.kernel_overhead_s
    )
    assert a.time_s["decode/kernels_s"] - b.time_s["decode/kernels_s"] == pytest.approx(
        saved, rel=1e-6
    )
    assert b.tpot_s < a.tpot_s and b.time_s["decode/gemm_s"] == a.time_s["decode/gemm_s"]


def test_mla_kv_replicated_under_tp_but_not_with_dp_attention() -> None:
    tp = _est("deepseek-v3", "h200", tp=8, ep=8, weight_dtype="fp8", concurrency=64)
    dpa = _est(
        "deepseek-v3", "h200", tp=8, ep=8, dp_attention=True, weight_dtype="fp8", concurrency=64
    )
    assert tp.memory_bytes_per_chip["kv_cache"] == pytest.approx(
        8 * dpa.memory_bytes_per_chip["kv_cache"]
    )
    assert dpa.max_concurrency > tp.max_concurrency


def test_too_big_does_not_fit() -> None:
    e = _est("llama-3.1-405b", "h100-sxm", tp=1, concurrency=1)
    assert not e.fits and e.max_concurrency == 0 and any("does not fit" in n for n in e.notes)


def test_speculative_decoding_lowers_tpot() -> None:
    base = _est(tp=8, weight_dtype="fp8", concurrency=4)
    spec = _est(tp=8, weight_dtype="fp8", concurrency=4, spec_tokens=2)
    assert spec.tpot_s < base.tpot_s
    assert spec.tokens_per_step > 1.5


def test_disaggregated_prefill_removes_interference() -> None:
    colo = _est(tp=8, weight_dtype="fp8", concurrency=256, input_len=8192, output_len=512)
    dis = _est(
        tp=8,
        weight_dtype="fp8",
        concurrency=256,
        input_len=8192,
        output_len=512,
        prefill_chips=8,
        prefill_tp=8,
    )
    assert dis.tpot_s < colo.tpot_s
    assert dis.time_s["prefill_interference_s"] == 0.0 and colo.time_s["prefill_interference_s"] > 0
    assert dis.replica_chips == 16


def test_outputs_finite_and_costs_split() -> None:
    e = _est(tp=8, weight_dtype="fp8", concurrency=32)
    d = e.to_dict()
    for k, v in d.items():
        if isinstance(v, float):
            assert math.isfinite(v) and v >= 0, k
    assert e.usd_per_m_output_tokens and e.usd_per_m_input_tokens
    assert e.usd_per_m_output_tokens > e.usd_per_m_input_tokens  # decode dominates the chip time
    assert e.joules_per_output_token and e.joules_per_output_token > 0


def test_array_rows_equal_single_estimates() -> None:
    m, sysm = get_model("mixtral-8x7b"), get_system("h100-sxm")
    deps = [
        Deployment(tp=t, ep=e, weight_dtype="fp8", concurrency=c)
        for t, e, c in ((2, 1, 8), (4, 2, 64), (8, 8, 16))
    ]
    reqs = [Request(2048, 256)] * 3
    r = evaluate(
        served_model(m),
        sysm,
        to_arrays(deps, reqs, sysm.chip.peak_flops_per_s),
        DEFAULT_SERVING_KNOBS,
    )
    for i, d in enumerate(deps):
        e = estimate_serving(m, sysm, d, reqs[i])
        assert np.isclose(r["tpot_s"][i], e.tpot_s) and np.isclose(r["ttft_s"][i], e.ttft_s)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"tp": 6}, "tp=6 does not divide 64 attention heads"),
        ({"ep": 2}, "ep=2 needs a mixture-of-experts model"),
        ({"weight_dtype": "int3"}, "weight_dtype='int3' is not a serving precision"),
        ({"concurrency": 0}, "concurrency must be a positive integer"),
        ({"tp": 8, "prefill_chips": 6, "prefill_tp": 4}, "prefill_chips=6 is not a multiple"),
    ],
)
def test_bad_input_one_line(kw: dict, match: str) -> None:
    with pytest.raises(GigatrainError, match=match):
        _est(**kw)


def test_bad_lengths() -> None:
    with pytest.raises(GigatrainError, match="input-len must be an integer"):
        _est(tp=8, input_len=0)


def test_every_catalog_model_searches_cleanly() -> None:
    """Smoke run of every catalog model (DESIGN.md principle 9): a search returns finite,
    non-negative numbers or a diagnosis, never an exception or NaN."""
    import warnings

    from gigatrain.catalog.models import load_models
    from gigatrain.serving.search import ServingTargets, search_serving

    system = get_system("h100-sxm")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for slug, m in load_models().items():
            r = search_serving(
                m, system, Request(2048, 512), ServingTargets(2.0, 0.1, 10.0), usd_per_chip_hour=2.0
            )
            assert r.best is not None or r.diagnosis, slug
            if r.best is not None:
                for k, v in r.best.to_dict().items():
                    if isinstance(v, float):
                        assert math.isfinite(v) and v >= 0, (slug, k)
