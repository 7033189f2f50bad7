"""Candidate plans as NumPy arrays: one code path for a single estimate and for search.

A :class:`PlanArrays` holds one array per parallel degree; a single :class:`~gigatrain.specs.Plan`
is an array of length one. ``check_plans`` turns impossible layouts into one-line errors
(DESIGN.md principles 4 and 11) for the single-plan path; search uses ``valid_mask`` instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import Any

import numpy as np

from ..errors import GigatrainError
from ..specs import PLAN_DEGREES, RECOMPUTE_MODES, Job, ModelSpec, Plan


class RecomputeCode(IntEnum):
    """Activation recompute as stored in :class:`PlanArrays` (``specs.RECOMPUTE_MODES`` order)."""

    NONE = 0
    SELECTIVE = 1  # what the framework's selective mode drops (knobs.selective_drops_elementwise)
    FULL = 2  # layer inputs only; the forward runs twice


RECOMPUTE_CODE = {name: RecomputeCode(i) for i, name in enumerate(RECOMPUTE_MODES)}
SCHEDULE_CODE = {"1f1b": 0, "interleaved": 1}


@dataclass(frozen=True)
class PlanArrays:
    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    cp: np.ndarray
    ep: np.ndarray
    vpp: np.ndarray
    micro_batch: np.ndarray
    zero_stage: np.ndarray
    fsdp_shard: np.ndarray  # resolved: ranks that shard the optimizer/weights (1..dp·cp)
    recompute: np.ndarray  # RecomputeCode values
    sequence_parallel: np.ndarray  # bool
    #: per plan, a measured scale-out bandwidth (bytes/s per chip, one direction) that replaces
    #: the system's outer tiers where finite (validate: the row's own all-reduce bus bandwidth,
    #: so rows on different measured fabrics evaluate as one array); None: the catalog's tiers
    scale_out_bytes_per_s: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.tp.shape[0])

    @property
    def chips(self) -> np.ndarray:
        out = self.dp
        for d in PLAN_DEGREES:
            if d.splits_chips:
                out = out * getattr(self, d.name)
        return out

    @classmethod
    def from_plans(cls, plans: list[Plan]) -> PlanArrays:
        def col(name: str, conv: Callable[[Any], int] = int) -> np.ndarray:
            return np.array([conv(getattr(p, name)) for p in plans], dtype=np.int64)

        dpcp = col("dp") * col("cp")
        shard = col("fsdp_shard")
        shard = np.where((shard <= 0) | (shard > dpcp), dpcp, shard)
        return cls(
            **{d.name: col(d.name) for d in PLAN_DEGREES},
            dp=col("dp"),
            zero_stage=col("zero_stage"),
            fsdp_shard=shard,
            recompute=np.array([RECOMPUTE_CODE[p.recompute] for p in plans], dtype=np.int64),
            sequence_parallel=np.array([p.sequence_parallel for p in plans], dtype=bool),
        )

    def take(self, idx: np.ndarray) -> PlanArrays:
        cols: dict[str, Any] = {}
        for f in fields(self):
            a = getattr(self, f.name)
            cols[f.name] = None if a is None else a[idx]
        return PlanArrays(**cols)

    def plan(self, i: int) -> Plan:
        rec = RECOMPUTE_MODES[int(self.recompute[i])]
        dpcp = int(self.dp[i] * self.cp[i])
        shard = int(self.fsdp_shard[i])
        return Plan(
            **{d.name: int(getattr(self, d.name)[i]) for d in PLAN_DEGREES},
            dp=int(self.dp[i]),
            zero_stage=int(self.zero_stage[i]),
            fsdp_shard=0 if shard == dpcp else shard,
            recompute=rec,  # type: ignore[arg-type]
            sequence_parallel=bool(self.sequence_parallel[i]),
            schedule="interleaved" if self.vpp[i] > 1 else "1f1b",
        )


@functools.lru_cache(maxsize=4096)
def divisors(n: int) -> np.ndarray:
    """Sorted divisors of ``n`` ≥ 1 (trial division up to √n: fast for n ≤ 10¹²); read-only."""
    n = int(n)
    if n < 1:
        return np.zeros(0, dtype=np.int64)
    r = int(n**0.5) + 1
    c = np.arange(1, r + 1, dtype=np.int64)
    small = c[n % c == 0]
    out = np.unique(np.concatenate([small, n // small]))
    out.flags.writeable = False
    return out


def valid_mask(model: ModelSpec, job: Job, p: PlanArrays) -> np.ndarray:
    """True where the layout is realisable (degrees divide what they split)."""
    heads = model.num_attention_heads
    kv = model.num_kv_heads if model.mla is None else heads
    ok = (heads % p.tp == 0) & ((kv % p.tp == 0) | (p.tp % kv == 0))
    ok &= (p.pp <= model.num_layers) & (
        p.vpp <= -(-model.num_layers // p.pp)
    )  # ≥ 1 layer per chunk
    ok &= job.seq_len % p.cp == 0
    samples_per_mb_group = p.dp * p.micro_batch
    ok &= job.global_batch_seqs % samples_per_mb_group == 0
    ok &= (p.tp * p.dp * p.cp) % p.ep == 0  # expert parallelism folds over tp·dp·cp
    if model.moe is not None:
        ok &= model.moe.num_experts % p.ep == 0
    else:
        ok &= p.ep == 1
    ok &= (p.zero_stage >= 0) & (p.zero_stage <= 3)
    ok &= (p.dp * p.cp) % p.fsdp_shard == 0
    # interleaving needs pp > 1 and whole rounds of pp micro-batches; a layer count that pp·vpp
    # does not divide is split unevenly (whether the framework can is its capability, not physics)
    n_mb = job.global_batch_seqs // np.maximum(samples_per_mb_group, 1)
    ok &= (p.vpp == 1) | ((n_mb % p.pp == 0) & (p.pp > 1))
    return ok


def check_tp(model: ModelSpec, tp: int) -> None:
    """TP splits attention heads: ``tp=6 does not divide 64 attention heads; valid tp: ...``."""
    heads = model.num_attention_heads
    if heads % tp:
        valid = ", ".join(str(d) for d in divisors(heads))
        raise GigatrainError(f"tp={tp} does not divide {heads} attention heads; valid tp: {valid}")


def check_plan(model: ModelSpec, job: Job, plan: Plan, chips: int | None = None) -> None:
    """Raise a one-line :class:`GigatrainError` that names the first impossible degree."""
    for name in ("tp", "pp", "dp", "cp", "ep", "vpp", "micro_batch"):
        v = getattr(plan, name)
        if not isinstance(v, int) or v < 1:
            raise GigatrainError(f"{name} must be a positive integer, got {v!r}")
    if chips is not None and plan.chips != chips:
        raise GigatrainError(
            f"degrees multiply to {plan.chips} chips, not {chips}: tp={plan.tp} × pp={plan.pp} × "
            f"cp={plan.cp} × dp={plan.dp} (dp = chips / (tp·pp·cp) when omitted)"
        )
    check_tp(model, plan.tp)
    kv = model.num_kv_heads
    if model.mla is None and kv % plan.tp and plan.tp % kv:
        raise GigatrainError(f"tp={plan.tp} neither divides nor is a multiple of {kv} KV heads")
    if plan.pp > model.num_layers:
        raise GigatrainError(f"pp={plan.pp} exceeds the model's {model.num_layers} layers")
    if plan.vpp > -(-model.num_layers // plan.pp):
        raise GigatrainError(
            f"vpp={plan.vpp} leaves a virtual stage without layers: pp={plan.pp} stages "
            f"hold at most {-(-model.num_layers // plan.pp)} of {model.num_layers} layers each"
        )
    if job.seq_len % plan.cp:
        raise GigatrainError(f"cp={plan.cp} does not divide seq={job.seq_len}")
    if job.global_batch_seqs % (plan.dp * plan.micro_batch):
        raise GigatrainError(
            f"global batch {job.global_batch_seqs} is not a multiple of dp×micro_batch = "
            f"{plan.dp}×{plan.micro_batch}; valid micro_batch: "
            + ", ".join(str(d) for d in divisors(max(job.global_batch_seqs // plan.dp, 1))[:12])
            if job.global_batch_seqs % plan.dp == 0
            else f"global batch {job.global_batch_seqs} is not a multiple of dp={plan.dp}"
        )
    if model.moe is None and plan.ep > 1:
        raise GigatrainError(f"ep={plan.ep} needs an MoE model; {model.slug} is dense")
    if model.moe is not None and model.moe.num_experts % plan.ep:
        raise GigatrainError(
            f"ep={plan.ep} does not divide {model.moe.num_experts} experts; valid ep: "
            + ", ".join(str(d) for d in divisors(model.moe.num_experts))
        )
    if (plan.tp * plan.dp * plan.cp) % plan.ep:
        raise GigatrainError(f"ep={plan.ep} must divide tp×dp×cp={plan.tp * plan.dp * plan.cp}")
    if not 0 <= plan.zero_stage <= 3:
        raise GigatrainError(f"zero_stage must be 0, 1, 2 or 3, got {plan.zero_stage}")
    if plan.vpp > 1:
        if plan.pp == 1:
            raise GigatrainError("vpp > 1 (interleaved schedule) needs pp > 1")
        n_mb = job.global_batch_seqs // (plan.dp * plan.micro_batch)
        if n_mb % plan.pp:
            raise GigatrainError(
                f"the interleaved schedule (vpp={plan.vpp}) needs the {n_mb} "
                f"micro-batches per step to be a multiple of pp={plan.pp}"
            )
    if not valid_mask(model, job, PlanArrays.from_plans([plan]))[0]:
        raise GigatrainError(f"plan {plan.describe()} is not realisable for {model.slug}")
