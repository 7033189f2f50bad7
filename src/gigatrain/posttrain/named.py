"""Fine-tuning and RL by name: what ``gigatrain finetune`` / ``gigatrain rl``, the JSON API
(``/api/finetune``, ``/api/rl``) and the report share (re-exported by :mod:`gigatrain.api`).

Steps: resolve model and the chip's default system, build the job (``api.make_job``), take the
given layout or search one (:func:`best_finetune_plan`), price it at the catalog (or given)
chip-hour rate: cost = days × 24 h × chips × USD per chip-hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..catalog.hardware import default_system_for, get_chip
from ..catalog.models import get_model
from ..errors import GigatrainError
from ..inputs import MAX_CHIPS, make_job
from ..serving.named import price_for
from ..specs import Plan
from .finetune import METHODS, FinetuneEstimate, FinetuneSpec, best_finetune_plan
from .rl import RLEstimate, RLSpec, _check, rl_estimate


def _positive(field: str, v: int, maximum: int = 100_000_000) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1 or v > maximum:
        raise GigatrainError(f"{field} must be an integer in 1..{maximum:,}, got {v!r}")


def plan_or_none(
    tp: int | None,
    pp: int | None,
    dp: int | None,
    chips: int,
    micro_batch: int = 1,
    zero: int = 1,
    recompute: str = "selective",
) -> Plan | None:
    """The plan given by ``tp``/``pp``/``dp`` (``None`` when none is given: searched)."""
    if tp is None and pp is None and dp is None:
        return None
    tp, pp = tp or 1, pp or 1
    if chips % (tp * pp):
        raise GigatrainError(f"tp={tp} × pp={pp} does not divide {chips} chips")
    return Plan(
        tp=tp,
        pp=pp,
        dp=dp or chips // (tp * pp),
        micro_batch=micro_batch,
        zero_stage=zero,
        recompute=recompute,  # type: ignore[arg-type]
        sequence_parallel=tp > 1,
    )  # type: ignore[arg-type]


@dataclass(frozen=True)
class FinetuneRun:
    """A fine-tuning estimate with its price: ``cost_usd = days × 24 × chips × usd_per_chip_hour``."""

    estimate: FinetuneEstimate
    tokens: float
    usd_per_chip_hour: float | None
    price: str
    cost_usd: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.estimate.to_dict(),
            "tokens": self.tokens,
            "usd_per_chip_hour": self.usd_per_chip_hour,
            "price": self.price,
            "cost_usd": self.cost_usd,
        }


def finetune_named(
    model: str,
    chip: str,
    chips: int,
    *,
    method: str = "lora",
    lora_rank: int = 16,
    lora_targets: str = "all",
    seq: int = 4096,
    global_batch: int = 64,
    tokens: float = 0.0,
    precision: str = "bf16",
    tp: int | None = None,
    pp: int | None = None,
    dp: int | None = None,
    micro_batch: int = 1,
    zero: int = 1,
    recompute: str = "selective",
    framework: str = "megatron",
    pricing: str = "on_demand",
    usd_per_chip_hour: float | None = None,
) -> FinetuneRun:
    """Full SFT, LoRA or QLoRA of ``model`` on ``chips`` × ``chip``: memory per chip, step time,
    days for ``tokens`` and their cost."""
    if method not in METHODS:
        raise GigatrainError(f"method={method!r}; valid: {', '.join(METHODS)}")
    if lora_targets not in ("attention", "all"):
        raise GigatrainError(f"lora_targets={lora_targets!r}; valid: attention, all")
    _positive("chips", chips, MAX_CHIPS)
    _positive("lora_rank", lora_rank, 65536)
    _positive("micro_batch", micro_batch, 1_000_000)
    if zero not in (0, 1, 2, 3):
        raise GigatrainError(f"zero={zero!r}; valid: 0, 1, 2, 3")
    if recompute not in ("none", "selective", "full"):
        raise GigatrainError(f"recompute={recompute!r}; valid: none, selective, full")
    m = get_model(model)
    sysm = default_system_for(get_chip(chip))
    job = make_job(seq, global_batch, tokens, precision, framework)
    plan = plan_or_none(tp, pp, dp, chips, micro_batch, zero, recompute)
    spec = FinetuneSpec(method=method, lora_rank=lora_rank, lora_targets=lora_targets)  # type: ignore[arg-type]
    e = best_finetune_plan(m, sysm, job, chips, spec, plan)
    price, note = price_for(sysm.chip.slug, pricing, usd_per_chip_hour)
    hours = e.days_to_train * 24 if e.days_to_train else None
    cost = hours * e.chips * price if hours is not None and price is not None else None
    return FinetuneRun(e, float(tokens), price, note, cost)


def rl_named(
    model: str,
    chip: str,
    chips: int,
    *,
    algorithm: str = "grpo",
    prompts: int = 512,
    samples: int = 8,
    prompt_len: int = 512,
    response_len: int = 1024,
    train_steps: int = 1,
    gen_tp: int = 8,
    gen_precision: str = "bf16",
    placement: str = "colocated",
    rollout_fraction: float = 0.5,
    off_policy: int = 0,
    tail_factor: float = 1.0,
    reference: bool = True,
    reward_model: bool = False,
    tp: int | None = None,
    pp: int | None = None,
    precision: str = "bf16",
    framework: str = "megatron",
    steps: int = 0,
    pricing: str = "on_demand",
    usd_per_chip_hour: float | None = None,
) -> RLEstimate:
    """One PPO/GRPO step of ``model`` on ``chips`` × ``chip`` (rollout from the serving model,
    log-probs, training from the training model, weight sync), days and cost of ``steps``.
    The training layout is ``tp``/``pp`` or the fastest that fits (full-parameter)."""
    from dataclasses import replace

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise GigatrainError(f"steps must be an integer ≥ 0, got {steps!r}")
    for field, v in (
        ("prompts", prompts),
        ("samples", samples),
        ("prompt_len", prompt_len),
        ("response_len", response_len),
        ("train_steps", train_steps),
        ("gen_tp", gen_tp),
    ):
        _positive(field, v)
    _positive("chips", chips, MAX_CHIPS)
    m = get_model(model)
    sysm = default_system_for(get_chip(chip))
    spec = RLSpec(
        algorithm=algorithm,  # type: ignore[arg-type]
        prompts_per_step=prompts,
        samples_per_prompt=samples,  # type: ignore[arg-type]
        prompt_len=prompt_len,
        response_len=response_len,
        train_steps_per_rl_step=train_steps,
        kl_reference=reference,
        learned_reward=reward_model,
        gen_tp=gen_tp,
        gen_dtype=gen_precision,
        placement=placement,  # type: ignore[arg-type]
        rollout_fraction=rollout_fraction,  # type: ignore[arg-type]
        off_policy_steps=off_policy,
        tail_factor=tail_factor,
    )
    _check(spec, chips)
    train_chips = chips if placement == "colocated" else chips - round(chips * rollout_fraction)
    seqs = max(spec.sequences // train_steps, 1)
    job = make_job(prompt_len + response_len, seqs, 0.0, precision, framework)
    plan = plan_or_none(tp, pp, None, train_chips)
    plan = best_finetune_plan(m, sysm, job, train_chips, FinetuneSpec(method="full"), plan).plan
    price, note = price_for(sysm.chip.slug, pricing, usd_per_chip_hour)
    e = rl_estimate(m, sysm, chips, spec, plan, job, steps, price)
    return replace(e, notes=[*e.notes, f"price: {note}"])
