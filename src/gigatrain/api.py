"""The small public API the interfaces call (CLI, web, reports): names in, data out.

Interfaces hold no model logic; they resolve user input here and render what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .catalog.frameworks import get_framework, knobs_for
from .catalog.hardware import get_chip, get_system
from .catalog.models import get_model
from .errors import GigatrainError, require_positive
from .guard import check_estimate
from .model.estimate import Estimate, estimate
from .model.knobs import DEFAULT_KNOBS, Knobs
from .model.plans import check_tp
from .specs import RECOMPUTE_MODES, Job, ModelSpec, Plan, SystemSpec

MAX_CHIPS = 10_000_000
MAX_SEQ = 10_000_000


@dataclass(frozen=True)
class Resolved:
    model: ModelSpec
    system: SystemSpec
    job: Job
    profile: str | None = None
    profile_knobs: Knobs | None = None  # the profile's measured attention efficiency

    def knobs(self) -> Knobs:
        """The framework's knobs, with a calibration profile's measurements on top."""
        base = knobs_for(self.job.framework)
        if self.profile_knobs is not None:
            base = base.with_(attention_efficiency_ratio=self.profile_knobs.attention_efficiency_ratio)
        return base


def resolve_system(chip: str, system: str | None = None, profile: str | Path | None = None
                   ) -> tuple[SystemSpec, str | None, Knobs | None]:
    """The system for ``chip`` (its default) or a named ``system``. A calibration ``profile``
    replaces the chip's efficiencies (and peaks, for a CPU profile) and its measured attention
    speed; returns (system, profile description, knobs adjustment or None)."""
    if not system:
        get_chip(chip)  # an unknown chip is reported as a chip, with the nearest chip names
    sys_spec = get_system(system) if system else get_system(chip)
    if system and chip and sys_spec.chip.slug != get_chip(chip).slug:
        raise GigatrainError(f"system {system!r} is built from {sys_spec.chip.slug}, not {chip!r}")
    if profile is None:
        return sys_spec, None, None
    from dataclasses import replace

    from .calibrate.profile import apply_profile, load_profile, profile_knobs

    prof = load_profile(Path(profile))
    chip_spec = apply_profile(sys_spec.chip, prof)
    return replace(sys_spec, chip=chip_spec), prof.describe(), profile_knobs(prof, DEFAULT_KNOBS)


def make_job(seq: int, global_batch: int, tokens: float = 0.0, precision: str = "bf16",
             framework: str = "megatron") -> Job:
    require_positive("seq", seq, integer=True, maximum=MAX_SEQ)
    require_positive("global_batch", global_batch, integer=True, maximum=1e9)
    if tokens < 0 or tokens != tokens:
        raise GigatrainError(f"tokens must be >= 0, got {tokens!r}")
    if precision not in ("bf16", "fp16", "fp8", "fp4", "fp32"):
        raise GigatrainError(f"precision={precision!r}; valid: bf16, fp16, fp8, fp4, fp32")
    get_framework(framework)  # validates the name
    return Job(seq_len=int(seq), global_batch_seqs=int(global_batch), tokens=float(tokens),
               precision=precision, framework=framework)  # type: ignore[arg-type]


def make_plan(chips: int, tp: int = 1, pp: int = 1, cp: int = 1, ep: int = 1, dp: int | None = None,
              vpp: int = 1, micro_batch: int = 1, zero_stage: int = 1, fsdp_shard: int = 0,
              recompute: str = "selective", sequence_parallel: bool = True) -> Plan:
    """A plan from degrees; ``dp`` defaults to chips / (tp·pp·cp) and must make them multiply."""
    require_positive("chips", chips, integer=True, maximum=MAX_CHIPS)
    for name, v in (("tp", tp), ("pp", pp), ("cp", cp), ("ep", ep), ("vpp", vpp), ("micro_batch", micro_batch)):
        require_positive(name, v, integer=True, maximum=MAX_CHIPS)
    if recompute not in RECOMPUTE_MODES:
        raise GigatrainError(f"recompute={recompute!r}; valid: {', '.join(RECOMPUTE_MODES)}")
    if not 0 <= zero_stage <= 3:
        raise GigatrainError(f"zero_stage must be 0, 1, 2 or 3, got {zero_stage}")
    model_par = tp * pp * cp
    if dp is None:
        if chips % model_par:
            raise GigatrainError(
                f"tp×pp×cp = {tp}×{pp}×{cp} = {model_par} does not divide chips={chips}; "
                f"choose degrees whose product divides {chips}"
            )
        dp = chips // model_par
    if tp * pp * cp * dp != chips:
        raise GigatrainError(
            f"degrees multiply to {tp * pp * cp * dp}, not chips={chips}: tp={tp} pp={pp} cp={cp} dp={dp}"
        )
    return Plan(tp=tp, pp=pp, dp=dp, cp=cp, ep=ep, vpp=vpp, micro_batch=micro_batch,
                zero_stage=zero_stage, fsdp_shard=fsdp_shard, recompute=recompute,  # type: ignore[arg-type]
                sequence_parallel=sequence_parallel, schedule="interleaved" if vpp > 1 else "1f1b")


def resolve(model: str | ModelSpec, chip: str, seq: int | None, global_batch: int, tokens: float = 0.0,
            precision: str = "bf16", system: str | None = None, profile: str | Path | None = None,
            framework: str = "megatron") -> Resolved:
    m = model if isinstance(model, ModelSpec) else get_model(model)
    sys_spec, prof, prof_knobs = resolve_system(chip, system, profile)
    job = make_job(4096 if seq is None else seq, global_batch, tokens, precision, framework)
    return Resolved(m, sys_spec, job, prof, prof_knobs)


def estimate_named(model: str | ModelSpec, chip: str, chips: int, *, seq: int | None = None, global_batch: int = 1024,
                   tokens: float = 0.0, precision: str = "bf16", system: str | None = None,
                   profile: str | Path | None = None, framework: str = "megatron",
                   knobs: Knobs | None = None, **plan: object) -> Estimate:
    """``estimate`` from catalog names and degrees — what ``gigatrain estimate`` prints."""
    r = resolve(model, chip, seq, global_batch, tokens, precision, system, profile, framework)
    if chips > r.system.max_chips:
        raise GigatrainError(f"chips={chips:,} exceeds the largest {r.system.slug} cluster ({r.system.max_chips:,})")
    tp = plan.get("tp", 1)
    if isinstance(tp, int) and tp > 0:
        check_tp(r.model, tp)  # the most useful message first: heads, not chip arithmetic
    p = make_plan(chips, **plan)  # type: ignore[arg-type]
    est = estimate(r.model, r.system, r.job, p, knobs or r.knobs(), profile=r.profile)
    return check_estimate(est)  # never a NaN, infinite or negative number out
