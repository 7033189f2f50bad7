"""Specs from user input, validated: one line naming the field, the value and what is valid."""

from __future__ import annotations

from .catalog.frameworks import get_framework
from .errors import GigatrainError, require_positive
from .specs import PRECISIONS, RECOMPUTE_MODES, Job, Plan

MAX_CHIPS = 10_000_000
MAX_SEQ = 10_000_000


def make_job(seq: int, global_batch: int, tokens: float = 0.0, precision: str = "bf16",
             framework: str = "megatron") -> Job:
    require_positive("seq", seq, integer=True, maximum=MAX_SEQ)
    require_positive("global_batch", global_batch, integer=True, maximum=1e9)
    if tokens < 0 or tokens != tokens:
        raise GigatrainError(f"tokens must be >= 0, got {tokens!r}")
    if precision not in PRECISIONS:
        raise GigatrainError(f"precision={precision!r}; valid: {', '.join(PRECISIONS)}")
    if framework != "auto":  # "auto" is resolved per chip family where the chip is known
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
