"""Specs from user input, validated: one line naming the field, the value and what is valid."""

from __future__ import annotations

import math

from .catalog.frameworks import get_framework
from .errors import GigatrainError, require_positive
from .specs import PLAN_DEGREES, PRECISIONS, RECOMPUTE_MODES, Job, Plan

MAX_CHIPS = 10_000_000
MAX_SEQ = 10_000_000


def make_job(
    seq: int,
    global_batch: int,
    tokens: float = 0.0,
    precision: str = "bf16",
    framework: str = "megatron",
) -> Job:
    require_positive("seq", seq, integer=True, maximum=MAX_SEQ)
    require_positive("global_batch", global_batch, integer=True, maximum=1e9)
    if tokens < 0 or tokens != tokens:
        raise GigatrainError(f"tokens must be >= 0, got {tokens!r}")
    if precision not in PRECISIONS:
        raise GigatrainError(f"precision={precision!r}; valid: {', '.join(PRECISIONS)}")
    if framework != "auto":  # "auto" is resolved per chip family where the chip is known
        get_framework(framework)  # validates the name
    return Job(
        seq_len=int(seq),
        global_batch_seqs=int(global_batch),
        tokens=float(tokens),
        precision=precision,  # type: ignore[arg-type]
        framework=framework,
    )  # type: ignore[arg-type]


def make_plan(
    chips: int,
    dp: int | None = None,
    zero_stage: int = 1,
    fsdp_shard: int = 0,
    recompute: str = "selective",
    sequence_parallel: bool = True,
    **degrees: int,
) -> Plan:
    """A plan from degrees (``tp=8, pp=16, …``: any of ``specs.PLAN_DEGREES``, default 1);
    ``dp`` defaults to chips / (the product of the degrees that split chips) and must make
    them multiply to ``chips``."""
    require_positive("chips", chips, integer=True, maximum=MAX_CHIPS)
    known = {d.name for d in PLAN_DEGREES}
    for name in degrees:
        if name not in known:
            raise GigatrainError(
                f"unknown parallel degree {name!r}; valid: {', '.join(sorted(known))}"
            )
    for d in PLAN_DEGREES:
        require_positive(d.name, degrees.get(d.name, 1), integer=True, maximum=MAX_CHIPS)
    deg = {d.name: int(degrees.get(d.name, 1)) for d in PLAN_DEGREES}
    if recompute not in RECOMPUTE_MODES:
        raise GigatrainError(f"recompute={recompute!r}; valid: {', '.join(RECOMPUTE_MODES)}")
    if not 0 <= zero_stage <= 3:
        raise GigatrainError(f"zero_stage must be 0, 1, 2 or 3, got {zero_stage}")
    splitting = [d.name for d in PLAN_DEGREES if d.splits_chips]
    model_par = math.prod(deg[n] for n in splitting)
    names = "×".join(splitting)
    values = "×".join(str(deg[n]) for n in splitting)
    if dp is None:
        if chips % model_par:
            raise GigatrainError(
                f"{names} = {values} = {model_par} does not divide chips={chips}; "
                f"choose degrees whose product divides {chips}"
            )
        dp = chips // model_par
    if model_par * dp != chips:
        raise GigatrainError(
            f"degrees multiply to {model_par * dp}, not chips={chips}: "
            + " ".join(f"{n}={deg[n]}" for n in splitting)
            + f" dp={dp}"
        )
    return Plan(
        **deg,
        dp=dp,
        zero_stage=zero_stage,
        fsdp_shard=fsdp_shard,
        recompute=recompute,  # type: ignore[arg-type]
        sequence_parallel=sequence_parallel,
        schedule="interleaved" if deg["vpp"] > 1 else "1f1b",
    )
