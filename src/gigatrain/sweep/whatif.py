"""What-if chips: a catalog chip with overrides, labelled *hypothetical* wherever it is shown.

A what-if chip is built with :func:`dataclasses.replace` on the catalog's
:class:`~gigatrain.specs.ChipSpec` and :class:`~gigatrain.specs.SystemSpec` (from
:func:`gigatrain.catalog.hardware.get_system`); the catalog files are never edited. Its slug
is the variant's name, its ``name`` ends in ``(hypothetical: …)`` and its ``labels`` carry
``hypothetical`` with the list of changes, so every table, JSON answer and Parquet row that
shows the chip says so.

Overrides (value = absolute in the unit named by the key, or ``"xF"`` = F times the base):

* ``dense_tflops: {bf16: …, fp8: …}`` — dense peak per precision (TFLOP/s, ×1e12 → FLOP/s);
* ``hbm_gb`` (×1e9 bytes), ``hbm_tb_per_s`` (×1e12 B/s), ``tdp_w``, ``matmul_efficiency``,
  ``hbm_efficiency``, ``matmul_half_gflop`` (×1e9 FLOP);
* ``scale_up_gb_per_s`` — per-chip one-direction bandwidth of the innermost network tier
  (×1e9 B/s); ``scale_up_domain_chips`` — its size; ``scale_out_gb_per_s`` — every outer tier;
* ``usd_per_chip_hour`` — the rental price (default: the base chip's catalog price, which
  a hypothetical chip does not have);
* ``micro:`` — chip-level overrides (``clock_ghz``, ``engines``, ``sram_mib_per_engine``,
  ``l2_mib``, ``tile_m``, ``tile_n``…) for :mod:`gigatrain.model.chip_level`.

GEMM efficiency of a what-if chip: when the compute array, on-chip memory, HBM bandwidth or
peak change (and ``matmul_efficiency`` is not given explicitly), the chip-level model
predicts the GEMM-efficiency curve of base and variant over transformer-sized GEMMs and the
catalog's measured ``matmul_efficiency`` and ``matmul_half_flops`` are scaled by the ratio of
the two fits (e_max'/e_max, F½'/F½): the catalog calibration keeps its level, the chip-level
model supplies only the change. Attention likewise: the framework's
``attention_efficiency_ratio`` is scaled by the chip-level FlashAttention model's
attention/GEMM ratio of variant over base (:func:`attention_scale`; a faster array with the
same softmax units makes attention relatively slower).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import dataclass, replace
from typing import Any

from ..catalog.hardware import get_chip, get_system
from ..errors import GigatrainError
from ..model import chip_level
from ..search.engine import default_price
from ..specs import ChipSpec, SystemSpec

#: scalar overrides: key -> (ChipSpec field, SI factor)
SCALAR_KEYS: dict[str, tuple[str, float]] = {
    "hbm_gb": ("hbm_bytes", 1e9),
    "hbm_tb_per_s": ("hbm_bandwidth_bytes_per_s", 1e12),
    "tdp_w": ("tdp_w", 1.0),
    "matmul_efficiency": ("matmul_efficiency", 1.0),
    "hbm_efficiency": ("hbm_efficiency", 1.0),
    "matmul_half_gflop": ("matmul_half_flops", 1e9),
}
NETWORK_KEYS = ("scale_up_gb_per_s", "scale_up_domain_chips", "scale_out_gb_per_s")
OTHER_KEYS = ("dense_tflops", "usd_per_chip_hour", "micro")
VALID_KEYS = (*SCALAR_KEYS, *NETWORK_KEYS, *OTHER_KEYS)
#: fractions that must stay in (0, 1]
_FRACTIONS = ("matmul_efficiency", "hbm_efficiency")


@dataclass(frozen=True)
class Variant:
    """A chip on a sweep axis: a catalog chip, or a hypothetical one derived from it."""

    name: str  # slug shown everywhere (the catalog slug for a real chip)
    base: str  # catalog chip slug
    overrides: tuple[tuple[str, Any], ...] = ()  # canonical, sorted

    @property
    def hypothetical(self) -> bool:
        return bool(self.overrides)

    def key(self) -> str:
        """Deterministic identity of the chip (base + overrides), for point keys."""
        blob = json.dumps([self.base, list(self.overrides)], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def describe(self) -> str:
        if not self.overrides:
            return self.name
        return f"{self.name} (hypothetical: {self.base} with {_changes(self.overrides)})"


def _changes(overrides: tuple[tuple[str, Any], ...]) -> str:
    parts = []
    for k, v in overrides:
        if isinstance(v, tuple):
            parts.append(f"{k} " + ", ".join(f"{a}={b}" for a, b in v))
        else:
            parts.append(f"{k}={v}")
    return "; ".join(parts)


def _value(field: str, raw: Any, base: float | None) -> float:
    """``raw`` as a number: a plain positive number, or ``"xF"`` = F × ``base``."""
    if isinstance(raw, bool):
        raise GigatrainError(f"{field}: expected a positive number or 'xF' (e.g. x2), got {raw!r}")
    if isinstance(raw, str) and raw.strip().lower().startswith("x"):
        try:
            f = float(raw.strip()[1:])
        except ValueError:
            raise GigatrainError(
                f"{field}: cannot read {raw!r}; expected 'xF' such as x2 or x0.5"
            ) from None
        if base is None:
            raise GigatrainError(
                f"{field}: {raw!r} scales the base value, which the base chip lacks; "
                "give an absolute value"
            )
        v = f * base
    else:
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise GigatrainError(
                f"{field}: expected a positive number or 'xF' (e.g. x2), got {raw!r}"
            ) from None
    if not math.isfinite(v) or v <= 0:
        raise GigatrainError(f"{field} must be a finite positive number, got {raw!r}")
    return v


def parse_variant(raw: Any, where: str = "chips") -> Variant:
    """A chip-axis entry: ``"trn2"`` or ``{name, base, overrides}``; one-line errors."""
    if isinstance(raw, str):
        return Variant(get_chip(raw).slug, get_chip(raw).slug)
    if not isinstance(raw, dict):
        raise GigatrainError(
            f"{where}: expected a chip slug or a mapping with name/base/overrides, got {raw!r}"
        )
    unknown = set(raw) - {"name", "base", "overrides"}
    if unknown:
        raise GigatrainError(
            f"{where}: unknown field {sorted(unknown)[0]!r}; valid: name, base, overrides"
        )
    if "base" not in raw:
        raise GigatrainError(f"{where}: a what-if chip needs 'base' (a catalog chip slug)")
    base = get_chip(str(raw["base"])).slug
    ov = raw.get("overrides") or {}
    if not isinstance(ov, dict) or not ov:
        raise GigatrainError(
            f"{where}.overrides: expected a non-empty mapping of {', '.join(VALID_KEYS)}"
        )
    for k in ov:
        if k not in VALID_KEYS:
            raise GigatrainError(
                f"{where}.overrides: unknown field {k!r}; valid: {', '.join(VALID_KEYS)}"
            )
    name = str(
        raw.get("name")
        or f"{base}-whatif-{hashlib.sha256(repr(sorted(ov.items())).encode()).hexdigest()[:6]}"
    )
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise GigatrainError(f"{where}.name={name!r}: use letters, digits, '-', '_' and '.' only")
    try:
        get_chip(name)
    except GigatrainError:
        pass
    else:
        raise GigatrainError(
            f"{where}.name={name!r} is a catalog chip; a hypothetical chip needs its own name"
        )
    canon = tuple(
        sorted(
            (k, tuple(sorted((str(a), b) for a, b in v.items())) if isinstance(v, dict) else v)
            for k, v in ov.items()
        )
    )
    v = Variant(name, base, canon)
    build_system(v)  # validate every value now, not inside a worker
    return v


@functools.lru_cache(maxsize=256)
def build_system(v: Variant) -> tuple[SystemSpec, float | None]:
    """(system with the variant's chip, its USD per chip-hour or None for the catalog price)."""
    system = get_system(v.base)
    if not v.hypothetical:
        return system, None
    base: ChipSpec = system.chip
    ov = {k: dict(x) if isinstance(x, tuple) else x for k, x in v.overrides}
    where = f"chips[{v.name}].overrides"
    changes: dict[str, Any] = {}
    for key, (field, factor) in SCALAR_KEYS.items():
        if key in ov:
            cur = getattr(base, field)
            val = _value(f"{where}.{key}", ov[key], None if cur is None else cur / factor) * factor
            if key in _FRACTIONS and val > 1:
                raise GigatrainError(f"{where}.{key}={ov[key]!r} gives {val:.3g}; valid: (0, 1]")
            changes[field] = val
    if "dense_tflops" in ov:
        peaks = dict(base.peak_flops_per_s)
        d = ov["dense_tflops"]
        if not isinstance(d, dict):
            raise GigatrainError(
                f"{where}.dense_tflops: expected a mapping such as {{bf16: 1300, fp8: x2}}"
            )
        for fmt, raw in d.items():
            if fmt not in ("bf16", "fp16", "tf32", "fp8", "fp4", "fp32"):
                raise GigatrainError(
                    f"{where}.dense_tflops: unknown precision {fmt!r}; "
                    "valid: bf16, fp16, tf32, fp8, fp4, fp32"
                )
            cur = peaks.get(fmt)
            peaks[fmt] = (
                _value(f"{where}.dense_tflops.{fmt}", raw, None if not cur else cur / 1e12) * 1e12
            )
        changes["peak_flops_per_s"] = peaks
    micro = ov.get("micro") or {}
    if micro and not isinstance(micro, dict):
        raise GigatrainError(
            f"{where}.micro: expected a mapping of {', '.join(chip_level.MICRO_OVERRIDES)}"
        )
    chip = replace(base, **changes)
    # peaks from the array and GEMM efficiency from the chip-level model, unless fixed by the user
    relevant = micro or {"dense_tflops", "hbm_tb_per_s"} & set(ov)
    if relevant:
        derived = chip_level.whatif_chip(base, chip, micro, where=f"{where}.micro")
        chip = replace(chip, peak_flops_per_s=derived.peak_flops_per_s)
        if "matmul_efficiency" not in ov:
            # a measured fp8 GEMM efficiency moves with the bf16 one it was measured beside
            fp8 = base.fp8_matmul_efficiency * derived.matmul_efficiency / base.matmul_efficiency
            chip = replace(
                chip,
                matmul_efficiency=derived.matmul_efficiency,
                fp8_matmul_efficiency=min(fp8, 1.0),
            )
        if "matmul_half_gflop" not in ov:
            chip = replace(chip, matmul_half_flops=derived.matmul_half_flops)
    labels = dict(chip.labels)
    labels["hypothetical"] = f"derived from {base.slug}: {_changes(v.overrides)}"
    chip = replace(
        chip,
        slug=v.name,
        name=f"{base.name} (hypothetical: {_changes(v.overrides)})",
        aliases=(),
        labels=labels,
        source=f"HYPOTHETICAL, derived from {base.slug}",
    )
    tiers = list(system.tiers)
    if "scale_up_gb_per_s" in ov:
        t0 = tiers[0]
        tiers[0] = replace(
            t0,
            bandwidth_bytes_per_s=_value(
                f"{where}.scale_up_gb_per_s",
                ov["scale_up_gb_per_s"],
                t0.bandwidth_bytes_per_s / 1e9,
            )
            * 1e9,
        )
    if "scale_up_domain_chips" in ov:
        t0 = tiers[0]
        n = _value(f"{where}.scale_up_domain_chips", ov["scale_up_domain_chips"], t0.domain_chips)
        if n != int(n) or (len(tiers) > 1 and n > tiers[1].domain_chips):
            raise GigatrainError(
                f"{where}.scale_up_domain_chips={ov['scale_up_domain_chips']!r}: "
                f"an integer up to the next tier's {tiers[1].domain_chips if len(tiers) > 1 else n:,.0f} chips"
            )
        tiers[0] = replace(t0, domain_chips=int(n))
    if "scale_out_gb_per_s" in ov:
        for i in range(1, len(tiers)):
            t = tiers[i]
            tiers[i] = replace(
                t,
                bandwidth_bytes_per_s=_value(
                    f"{where}.scale_out_gb_per_s",
                    ov["scale_out_gb_per_s"],
                    t.bandwidth_bytes_per_s / 1e9,
                )
                * 1e9,
            )
    price = None
    if "usd_per_chip_hour" in ov:
        price = _value(
            f"{where}.usd_per_chip_hour", ov["usd_per_chip_hour"], _base_price(base.slug)
        )
    out = replace(
        system,
        slug=f"{system.slug}~{v.name}",
        name=f"{system.name} (hypothetical {v.name})",
        chip=chip,
        tiers=tuple(tiers),
        source=f"HYPOTHETICAL, derived from {system.slug}",
    )
    return out, price


@functools.lru_cache(maxsize=256)
def attention_scale(v: Variant) -> float:
    """Factor on the framework's ``attention_efficiency_ratio`` for a what-if chip: the
    chip-level FlashAttention model's attention/GEMM efficiency ratio of the variant over that
    of its base (:func:`gigatrain.model.chip_level.attention_ratio`) — 1 for a catalog chip or
    a change the chip-level model does not see (network, price, memory capacity)."""
    ov = {k for k, _ in v.overrides}
    if not v.hypothetical or not ov & {"micro", "dense_tflops", "hbm_tb_per_s"}:
        return 1.0
    system, _ = build_system(v)
    base = get_system(v.base).chip
    micro = dict(dict(v.overrides).get("micro") or ())
    m0 = chip_level.micro_for(base)
    m1 = chip_level.apply_micro(m0, micro) if micro else m0
    if system.chip.peak_flops_per_s != base.peak_flops_per_s and not micro:
        m1 = replace(
            m1, flop_per_cycle=m1.flop_per_cycle * system.chip.peak("bf16") / base.peak("bf16")
        )
    sus = base.matmul_efficiency
    return chip_level.attention_ratio(
        system.chip, m1, sustained_fraction=sus
    ) / chip_level.attention_ratio(base, m0, sustained_fraction=sus)


def _base_price(chip: str) -> float | None:
    try:
        return default_price(chip).usd_per_chip_hour
    except GigatrainError:
        return None


def price_for(v: Variant, given: float | None) -> tuple[float | None, str]:
    """USD per chip-hour for a sweep point: the axis value, else the variant's override, else the
    base chip's catalog price (a hypothetical chip is priced like its base unless told)."""
    if given is not None:
        return given, "sweep axis"
    _, own = build_system(v)
    if own is not None:
        return own, "what-if override"
    p = _base_price(v.base)
    return p, (f"catalog price of {v.base}" if p is not None else "none")
