"""Serving by name: catalog slugs, text durations and a demand in → a priced serving search out.

The one entry point the CLI (``gigatrain infer``), the JSON API (``/api/infer``) and the HTML
report share (re-exported by :mod:`gigatrain.api`), so none of them re-implements the steps:
resolve model and system, validate lengths/demand, read ``"500ms"``-style durations, pick the
catalog price (:func:`gigatrain.economics.cost.choose_price`, newest record of the pricing kind),
then :func:`gigatrain.serving.search.search_serving`.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from ..catalog.hardware import default_system_for, get_chip, get_system
from ..catalog.models import get_model
from ..catalog.prices import choose_price
from ..errors import GigatrainError
from ..units import parse_count
from .deploy import SERVING_DTYPES, Request, check_dtype
from .search import ServingSearchResult, ServingTargets, search_serving

MAX_LEN_TOKENS = 10_000_000
MAX_SPEC_TOKENS = 8
_DUR = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(us|µs|ms|s|min)?\s*$", re.IGNORECASE)
_DUR_SCALE = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, None: 1e-3}


def parse_duration(field: str, text: str | float | None) -> float | None:
    """Seconds from ``"500ms"`` (0.5), ``"0.5s"`` (0.5) or a bare number (milliseconds)."""
    if text is None:
        return None
    m = _DUR.match(str(text))
    if not m:
        raise GigatrainError(
            f"{field}: cannot read {str(text)[:40]!r} as a duration (examples: 500ms, 0.5s, 30)"
        )
    v = float(m.group(1)) * _DUR_SCALE[m.group(2).lower() if m.group(2) else None]
    if not v > 0 or not math.isfinite(v):
        raise GigatrainError(f"{field} must be a positive duration, got {str(text)[:40]!r}")
    return v


def price_for(chip: str, pricing: str, usd_per_chip_hour: float | None) -> tuple[float | None, str]:
    """(USD per chip-hour, where it came from): the one given, else the catalog's newest
    ``pricing`` record for ``chip``; ``(None, why)`` when there is none or it is a purchase
    price (a $/token figure needs a rental rate)."""
    if usd_per_chip_hour is not None:
        if not usd_per_chip_hour > 0 or not math.isfinite(usd_per_chip_hour):
            raise GigatrainError(f"usd_per_chip_hour must be positive, got {usd_per_chip_hour!r}")
        return usd_per_chip_hour, "given"

    try:
        p = choose_price(chip, pricing)
    except GigatrainError as e:
        return None, f"no price ({e})"
    if p.kind == "purchase":
        return None, "own pricing needs a rental price for $/token; give usd_per_chip_hour"
    return p.value, p.describe()


def precisions(text: str, peaks: dict[str, float]) -> tuple[str, ...]:
    """``auto`` = bf16 plus every narrower format the chip has a tensor-core peak for; else a
    comma-separated list of serving weight formats."""
    if text.strip().lower() == "auto":
        return ("bf16", *(d for d in ("fp8", "fp4") if peaks.get(d)))
    vals = tuple(
        check_dtype("precision", p.strip(), SERVING_DTYPES) for p in text.split(",") if p.strip()
    )
    if not vals:
        raise GigatrainError(
            f"precision takes 'auto' or a comma-separated list of {', '.join(SERVING_DTYPES)}"
        )
    return vals


def infer_named(
    model: str,
    chip: str,
    *,
    input_len: int = 1024,
    output_len: int = 1024,
    ttft: str | float | None = None,
    tpot: str | float | None = None,
    requests_per_s: float | None = None,
    tokens_per_s: str | float | None = None,
    precision: str = "auto",
    max_replica_chips: int = 64,
    spec: int = 0,
    disaggregate: bool = False,
    pricing: str = "on_demand",
    usd_per_chip_hour: float | None = None,
    system: str | None = None,
) -> ServingSearchResult:
    """The best serving deployment of ``model`` on ``chip`` under TTFT/TPOT targets, the fleet
    for a demand (``requests_per_s`` or output ``tokens_per_s``, e.g. ``"10M"``) and $ per
    million tokens at the catalog (or given) chip-hour price. ``ttft``/``tpot``: ``"500ms"``,
    ``"0.5s"`` or milliseconds."""
    for name, v in (("input_len", input_len), ("output_len", output_len)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1 or v > MAX_LEN_TOKENS:
            raise GigatrainError(f"{name}={v!r} must be in 1..{MAX_LEN_TOKENS:,} tokens")
    if requests_per_s is not None and not (requests_per_s > 0 and math.isfinite(requests_per_s)):
        raise GigatrainError(f"requests_per_s must be positive, got {requests_per_s!r}")
    if spec < 0 or spec > MAX_SPEC_TOKENS:
        raise GigatrainError(f"spec={spec} must be in 0..{MAX_SPEC_TOKENS} draft tokens")
    if max_replica_chips < 1 or max_replica_chips > 4096:
        raise GigatrainError(f"max_replica_chips={max_replica_chips} must be in 1..4096")
    m = get_model(model)
    sysm = get_system(system) if system else default_system_for(get_chip(chip))
    if system and sysm.chip.slug != get_chip(chip).slug:
        raise GigatrainError(f"system {system!r} is built from {sysm.chip.slug}, not {chip!r}")
    price, note = price_for(sysm.chip.slug, pricing, usd_per_chip_hour)
    tps = None
    if tokens_per_s is not None:
        tps = (
            parse_count("tokens_per_s", tokens_per_s)
            if isinstance(tokens_per_s, str)
            else float(tokens_per_s)
        )
        if not (tps > 0 and math.isfinite(tps)):
            raise GigatrainError(f"tokens_per_s must be positive, got {tokens_per_s!r}")
    targets = ServingTargets(
        ttft_s=parse_duration("ttft", ttft),
        tpot_s=parse_duration("tpot", tpot),
        requests_per_s=requests_per_s,
        output_tokens_per_s=tps,
    )
    res = search_serving(
        m,
        sysm,
        Request(input_len, output_len),
        targets,
        precisions=precisions(precision, sysm.chip.peak_flops_per_s),
        max_replica_chips=max_replica_chips,
        spec_tokens=(0, spec) if spec else (0,),
        disaggregate=disaggregate,
        usd_per_chip_hour=price,
    )
    return replace(res, price_note=note)
