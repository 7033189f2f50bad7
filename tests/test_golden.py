"""Golden figures computed by hand from the papers' formulas: a change to a formula in the
model shows up here as a diff, not only as a drift in fitted accuracy.

* Korthikanti et al. 2022 (arXiv:2205.05198) Table 2: a GPT layer stores s·b·h·(34 + 5·a·s/h)
  bytes of 2-byte activations without recompute; tensor + sequence parallelism divide all of it
  by t. Of the 34: attention 11 (QKV input 2, Q and K 4, V 2, projection input 2, attention
  dropout mask 1), MLP 19 (input 2, GELU input 8, GELU output 8, dropout mask 1), two
  LayerNorm inputs 4. FlashAttention stores no s×s scores (the 5·a·s/h term) and LLM training
  runs without dropout (the two masks), leaving 32·s·b·h per layer.
* Mixed-precision Adam (Rajbhandari et al. 2020, ZeRO §3): 2 bytes of bf16 weights, 4 of fp32
  gradients (the job's default grad dtype: Megatron-Core's fp32 ``main_grad`` buffers) and 12 of
  fp32 master weights + two moments per parameter; ZeRO-1 divides the 12 by the data-parallel
  degree.
* Ring all-reduce (Patarasuk & Yuan 2009; NCCL's busbw convention): each rank moves
  2·(n−1)/n·S bytes, so time = 2·(n−1)/n·S / B (+ latency terms).
"""

from __future__ import annotations

import numpy as np
import pytest

from gigatrain.api import make_job, make_plan
from gigatrain.catalog.models import get_model
from gigatrain.knobs import DEFAULT_KNOBS
from gigatrain.model.memory import activation_bytes, state_bytes
from gigatrain.model.placement import stage_split
from gigatrain.model.plans import PlanArrays
from gigatrain.model.step import BASE_LATENCY_S, Link, collective_time
from gigatrain.model.workload import layer_costs, params_total

GIB = 2**30


def test_gpt_layer_activations_are_korthikanti_minus_flash_attention_and_dropout() -> None:
    m = get_model("gpt3-175b")  # MHA, 4h GELU MLP: the layer Korthikanti's Table 2 counts
    h = m.hidden_size
    dense = layer_costs(m)[0]
    assert dense.act_bytes_per_token == (34 - 2) * h  # 393,216 bytes per token per layer


def test_gpt3_175b_tp8_sp_activations_hand_computed() -> None:
    """GPT-3 175B, TP8 + SP, PP1, micro-batch 1, seq 2048, no recompute: 96 layers ×
    32·2048·12,288/8 bytes = 9,663,676,416 bytes = 9.0 GiB on the rank; Megatron-Core's default
    selective recompute (core attention only) keeps the same under FlashAttention."""
    m = get_model("gpt3-175b")
    job = make_job(2048, 8, 0.0, "bf16", "megatron")
    hand = 96 * 32 * 2048 * 12_288 / 8
    assert hand == 9_663_676_416
    for rc in ("none", "selective"):
        p = PlanArrays.from_plans([make_plan(8, tp=8, micro_batch=1, recompute=rc)])
        acts = activation_bytes(m, job, p, DEFAULT_KNOBS, stage_split(m, job, p, DEFAULT_KNOBS))
        assert acts["first"][0] == pytest.approx(hand, rel=1e-12), rc
    # logits: s·b·V/t values at logit_bytes each (bf16 logits + fp32 softmax copy = 6 B)
    assert acts["logits"][0] == 2048 * m.vocab_size / 8 * DEFAULT_KNOBS.logit_bytes


def test_unfused_attention_stores_korthikantis_score_term_unless_recomputed() -> None:
    """Without FlashAttention a layer also stores 5·a·s²·b bytes of scores (softmax output,
    dropout mask, dropout output; Korthikanti et al. 2022 Table 2's 5·a·s/h term), divided by t:
    GPT-3 175B, TP8 + SP, micro-batch 1, seq 2048: 96 × 5·96·2048²/8 = 24,159,191,040 bytes more
    than the 9,663,676,416 of the FlashAttention case. Selective recompute (core attention)
    exists to drop exactly these, so it keeps the FlashAttention figure."""
    m = get_model("gpt3-175b")
    job = make_job(2048, 8, 0.0, "bf16", "megatron")
    unfused = DEFAULT_KNOBS.with_(flash_attention=0.0)
    scores = 96 * 5 * 96 * 2048 * 2048 / 8
    assert scores == 24_159_191_040
    expected = {"none": 9_663_676_416 + scores, "selective": 9_663_676_416}
    for rc, hand in expected.items():
        p = PlanArrays.from_plans([make_plan(8, tp=8, micro_batch=1, recompute=rc)])
        acts = activation_bytes(m, job, p, unfused, stage_split(m, job, p, unfused))
        assert acts["first"][0] == pytest.approx(hand, rel=1e-12), rc


def test_selective_recompute_reruns_unfused_attention_only() -> None:
    """Selective recompute (Korthikanti et al. 2022 §5) re-runs core attention in the backward.
    FlashAttention's backward recomputes QKᵀ anyway, so it costs nothing more; unfused
    attention runs its forward again: (1 + 2.5 + 1)/(1 + 2.5) of the attention FLOPs, and the
    score traffic of 4 passes instead of 3."""
    from gigatrain.catalog.hardware import load_systems
    from gigatrain.model.estimate import evaluate

    m = get_model("gpt3-175b")
    sys_ = load_systems()["hgx-a100"]
    job = make_job(2048, 64, 0.0, "bf16", "megatron")
    p = PlanArrays.from_plans(
        [make_plan(8, tp=8, micro_batch=1, recompute=rc) for rc in ("none", "selective")]
    )
    for fa, ratio in ((1.0, 1.0), (0.0, 4.5 / 3.5)):
        k = DEFAULT_KNOBS.with_(flash_attention=fa)
        attn = evaluate(m, sys_, job, p, k)["time/compute/attention"]
        assert attn[1] / attn[0] == pytest.approx(ratio, rel=1e-12), fa


def test_mixed_precision_adam_zero1_bytes_per_parameter() -> None:
    """Llama 3.1 8B (8,030,261,248 parameters) on 8 ranks, TP1 PP1, ZeRO-1: weights 2 B,
    gradients 4 B, optimizer 12/8 B per parameter = 7.5 B × 8.03e9 = 60,226,959,360 bytes."""
    m = get_model("llama-3.1-8b")
    job = make_job(4096, 8, 0.0, "bf16", "megatron")
    p = PlanArrays.from_plans([make_plan(8, zero_stage=1)])
    n = params_total(m)
    st = state_bytes(m, job, p, np.array([float(n)]), np.array([0.0]))
    assert st["memory/weights"][0] == 2 * n
    assert st["memory/gradients"][0] == 4 * n
    assert st["memory/optimizer"][0] == 12 * n / 8
    assert sum(v[0] for v in st.values()) == 60_226_959_360


def test_ring_allreduce_time() -> None:
    """1 GiB over 8 ranks at 100 GB/s, no latency, no in-network reduction:
    2·7/8·2^30 / 1e11 = 18.79 ms, plus NCCL's base latency."""
    link = Link(
        bw=np.array([100e9]), lat=np.array([0.0]), half=np.array([0.0]), inr=np.array([False])
    )
    t = collective_time("allreduce", np.array([float(GIB)]), np.array([8.0]), link)
    assert t[0] == pytest.approx(2 * 7 / 8 * GIB / 100e9 + BASE_LATENCY_S, rel=1e-12)
    assert t[0] - BASE_LATENCY_S == pytest.approx(0.018790, abs=1e-6)  # the hand figure
    # all-gather and reduce-scatter move half of it
    t_ag = collective_time("allgather", np.array([float(GIB)]), np.array([8.0]), link)
    assert t_ag[0] == pytest.approx(7 / 8 * GIB / 100e9 + BASE_LATENCY_S, rel=1e-12)


def test_flat_ring_allgather_latency_by_hand() -> None:
    """An 8-byte all-gather over 1,536 A100s (192 nodes of 8): NCCL's ring takes n−1 = 1,535
    steps, 191 of them crossing nodes. Simple: 8.4 + 191·14 + 1,344·3.4 µs = 7,259.4 µs; LL128
    (14 + 191·4.0 + 1,344·1.9 µs = 3,331.6 µs) is what NCCL would pick, plus the mid-size
    bandwidth floor (S + S_half)/bw = 32 MB / 180 GB/s / (120/128) = 189.6 µs. Hierarchical
    libraries (TPU, Neuron) keep the log-step figure."""
    from gigatrain.catalog.hardware import load_systems
    from gigatrain.model.step import link_for

    systems = load_systems()
    n = np.array([1536.0])
    link = link_for(systems["hgx-a100"], n)
    t = collective_time("allgather", np.array([8.0]), n, link)
    floor_us = 1535 / 1536 * (8 + 32e6) / 180e9 / (120 / 128) * 1e6
    assert t[0] * 1e6 == pytest.approx(14 + 191 * 4.0 + 1344 * 1.9 + floor_us, rel=1e-3)
    # an all-reduce still uses NCCL's tree: 2·⌈log₂ n⌉ = 22 steps per phase
    t_ar = collective_time("allreduce", np.array([8.0]), n, link)
    assert t_ar[0] * 1e6 == pytest.approx(8.4 + 2 * 22 * 14 + 2 * floor_us * 120 / 128, rel=1e-2)
    tpu = link_for(systems["tpu-v4"], np.array([512.0]))
    t_tpu = collective_time("allgather", np.array([8.0]), np.array([512.0]), tpu)
    assert t_tpu[0] * 1e6 < 50  # per-axis rings: far fewer than 511 hops


def test_pareto_front_by_hand() -> None:
    """(1,3) (2,2) (3,1) are the front; (2,3) is beaten by (2,2); (4,4) by all; a NaN never
    qualifies; exact duplicates keep the first unless ties are kept."""
    from gigatrain.pareto import pareto_front

    x = np.array([1, 2, 3, 2, 4, np.nan, 2])
    y = np.array([3, 2, 1, 3, 4, 0, 2])
    assert pareto_front(x, y).tolist() == [0, 1, 2]
    assert pareto_front(x, y, keep_ties=True).tolist() == [0, 1, 6, 2]


def test_profile_applies_only_on_the_vendors_it_was_fitted_on() -> None:
    """A framework profile fitted on NVIDIA runs only (megatron) is not carried to TPUs: there
    the generic profile applies; on NVIDIA chips its own fit does."""
    from gigatrain.catalog.frameworks import fitted_on_vendor, get_framework, knobs_for

    assert get_framework("megatron").fitted["vendors"] == ["NVIDIA"]
    assert fitted_on_vendor("megatron", "NVIDIA") and not fitted_on_vendor("megatron", "Google")
    assert knobs_for("megatron", "NVIDIA") == get_framework("megatron").knobs
    generic = get_framework("generic")
    on_tpu = knobs_for("megatron", "Google")
    for name in generic.fitted["knobs"]:
        assert getattr(on_tpu, name) == getattr(generic.knobs, name)
    assert knobs_for("megatron") == get_framework("megatron").knobs


def test_a_framework_keeps_its_catalog_semantics_where_the_generic_fit_applies() -> None:
    """Megatron-DeepSpeed on TPUs takes the generic profile's fitted speed, but still runs its
    unfused softmax attention and DeepSpeed's ZeRO-3 prefetch buckets: the catalog states those
    about the framework, no measurement does; LOSO's fallback does the same."""
    from gigatrain.catalog.frameworks import get_framework, knobs_for
    from gigatrain.validate.fit import FITTED_KNOBS, semantics_with

    generic = get_framework("generic").knobs
    for knobs in (
        knobs_for("megatron-deepspeed", "Google"),
        semantics_with("megatron-deepspeed", generic),
    ):
        assert knobs.flash_attention == 0.0 and knobs.fsdp_gather_per_layer == 0.0
        assert all(getattr(knobs, k) == getattr(generic, k) for k in FITTED_KNOBS)


@pytest.mark.parametrize(
    ("system", "fraction"), [("hgx-h100", 0.338), ("hgx-a100", 0.655), ("hgx-b200", None)]
)
def test_flash_attention_2_runs_at_the_chips_measured_rate(system: str, fraction: float) -> None:
    """With ``attention_kernel_fa2`` attention runs at the chip's measured FA2 rate: 34% of H100
    peak (FA3 paper Figs 5–6: fwd 370, bwd 322 TFLOP/s), 66% of A100's (FA2 paper: fwd 73%,
    bwd 63%); a chip with no FA2 measurement keeps ratio × GEMM efficiency."""
    from gigatrain.catalog.hardware import load_systems
    from gigatrain.model.estimate import evaluate

    sys_ = load_systems()[system]
    model = get_model("llama-3.1-8b")
    job = make_job(8192, 8, 0.0, "bf16", "torchtitan")
    p = PlanArrays.from_plans([make_plan(8)])
    knobs = DEFAULT_KNOBS.with_(compute_time_scale=1.0)
    base = evaluate(model, sys_, job, p, knobs)["time/compute/attention"][0]
    fa2 = evaluate(model, sys_, job, p, knobs.with_(attention_kernel_fa2=1.0))[
        "time/compute/attention"
    ][0]
    ratio_rate = sys_.chip.matmul_efficiency * knobs.attention_efficiency_ratio
    expected = base if fraction is None else base * ratio_rate / fraction
    assert fa2 == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("system", "gain"),
    [("hgx-h100", 1.0), ("hgx-h100-hbm2e", 0.78 / 0.69 / (0.709 / 0.803)), ("trn2", 1.0)],
)
def test_fp8_gemms_run_at_the_chips_measured_fp8_efficiency(system: str, gain: float) -> None:
    """fp8 GEMMs reach the chip's own fp8 MAMF where it was measured: the H100 SXM's 70.9 % is
    the reference ratio (fp8/bf16 = 70.9/80.3) the ``fp8_efficiency_ratio`` knob assumes, so its
    time stays as it was; Meta's 500 W H100 variant runs fp8 at 0.78 of peak against bf16's
    0.69 ([TAO-dt]), 0.78 / (0.69 · 0.883) = 1.28× faster than the reference ratio predicts;
    a chip with no fp8 measurement keeps the reference ratio."""
    from dataclasses import replace

    from gigatrain.catalog.hardware import load_systems
    from gigatrain.model.estimate import evaluate

    sys_ = load_systems()[system]
    unmeasured = replace(sys_, chip=replace(sys_.chip, fp8_matmul_efficiency=0.0))
    model = get_model("llama-3.1-8b")
    job = make_job(8192, 8, 0.0, "fp8", "torchtitan")
    p = PlanArrays.from_plans([make_plan(8)])
    t = [evaluate(model, s, job, p)["time/compute/matmul"][0] for s in (sys_, unmeasured)]
    assert t[1] / t[0] == pytest.approx(gain, rel=1e-9)
    # and the bf16 GEMMs of the same job never see the fp8 figure
    bf16 = make_job(8192, 8, 0.0, "bf16", "torchtitan")
    t16 = [evaluate(model, s, bf16, p)["time/compute/matmul"][0] for s in (sys_, unmeasured)]
    assert t16[0] == t16[1]


@pytest.mark.parametrize(
    ("framework", "fa2"),
    [("torchtitan", 1.0), ("nanotron", 1.0), ("pytorch-fsdp", 1.0), ("megatron", 0.0)],
)
def test_frameworks_that_ship_flash_attention_2_say_so(framework: str, fa2: float) -> None:
    """torchtitan (SDPA's FA2 backend), nanotron and llm-foundry (the flash-attn 2.x package;
    the 2023 MPT benchmarks predate FlashAttention-3) run FA2; Megatron-Core runs cuDNN/TE."""
    from gigatrain.catalog.frameworks import knobs_for

    assert knobs_for(framework, "NVIDIA").attention_kernel_fa2 == fa2


def test_tied_embedding_gradient_all_reduce_between_first_and_last_stage() -> None:
    """With tied input/output embeddings and pp > 1 the first and last stage all-reduce the
    word-embedding gradient every step (Megatron's _allreduce_word_embedding_grads): a 2-rank
    all-reduce of V·h/t fp32 values, exposed. GPT-3 175B, tp 8 pp 2 dp 1 on 16 H100: 50,257 ×
    12,288 / 8 × 4 B = 308.8 MB between the two nodes; untied, nothing."""
    from dataclasses import replace

    from gigatrain.catalog.hardware import load_systems
    from gigatrain.model.estimate import evaluate
    from gigatrain.model.step import link_for

    system = load_systems()["hgx-h100"]
    model = get_model("gpt3-175b")
    job = make_job(2048, 16, 0.0, "bf16", "megatron")
    p = PlanArrays.from_plans([make_plan(16, tp=8, pp=2, micro_batch=1)])
    tied = evaluate(model, system, job, p, DEFAULT_KNOBS)["time/comm/dp"][0]
    untied = evaluate(replace(model, tied_embeddings=False), system, job, p, DEFAULT_KNOBS)
    size = model.vocab_size * model.hidden_size / 8 * DEFAULT_KNOBS.gradient_reduce_bytes
    assert size == pytest.approx(308.78e6, rel=1e-4)
    link = link_for(system, np.array([2.0]), 8, point_to_point=True)
    hand = collective_time("allreduce", np.array([size]), np.array([2.0]), link)[0]
    assert untied["time/comm/dp"][0] == 0.0
    assert tied == pytest.approx(hand, rel=1e-9)
