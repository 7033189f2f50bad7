"""The small public API the interfaces call (CLI, web, reports): names in, data out.

Interfaces hold no model logic; they resolve user input here and render what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .calibrate.profile import apply_profile, load_profile, profile_knobs
from .catalog.frameworks import default_framework, fitted_on_vendor, get_framework, knobs_for
from .catalog.hardware import get_chip, get_system
from .catalog.models import get_model
from .errors import GigatrainError
from .guard import check_estimate
from .inputs import make_job as make_job  # re-exported: api.make_job is public
from .inputs import make_plan as make_plan  # re-exported
from .knobs import DEFAULT_KNOBS, Knobs
from .model.estimate import Estimate, estimate
from .model.plans import check_tp
from .search.capabilities import unrunnable_reasons
from .specs import Job, ModelSpec, Plan, SystemSpec
from .validate.error_bars import annotate, best_measured_mfu, scale_bucket

if TYPE_CHECKING:
    from .search.engine import Candidate, SearchResult


@dataclass(frozen=True)
class Resolved:
    model: ModelSpec
    system: SystemSpec
    job: Job
    profile: str | None = None
    profile_knobs: Knobs | None = None  # the profile's measured attention efficiency

    def knobs(self) -> Knobs:
        """The framework's knobs, with a calibration profile's measurements on top."""
        base = knobs_for(self.job.framework, self.system.chip.vendor)
        if self.profile_knobs is not None:
            base = base.with_(
                attention_efficiency_ratio=self.profile_knobs.attention_efficiency_ratio
            )
        return base


def resolve_system(
    chip: str, system: str | None = None, profile: str | Path | None = None
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

    prof = load_profile(Path(profile))
    chip_spec = apply_profile(sys_spec.chip, prof)
    return replace(sys_spec, chip=chip_spec), prof.describe(), profile_knobs(prof, DEFAULT_KNOBS)


def resolve(
    model: str | ModelSpec,
    chip: str,
    seq: int | None,
    global_batch: int,
    tokens: float = 0.0,
    precision: str = "bf16",
    system: str | None = None,
    profile: str | Path | None = None,
    framework: str = "auto",
) -> Resolved:
    m = model if isinstance(model, ModelSpec) else get_model(model)
    sys_spec, prof, prof_knobs = resolve_system(chip, system, profile)
    if framework in (
        "",
        "auto",
    ):  # the chip family's usual framework (Trainium → Neuron, TPU → JAX)
        framework = default_framework(sys_spec.chip.vendor)
    job = make_job(4096 if seq is None else seq, global_batch, tokens, precision, framework)
    return Resolved(m, sys_spec, job, prof, prof_knobs)


def estimate_named(
    model: str | ModelSpec,
    chip: str,
    chips: int,
    *,
    seq: int | None = None,
    global_batch: int = 1024,
    tokens: float = 0.0,
    precision: str = "bf16",
    system: str | None = None,
    profile: str | Path | None = None,
    framework: str = "auto",
    knobs: Knobs | None = None,
    **plan: object,
) -> Estimate:
    """``estimate`` from catalog names and degrees — what ``gigatrain estimate`` prints."""
    r = resolve(model, chip, seq, global_batch, tokens, precision, system, profile, framework)
    if chips > r.system.max_chips:
        raise GigatrainError(
            f"chips={chips:,} exceeds the largest {r.system.slug} cluster ({r.system.max_chips:,})"
        )
    tp = plan.get("tp", 1)
    if isinstance(tp, int) and tp > 0:
        check_tp(r.model, tp)  # the most useful message first: heads, not chip arithmetic
    p = make_plan(chips, **plan)  # type: ignore[arg-type]
    est = estimate(r.model, r.system, r.job, p, knobs or r.knobs(), profile=r.profile)
    return check_estimate(with_evidence(est, r))  # never a NaN, infinite or negative number out


def with_evidence(est: Estimate, r: Resolved) -> Estimate:
    """``est`` with its held-out error bar, evidence label and framework warnings attached."""
    from dataclasses import replace

    fw = r.job.framework
    warnings = tuple(unrunnable_reasons(get_framework(fw).capabilities, r.model, est.plan, fw))
    vendor = r.system.chip.vendor
    if r.profile is None and not fitted_on_vendor(fw, vendor):
        warnings += (
            f"{fw}'s efficiency profile was fitted on other vendors' chips only; on {vendor} "
            "chips the generic profile (fitted on every framework's rows) is used",
        )
    chip = r.system.chip
    ceiling = chip.matmul_efficiency_for(r.job.precision)
    extra: dict[str, Any] = annotate(est, fw, chip.vendor, chip.slug, ceiling)
    return replace(est, warnings=warnings, **extra)


#: a winner above this fraction of HBM is flagged: the held-out memory error (median ~11 % over
#: the 1,768 rows that report peak memory) leaves no margin there
MEMORY_FLAG_FRACTION = 0.9
#: below this MFU a plan is flagged as a poor use of the chips
LOW_MFU = 0.10


def annotate_search(res: SearchResult, r: Resolved) -> SearchResult:
    """``res`` with error bars and evidence on every candidate's estimate and the notes a
    practitioner needs: plausibility flags on the winner, why it beats the runner-up, and which
    layouts the framework cannot run (so the search never offered them)."""
    from dataclasses import replace

    top = tuple(replace(c, estimate=with_evidence(c.estimate, r)) for c in res.top)
    return replace(res, top=top, notes=(*res.notes, *search_notes(replace(res, top=top), r)))


def search_notes(res: SearchResult, r: Resolved) -> list[str]:
    notes: list[str] = []
    if not res.top:
        return notes
    best = res.top[0]
    e, plan = best.estimate, best.plan
    vendor = r.system.chip.vendor
    record = best_measured_mfu(vendor, best.chips)
    if record is not None and e.mfu > record:
        notes.append(
            f"plausibility: MFU {e.mfu:.1%} is above the best measured on {vendor} chips at "
            f"{scale_bucket(best.chips)} chips ({record:.1%}); treat it as optimistic"
        )
    if e.mfu < LOW_MFU:
        notes.append(
            f"plausibility: MFU {e.mfu:.1%} is below {LOW_MFU:.0%}: too many chips for this model "
            "and batch; fewer chips or a larger global batch use them better"
        )
    inner = r.system.tiers[0]
    if plan.tp > inner.domain_chips:
        notes.append(
            f"plausibility: TP={plan.tp} spans {plan.tp // inner.domain_chips} {inner.name} domains of "
            f"{inner.domain_chips} chips; published recipes keep TP inside one (restrict it with --tp 1,2,4,8)"
        )
    if best.memory_frac > MEMORY_FLAG_FRACTION:
        notes.append(
            f"plausibility: uses {best.memory_frac:.0%} of HBM; the model's memory error leaves "
            f"no margin above {MEMORY_FLAG_FRACTION:.0%} (--max-memory-frac {MEMORY_FLAG_FRACTION})"
        )
    runner = next((c for c in res.top[1:] if _layout(c.plan) != _layout(plan)), None)
    if runner is not None:
        notes.append(_why_better(best, runner))
    caps = get_framework(r.job.framework).capabilities
    excluded = [f"ZeRO-{z}" for z in (2, 3) if z not in caps.zero_stages]
    excluded += [
        f"ZeRO-{z} with PP"
        for z in (2, 3)
        if z in caps.zero_stages and z not in caps.zero_stages_with_pp
    ]
    excluded += [
        name
        for flag, name in (
            (caps.interleaved, "interleaved pipelines"),
            (caps.context_parallel, "CP"),
            (caps.expert_parallel, "EP"),
            (caps.uneven_pipeline, "uneven pipeline stages"),
        )
        if not flag
    ]
    if excluded:
        notes.append(
            f"{r.job.framework} cannot run {', '.join(excluded)}, so the search left them out "
            "(--framework changes the capability table)"
        )
    return notes


def _layout(p: Plan) -> tuple[int, ...]:
    """What makes two plans different layouts (not a hybrid-shard group or a recompute tie)."""
    return (p.tp, p.pp, p.dp, p.cp, p.ep, p.vpp, p.micro_batch, p.zero_stage)


def _why_better(best: Candidate, runner: Candidate) -> str:
    """One line: by how much the winner beats the next different layout, and the time leaves
    that differ most."""
    a, b = best.estimate.time_breakdown, runner.estimate.time_breakdown
    diffs = sorted(
        ((b.get(k, 0.0) - a.get(k, 0.0), k) for k in set(a) | set(b)), key=lambda x: -abs(x[0])
    )
    parts = [
        f"{k.split('/', 1)[-1].replace('/', ' ')} {'−' if d > 0 else '+'}{abs(d):.3g} s"
        for d, k in diffs[:3]
        if abs(d) > 1e-6
    ]
    gain = runner.step_time_s / best.step_time_s - 1
    if not parts or gain < 5e-4:  # a tie: the order is the search's tie-break (less memory)
        return (
            f"why: {best.plan.describe()} and the next layout ({runner.plan.describe()}) take "
            "the same time per step (a tie: ordered by memory, then by search order)"
        )
    return (
        f"why: {best.plan.describe()} beats the next layout ({runner.plan.describe()}) by {gain:.1%} "
        f"per step: {', '.join(parts)}"
    )


# ---------------------------------------------------------------- serving and post-training
# The entry points ``gigatrain infer | finetune | rl``, the web API (/api/infer, /api/finetune,
# /api/rl) and the report share: names in, priced estimates out (see each module's docstring).
# (``name as name``: explicit re-exports, which ``ruff --fix`` keeps)
from .posttrain.named import FinetuneRun as FinetuneRun  # noqa: E402
from .posttrain.named import finetune_named as finetune_named  # noqa: E402
from .posttrain.named import rl_named as rl_named  # noqa: E402
from .serving.named import infer_named as infer_named  # noqa: E402
from .serving.named import parse_duration as parse_duration  # noqa: E402
from .serving.named import price_for as price_for  # noqa: E402
