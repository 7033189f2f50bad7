"""Goodput: the fraction of wall-clock time that advances training, with failures, checkpoints
and the mitigations a large run uses.

**Failures by component.** A synchronous job on N chips stops whenever any part fails, so

    M = 86,400 s / (N · Σ_c λ_c)            λ_c = interruptions per chip-day of component c

with λ_c from Llama 3's 54-day, 16,384-H100 snapshot ([L3] §3.3.4, Table 5; fleet.md §1a):
accelerator 196, HBM 72, switch/cable 35, NIC 7, host 43, power 3, software 56, unknown 7
unexpected interruptions plus 47 planned, over 884,736 GPU-days (Σ = 5.27e-4 per chip-day,
one interruption every 2.8 h at 16,384 chips). Linear scaling in N is what Kokolis et al.
(arXiv:2410.21680) project (7.9 h at 1,024 GPUs → 1.8 h at 16,384 → 14 min at 131,072).

**Checkpoint and restart mechanics** (economics.yaml, fleet.md §2, achievable.md §7.2):

* checkpoint bytes = weights + optimizer state (14 B/param for bf16 AdamW with fp32 master);
* storage write/read time δ_w = bytes / (122 MB/s per chip × N) (Llama 3: Tectonic 2 TB/s
  sustained for 16,384 GPUs);
* a blocking *synchronous* save costs δ = δ_w; an *asynchronous* save blocks only for the copy
  to host memory, δ = bytes / N / 55.4 GB/s (PCIe Gen5), and its interval is at least δ_w;
  an *in-memory* checkpoint (copies in peer hosts' memory every step; GEMINI SOSP'23,
  ByteRobust) costs 0.9 % of each step and loses at most one step;
* restart R = detection + reschedule + init (300 s automated, Meta RSC model; 68 min manual,
  R2CCL's median checkpoint-based recovery; 60 s from in-memory copies, ESTIMATE) + checkpoint
  load δ_w (storage) when restoring from storage.

Per mitigation the interval τ is Daly's higher-order optimum (Daly 2006, FGCS 22:303, Eq. 37;
Young's √(2δM) to first order):

    τ = √(2δM) · [1 + ⅓·√(δ/(2M)) + ⅑·(δ/(2M))] − δ     for δ < 2M,   τ = M otherwise

and the expected wall time per unit of useful time (exponential failures, Daly Eq. 13):

    T_wall / T_useful = M · e^{R/M} · (e^{(τ+δ)/M} − 1) / τ,     goodput = the inverse.

*Elastic* training drops the failed replica (``replica_chips`` chips) and continues: each
failure costs a pause R_e (60 s, ESTIMATE) and the replica is missing for the repair time
(the manual-restart 68 min) with no rollback (state from surviving replicas), so
goodput = (1 − R_e/M) · (1 − T_rep/M · replica_chips/N) · (1 − 0.9 %).

Automated restarts in minutes presume spare nodes to restart on: those mitigations carry a hot
spare fraction (5 % of the job's chips; arXiv:2503.11901 via achievable.md §7.2: 5 % spares
for 99.9 % availability on a 608-GPU job with slow recovery, 2 % with 5-min recovery; BLOOM
kept 4 spare nodes per 48), reported as ``spare_fraction`` and charged by fleet partitioning.

Goodput falls towards zero when M approaches R: a 1.5-million-chip job at 5.27e-4 has
M ≈ 109 s, less than one automated restart, and makes little progress as one synchronous job.
The loss is split for reports into checkpoint writes (δ/τ), rework ((τ+δ)/2M) and restarts
(R/M) in proportion to Young's first-order terms, so the parts sum to 1 − goodput.

Ignored: failures during recovery beyond Daly's model, correlated failures and "lemon" nodes
(Kokolis: removing them cut 512+ GPU job failures 14 % → 4 %), stragglers and fail-slows,
loss of both in-memory copies, rate differences between chip families (the H100 rates are used
for every chip unless ``per_chip_day`` is given).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..catalog.constants import cite, const
from ..errors import GigatrainError
from ..model.memory import state_bytes
from ..model.plans import PlanArrays
from ..model.workload import params_total
from ..specs import Job, ModelSpec, Plan
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


#: components of the failure model, in economics.yaml as ``failures_per_chip_day_<name>``
COMPONENTS = (
    "accelerator",
    "hbm",
    "switch_cable",
    "nic",
    "host",
    "power",
    "software",
    "unknown",
    "planned",
)


def failure_rates() -> dict[str, float]:
    """Interruptions per chip-day by component (Llama 3 Table 5 + planned; module docstring)."""
    return {c: const(f"failures_per_chip_day_{c}") for c in COMPONENTS}


@dataclass(frozen=True)
class Mitigation:
    """How a job checkpoints and recovers."""

    name: str
    checkpoint: str  # "sync" | "async" | "memory"
    restart_key: str  # economics.yaml key of detection + restart seconds
    spares: bool  # automated restarts presume hot spares (spare_fraction_hot_spare)
    elastic: bool
    description: str


MITIGATIONS: dict[str, Mitigation] = {
    m.name: m
    for m in (
        Mitigation("manual", "sync", "restart_time_s_manual", False, False,
                   "synchronous checkpoints to storage, manual restart (68 min median)"),
        Mitigation("automated", "sync", "restart_time_s_automated", True, False,
                   "synchronous checkpoints to storage, automated restart on spares (5 min)"),
        Mitigation("async", "async", "restart_time_s_automated", True, False,
                   "asynchronous checkpoints (block only for the host copy), automated restart"),
        Mitigation("in_memory", "memory", "restart_time_s_in_memory", True, False,
                   "every-step copies in peer host memory (0.9%/step), restore from peers (1 min)"),
        Mitigation("elastic", "memory", "elastic_restart_s", True, True,
                   "in-memory state, drop the failed replica and continue (no rollback)"),
    )
}  # fmt: skip
DEFAULT_MITIGATION = "automated"


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
    mitigation: str = DEFAULT_MITIGATION
    spare_fraction: float = 0.0
    #: expected interruptions per day of the whole job, by component
    interruptions_per_day: dict[str, float] = field(default_factory=dict)

    def wall_s(self, useful_s: float) -> float:
        """Wall-clock seconds to deliver ``useful_s`` of failure-free training (∞ if goodput 0)."""
        return math.inf if self.goodput <= 0 else useful_s / self.goodput

    def interruptions(self, wall_s: float) -> float:
        """Expected interruptions during ``wall_s``."""
        return wall_s / self.mtbf_s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _checkpoint_schedule(
    mit: Mitigation,
    ckpt_bytes: float,
    chips: int,
    write_s: float,
    m: float,
    r_base: float,
    step: float,
    interval_s: float | None,
) -> tuple[float, float, float]:
    """(blocking time per checkpoint δ, interval τ, restart time) for the mitigation's
    checkpoint kind: synchronous to storage, asynchronous via host memory, or in-memory copies
    every step (module docstring)."""
    if mit.checkpoint == "sync":
        delta, restart = write_s, r_base + write_s
        tau = daly_interval_s(delta, m) if interval_s is None else interval_s
    elif mit.checkpoint == "async":
        delta = ckpt_bytes / chips / const("host_copy_bytes_per_s_per_chip")
        # a save is durable only once written: the interval is at least the storage write and a
        # failure also loses the save in flight (charged to the restart)
        tau = max(daly_interval_s(delta, m), write_s) if interval_s is None else interval_s
        restart = r_base + write_s + write_s
    else:  # in-memory copies every step
        tau = step if interval_s is None else interval_s
        delta = const("in_memory_checkpoint_overhead") * tau
        restart = r_base
    return delta, tau, restart


def _notes(
    mit: Mitigation,
    lam: float,
    per_chip_day: float | None,
    r_base: float,
    restart_s: float | None,
    write_s: float,
    bw: float,
    bw_chip: float,
    chips: int,
    storage_bytes_per_s: float | None,
    write_bytes_per_s_per_chip: float | None,
    interval_s: float | None,
) -> dict[str, str]:
    """Each assumption of :func:`goodput` with its value and source (given or catalog)."""
    return {
        "mitigation": f"{mit.name}: {mit.description}",
        "interruptions_per_chip_day": f"{lam:.3g}"
        + (
            " (given)"
            if per_chip_day is not None
            else " (Llama 3 Table 5 by component + planned, [L3] §3.3.4)"
        ),
        "restart_s": f"{r_base:g}"
        + (" (given)" if restart_s is not None else f" ({cite(mit.restart_key)})")
        + (f" + checkpoint load {write_s:,.3g} s" if mit.checkpoint != "memory" else ""),
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
        "interval": "given"
        if interval_s is not None
        else ("every step" if mit.checkpoint == "memory" else "Daly (2006) higher-order optimum"),
    }


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
    mitigation: str = DEFAULT_MITIGATION,
    step_s: float | None = None,
    replica_chips: int | None = None,
) -> Goodput:
    """Goodput of a ``chips``-chip job writing ``ckpt_bytes`` per checkpoint, under
    ``mitigation`` (a key of :data:`MITIGATIONS`; formulas in the module docstring).

    Defaults from economics.yaml: failure rates by component (Σ 5.27e-4 per chip-day;
    ``per_chip_day`` rescales the total), the mitigation's restart time (``restart_s``
    replaces it), storage at 122 MB/s per chip (``write_bytes_per_s_per_chip``, or a fixed total
    ``storage_bytes_per_s``). ``interval_s`` replaces Daly's optimum; ``fixed`` skips the model.
    ``step_s`` (one optimizer step) sets the in-memory interval (default 10 s);
    ``replica_chips`` is the chips an elastic job loses per failure (default 8).
    """
    if chips < 1:
        raise GigatrainError(f"chips must be a positive integer, got {chips!r}")
    if mitigation not in MITIGATIONS:
        raise GigatrainError(f"mitigation={mitigation!r}; valid: {', '.join(MITIGATIONS)}")
    mit = MITIGATIONS[mitigation]
    rates = failure_rates()
    base = sum(rates.values())
    lam = base if per_chip_day is None else per_chip_day
    r_base = const(mit.restart_key) if restart_s is None else restart_s
    bw_chip = (
        const("checkpoint_write_bytes_per_s_per_chip")
        if write_bytes_per_s_per_chip is None
        else write_bytes_per_s_per_chip
    )
    for name, v in (("interruptions per chip-day", lam), ("checkpoint bandwidth", bw_chip)):
        if not v > 0:
            raise GigatrainError(f"{name} must be positive, got {v!r}")
    if r_base < 0:
        raise GigatrainError(f"restart time must be >= 0 s, got {r_base!r}")
    bw = storage_bytes_per_s if storage_bytes_per_s is not None else bw_chip * chips
    if not bw > 0:
        raise GigatrainError(f"storage bandwidth must be positive, got {bw!r}")
    m = mtbf_s(chips, lam)
    write_s = ckpt_bytes / bw  # storage write (= read) time of one full checkpoint
    step = 10.0 if step_s is None else max(step_s, 1e-3)
    delta, tau, restart = _checkpoint_schedule(
        mit, ckpt_bytes, chips, write_s, m, r_base, step, interval_s
    )
    if not tau > 0:
        raise GigatrainError(f"checkpoint interval must be positive, got {tau!r}")
    scale = lam / base
    per_day = {c: v * scale * chips for c, v in rates.items()}
    notes = _notes(
        mit,
        lam,
        per_chip_day,
        r_base,
        restart_s,
        write_s,
        bw,
        bw_chip,
        chips,
        storage_bytes_per_s,
        write_bytes_per_s_per_chip,
        interval_s,
    )
    spare = const("spare_fraction_hot_spare") if mit.spares else 0.0
    if spare:
        notes["spares"] = (
            f"{spare:.0%} of the job's chips held as hot spares ({cite('spare_fraction_hot_spare')})"
        )
    if fixed is not None:
        if not 0 < fixed <= 1:
            raise GigatrainError(f"goodput must be in (0, 1], got {fixed!r}")
        g = fixed
        notes["goodput"] = "given"
    elif mit.elastic:
        rc = 8 if replica_chips is None else max(1, int(replica_chips))
        t_rep = const("restart_time_s_manual")
        missing = min(1.0, t_rep / m * min(rc, chips) / chips)
        g = max(0.0, (1 - restart / m) * (1 - missing) * (1 - delta / tau))
        notes["elastic"] = (
            f"each failure pauses {restart:g} s and removes a {rc:,}-chip replica for "
            f"{t_rep / 60:.0f} min ({cite('restart_time_s_manual')})"
        )
    else:
        ratio = wall_per_useful(tau, delta, m, restart)
        g = 0.0 if not math.isfinite(ratio) else 1.0 / ratio
    # split the loss by Young's first-order terms (display only; sums to 1 − g)
    rework = 0.0 if mit.elastic else (tau + delta) / (2 * m)
    terms = np.array([delta / tau, rework, restart / m])
    split = terms / terms.sum() * (1.0 - g) if terms.sum() > 0 else np.zeros(3)
    return Goodput(
        chips=chips,
        interruptions_per_chip_day=lam,
        mtbf_s=m,
        checkpoint_bytes=ckpt_bytes,
        checkpoint_bandwidth_bytes_per_s=bw,
        checkpoint_write_s=write_s,
        restart_s=restart,
        interval_s=tau,
        goodput=g,
        loss_checkpoint=float(split[0]),
        loss_rework=float(split[1]),
        loss_restart=float(split[2]),
        assumptions=notes,
        mitigation=mit.name,
        spare_fraction=spare,
        interruptions_per_day=per_day,
    )


def goodput_by_mitigation(chips: int, ckpt_bytes: float, **kw: object) -> dict[str, Goodput]:
    """:func:`goodput` under every mitigation of :data:`MITIGATIONS` (same other inputs)."""
    return {name: goodput(chips, ckpt_bytes, mitigation=name, **kw) for name in MITIGATIONS}  # type: ignore[arg-type]
