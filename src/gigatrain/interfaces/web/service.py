"""What the web API and the HTML report return: library calls in, JSON-safe data out.

Presentation only (DESIGN.md principle 10): every number comes from the same library function
the CLI calls (``api.estimate_named``, ``validate.score.summarize``, the search and economics
modules). This module resolves names, bounds what a request may ask for and turns results
into plain JSON (no NaN or infinity: a non-finite number becomes ``null``). It imports no web
framework, so ``report.py`` uses it without FastAPI installed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

from ...errors import GigatrainError, unknown_name
from ...model.plans import divisors
from ...specs import PLAN_DEGREES, PRECISIONS, RECOMPUTE_MODES

#: a pasted config.json may hold at most this many keys (all levels) and this much nesting
MAX_CONFIG_KEYS = 400
MAX_CONFIG_DEPTH = 4
PASTED_SLUG = "pasted-config"


def plotly_js_path() -> Path | None:
    """plotly.js as bundled with the installed ``plotly`` Python package (MIT)."""
    try:
        import plotly
    except ImportError:
        return None
    p = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return p if p.is_file() else None


def swagger_ui_dir() -> Path | None:
    """Swagger UI's files from the installed ``swagger-ui-bundle-v2`` package (Apache-2.0),
    so that ``/docs`` needs no CDN; ``None`` when it is not installed."""
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    p = Path(swagger_ui_bundle.swagger_ui_path)
    return p if (p / "swagger-ui-bundle.js").is_file() else None


CATALOG_KINDS = ("chips", "systems", "models", "prices", "economics", "frameworks")


def clean(obj: Any) -> Any:
    """``obj`` as plain JSON data: dataclasses and mappings to dicts, NumPy scalars and
    arrays to Python numbers and lists, NaN and ±inf to ``None``."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Enum):
        return clean(obj.value)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: clean(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [clean(v) for v in obj]
    if hasattr(obj, "tolist"):  # NumPy scalar or array
        return clean(obj.tolist())
    if hasattr(obj, "to_dict"):
        return clean(obj.to_dict())
    return str(obj)


# ---------------------------------------------------------------- names → catalog entries
def model_slug(name: str) -> str:
    """A catalog model slug for ``name`` (case-insensitive). Never a path: ``get_model`` also
    reads files, so the web layer looks names up here first."""
    from ...catalog.models import load_models

    models = load_models()
    key = str(name).strip()
    for cand in (key, key.lower()):
        if cand in models:
            return cand
    raise unknown_name("model", key[:80], models)


def _check_config(cfg: Any, depth: int = 0, count: list[int] | None = None) -> None:
    count = [0] if count is None else count
    if depth > MAX_CONFIG_DEPTH:
        raise GigatrainError(f"config.json is nested deeper than {MAX_CONFIG_DEPTH} levels")
    if isinstance(cfg, Mapping):
        items: Any = cfg.values()
        count[0] += len(cfg)
    elif isinstance(cfg, list):
        items = cfg
        count[0] += len(cfg)
    else:
        if isinstance(cfg, float) and not math.isfinite(cfg):
            raise GigatrainError(f"config.json holds a non-finite number ({cfg!r})")
        return
    if count[0] > MAX_CONFIG_KEYS:
        raise GigatrainError(f"config.json has more than {MAX_CONFIG_KEYS} keys and items")
    for v in items:
        _check_config(v, depth + 1, count)


def model_from_config(cfg: Any) -> Any:
    """A :class:`ModelSpec` from a pasted Hugging Face ``config.json`` (``from_hf_config``)."""
    from ...catalog.models import from_hf_config

    if not isinstance(cfg, Mapping):
        raise GigatrainError("config.json must be a JSON object")
    _check_config(cfg)
    try:
        return from_hf_config(dict(cfg), PASTED_SLUG)
    except GigatrainError as e:  # the slug is ours, not the user's: leave it out
        raise GigatrainError(str(e).replace(f"{PASTED_SLUG}: ", "")) from None
    except (TypeError, ValueError, OverflowError, KeyError, AttributeError) as e:
        # a value of the wrong type deep inside the config (e.g. a list where a number goes)
        raise GigatrainError(
            f"config.json: a field has the wrong type ({type(e).__name__}: {e})"[:300]
        ) from None


# ---------------------------------------------------------------- catalog
def catalog(kind: str) -> list[dict[str, Any]]:
    """Catalog records of ``kind`` with their sources and dates: what
    ``gigatrain catalog KIND --json`` prints (``render_catalog.catalog_records``)."""
    from ..render_catalog import catalog_records

    if kind not in CATALOG_KINDS:
        raise GigatrainError(f"unknown catalog kind {kind!r}; valid: {', '.join(CATALOG_KINDS)}")
    return clean(catalog_records(kind))


def choices() -> dict[str, Any]:
    """What the page's pickers offer: slugs with a display name (and chips' default systems)."""
    from ...catalog import hardware
    from ...catalog.frameworks import load_frameworks
    from ...catalog.models import load_models

    systems = hardware.load_systems()
    return {
        "models": [{"slug": m.slug, "name": m.name or m.slug} for m in load_models().values()],
        "chips": [
            {"slug": c.slug, "name": c.name, "hbm_bytes": c.hbm_bytes, "system": _default_system(c)}
            for c in hardware.load_chips().values()
        ],
        "systems": [
            {"slug": s.slug, "name": s.name, "chip": s.chip.slug, "max_chips": s.max_chips}
            for s in systems.values()
        ],
        "frameworks": list(load_frameworks()),
        "precisions": list(PRECISIONS),
        "recompute": list(RECOMPUTE_MODES),
        # the plan form's degree inputs (the page adds one for any degree it lacks)
        "plan_degrees": [
            {"name": d.name, "help": d.help, "splits_chips": d.splits_chips} for d in PLAN_DEGREES
        ],
    }


def _default_system(chip: Any) -> str | None:
    from ...catalog.hardware import default_system_for

    try:
        return default_system_for(chip).slug
    except GigatrainError:
        return None


# ---------------------------------------------------------------- estimate
PLAN_FIELDS = (
    *(d.name for d in PLAN_DEGREES),
    "dp",
    "zero_stage",
    "fsdp_shard",
    "recompute",
    "sequence_parallel",
)


def estimate_object(
    *,
    chip: str,
    chips: int,
    model: str | None = None,
    config: Mapping | None = None,
    system: str | None = None,
    seq: int = 4096,
    global_batch: int = 1024,
    tokens: float = 0.0,
    precision: str = "bf16",
    framework: str = "megatron",
    round_chips: bool = False,
    check: bool = True,
    **plan: Any,
) -> Any:
    """The :class:`Estimate` of one plan: ``api.estimate_named`` for a catalog model; for a
    pasted config.json the same resolution steps (``resolve_system``, ``make_job``,
    ``make_plan``) feed ``model.estimate.estimate`` with the pasted :class:`ModelSpec`.

    With ``round_chips``, ``chips`` is an upper bound (a power envelope's fleet) and the plan
    runs on :func:`runnable_chips` of it. With ``check`` the result passes
    :func:`check_estimate` (callers that convert it to a dict anyway check that instead)."""
    plan = {k: v for k, v in plan.items() if k in PLAN_FIELDS}
    if round_chips:
        plan.pop("dp", None)
        chips = fleet_rounding(chip, system, chips, global_batch, plan)[0]
    with _config_errors(config is not None):
        est = _estimate_object(
            chip=chip,
            chips=chips,
            model=model,
            config=config,
            system=system,
            seq=seq,
            global_batch=global_batch,
            tokens=tokens,
            precision=precision,
            framework=framework,
            **plan,
        )
        if check:
            check_estimate(est.to_dict())
    return est


def _estimate_object(
    *,
    chip: str,
    chips: int,
    model: str | None,
    config: Mapping | None,
    system: str | None,
    seq: int,
    global_batch: int,
    tokens: float,
    precision: str,
    framework: str,
    **plan: Any,
) -> Any:
    from ... import api

    if config is None:
        if not model:
            raise GigatrainError("give a catalog model name or paste a config.json")
        return api.estimate_named(
            model_slug(model),
            chip,
            chips,
            seq=seq,
            global_batch=global_batch,
            tokens=tokens,
            precision=precision,
            system=system,
            framework=framework,
            **plan,
        )
    from ...catalog.frameworks import knobs_for
    from ...model.estimate import estimate as estimate_spec

    spec = model_from_config(config)
    sys_spec, *_ = api.resolve_system(chip, system)
    job = api.make_job(seq, global_batch, tokens, precision, framework)
    if chips > sys_spec.max_chips:
        raise GigatrainError(
            f"chips={chips:,} exceeds the largest {sys_spec.slug} cluster ({sys_spec.max_chips:,})"
        )
    return estimate_spec(
        spec,
        sys_spec,
        job,
        api.make_plan(chips, **plan),
        knobs_for(framework, sys_spec.chip.vendor),
    )


def fleet_rounding(
    chip: str, system: str | None, chips: int, global_batch: int, plan: Mapping[str, Any]
) -> tuple[int, str]:
    """:func:`runnable_chips` for ``chips`` on ``chip``'s (or the named) system."""
    from ... import api

    sys_spec, *_ = api.resolve_system(chip, system)
    return runnable_chips(chips, sys_spec.max_chips, global_batch, **plan)


def runnable_chips(
    fleet: int,
    cluster_max: int,
    global_batch: int,
    *,
    tp: int = 1,
    pp: int = 1,
    cp: int = 1,
    micro_batch: int = 1,
    **_: Any,
) -> tuple[int, str]:
    """The largest chip count ≤ ``fleet`` (and ≤ the system's ``cluster_max``) that a plan
    with these degrees can run: tp·pp·cp × dp, where dp × micro_batch divides the global batch
    (``model.plans.check_plan``'s rule). Returns (count, a sentence saying why)."""
    cap = min(int(fleet), int(cluster_max))
    model_par = tp * pp * cp
    if global_batch % micro_batch:
        raise GigatrainError(
            f"micro_batch={micro_batch} does not divide global_batch="
            f"{global_batch}; no chip count can run this plan"
        )
    if model_par > cap:
        raise GigatrainError(
            f"tp×pp×cp = {model_par:,} needs more chips than the {cap:,} available"
        )
    dp = max(int(d) for d in divisors(global_batch // micro_batch) if d <= cap // model_par)
    chips = model_par * dp
    why = (
        f"{chips:,} of {int(fleet):,} chips: tp×pp×cp = {model_par:,} times dp = {dp:,}, "
        f"the largest data-parallel size that divides the global batch ({global_batch:,} "
        f"sequences of micro-batch {micro_batch})"
    )
    if cap < fleet:
        why += f", within the largest cluster of this system ({cluster_max:,} chips)"
    return chips, why


#: estimate figures that can never be negative (or NaN/infinite) for a real model
_NON_NEGATIVE = (
    "memory_bytes",
    "step_time_s",
    "tokens_per_s",
    "tokens_per_s_per_chip",
    "model_flops_per_token",
    "params_total",
    "params_active",
    "microbatches",
)


def check_estimate(d: Mapping[str, Any]) -> None:
    """The output guard: a pasted config whose numbers pass every field check can still
    describe no real model (negative layers after a dense prefix, top-k below zero). Refuse
    an estimate (``Estimate.to_dict()``) with a negative, NaN or infinite figure, or an MFU
    above 100%, naming it."""
    figures = {k: d.get(k) for k in _NON_NEGATIVE}
    figures |= {
        k: v
        for part in ("memory_breakdown", "time_breakdown")
        for k, v in (d.get(part) or {}).items()
    }
    for k, v in figures.items():
        if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise GigatrainError(
                f"{k} comes out as {v!r}: the model's numbers describe no "
                "real model (check layer, expert and top-k counts)"
            )
    for k in ("mfu", "hfu", "mfu_noncausal"):
        v = d.get(k)
        if not isinstance(v, int | float) or not 0 <= v <= 1:
            raise GigatrainError(
                f"{k} comes out as {v!r}, outside 0–100%: the model's numbers "
                "describe no real model (check layer, expert and top-k counts)"
            )
    if not d.get("params_total"):
        raise GigatrainError("the model has no parameters")


@contextmanager
def _config_errors(pasted: bool) -> Iterator[None]:
    """For a pasted config.json, arithmetic failures inside the library (a math domain
    error, an overflow) are the config's fault: a one-line :class:`GigatrainError`."""
    if not pasted:
        yield
        return
    try:
        yield
    except GigatrainError:
        raise
    except (ArithmeticError, ValueError, TypeError, KeyError, IndexError) as e:
        raise GigatrainError(
            f"config.json: its numbers give no valid model ({type(e).__name__}:"
            f" {' '.join(str(e).split())})"[:300]
        ) from None


def plan_label(plan: Any) -> str:
    """``Plan.describe()`` plus what it leaves out but plans can differ by: a hybrid FSDP
    group and sequence parallelism (so the rows of a search table are distinguishable)."""
    text = plan.describe()
    if plan.zero_stage == 3 and 0 < plan.fsdp_shard < plan.dp * plan.cp:
        text += f" fsdp_shard={plan.fsdp_shard}"
    if plan.tp > 1:
        text += " sp" if plan.sequence_parallel else " no-sp"
    return text


def estimate_dict(
    e: Any, error_bars: bool = True, d: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An :class:`Estimate` as JSON (``Estimate.to_dict``, or ``d`` when already made), with
    the plan described and the validation error bars of its chip."""
    out = clean(e.to_dict() if d is None else d)
    out["describe"] = plan_label(e.plan)
    if error_bars:
        out["error_bars"] = chip_error_bars(e.chip)
    return out


def estimate(**kw: Any) -> dict[str, Any]:
    """``gigatrain estimate --json`` plus the describe line and the chip's error bars; with
    ``round_chips``, also the fleet size asked for and why the plan runs on fewer chips."""
    est = estimate_object(check=False, **kw)
    d = est.to_dict()
    with _config_errors(kw.get("config") is not None):
        check_estimate(d)
    out = estimate_dict(est, d=d)
    if kw.get("round_chips"):
        out.update(_rounding(kw))
    return out


def _rounding(kw: Mapping[str, Any]) -> dict[str, Any]:
    plan = {k: kw[k] for k in PLAN_FIELDS if k in kw and k != "dp"}
    _, note = fleet_rounding(
        kw["chip"], kw.get("system"), kw["chips"], kw.get("global_batch", 1024), plan
    )
    return {"chips_fleet": kw["chips"], "chips_note": note}


# ---------------------------------------------------------------- validation (error bars)
_VALIDATION: dict[str, Any] = {}
_VALIDATION_LOCK = threading.Lock()


def validation_summary() -> dict[str, Any]:
    """``summarize(score_rows(shipped_rows()))`` — the model's own error bars — computed once
    (about a second) and cached for the life of the process, with the scored rows."""
    with _VALIDATION_LOCK:
        if not _VALIDATION:
            from ...validate.runs import shipped_rows
            from ...validate.score import result_dict, score_rows, summarize

            t0 = time.perf_counter()
            results = score_rows(shipped_rows())
            summary = summarize(results)
            _VALIDATION["summary"] = clean(summary)
            _VALIDATION["rows"] = [clean(result_dict(r)) for r in results]
            _VALIDATION["chip_slugs"] = _chip_slugs(list(summary.get("by_chip", {})))
            _VALIDATION["computed_s"] = time.perf_counter() - t0
        return _VALIDATION


def _chip_slugs(chip_types: list[str]) -> dict[str, str | None]:
    """The catalog slug for each chip name the measured runs use (``None`` if not in it)."""
    from ...catalog.hardware import get_chip
    from ...validate.runs import EXTRA_CHIP_KEYS

    out: dict[str, str | None] = {}
    for ct in chip_types:
        try:
            out[ct] = get_chip(EXTRA_CHIP_KEYS.get(ct, ct)).slug
        except GigatrainError:
            out[ct] = None
    return out


def validation(include_rows: bool = False) -> dict[str, Any]:
    v = validation_summary()
    out = {"summary": v["summary"], "chip_slugs": v["chip_slugs"], "computed_s": v["computed_s"]}
    if include_rows:
        out["rows"] = v["rows"]
    return out


def chip_error_bars(chip_slug: str) -> dict[str, Any]:
    """The validation statistics of the measured runs on ``chip_slug`` (and overall)."""
    v = validation_summary()
    by_chip = v["summary"].get("by_chip", {})
    rows = {ct: by_chip[ct] for ct, slug in v["chip_slugs"].items() if slug == chip_slug}
    return {"chip": chip_slug, "by_chip_type": rows, "overall": v["summary"].get("overall")}


# ---------------------------------------------------------------- specs for search / economics
def resolve_specs(
    *,
    chip: str,
    model: str | None = None,
    config: Mapping | None = None,
    system: str | None = None,
    seq: int = 4096,
    global_batch: int = 1024,
    tokens: float = 0.0,
    precision: str = "bf16",
    framework: str = "megatron",
) -> tuple[Any, Any, Any]:
    """(ModelSpec, SystemSpec, Job) as ``api.resolve`` gives them (a pasted config instead of
    a catalog model goes through ``from_hf_config``)."""
    from ... import api

    if config is not None:
        spec = model_from_config(config)
        sys_spec, *_ = api.resolve_system(chip, system)
        return spec, sys_spec, api.make_job(seq, global_batch, tokens, precision, framework)
    if not model:
        raise GigatrainError("give a catalog model name or paste a config.json")
    r = api.resolve(
        model_slug(model), chip, seq, global_batch, tokens, precision, system, framework=framework
    )
    return r.model, r.system, r.job


def _job_kw(kw: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "chip",
        "model",
        "config",
        "system",
        "seq",
        "global_batch",
        "tokens",
        "precision",
        "framework",
    )
    return {k: kw[k] for k in keys if k in kw}


def _figure(fid: str, label: str, value: Any, unit: str) -> dict[str, Any]:
    """One displayed number: the page and the report format ``value`` by ``unit``."""
    return {"id": fid, "label": label, "value": clean(value), "unit": unit}


# ---------------------------------------------------------------- search
def search(
    *,
    chips: int | str,
    objective: str = "time",
    top: int = 10,
    max_memory_frac: float = 1.0,
    deadline_days: float | None = None,
    global_batch_range: str | None = None,
    usd_per_chip_hour: float | None = None,
    pareto: tuple[str, str] | None = None,
    axes: dict[str, list] | None = None,
    max_candidates: int = 20_000_000,
    time_limit_s: float = 10.0,
    **job: Any,
) -> dict[str, Any]:
    """``gigatrain search``: ``search.engine.search`` with the server's bounds on candidates
    and seconds (the library refuses larger searches with a one-line error); ``axes``
    restricts axes as ``search.space.Axes`` does (``{"tp": [1, 2, 4]}``)."""
    from ...search.engine import Constraints
    from ...search.engine import search as run_search
    from ...search.space import Axes

    model, system, jb = resolve_specs(**_job_kw(job))
    cons = Constraints(
        max_memory_frac=max_memory_frac,
        deadline_days=deadline_days,
        global_batch=global_batch_range,
        max_candidates=max_candidates,
        time_limit_s=time_limit_s,
    )
    ax = Axes(**{k: tuple(v) for k, v in (axes or {}).items()})  # type: ignore[arg-type]  # keys checked by the schema
    with _config_errors(job.get("config") is not None):
        res = run_search(
            model,
            system,
            jb,
            chips,
            objective,
            cons,
            top,
            usd_per_chip_hour,
            pareto=pareto,
            axes=ax,
        )
    plans = []
    for c in res.top:
        e = c.estimate
        plans.append(
            {
                "describe": plan_label(c.plan),
                "plan": clean(c.plan),
                "chips": c.chips,
                "global_batch": c.global_batch,
                "step_time_s": clean(c.step_time_s),
                "mfu": clean(e.mfu),
                "memory_bytes": clean(e.memory_bytes),
                "memory_frac": clean(c.memory_frac),
                "fits": e.fits,
                "days_to_train": clean(e.days_to_train),
                "cost_usd": clean(c.cost_usd),
                "energy_j": clean(c.energy_j),
                "per_step": c.per_step,
                "tokens_per_s": clean(e.tokens_per_s),
            }
        )
    d = res.to_dict()
    note = (
        f"{res.evaluated:,} plans evaluated in {res.eval_s:.2f} s "
        f"({res.feasible:,} fit; {res.pruned:,} pruned by the memory bound)"
    )
    return {
        "plans": plans,
        "top": clean(d["top"]),
        "pareto": clean(d["pareto"]),
        "pareto_axes": d["pareto_axes"],
        "counts": d["counts"],
        "chip_counts": d["chip_counts"],
        "global_batches": d["global_batches"],
        "eval_s": res.eval_s,
        "wall_s": res.wall_s,
        "price": clean(d["price"]),
        "diagnosis": clean(d["diagnosis"]),
        "note": note if plans else (res.diagnosis.message if res.diagnosis else "no plan found"),
        "model": res.model,
        "chip": res.chip,
        "system": res.system,
        "objective": res.objective,
    }


# ---------------------------------------------------------------- cost, compare, fleet
COST_OPTION_FIELDS = (
    "pricing",
    "provider",
    "usd_per_chip_hour",
    "chip_price_usd",
    "usd_per_kwh",
    "pue",
    "interruptions_per_chip_day",
    "restart_s",
    "goodput",
    "depreciation_years",
    "dc_capex_usd_per_mw",
    "server_cost_ratio",
)


def _cost_options(kw: dict[str, Any]) -> Any:
    from ...economics.cost import CostOptions

    return CostOptions(**{k: kw[k] for k in COST_OPTION_FIELDS if kw.get(k) is not None})


def cost(
    *,
    chips: int,
    best_plan: bool = False,
    max_candidates: int = 20_000_000,
    time_limit_s: float = 10.0,
    **kw: Any,
) -> dict[str, Any]:
    """``economics.cost.run_cost``: whole-run time with goodput, energy and dollars, for the
    given plan (its estimate is :func:`estimate_object`), or with ``best_plan`` for the plan
    ``economics.cost.plan_for`` finds (what ``gigatrain cost`` does without ``--tp``), the
    search bounded by ``max_candidates`` and ``time_limit_s``."""
    with _config_errors(kw.get("config") is not None):
        return _cost(chips, best_plan, max_candidates, time_limit_s, kw)


def _cost(
    chips: int, best_plan: bool, max_candidates: int, time_limit_s: float, kw: dict[str, Any]
) -> dict[str, Any]:
    from ...economics.cost import plan_for, run_cost

    model, system, job = resolve_specs(**_job_kw(kw))
    if best_plan:
        from ...search.engine import Constraints

        cons = Constraints(max_candidates=max_candidates, time_limit_s=time_limit_s)
        _, est = plan_for(model, system, job, chips, allow_fewer=True, constraints=cons)
        check_estimate(est.to_dict())
    else:
        est = estimate_object(
            chips=chips,
            round_chips=bool(kw.get("round_chips")),
            **_job_kw(kw),
            **{k: kw[k] for k in PLAN_FIELDS if k in kw},
        )
    if not est.fits:
        raise GigatrainError(
            f"the plan {plan_label(est.plan)} does not fit in memory ({est.memory_bytes / 2**30:,.1f}"
            f" GiB per chip of {est.memory_capacity_bytes / 2**30:,.1f} GiB), so the run is not "
            "priced; choose a plan that fits (the best plans list has only such plans)"
        )
    rc = run_cost(model, system, job, est=est, options=_cost_options(kw))
    g, pw, en = rc.goodput, rc.power, rc.energy
    figs = [
        _figure("total", "total cost", rc.total_usd, "usd"),
        *[
            _figure(k.replace("/", "-"), k.removeprefix("cost/") + " cost", v, "usd")
            for k, v in rc.parts.items()
        ],
        _figure("per-exaflop", "USD per 10^18 model FLOP", rc.usd_per_exaflop, "usd"),
        _figure("days", "wall-clock days (with goodput)", rc.days, "days"),
        _figure("compute-days", "failure-free days", rc.compute_s / 86400.0, "days"),
        _figure("chip-hours", "chip-hours", rc.chip_hours, "count"),
        _figure("goodput", "goodput", g.goodput, "ratio"),
        _figure("mtbf", "mean time between interruptions", g.mtbf_s, "s"),
        _figure("ckpt-interval", "checkpoint interval (Daly)", g.interval_s, "s"),
        _figure("ckpt-write", "checkpoint write", g.checkpoint_write_s, "s"),
        # energy is None when the chip's TDP is unknown (a rental price covers power anyway)
        _figure("energy", "facility energy", en.total_j if en else None, "j"),
        _figure("facility-w", "facility power (average)", en.facility_avg_w if en else None, "w"),
        _figure("chip-w", "per chip, all-in average", pw.facility_avg_w if pw else None, "w"),
    ]
    return {
        "cost": clean(rc.to_dict()),
        "figures": figs,
        "estimate": estimate_dict(est, error_bars=False),
        "price": clean(rc.price),
        "assumptions": clean(rc.assumptions),
        "goodput_chart": {
            "title": f"Goodput {100 * g.goodput:.2f}%: wall-clock time lost to failures",
            "labels": ["checkpoint writes", "rework after failures", "restarts"],
            "values": [
                clean(100 * g.loss_checkpoint),
                clean(100 * g.loss_rework),
                clean(100 * g.loss_restart),
            ],
            "unit": "% of wall time",
            "x_title": "where wall-clock time is lost",
        },
    }


def compare(
    *, chips: int, compare: list[str], objective: str = "time", **kw: Any
) -> dict[str, Any]:
    """``economics.cost.compare_chips``: the same model and token budget on each chip, each
    with the plan search picks for it; cost against time with the Pareto front marked."""
    from ...economics.cost import compare_chips

    first = compare[0] if compare else ""
    model, _, job = resolve_specs(**_job_kw({**kw, "chip": first}))
    with _config_errors(kw.get("config") is not None):
        rows = compare_chips(
            model, job, chips, list(compare), options=_cost_options(kw), objective=objective
        )
    out = []
    for r in rows:
        c = r.cost
        out.append(
            {
                "chip": r.chip,
                "label": c.plan,
                "days": clean(c.days),
                "cost_usd": clean(c.total_usd),
                "energy_j": clean(c.energy.total_j) if c.energy else None,
                "pareto": r.pareto,
                "mfu": clean(c.mfu),
                "price_performance_vs_ref": clean(r.price_performance),
                "speed_vs_ref": clean(r.speed),
                "price": clean(c.price),
            }
        )
    return {
        "rows": out,
        "reference": rows[0].chip if rows else None,
        "detail": [clean(r.to_dict()) for r in rows],
    }


def fleet(
    *,
    chip: str,
    power_w: float | None = None,
    power_is_it: bool = False,
    budget_usd: float | None = None,
    chips: int | None = None,
    pue: float | None = None,
    usd_per_kwh: float | None = None,
    mfu: float | None = None,
    precision: str = "bf16",
    job_chips: int | None = None,
    target_params: list[float] | None = None,
    **_: Any,
) -> dict[str, Any]:
    """``economics.fleet.size_fleet``: what a power envelope (W), a budget (USD) or a chip
    count buys (the API parses '2GW' and '$10B' with ``economics.quantities``)."""
    from ...economics.fleet import size_fleet

    f = size_fleet(
        chip,
        power_w=power_w,
        power_is_it=power_is_it,
        budget_usd=budget_usd,
        chips=chips,
        pue=pue,
        usd_per_kwh=usd_per_kwh,
        mfu=mfu,
        precision=precision,
        job_chips=job_chips,
        target_params=tuple(target_params or (1e12,)),
    )
    figs = [
        _figure("chips", "chips", f.chips, "count"),
        _figure("facility-w", "facility power (provisioned)", f.facility_peak_w, "w"),
        _figure("it-w", "IT power (provisioned)", f.it_peak_w, "w"),
        _figure("avg-w", "facility power (average draw)", f.facility_avg_w, "w"),
        _figure("peak-flops", f"peak {f.precision} FLOP/s", f.peak_flops_per_s, "flop_s"),
        _figure(
            "sustained-flops",
            f"sustained FLOP/s at MFU {f.mfu:.3g}",
            f.sustained_flops_per_s,
            "flop_s",
        ),
        _figure("energy-year", "energy per year (average draw)", f.energy_per_year_avg_j, "j"),
        _figure(
            "energy-usd-year",
            "electricity per year (average draw)",
            f.energy_usd_per_year_avg,
            "usd",
        ),
        _figure("capex", "capital cost (hardware + building)", f.capex_usd, "usd"),
        _figure("rent-year", "rent per year at on-demand price", f.rent_usd_per_year, "usd"),
        _figure("flop-year", "model FLOP per year", f.flop_per_year, "flop"),
        _figure(
            "chinchilla-year",
            "Chinchilla-optimal model trainable per year",
            f.chinchilla_params_per_year,
            "params",
        ),
    ]
    for i, t in enumerate(f.targets):
        figs.append(
            _figure(
                f"target-{i}",
                f"{t.name}: days on {t.chips:,} chips (goodput {100 * t.goodput:.0f}%)",
                None if t.wall_s != t.wall_s or t.wall_s == float("inf") else t.wall_s / 86400.0,
                "days",
            )
        )
    return {
        "fleet": clean(f.to_dict()),
        "chips": f.chips,
        "figures": figs,
        "assumptions": clean(f.assumptions),
    }


# ---------------------------------------------------------------- optional modules
def _has(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def features() -> dict[str, bool]:
    """Which optional library modules this build has (search and economics land separately)."""
    return {
        "search": _has("gigatrain.search.engine"),
        "cost": _has("gigatrain.economics.cost"),
        "compare": _has("gigatrain.economics.cost"),  # compare_chips lives in cost
        "fleet": _has("gigatrain.economics.fleet"),
        "goodput": _has("gigatrain.economics.goodput"),
    }


# ---------------------------------------------------------------- serving and post-training
def _seconds_text(v: float | None) -> str | None:
    """An SI duration as the text ``infer_named`` reads (a bare number would be ms)."""
    return None if v is None else f"{float(v)!r}s"


def infer(
    *, model: str, chip: str, ttft_s: float | None = None, tpot_s: float | None = None, **kw: Any
) -> dict[str, Any]:
    """``gigatrain infer --json`` (``serving.named.infer_named``, re-exported by
    ``gigatrain.api``) plus the displayed figures. A request no deployment meets is a
    :class:`NoFeasiblePlanError` with the search's diagnosis."""
    from ...errors import NoFeasiblePlanError
    from ...serving.named import infer_named

    res = infer_named(
        model_slug(model), chip, ttft=_seconds_text(ttft_s), tpot=_seconds_text(tpot_s), **kw
    )
    if res.best is None:
        raise NoFeasiblePlanError(res.diagnosis or "no deployment fits")
    return infer_dict(res)


def infer_dict(res: Any) -> dict[str, Any]:
    """A :class:`ServingSearchResult` as the API returns it: ``to_dict()`` plus the best
    deployment's describe line and the displayed figures (the report uses it too)."""
    out = clean(res.to_dict())
    b, f = res.best, res.fleet
    if b is None:
        out["describe"], out["figures"] = None, []
        return out
    out["describe"] = b.deployment.describe()
    out["figures"] = [
        _figure("replica", "chips per replica", b.replica_chips, "count"),
        _figure(
            "concurrency", "concurrent requests per replica", b.deployment.concurrency, "count"
        ),
        _figure("ttft", "time to first token", b.ttft_s, "s"),
        _figure("tpot", "time per output token", b.tpot_s, "s"),
        _figure("tps_user", "tokens/s per user", b.tokens_per_s_per_user, "tok/s"),
        _figure("tps_chip", "output tokens/s per chip", b.output_tokens_per_s_per_chip, "tok/s"),
        _figure("max_conc", "max concurrency that fits", b.max_concurrency, "count"),
        _figure("usd_in", "$ per million input tokens", b.usd_per_m_input_tokens, "usd"),
        _figure("usd_out", "$ per million output tokens", b.usd_per_m_output_tokens, "usd"),
        _figure("j_tok", "joules per output token (facility)", b.joules_per_output_token, "J"),
        _figure("fleet_chips", "fleet chips for the demand", f.chips if f else None, "count"),
        _figure("fleet_usd_h", "fleet $ per hour", f.usd_per_hour if f else None, "usd"),
    ]
    return out


def finetune(
    *, model: str, chip: str, chips: int, zero_stage: int = 1, **kw: Any
) -> dict[str, Any]:
    """``gigatrain finetune --json`` (``posttrain.named.finetune_named``, re-exported by ``gigatrain.api``) without the training model's
    full estimate, plus the plan's describe line and the displayed figures."""
    from ...posttrain.named import finetune_named

    return finetune_dict(finetune_named(model_slug(model), chip, chips, zero=zero_stage, **kw))


def finetune_dict(run: Any) -> dict[str, Any]:
    """A :class:`FinetuneRun` as the API returns it (without the full training estimate)."""
    e = run.estimate
    out = clean({k: v for k, v in run.to_dict().items() if k != "base"})
    out["describe"] = e.plan.describe()
    out["figures"] = [
        _figure("step", "step time", e.step_time_s, "s"),
        _figure("tps_chip", "tokens/s per chip", e.tokens_per_s_per_chip, "tok/s"),
        _figure("memory", "memory per chip", e.memory_bytes, "bytes"),
        _figure("trainable", "trainable parameters", e.trainable_params, "params"),
        _figure("days", "days for the tokens", e.days_to_train, "days"),
        _figure("cost", "cost", run.cost_usd, "usd"),
    ]
    return out


def rl(*, model: str, chip: str, chips: int, **kw: Any) -> dict[str, Any]:
    """``gigatrain rl --json`` (``posttrain.named.rl_named``, re-exported by ``gigatrain.api``) plus the training plan's describe line, the
    price source and the displayed figures."""
    from ...posttrain.named import rl_named

    return rl_dict(rl_named(model_slug(model), chip, chips, **kw))


def rl_dict(e: Any) -> dict[str, Any]:
    """An :class:`RLEstimate` as the API returns it, with the price source."""
    out = clean(e.to_dict())
    out["describe"] = e.train_plan.describe()
    out["price"] = next((n.removeprefix("price: ") for n in e.notes if n.startswith("price: ")), "")
    out["figures"] = [
        _figure("step", "time per RL step", e.step_time_s, "s"),
        _figure("rollout_share", "rollout share of the step", e.rollout_share, "ratio"),
        _figure("tps_chip", "tokens/s per chip", e.tokens_per_s_per_chip, "tok/s"),
        _figure("days", "days for the steps", e.days, "days"),
        _figure("cost", "cost", e.cost_usd, "usd"),
    ]
    return out
