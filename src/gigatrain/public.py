"""The functions ``import gigatrain`` offers: names and numbers in, result dataclasses out.

Thin wrappers over :mod:`gigatrain.api`, :mod:`gigatrain.search.engine` and
:mod:`gigatrain.economics` — the same functions the CLI and the web app call — that accept the
CLI's friendly values (``tokens="15T"``, ``power="2GW"``, ``chips="1024-4096"``). Every
estimate they return has passed :func:`gigatrain.guard.check_estimate`. Bad input raises
:class:`gigatrain.errors.GigatrainError` with one line naming the field, value and what is valid.
Each result has ``to_dict()`` for JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import GigatrainError
from .guard import check_estimate

if TYPE_CHECKING:
    from .economics.claims import CheckReport
    from .economics.cost import ComparisonRow, CostOptions, RunCost
    from .economics.fleet import Fleet
    from .model.estimate import Estimate
    from .search.engine import SearchResult
    from .specs import ModelSpec

Number = int | float


def _count(field: str, value: Number | str | None, default: float = 0.0) -> float:
    """``15e12``, ``"15T"``, ``"1.5 million"`` -> a float (None -> ``default``)."""
    if value is None:
        return default
    from .economics.quantities import parse_count_words

    return parse_count_words(field, value)


def estimate(
    model: str | ModelSpec,
    chip: str,
    chips: int,
    *,
    seq: int = 4096,
    global_batch: int = 1024,
    tokens: Number | str = 0,
    precision: str = "bf16",
    system: str | None = None,
    framework: str = "auto",
    profile: str | Path | None = None,
    tp: int = 1,
    pp: int = 1,
    cp: int = 1,
    ep: int = 1,
    dp: int | None = None,
    vpp: int = 1,
    micro_batch: int = 1,
    zero_stage: int = 1,
    fsdp_shard: int = 0,
    recompute: str = "selective",
    sequence_parallel: bool = True,
) -> Estimate:
    """Memory per rank and step time of one parallel plan (``gigatrain estimate``).

    ``model``: catalog slug or a ``.yaml``/``config.json`` path; ``chip``: catalog slug;
    degrees ``tp·pp·cp·dp`` must multiply to ``chips`` (``dp`` defaults to the rest).
    """
    from .api import estimate_named

    tok = _count("tokens", tokens) if tokens not in (0, "0", "") else 0.0
    return estimate_named(
        model,
        chip,
        chips,
        seq=seq,
        global_batch=global_batch,
        tokens=tok,
        precision=precision,
        system=system,
        profile=profile,
        framework=framework,
        tp=tp,
        pp=pp,
        cp=cp,
        ep=ep,
        dp=dp,
        vpp=vpp,
        micro_batch=micro_batch,
        zero_stage=zero_stage,
        fsdp_shard=fsdp_shard,
        recompute=recompute,
        sequence_parallel=sequence_parallel,
    )


def search(
    model: str | ModelSpec,
    chip: str,
    chips: int | str,
    *,
    seq: int = 4096,
    global_batch: int | str = 1024,
    tokens: Number | str = 0,
    precision: str = "bf16",
    framework: str = "auto",
    system: str | None = None,
    objective: str = "time",
    top: int = 10,
    pareto: tuple[str, str] | None = None,
    max_memory_frac: float = 1.0,
    deadline_days: float | None = None,
    usd_per_chip_hour: float | None = None,
) -> SearchResult:
    """The best parallel plans (``gigatrain search``): ``chips`` is a count or a range
    ``"A-B"``; ``objective`` is time, time_to_train, cost or energy. When nothing fits,
    ``result.top`` is empty and ``result.diagnosis`` says why (``result.best`` raises)."""
    from .api import resolve
    from .search.engine import Constraints
    from .search.engine import search as run_search
    from .search.space import batch_sizes

    gbs = batch_sizes(global_batch)
    tok = _count("tokens", tokens) if tokens not in (0, "0", "") else 0.0
    r = resolve(model, chip, seq, gbs[0], tok, precision, system, None, framework)
    cons = Constraints(
        max_memory_frac=max_memory_frac, deadline_days=deadline_days, global_batch=global_batch
    )
    res = run_search(
        r.model, r.system, r.job, chips, objective, cons, top, usd_per_chip_hour, pareto=pareto
    )
    for c in (*res.top, *res.pareto):
        check_estimate(c.estimate)
    return res


def _job(
    model: str | ModelSpec,
    tokens: Number | str | None,
    seq: int | None,
    global_batch: int | None,
    precision: str,
    framework: str,
) -> tuple[ModelSpec, Any]:
    """Model and job with ``cost``'s defaults: the catalog's training tokens and sequence
    length, and a ~16M-token global batch."""
    from .api import make_job
    from .catalog.models import get_model, model_info
    from .economics.cost import default_global_batch

    m = model if not isinstance(model, str) else get_model(model)
    try:
        info = model_info(m.slug)
    except KeyError:
        info = {}
    if tokens is None and not info.get("training_tokens"):
        raise GigatrainError(f"tokens is required ({m.slug} has no training_tokens in the catalog)")
    tok = float(info["training_tokens"]) if tokens is None else _count("tokens", tokens)
    s = int(info.get("train_seq_len") or 4096) if seq is None else seq
    from .model.workload import model_flops_per_token

    gb = global_batch or default_global_batch(s, tok * model_flops_per_token(m, s))
    return m, make_job(s, gb, tok, precision, framework)


def cost(
    model: str | ModelSpec,
    chip: str,
    chips: int | str,
    *,
    tokens: Number | str | None = None,
    seq: int | None = None,
    global_batch: int | None = None,
    precision: str = "bf16",
    framework: str = "megatron",
    options: CostOptions | None = None,
) -> RunCost:
    """Whole-run days (with failures and checkpoints), energy and dollars (``gigatrain cost``)
    with the plan search finds fastest. ``tokens`` defaults to the catalog's training tokens;
    ``options`` (:class:`gigatrain.economics.cost.CostOptions`) sets pricing and every
    assumption. Raises GigatrainError when no plan fits."""
    from .api import resolve_system
    from .economics.cost import plan_for, run_cost

    m, job = _job(model, tokens, seq, global_batch, precision, framework)
    system, *_ = resolve_system(chip)
    n = int(_count("chips", chips))
    _, est = plan_for(m, system, job, n, allow_fewer=True, grow_batch=global_batch is None)
    return run_cost(m, system, est.job, est=check_estimate(est), options=options)


def compare(
    model: str | ModelSpec,
    chips: int | str,
    chip_slugs: Sequence[str],
    *,
    tokens: Number | str | None = None,
    seq: int | None = None,
    global_batch: int | None = None,
    precision: str = "bf16",
    framework: str = "megatron",
    objective: str = "time",
    options: CostOptions | None = None,
) -> list[ComparisonRow]:
    """The same run on each chip in ``chip_slugs`` (``gigatrain compare``): time, dollars and
    ratios relative to the first chip, each with the plan search picks for it."""
    from .economics.cost import compare_chips

    m, job = _job(model, tokens, seq, global_batch, precision, framework)
    return compare_chips(
        m, job, int(_count("chips", chips)), list(chip_slugs), options=options, objective=objective
    )


def fleet(
    chip: str,
    *,
    power: Number | str | None = None,
    budget_usd: Number | str | None = None,
    chips: int | str | None = None,
    **kw: Any,
) -> Fleet:
    """Chips, sustained FLOP/s, energy and dollars per year for exactly one of a power
    envelope (``power="2GW"`` or watts), a budget or a chip count (``gigatrain fleet``).
    Other keywords go to :func:`gigatrain.economics.fleet.size_fleet` (``pue``, ``mfu``...)."""
    from .economics.fleet import size_fleet
    from .economics.quantities import parse_power_w, parse_usd

    return size_fleet(
        chip,
        power_w=None if power is None else parse_power_w("power", power),
        budget_usd=None if budget_usd is None else parse_usd("budget_usd", budget_usd),
        chips=None if chips is None else int(_count("chips", chips)),
        **kw,
    )


def check(claims: str | Path | Mapping[str, Any]) -> CheckReport:
    """Check published claims (a YAML file path or the parsed mapping) against arithmetic
    (``gigatrain check``): one verdict per claim."""
    from .economics.claims import check_claims

    return check_claims(claims if isinstance(claims, Mapping) else Path(claims))
