"""The seed's serving and post-training questions, one CLI command each (issue 12):

1. How many chips serve a 1T model to a stated demand at a stated latency, on Trainium2 vs
   H100 vs TPU v5p (and B200)?
       gigatrain infer-compare --model megatron-gpt-1t --chip trn2 --chip h100-sxm \
           --chip tpu-v5p --chip b200 --input-len 1024 --output-len 1024 --ttft 2s \
           --tpot 50ms --requests-per-s 100
2. How many days and dollars does an RL (GRPO) fine-tuning run of a 70B model take on 1,024
   chips?
       gigatrain rl --model llama-3.1-70b --chip h100-sxm --chips 1024 --prompts 512 \
           --samples 16 --response-len 2048 --steps 1000

This script runs the same library calls and prints both answers with their wall time:
``python benchmarks/serving_questions.py``.
"""

from __future__ import annotations

import time

from gigatrain.catalog.hardware import default_system_for, get_chip
from gigatrain.catalog.models import get_model
from gigatrain.catalog.prices import choose_price
from gigatrain.errors import GigatrainError
from gigatrain.posttrain import FinetuneSpec, RLSpec, best_finetune_plan, rl_estimate
from gigatrain.serving.deploy import Request
from gigatrain.serving.search import ServingTargets, search_serving
from gigatrain.specs import Job


def _price(chip: str) -> float | None:
    try:
        return choose_price(chip, "on_demand").value
    except GigatrainError:
        return None


def serve_1t() -> None:
    model = get_model("megatron-gpt-1t")
    targets = ServingTargets(ttft_s=2.0, tpot_s=0.05, requests_per_s=100.0)
    print("Q1: megatron-gpt-1t, 1,024 in / 1,024 out, TTFT ≤ 2 s, TPOT ≤ 50 ms, 100 requests/s")
    for chip in ("trn2", "h100-sxm", "tpu-v5p", "b200"):
        system = default_system_for(get_chip(chip))
        t0 = time.perf_counter()
        native = tuple(
            d for d in ("bf16", "fp8", "fp4") if d == "bf16" or system.chip.peak_flops_per_s.get(d)
        )
        res = search_serving(
            model,
            system,
            Request(1024, 1024),
            targets,
            precisions=native,
            usd_per_chip_hour=_price(system.chip.slug),
        )
        dt = time.perf_counter() - t0
        b, f = res.best, res.fleet
        if b is None or f is None:
            print(f"  {chip:9s} {res.diagnosis}")
            continue
        usd = f"${f.usd_per_hour:,.0f}/h" if f.usd_per_hour else "no price"
        print(
            f"  {chip:9s} {b.deployment.describe():40s} {f.chips:>7,} chips  {usd:>12s}  "
            f"{b.output_tokens_per_s_per_chip:7.1f} tok/s/chip  ({res.candidates:,} layouts, {dt * 1e3:.0f} ms)"
        )


def rl_70b() -> None:
    model = get_model("llama-3.1-70b")
    system = default_system_for(get_chip("h100-sxm"))
    spec = RLSpec(prompts_per_step=512, samples_per_prompt=16, prompt_len=512, response_len=2048)
    job = Job(seq_len=2560, global_batch_seqs=spec.sequences)
    t0 = time.perf_counter()
    plan = best_finetune_plan(model, system, job, 1024, FinetuneSpec(method="full")).plan
    e = rl_estimate(
        model, system, 1024, spec, plan, job, steps=1000, usd_per_chip_hour=_price("h100-sxm")
    )
    dt = time.perf_counter() - t0
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in e.time_s.items())
    print(
        "Q2: GRPO on llama-3.1-70b, 1,024 H100, 512 prompts × 16 samples × 2,048 tokens, 1,000 steps"
    )
    print(
        f"  step {e.step_time_s:.1f} s ({parts}); rollout {e.rollout_share:.0%}, train {e.train_share:.0%}"
    )
    print(f"  {e.days:.2f} days, ${e.cost_usd:,.0f} (training plan {plan.describe()}; {dt:.1f} s)")


if __name__ == "__main__":
    serve_1t()
    rl_70b()
