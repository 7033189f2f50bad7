"""Post-training: LoRA parameter identities, LoRA/QLoRA memory and time vs full SFT, RL step."""

from __future__ import annotations

import math

import pytest

from gigatrain.catalog.hardware import get_system
from gigatrain.catalog.models import get_model
from gigatrain.errors import GigatrainError
from gigatrain.posttrain import FinetuneSpec, RLSpec, finetune_estimate, lora_params, rl_estimate
from gigatrain.specs import Job, Plan


def test_lora_param_counts_match_peft() -> None:
    # PEFT prints 41,943,040 trainable params for Llama-3-8B, r=16, all linear layers
    assert lora_params(get_model("llama-3.1-8b"), 16, "all") == 41_943_040
    # r=8 on q,k,v,o only: 32 layers × 8 × ((4096+4096) + 2(4096+1024) + (4096+4096))
    assert lora_params(get_model("llama-3.1-8b"), 8, "attention") == 32 * 8 * (
        8192 + 2 * 5120 + 8192
    )


@pytest.fixture(scope="module")
def trio() -> dict:
    m, s = get_model("llama-3.1-70b"), get_system("h100-sxm")
    job = Job(seq_len=4096, global_batch_seqs=32, precision="bf16")
    plan = Plan(tp=4, pp=2, dp=1, micro_batch=1, zero_stage=1)
    return {
        k: finetune_estimate(m, s, job, plan, FinetuneSpec(method=k))
        for k in ("full", "lora", "qlora")
    }


def test_lora_and_qlora_save_memory(trio: dict) -> None:
    full, lora, qlora = trio["full"], trio["lora"], trio["qlora"]
    assert (
        lora.memory_breakdown["memory/optimizer"] < full.memory_breakdown["memory/optimizer"] / 100
    )
    assert qlora.memory_breakdown["memory/weights"] == pytest.approx(
        lora.memory_breakdown["memory/weights"] * 4.127 / 16
    )
    assert full.memory_bytes > lora.memory_bytes > qlora.memory_bytes
    assert lora.trainable_params < full.trainable_params / 100


def test_lora_faster_than_full_and_qlora_slower_than_lora(trio: dict) -> None:
    full, lora, qlora = trio["full"], trio["lora"], trio["qlora"]
    assert lora.step_time_s < full.step_time_s
    assert qlora.step_time_s > lora.step_time_s
    for e in trio.values():
        assert math.isfinite(e.step_time_s) and e.step_time_s > 0
        assert all(v >= 0 for v in e.time_breakdown.values())
        assert sum(e.time_breakdown.values()) == pytest.approx(e.step_time_s)


def test_rl_step_parts_and_placement() -> None:
    m, s = get_model("llama-3.1-8b"), get_system("h100-sxm")
    job = Job(seq_len=1536, global_batch_seqs=512)
    spec = RLSpec(
        prompts_per_step=64, samples_per_prompt=8, prompt_len=512, response_len=1024, gen_tp=1
    )
    colo = rl_estimate(m, s, 16, spec, Plan(tp=1, dp=16), job, steps=100, usd_per_chip_hour=2.0)
    assert set(colo.time_s) == {"rollout", "logprobs", "train", "weight_sync"}
    assert colo.step_time_s == pytest.approx(sum(colo.time_s.values()))
    assert (
        colo.days
        and colo.cost_usd
        and colo.cost_usd == pytest.approx(100 * colo.step_time_s / 3600 * 16 * 2.0)
    )
    from dataclasses import replace

    dis = rl_estimate(
        m,
        s,
        16,
        replace(spec, placement="disaggregated", off_policy_steps=1),
        Plan(tp=1, dp=8),
        job,
    )
    assert dis.step_time_s < sum(dis.time_s.values())  # generation overlaps training
    ppo = rl_estimate(m, s, 16, replace(spec, algorithm="ppo"), Plan(tp=1, dp=16), job)
    assert ppo.time_s["train"] > colo.time_s["train"]


def test_rl_bad_input() -> None:
    m, s = get_model("llama-3.1-70b"), get_system("h100-sxm")
    with pytest.raises(GigatrainError, match="does not fit for generation at gen_tp=1"):
        rl_estimate(
            m, s, 16, RLSpec(gen_tp=1), Plan(tp=8, dp=2), Job(seq_len=1536, global_batch_seqs=512)
        )
    with pytest.raises(GigatrainError, match="training plan uses 8 chips but 16 train"):
        rl_estimate(m, s, 16, RLSpec(), Plan(tp=8, dp=1), Job(seq_len=1536, global_batch_seqs=512))
    with pytest.raises(GigatrainError, match="lora_rank=0"):
        lora_params(m, 0)


def test_posttrain_validation_bars() -> None:
    """Regression bars on the shipped post-training runs (README figures): SFT/LoRA throughput
        (NeMo, Megatron-Bridge, Automodel) median ≤ 16% (measured 15.3%; Automodel rows use the
        torchtitan profile as a proxy); RL step time median ≤ 14% (measured 12.4%
    with the fitted refit rate; the issue's bar is 20%)."""
    from gigatrain.validate.serving_posttrain import score_posttrain, summarize_posttrain

    res = score_posttrain()
    g = summarize_posttrain(res)["groups"]
    sft = [
        abs(r.rel_error) for r in res if r.rel_error is not None and r.source.startswith("nvidia_")
    ]
    assert len(sft) >= 15
    import numpy as np

    assert float(np.median(sft)) <= 0.16
    assert g["nemo_rl_perf_summary|step_time_s"]["median_abs_error"] <= 0.14
    assert g["nemo_rl_perf_summary|tokens_per_s_per_chip"]["median_abs_error"] <= 0.19
    assert g["nemo_rl_perf_summary|step_time_s"]["rows"] >= 30
