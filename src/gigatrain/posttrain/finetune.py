"""Supervised fine-tuning: full SFT, LoRA and QLoRA — memory per rank and step time.

Full SFT *is* training: the estimate is the training model's (:func:`gigatrain.model.estimate.
estimate`), called unchanged. LoRA and QLoRA start from that same estimate of the same plan and
change what a frozen base model changes (Hu et al. 2021 "LoRA"; Dettmers et al. 2023 "QLoRA"):

* trainable parameters: r·(d_in + d_out) per adapted matrix (A: d_in×r, B: r×d_out) for the
  targets (``attention``: q, k, v, o; ``all``: also the MLP/expert matrices);
* memory: frozen weights at the frozen format (bf16 2 B, fp8 1 B, NF4 4.127 bits with double
  quantisation = 0.516 B, QLoRA §3), sharded like the plan shards weights; gradients and AdamW
  states only for the adapters (bf16 weight + fp32 grad + fp32 master, m, v = 18 B/param,
  ZeRO-sharded as the plan says); activations, logits and overheads as in the training model;
  QLoRA adds one layer's dequantised bf16 weights as a transient buffer;
* time: forward unchanged; backward keeps the activation-gradient GEMMs (dX = dY·Wᵀ) but drops
  the weight-gradient GEMMs of frozen matrices, so matmul and LM-head time scale by 2/3
  (fwd 1 + bwd-data 1 of 1 + 2); attention and element-wise time unchanged; adapter GEMMs add
  6·trainable FLOPs per token; DP gradient reduction and the optimizer scale with
  trainable/total parameters; with ZeRO-3 the frozen weights are still all-gathered in the
  forward and backward (2 of 3 passes, at the frozen format); the pipeline bubble scales with
  the compute; QLoRA dequantises every frozen weight in the forward and backward
  (0.516 B read + 2 B written per parameter per pass, at the chip's streaming bandwidth).
Ignored: LoRA dropout, the DoRA magnitude vector, CPU offload of optimizer states.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np

from ..catalog.frameworks import knobs_for
from ..errors import GigatrainError
from ..model.estimate import Estimate, estimate, evaluate
from ..model.plans import PlanArrays, check_plan
from ..model.workload import params_total
from ..specs import Job, ModelSpec, Plan, SystemSpec

Method = Literal["full", "lora", "qlora"]
METHODS = ("full", "lora", "qlora")
FROZEN_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "nf4": 4.127 / 8}
ADAPTER_STATE_BYTES = 18.0  # bf16 weight + fp32 grad + fp32 master + Adam m, v


@dataclass(frozen=True)
class FinetuneSpec:
    method: Method = "lora"
    lora_rank: int = 16
    lora_targets: Literal["attention", "all"] = "all"
    frozen_dtype: str = ""  # "" = bf16 for LoRA, nf4 for QLoRA

    def frozen(self) -> str:
        return self.frozen_dtype or ("nf4" if self.method == "qlora" else "bf16")


def lora_params(model: ModelSpec, rank: int, targets: str = "all") -> int:
    """Adapter parameters: Σ r·(d_in + d_out) over the adapted matrices of every layer."""
    if rank < 1 or rank > 65536:
        raise GigatrainError(f"lora_rank={rank} must be in 1..65,536")
    if targets not in ("attention", "all"):
        raise GigatrainError(f"lora_targets={targets!r}; valid: attention, all")
    h, nh, nkv, dh = (
        model.hidden_size,
        model.num_attention_heads,
        model.num_kv_heads,
        model.head_dim_eff,
    )
    if model.mla is not None:
        m = model.mla
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        q = (h + m.q_lora_rank) + (m.q_lora_rank + nh * qk) if m.q_lora_rank else h + nh * qk
        attn = (
            q
            + (h + m.kv_lora_rank + m.qk_rope_head_dim)
            + (m.kv_lora_rank + nh * (m.qk_nope_head_dim + m.v_head_dim))
        )
        attn += nh * m.v_head_dim + h
    else:
        attn = (h + nh * dh) + 2 * (h + nkv * dh) + (nh * dh + h)
    per_layer_attn = rank * attn
    mats = 3 if model.mlp_gated else 2
    dense_mlp = rank * mats * (h + model.ffn_hidden_size)
    total = 0
    n_moe = model.moe.num_moe_layers if model.moe else 0
    n_dense = model.num_layers - n_moe
    total += model.num_layers * per_layer_attn
    if targets == "all":
        total += n_dense * dense_mlp
        if model.moe is not None:
            moe = model.moe
            per_expert = rank * mats * (h + moe.expert_ffn_hidden_size)
            shared = rank * mats * (h + moe.shared_expert_ffn_hidden_size) * moe.num_shared_experts
            total += n_moe * (moe.num_experts * per_expert + shared)
    return int(total)


@dataclass(frozen=True)
class FinetuneEstimate:
    method: str
    model: str
    chip: str
    plan: Plan
    job: Job
    chips: int
    trainable_params: int
    total_params: int
    frozen_dtype: str
    memory_bytes: float
    memory_capacity_bytes: float
    fits: bool
    memory_breakdown: dict[str, float]
    step_time_s: float
    time_breakdown: dict[str, float]
    tokens_per_s: float
    tokens_per_s_per_chip: float
    days_to_train: float | None
    base: Estimate  # the training model's estimate of the same plan (full SFT)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["base"] = None  # the full-SFT breakdown is the training estimate; not repeated
        return d


def _weight_shards(plan: Plan) -> float:
    """Ranks that share one copy of the weights: tp·pp, and the FSDP shard with ZeRO-3."""
    shards = plan.tp * plan.pp
    if plan.zero_stage >= 3:
        shards *= plan.fsdp_shard or plan.dp * plan.cp
    return float(shards)


def finetune_estimate(
    model: ModelSpec, system: SystemSpec, job: Job, plan: Plan, spec: FinetuneSpec
) -> FinetuneEstimate:
    """Memory and step time of full SFT, LoRA or QLoRA for one plan (module docstring)."""
    if spec.method not in METHODS:
        raise GigatrainError(f"method={spec.method!r}; valid: {', '.join(METHODS)}")
    frozen = spec.frozen()
    if frozen not in FROZEN_BYTES:
        raise GigatrainError(f"frozen_dtype={frozen!r}; valid: {', '.join(FROZEN_BYTES)}")
    base = estimate(model, system, job, plan, knobs_for(job.framework, system.chip.vendor))
    total = params_total(model)
    if spec.method == "full":
        return FinetuneEstimate(
            "full",
            model.slug,
            system.chip.slug,
            plan,
            job,
            plan.chips,
            total,
            total,
            job.precision,
            base.memory_bytes,
            base.memory_capacity_bytes,
            base.fits,
            base.memory_breakdown,
            base.step_time_s,
            base.time_breakdown,
            base.tokens_per_s,
            base.tokens_per_s_per_chip,
            base.days_to_train,
            base,
        )
    trainable = lora_params(model, spec.lora_rank, spec.lora_targets)
    frac = trainable / total
    wb = FROZEN_BYTES[frozen]
    shards = _weight_shards(plan)
    mem = dict(base.memory_breakdown)
    mem["memory/weights"] = total * wb / shards
    opt_shard = (plan.fsdp_shard or plan.dp * plan.cp) if plan.zero_stage >= 1 else 1
    mem["memory/gradients"] = trainable * 4.0 / (plan.tp * plan.pp)
    mem["memory/optimizer"] = (
        trainable * (ADAPTER_STATE_BYTES - 4.0) / (plan.tp * plan.pp * opt_shard)
    )
    if "memory/fsdp_gather" in mem:
        mem["memory/fsdp_gather"] *= wb / 2.0
    if spec.method == "qlora":
        mem["memory/dequant_buffer"] = total / model.num_layers * 2.0 / (plan.tp)
    # fragmentation/overheads: keep the training model's share of the new total
    frag = base.memory_breakdown.get("memory/fragmentation", 0.0)
    if frag:
        others = sum(v for k, v in base.memory_breakdown.items() if k != "memory/fragmentation")
        mem["memory/fragmentation"] = (
            frag / others * sum(v for k, v in mem.items() if k != "memory/fragmentation")
        )
    t = dict(base.time_breakdown)
    compute_before = sum(v for k, v in t.items() if k.startswith("time/compute/"))
    for k in ("time/compute/matmul", "time/compute/lm_head"):
        if k in t:
            t[k] *= 2.0 / 3.0
    tokens_rank = job.tokens_per_step / (plan.dp * plan.cp)
    peak = system.chip.matmul_peak(job.precision) * system.chip.matmul_efficiency
    t["time/compute/adapters"] = 6.0 * trainable / (plan.tp * plan.pp) * tokens_rank / peak
    if spec.method == "qlora":
        params_rank = total / (plan.tp * plan.pp)
        bw = system.chip.hbm_bandwidth_bytes_per_s * system.chip.hbm_efficiency
        micro = max(tokens_rank / (job.seq_len * plan.micro_batch), 1.0)
        t["time/compute/dequantize"] = 2.0 * micro * params_rank * (wb + 2.0) / bw
    compute_after = sum(v for k, v in t.items() if k.startswith("time/compute/"))
    if "time/bubble" in t and compute_before > 0:
        t["time/bubble"] *= compute_after / compute_before
    if "time/comm/dp" in t:
        t["time/comm/dp"] *= (2.0 / 3.0) * (wb / 2.0) if plan.zero_stage >= 3 else frac
    if "time/optimizer" in t:
        t["time/optimizer"] *= frac
    step = sum(t.values())
    tps = job.tokens_per_step / step
    total_mem = sum(mem.values())
    return FinetuneEstimate(
        spec.method,
        model.slug,
        system.chip.slug,
        plan,
        job,
        plan.chips,
        trainable,
        total,
        frozen,
        total_mem,
        system.chip.hbm_bytes,
        total_mem <= system.chip.hbm_bytes,
        mem,
        step,
        t,
        tps,
        tps / plan.chips,
        (job.tokens / tps / 86400.0) if job.tokens else None,
        base,
    )


def best_finetune_plan(
    model: ModelSpec,
    system: SystemSpec,
    job: Job,
    chips: int,
    spec: FinetuneSpec,
    plan: Plan | None = None,
) -> FinetuneEstimate:
    """The fastest plan that fits among tp∈{1,2,4,8}, pp∈{1,2,4,8}, ZeRO 1 or 3, micro-batch
    1/2/4, selective or full recompute (or the one given)."""
    if plan is not None:
        return finetune_estimate(model, system, job, plan, spec)
    cands = [
        Plan(
            tp=tp,
            pp=pp,
            dp=chips // (tp * pp),
            zero_stage=zero,
            micro_batch=mbs,
            recompute=rc,
            sequence_parallel=tp > 1,
        )
        for tp in (1, 2, 4, 8)
        for pp in (1, 2, 4, 8)
        if chips % (tp * pp) == 0
        for zero in (1, 3)
        for mbs in (1, 2, 4)
        for rc in ("selective", "full")
    ]
    ok = []
    for p in cands:
        try:
            check_plan(model, job, p)
            ok.append(p)
        except GigatrainError:
            continue
    if not ok:
        raise GigatrainError(
            f"no plan of tp·pp in {{1,2,4,8}}² divides {chips} chips with global batch "
            f"{job.global_batch_seqs}; give --tp/--pp/--micro-batch"
        )
    if spec.method == "full":
        # one array evaluation of every candidate (the training model's own path), then the
        # fastest that fits (or the smallest when none fits) is estimated in full
        r = evaluate(
            model,
            system,
            job,
            PlanArrays.from_plans(ok),
            knobs_for(job.framework, system.chip.vendor),
        )
        fits = np.asarray(r["fits"], dtype=bool)
        i = (
            int(np.argmin(np.where(fits, r["step_time_s"], np.inf)))
            if fits.any()
            else int(np.argmin(r["memory/total"]))
        )
        return finetune_estimate(model, system, job, ok[i], spec)
    best: FinetuneEstimate | None = None
    smallest: FinetuneEstimate | None = None
    for p in ok:
        e = finetune_estimate(model, system, job, p, spec)
        if smallest is None or e.memory_bytes < smallest.memory_bytes:
            smallest = e
        if e.fits and (best is None or e.step_time_s < best.step_time_s):
            best = e
    assert smallest is not None
    return best if best is not None else replace(smallest)
