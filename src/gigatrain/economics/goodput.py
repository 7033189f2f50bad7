"""Goodput: the fraction of wall-clock time that advances training, with failures and checkpoints.

A synchronous job on N chips stops whenever any chip fails, so its mean time between
interruptions is

    M = 86,400 s / (N · λ)            λ = interruptions per chip-day

(achievable.md §7.1: Llama 3 saw 419 unexpected interruptions on 16,384 H100 in 54 days, λ ≈
4.7e-4; default 5e-4, range 2.9e-4 to 1.8e-3). Each interruption costs a restart R (default
300 s, Meta RSC's ETTR model; checkpoint-based recovery medians reach 68 min) plus the work since
the last checkpoint. Writing a checkpoint of the weights and optimizer state blocks training for

    δ = checkpoint bytes / storage bandwidth

(Llama 3: 2 TB/s sustained for 16,384 GPUs = 122 MB/s per chip, scaled with the job here).

Checkpoint interval τ: Daly's higher-order optimum (Daly 2006, "A higher order estimate of the
optimum checkpoint interval for restart dumps", FGCS 22:303, Eq. 37), which reduces to Young's
τ = √(2δM) (Young 1974) when δ ≪ M:

    τ = √(2δM) · [1 + ⅓·√(δ/(2M)) + ⅑·(δ/(2M))] − δ     for δ < 2M,   τ = M otherwise

Expected wall time per unit of useful time, with exponential failures (Daly 2006, Eq. 13):

    T_wall / T_useful = M · e^{R/M} · (e^{(τ+δ)/M} − 1) / τ,     goodput = the inverse.

It falls towards zero when M approaches R: a 1.5-million-chip job at λ = 5e-4 has M ≈ 115 s,
less than one restart, and never finishes as one synchronous job. The loss is split for reports
into checkpoint writes (δ/τ), rework ((τ+δ)/2M) and restarts (R/M) in proportion to Young's
first-order terms, so the parts sum to 1 − goodput.

Ignored: failures during restart beyond Daly's model, hot spares, in-memory replicas (Gemini's
85 → 97 % goodput), asynchronous checkpointing that hides δ (PyTorch DCP: 148.8 s → 6.3 s for a
7B model), stragglers and planned maintenance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import GigatrainError
from ..model.memory import state_bytes
from ..model.plans import PlanArrays
from ..model.workload import params_total
from ..specs import Job, ModelSpec, Plan
from .power import cite, const
from .quantities import S_PER_DAY


def checkpoint_bytes(model: ModelSpec, job: Job) -> float:
    """Bytes of one full checkpoint: weights + optimizer state (fp32 master + Adam moments), no
    gradients. Uses the memory model's per-parameter byte counts (``memory.state_bytes`` with
    nothing sharded), so a bf16 AdamW job with fp32 master weights writes 2 + 4 + 8 = 14 B/param
    (achievable.md §7.2: Llama 3 405B ≈ 5.7 TB)."""
    arr = PlanArrays.from_plans([Plan(zero_stage=0)])
    n = np.array([float(params_total(model))])
    parts = state_bytes(model, job, arr, n, np.zeros(1))
    return float(parts["memory/weights"][0] + parts["memory/optimizer"][0])


def mtbf_s(chips: int, per_chip_day: float) -> float:
    """Mean time between interruptions of a synchronous job: 86,400 / (N · λ) seconds."""
    return S_PER_DAY / (chips * per_chip_day)


def daly_interval_s(delta_s: float, m_s: float) -> float:
    """Daly (2006) higher-order optimum checkpoint interval; Young's √(2δM) to first order."""
    if delta_s >= 2 * m_s:
        return m_s
    x = delta_s / (2 * m_s)
    return math.sqrt(2 * delta_s * m_s) * (1 + math.sqrt(x) / 3 + x / 9) - delta_s


def young_interval_s(delta_s: float, m_s: float) -> float:
    """Young (1974): τ = √(2δM)."""
    return math.sqrt(2 * delta_s * m_s)


def wall_per_useful(tau_s: float, delta_s: float, m_s: float, restart_s: float) -> float:
    """Daly (2006) Eq. 13: T_wall/T_useful = M·e^{R/M}·(e^{(τ+δ)/M} − 1)/τ (∞ if it overflows)."""
    a, b = restart_s / m_s, (tau_s + delta_s) / m_s
    if a + b > 700:
        return math.inf
    return m_s * math.exp(a) * math.expm1(b) / tau_s


@dataclass(frozen=True)
class Goodput:
    """Failures, checkpoints and goodput of one synchronous job; ``loss_*`` sum to 1 − goodput."""

    chips: int
    interruptions_per_chip_day: float
    mtbf_s: float
    checkpoint_bytes: float
    checkpoint_bandwidth_bytes_per_s: float
    checkpoint_write_s: float
    restart_s: float
    interval_s: float
    goodput: float
    loss_checkpoint: float
    loss_rework: float
    loss_restart: float
    assumptions: dict[str, str]

    def wall_s(self, useful_s: float) -> float:
        """Wall-clock seconds to deliver ``useful_s`` of failure-free training (∞ if goodput 0)."""
        return math.inf if self.goodput <= 0 else useful_s / self.goodput

    def interruptions(self, wall_s: float) -> float:
        """Expected interruptions during ``wall_s``."""
        return wall_s / self.mtbf_s

    def to_dict(self) -> dict:
        return asdict(self)


def goodput(
    chips: int,
    ckpt_bytes: float,
    *,
    per_chip_day: float | None = None,
    restart_s: float | None = None,
    write_bytes_per_s_per_chip: float | None = None,
    storage_bytes_per_s: float | None = None,
    interval_s: float | None = None,
    fixed: float | None = None,
) -> Goodput:
    """Goodput of a ``chips``-chip job writing ``ckpt_bytes`` per checkpoint.

    Defaults from economics.yaml: ``interruptions_per_chip_day`` (5e-4), ``restart_time_s``
    (300 s), ``checkpoint_write_bytes_per_s_per_chip`` (122 MB/s; Llama 3's 2 TB/s over 16,384
    GPUs). ``storage_bytes_per_s`` replaces the per-chip scaling with a fixed total;
    ``interval_s`` replaces Daly's optimum; ``fixed`` skips the model and uses that goodput.
    """
    if chips < 1:
        raise GigatrainError(f"chips must be a positive integer, got {chips!r}")
    lam = const("interruptions_per_chip_day") if per_chip_day is None else per_chip_day
    r = const("restart_time_s") if restart_s is None else restart_s
    bw_chip = (
        const("checkpoint_write_bytes_per_s_per_chip")
        if write_bytes_per_s_per_chip is None
        else write_bytes_per_s_per_chip
    )
    for name, v in (("interruptions per chip-day", lam), ("checkpoint bandwidth", bw_chip)):
        if not v > 0:
            raise GigatrainError(f"{name} must be positive, got {v!r}")
    if r < 0:
        raise GigatrainError(f"restart time must be >= 0 s, got {r!r}")
    bw = storage_bytes_per_s if storage_bytes_per_s is not None else bw_chip * chips
    if not bw > 0:
        raise GigatrainError(f"storage bandwidth must be positive, got {bw!r}")
    m = mtbf_s(chips, lam)
    delta = ckpt_bytes / bw
    tau = daly_interval_s(delta, m) if interval_s is None else interval_s
    if not tau > 0:
        raise GigatrainError(f"checkpoint interval must be positive, got {tau!r}")
    notes = {
        "interruptions_per_chip_day": f"{lam:g}"
        + ("" if per_chip_day is not None else f" ({cite('interruptions_per_chip_day')})"),
        "restart_s": f"{r:g}" + ("" if restart_s is not None else f" ({cite('restart_time_s')})"),
        "checkpoint_bandwidth": (
            f"{bw / 1e9:,.1f} GB/s total"
            if storage_bytes_per_s is not None
            else f"{bw_chip / 1e6:,.0f} MB/s per chip × {chips:,}"
            + (
                ""
                if write_bytes_per_s_per_chip is not None
                else f" ({cite('checkpoint_write_bytes_per_s_per_chip')})"
            )
        ),
        "interval": "given" if interval_s is not None else "Daly (2006) higher-order optimum",
    }
    if fixed is not None:
        if not 0 < fixed <= 1:
            raise GigatrainError(f"goodput must be in (0, 1], got {fixed!r}")
        g = fixed
        notes["goodput"] = "given"
    else:
        ratio = wall_per_useful(tau, delta, m, r)
        g = 0.0 if not math.isfinite(ratio) else 1.0 / ratio
    # split the loss by Young's first-order terms (display only; sums to 1 − g)
    terms = np.array([delta / tau, (tau + delta) / (2 * m), r / m])
    split = terms / terms.sum() * (1.0 - g) if terms.sum() > 0 else np.zeros(3)
    return Goodput(
        chips=chips,
        interruptions_per_chip_day=lam,
        mtbf_s=m,
        checkpoint_bytes=ckpt_bytes,
        checkpoint_bandwidth_bytes_per_s=bw,
        checkpoint_write_s=delta,
        restart_s=r,
        interval_s=tau,
        goodput=g,
        loss_checkpoint=float(split[0]),
        loss_rework=float(split[1]),
        loss_restart=float(split[2]),
        assumptions=notes,
    )
