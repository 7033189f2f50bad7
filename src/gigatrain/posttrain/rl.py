"""RL post-training (PPO / GRPO): time per RL step, rollout vs train split, days and dollars.

One RL step (the loop of NeMo-RL, OpenRLHF, verl; Schulman et al. 2017 PPO, Shao et al. 2024
GRPO) does, in order:

1. **rollout**: generate ``prompts × samples`` responses with the inference engine. Time from
   the serving model (:func:`gigatrain.serving.perf.evaluate`): every generation replica
   (``gen_tp`` chips) runs its share of sequences with continuous batching at the largest
   concurrency that fits in the HBM share the engine is given (``gen_memory_utilization``
   when colocated with the trainer; all requests queued, as engines run RL rollouts), so
   t = sequences_per_replica × output_len / output tokens per second; the step waits for the
   longest response, ``tail_factor`` × the mean (ESTIMATE; length-sorted or
   partial rollouts shrink it).
2. **log-probabilities**: a forward pass over every sequence (prompt + response) for the current
   policy and, with a KL penalty, for the frozen reference model (PPO adds the critic's values
   and, with a learned reward, the reward model): each forward is 1/3 of a training step's
   compute on the same tokens (forward = 1 of 1 + 2).
3. **training**: the policy (and PPO's critic) trained on all generated tokens, in
   ``train_steps_per_rl_step`` optimizer steps: time from the training model
   (:func:`gigatrain.model.estimate.estimate`) with the given plan.
4. **weight sync** ("refit"): the new policy weights go to the generation engine: each
   generation chip receives its 1/gen_tp shard at ``refit_bytes_per_s`` (gather from the
   training layout, conversion, bucketed hand-off); colocated adds the engine's sleep/wake
   (``colocated_switch_s``); disaggregated is at least the broadcast over the tier that joins
   the two pools.

Placement: ``colocated`` runs 1–4 one after another on all chips; ``disaggregated`` puts
``rollout_fraction`` of the chips on generation and overlaps generation of step n+1 with
training of step n when ``off_policy_steps ≥ 1`` (async GRPO), else runs them one after another.
Ignored: reward computation time for rule-based rewards (CPU, overlapped), data loading,
variable-length packing efficiency.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from ..catalog.frameworks import knobs_for
from ..errors import GigatrainError
from ..model.estimate import estimate
from ..model.workload import params_total
from ..serving.deploy import Deployment, Request, to_arrays
from ..serving.knobs import DEFAULT_SERVING_KNOBS
from ..serving.kv import served_model
from ..serving.perf import evaluate
from ..specs import DTYPE_BYTES, Job, ModelSpec, Plan, SystemSpec

Algorithm = Literal["grpo", "ppo"]
Placement = Literal["colocated", "disaggregated"]


@dataclass(frozen=True)
class RLSpec:
    algorithm: Algorithm = "grpo"
    prompts_per_step: int = 512
    samples_per_prompt: int = 8
    prompt_len: int = 512
    response_len: int = 1024
    train_steps_per_rl_step: int = 1  # optimizer steps per RL step (G-GBS / T-GBS)
    kl_reference: bool = True  # a frozen reference model's log-probs (KL penalty)
    learned_reward: bool = False  # a reward model forward pass (PPO/RLHF); False = rule-based
    gen_tp: int = 8
    gen_dtype: str = "bf16"
    gen_ep: int = 1  # expert parallelism inside a generation replica (MoE)
    gen_dp_attention: bool = False  # data-parallel attention in the engine (SGLang/TRT-LLM style)
    placement: Placement = "colocated"
    rollout_fraction: float = 0.5  # disaggregated: share of chips generating
    off_policy_steps: int = 0  # ≥ 1 overlaps generation with training (disaggregated only)
    tail_factor: float = 1.0  # longest response / mean response (rollout waits for it)
    colocated_switch_s: float = 5.0  # engine sleep/wake + memory offload per step (ESTIMATE)
    #: fitted: effective rate (bytes/s) at which one generation chip receives its shard of the new
    #: policy during refit: trainers gather their TP/PP/EP shards, convert them to the inference
    #: layout and stream them in buckets (CUDA IPC when colocated, NCCL broadcast otherwise;
    #: NeMo-RL ``refit``, verl ``sync_weights``); far below link bandwidth because the gather,
    #: format conversion and per-tensor hand-off are serialised. Fitted on NeMo-RL step times
    #: (``python -m gigatrain.validate.serving_posttrain --fit``)
    refit_bytes_per_s: float = 6.3e8
    #: HBM share the generation engine may take when colocated with the trainer (verl's GRPO
    #: examples set rollout.gpu_memory_utilization 0.6; ESTIMATE for other frameworks); the
    #: serving default applies when disaggregated; 0 = the serving default always
    gen_memory_utilization: float = 0.6

    @property
    def sequences(self) -> int:
        return self.prompts_per_step * self.samples_per_prompt


@dataclass(frozen=True)
class RLEstimate:
    model: str
    chip: str
    chips: int
    spec: RLSpec
    train_plan: Plan
    time_s: dict[str, float]  # rollout, logprobs, train, weight_sync (parts of the step)
    step_time_s: float
    rollout_share: float
    train_share: float
    tokens_per_step: float  # prompt + response tokens processed for training
    tokens_per_s_per_chip: float
    rollout_concurrency_per_replica: int
    train_fits: bool
    rollout_fits: bool
    steps: int = 0
    days: float | None = None
    usd_per_chip_hour: float | None = None
    cost_usd: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _check(spec: RLSpec, chips: int) -> None:
    for name in (
        "prompts_per_step",
        "samples_per_prompt",
        "prompt_len",
        "response_len",
        "train_steps_per_rl_step",
        "gen_tp",
    ):
        v = getattr(spec, name)
        if not isinstance(v, int) or v < 1:
            raise GigatrainError(f"{name} must be a positive integer, got {v!r}")
    if spec.algorithm not in ("grpo", "ppo"):
        raise GigatrainError(f"algorithm={spec.algorithm!r}; valid: grpo, ppo")
    if spec.placement not in ("colocated", "disaggregated"):
        raise GigatrainError(f"placement={spec.placement!r}; valid: colocated, disaggregated")
    if not 0 < spec.rollout_fraction < 1:
        raise GigatrainError(f"rollout_fraction={spec.rollout_fraction} must be between 0 and 1")
    if spec.tail_factor < 1:
        raise GigatrainError(f"tail_factor={spec.tail_factor} must be ≥ 1")
    if chips < 1:
        raise GigatrainError(f"chips must be positive, got {chips}")


def rollout_time(
    model: ModelSpec, system: SystemSpec, spec: RLSpec, chips: int
) -> tuple[float, int, bool]:
    """(seconds, concurrency per replica, fits) to generate the step's responses on ``chips``."""
    replicas = max(chips // spec.gen_tp, 0)
    if replicas < 1:
        raise GigatrainError(f"gen_tp={spec.gen_tp} is larger than the {chips} generation chips")
    per_replica = math.ceil(spec.sequences / replicas)
    req = Request(spec.prompt_len, spec.response_len)
    dep = Deployment(
        tp=spec.gen_tp,
        weight_dtype=spec.gen_dtype,
        kv_dtype=spec.gen_dtype if spec.gen_dtype != "fp4" else "fp8",
        concurrency=per_replica,
        api_server=False,
        dp_attention=spec.gen_dp_attention and spec.gen_tp > 1 and model.moe is not None,
        ep=spec.gen_ep if model.moe is not None else 1,
    )
    s = served_model(model)
    arr = to_arrays([dep], [req], system.chip.peak_flops_per_s)
    knobs = DEFAULT_SERVING_KNOBS
    if spec.placement == "colocated" and spec.gen_memory_utilization:
        knobs = knobs.with_(memory_utilization=spec.gen_memory_utilization)
    r = evaluate(s, system, arr, knobs)
    conc = int(min(per_replica, max(r["max_concurrency"][0], 0)))
    if conc < 1:
        raise GigatrainError(
            f"{model.slug} does not fit for generation at gen_tp={spec.gen_tp} on {system.chip.slug} "
            f"({r['weights_bytes_per_chip'][0] / 2**30:.0f} GiB of weights per chip); use a larger gen_tp"
        )
    arr.concurrency = np.array([float(conc)])
    r = evaluate(s, system, arr, knobs)
    out_tok_s = float(r["output_tokens_per_s"][0])
    t = per_replica * spec.response_len / out_tok_s
    # the last responses finish at tail_factor × the mean length, decoded at low batch
    t += (spec.tail_factor - 1.0) * spec.response_len * float(r["tpot_s"][0])
    return t, conc, True


def rl_estimate(
    model: ModelSpec,
    system: SystemSpec,
    chips: int,
    spec: RLSpec,
    train_plan: Plan,
    train_job: Job,
    steps: int = 0,
    usd_per_chip_hour: float | None = None,
) -> RLEstimate:
    """Time per RL step and its split; days and dollars for ``steps`` steps."""
    _check(spec, chips)
    notes: list[str] = []
    knobs = knobs_for(train_job.framework, system.chip.vendor)
    train_chips = (
        chips if spec.placement == "colocated" else chips - round(chips * spec.rollout_fraction)
    )
    gen_chips = chips if spec.placement == "colocated" else chips - train_chips
    if train_plan.chips != train_chips:
        raise GigatrainError(
            f"training plan uses {train_plan.chips} chips but {train_chips} train "
            f"({spec.placement}); tp·pp·cp·dp must equal {train_chips}"
        )
    t_roll, conc, roll_fits = rollout_time(model, system, spec, gen_chips)
    seq = spec.prompt_len + spec.response_len
    seq += (-seq) % (2 * train_plan.cp)  # context parallelism splits a sequence into 2·cp chunks
    train_seqs = spec.sequences // spec.train_steps_per_rl_step
    if train_seqs < 1:
        raise GigatrainError("train_steps_per_rl_step exceeds the sequences generated per step")
    job = Job(
        seq_len=seq,
        global_batch_seqs=train_seqs,
        precision=train_job.precision,
        framework=train_job.framework,
        optimizer=train_job.optimizer,
    )
    e = estimate(model, system, job, train_plan, knobs)
    compute = sum(v for k, v in e.time_breakdown.items() if k.startswith("time/compute/"))
    models_trained = 2 if spec.algorithm == "ppo" else 1  # PPO trains a critic of the same size
    t_train = e.step_time_s * spec.train_steps_per_rl_step * models_trained
    forwards = (
        1
        + int(spec.kl_reference)
        + int(spec.learned_reward)
        + (1 if spec.algorithm == "ppo" else 0)
    )
    t_logp = (
        forwards
        * spec.train_steps_per_rl_step
        * (compute / 3.0 + e.time_breakdown.get("time/comm/tp", 0.0) / 3.0)
    )
    weight_bytes = params_total(model) * DTYPE_BYTES.get(spec.gen_dtype, 2.0)
    # refit: every generation chip receives its 1/gen_tp shard of the policy at the refit rate,
    # all replicas in parallel; a disaggregated pool cannot receive faster than the tier joining
    # the pools carries it
    t_sync = weight_bytes / spec.gen_tp / spec.refit_bytes_per_s
    if spec.placement == "colocated":
        t_sync += spec.colocated_switch_s
    else:
        tier = system.tier_for_group(chips)
        t_sync = max(
            t_sync,
            tier.latency_s
            + weight_bytes / (train_chips * tier.bandwidth_bytes_per_s * tier.efficiency),
        )
    parts = {"rollout": t_roll, "logprobs": t_logp, "train": t_train, "weight_sync": t_sync}
    if spec.placement == "disaggregated" and spec.off_policy_steps >= 1:
        step = max(t_roll, t_logp + t_train) + t_sync
        notes.append(
            "generation of step n+1 overlaps training of step n (off-policy by "
            f"{spec.off_policy_steps} step)"
        )
    else:
        step = sum(parts.values())
        if spec.off_policy_steps and spec.placement == "colocated":
            notes.append(
                "off-policy steps need separate generation chips to overlap; colocated runs in sequence"
            )
    tokens = float(spec.sequences * seq)
    days = steps * step / 86400.0 if steps else None
    cost = (
        steps * step / 3600.0 * chips * usd_per_chip_hour
        if steps and usd_per_chip_hour is not None
        else None
    )
    if not e.fits:
        notes.append(
            f"the training plan does not fit: {e.memory_bytes / 2**30:.1f} GiB per chip of "
            f"{e.memory_capacity_bytes / 2**30:.0f}"
        )
    return RLEstimate(
        model=model.slug,
        chip=system.chip.slug,
        chips=chips,
        spec=spec,
        train_plan=train_plan,
        time_s={k: float(v) for k, v in parts.items()},
        step_time_s=float(step),
        rollout_share=float(t_roll / sum(parts.values())),
        train_share=float((t_train + t_logp) / sum(parts.values())),
        tokens_per_step=tokens,
        tokens_per_s_per_chip=tokens / step / chips,
        rollout_concurrency_per_replica=conc,
        train_fits=bool(e.fits),
        rollout_fits=roll_fits,
        steps=steps,
        days=days,
        usd_per_chip_hour=usd_per_chip_hour,
        cost_usd=cost,
        notes=notes,
    )
