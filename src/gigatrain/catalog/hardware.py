"""Hardware, price and economics catalogs: YAML data files -> validated, SI dataclasses.

Units are converted once, here (DESIGN.md principle 3):

* ``dense_tflops.<fmt>`` x 1e12 -> ``ChipSpec.peak_flops_per_s[fmt]`` (FLOP/s, dense peaks)
* ``hbm_gb`` x 1e9 or ``hbm_gib`` x 2**30 -> ``hbm_bytes``
* ``hbm_tb_per_s`` x 1e12 -> ``hbm_bandwidth_bytes_per_s``
* ``matmul_half_gflop`` x 1e9 -> ``matmul_half_flops``; ``kernel_overhead_us`` x 1e-6 -> s
* tier ``bw_gb_per_s`` x 1e9 -> ``bandwidth_bytes_per_s`` (per chip, one direction);
  ``latency_us`` x 1e-6 -> ``latency_s``

Prices stay in USD (per chip-hour or per chip); economics constants keep the unit named in
their ``unit`` field. Every entry must carry ``source`` and ``as_of``; any missing, negative,
non-numeric or unknown field raises :class:`GigatrainError` naming file, entry and field.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from gigatrain.errors import GigatrainError, unknown_name
from gigatrain.specs import DTYPE_BYTES, ChipSpec, NetworkTier, SystemSpec
from gigatrain.yamlio import read_yaml_cached

DATA_DIR = Path(__file__).parent / "data"
LABELS = ("ESTIMATE", "DERIVED", "SECONDARY")
PRICE_KINDS = ("on_demand", "reserved_1yr", "reserved_3yr", "capacity_block", "purchase")
_NUMERIC_TEXT = re.compile(r"^[0-9.]+e[0-9]+$")
_HOURLY_KINDS = frozenset(PRICE_KINDS) - {"purchase"}

_CHIP_REQUIRED = {"name", "vendor", "dense_tflops", "hbm_tb_per_s", "tdp_w", "matmul_efficiency",
                  "hbm_efficiency", "default_system", "source", "as_of"}  # fmt: skip
_CHIP_OPTIONAL = {"aliases", "hbm_gb", "hbm_gib", "labels", "matmul_half_gflop",
                  "kernel_overhead_us", "fa2_attention_fraction", "fp8_matmul_efficiency",
                  "note"}  # fmt: skip
_SYSTEM_REQUIRED = {"name", "chip", "chips_per_node", "tiers", "source", "as_of"}
_SYSTEM_OPTIONAL = {"max_chips", "note", "flat_ring_collectives"}
_TIER_REQUIRED = {"name", "domain_chips", "bw_gb_per_s", "efficiency", "latency_us"}
_TIER_OPTIONAL = {"in_network_reduction", "half_bw_mb", "note"}
_PRICE_REQUIRED = {"chip", "kind", "basis", "source", "as_of"}
_PRICE_OPTIONAL = {"usd_per_chip_hour", "usd", "label", "note"}
_CONST_REQUIRED = {"value", "unit", "source", "as_of"}
_CONST_OPTIONAL = {"label", "note"}


@dataclass(frozen=True)
class PriceRecord:
    """One price: USD per chip-hour for rental kinds, USD per chip for ``purchase``."""

    chip: str
    kind: str
    usd_per_chip_hour: float | None
    usd: float | None
    basis: str
    source: str
    as_of: str
    label: str = ""


@dataclass(frozen=True)
class Constant:
    """A named economic or operational constant; ``value`` is in ``unit``."""

    key: str
    value: float
    unit: str
    source: str
    as_of: str
    label: str = ""
    note: str = ""


# ---------------------------------------------------------------- validation helpers
class _Ctx:
    """Where a value came from, so every error names ``file: entry.field``."""

    def __init__(self, file: str, entry: str, raw: Any):
        self.file, self.entry = file, entry
        if not isinstance(raw, Mapping):
            self.fail("", f"must be a mapping, got {type(raw).__name__}")
        self.raw: Mapping[str, Any] = raw

    def fail(self, field: str, msg: str) -> NoReturn:
        where = f"{self.entry}.{field}" if field else self.entry
        raise GigatrainError(f"{self.file}: {where} {msg}")

    def keys(self, required: set[str], optional: set[str]) -> None:
        for k in self.raw:
            if k not in required | optional:
                valid = ", ".join(sorted(required | optional))
                self.fail(str(k), f"is not a known field (valid: {valid})")
        for k in sorted(required - set(self.raw)):
            self.fail(k, "is missing")

    def num(self, field: str, *, integer: bool = False, at_most: float | None = None) -> float:
        v = self.raw.get(field)
        x = v if isinstance(v, int | float) and not isinstance(v, bool) else None
        if x is None or not math.isfinite(x) or x <= 0 or (integer and int(x) != x):
            kind = "integer" if integer else "number"
            # PyYAML (YAML 1.1) reads 1.5e9 as a string; 1.5e+9 is a float
            hint = " (write exponents as 1.5e+9)" if _NUMERIC_TEXT.match(str(v)) else ""
            self.fail(field, f"must be a positive {kind}, got {v!r}{hint}")
        if at_most is not None and x > at_most:
            self.fail(field, f"must be at most {at_most:g}, got {v!r}")
        return float(x)

    def text(self, field: str, *, optional: bool = False) -> str:
        v = self.raw.get(field)
        if v is None and optional:
            return ""
        if not isinstance(v, str) or not v.strip():
            self.fail(field, f"must be a non-empty string, got {v!r}")
        return v.strip()

    def date(self, field: str = "as_of") -> str:
        """``as_of``: a quoted string, a bare YAML date or a bare year, kept as text."""
        v = self.raw.get(field)
        if isinstance(v, dt.date) or (isinstance(v, int) and 1900 < v < 2100):
            return v.isoformat() if isinstance(v, dt.date) else str(v)
        return self.text(field)

    def label(self, field: str, value: Any) -> str:
        if value not in LABELS:
            self.fail(field, f"must be one of {', '.join(LABELS)}, got {value!r}")
        return str(value)


def _read(path: Path) -> Any:
    """The shared bounded YAML reader (C parser, duplicate keys refused), parsed once per file
    version; errors name file and line, never a traceback."""
    return read_yaml_cached(path, "catalog file")


def _mapping(path: Path) -> Mapping[str, Any]:
    data = _read(path)
    if not isinstance(data, Mapping) or not data:
        raise GigatrainError(f"{path.name}: must be a non-empty mapping of slug -> entry")
    return data


# ---------------------------------------------------------------- chips
@dataclass(frozen=True)
class _ChipCatalog:
    chips: dict[str, ChipSpec]
    default_system: dict[str, str]  # chip slug -> system slug
    index: dict[str, str]  # lower-case slug or alias -> chip slug


def _parse_chip(file: str, slug: str, raw: Any) -> tuple[ChipSpec, str]:
    c = _Ctx(file, slug, raw)
    c.keys(_CHIP_REQUIRED, _CHIP_OPTIONAL)
    if slug != slug.lower() or " " in slug:
        c.fail("", "slug must be lower-case without spaces")
    tf = raw["dense_tflops"]
    if not isinstance(tf, Mapping) or not tf:
        c.fail("dense_tflops", f"must be a non-empty mapping of format -> TFLOP/s, got {tf!r}")
    peaks: dict[str, float] = {}
    for fmt in tf:
        if fmt not in DTYPE_BYTES:
            c.fail(
                f"dense_tflops.{fmt}", f"is not a known format (valid: {', '.join(DTYPE_BYTES)})"
            )
        peaks[fmt] = _Ctx(file, f"{slug}.dense_tflops", tf).num(fmt) * 1e12
    if ("hbm_gb" in raw) == ("hbm_gib" in raw):
        c.fail("hbm_gb", "give exactly one of hbm_gb (decimal GB) or hbm_gib (GiB)")
    hbm = c.num("hbm_gb") * 1e9 if "hbm_gb" in raw else c.num("hbm_gib") * 2**30
    labels = raw.get("labels") or {}
    if not isinstance(labels, Mapping):
        c.fail("labels", f"must be a mapping of field -> label, got {labels!r}")
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        c.fail("aliases", f"must be a list of names, got {aliases!r}")
    extra: dict[str, float] = {}
    if "matmul_half_gflop" in raw:
        extra["matmul_half_flops"] = c.num("matmul_half_gflop") * 1e9
    if "kernel_overhead_us" in raw:
        extra["kernel_overhead_s"] = c.num("kernel_overhead_us") * 1e-6
    if "fa2_attention_fraction" in raw:
        extra["fa2_attention_fraction"] = c.num("fa2_attention_fraction", at_most=1.0)
    if "fp8_matmul_efficiency" in raw:
        extra["fp8_matmul_efficiency"] = c.num("fp8_matmul_efficiency", at_most=1.0)
    chip = ChipSpec(
        slug=slug,
        name=c.text("name"),
        vendor=c.text("vendor"),
        peak_flops_per_s=peaks,
        hbm_bytes=hbm,
        hbm_bandwidth_bytes_per_s=c.num("hbm_tb_per_s") * 1e12,
        tdp_w=None if raw["tdp_w"] is None else c.num("tdp_w"),
        matmul_efficiency=c.num("matmul_efficiency", at_most=1.0),
        hbm_efficiency=c.num("hbm_efficiency", at_most=1.0),
        aliases=tuple(aliases),
        labels={str(k): c.label(f"labels.{k}", v) for k, v in labels.items()},
        source=c.text("source"),
        as_of=c.date(),
        **extra,
    )
    return chip, c.text("default_system")


def _load_chip_catalog(path: Path) -> _ChipCatalog:
    chips: dict[str, ChipSpec] = {}
    defaults: dict[str, str] = {}
    index: dict[str, str] = {}
    for slug, raw in _mapping(path).items():
        chip, default = _parse_chip(path.name, str(slug), raw)
        chips[chip.slug], defaults[chip.slug] = chip, default
        for name in (chip.slug, *chip.aliases):
            key = name.lower()
            if index.get(key, chip.slug) != chip.slug:
                raise GigatrainError(
                    f"{path.name}: {chip.slug}.aliases: {name!r} already names chip {index[key]!r}"
                )
            index[key] = chip.slug
    return _ChipCatalog(chips, defaults, index)


@functools.cache
def _default_chip_catalog() -> _ChipCatalog:
    return _load_chip_catalog(DATA_DIR / "chips.yaml")


def _chip_catalog(path: Path | None) -> _ChipCatalog:
    return _default_chip_catalog() if path is None else _load_chip_catalog(Path(path))


def load_chips(path: Path | None = None) -> dict[str, ChipSpec]:
    """All chips by slug, in SI units (cached for the packaged ``chips.yaml``)."""
    return dict(_chip_catalog(path).chips)


def get_chip(name: str) -> ChipSpec:
    """A chip by slug or alias, case-insensitive (``h100``, ``H100-SXM-80GB``, ``trn2``)."""
    cat = _default_chip_catalog()
    slug = cat.index.get(str(name).strip().lower())
    if slug is None:
        raise unknown_name("chip", str(name), cat.chips)
    return cat.chips[slug]


# ---------------------------------------------------------------- systems
def _parse_tier(file: str, where: str, raw: Any) -> NetworkTier:
    t = _Ctx(file, where, raw)
    t.keys(_TIER_REQUIRED, _TIER_OPTIONAL)
    inr = raw.get("in_network_reduction", False)
    if not isinstance(inr, bool):
        t.fail("in_network_reduction", f"must be true or false, got {inr!r}")
    return NetworkTier(
        name=t.text("name"),
        domain_chips=int(t.num("domain_chips", integer=True)),
        bandwidth_bytes_per_s=t.num("bw_gb_per_s") * 1e9,
        efficiency=t.num("efficiency", at_most=1.0),
        latency_s=t.num("latency_us") * 1e-6,
        in_network_reduction=inr,
        half_bw_bytes=(t.num("half_bw_mb") * 1e6) if "half_bw_mb" in raw else 0.0,
    )


def _parse_system(file: str, slug: str, raw: Any, chips: _ChipCatalog) -> SystemSpec:
    s = _Ctx(file, slug, raw)
    s.keys(_SYSTEM_REQUIRED, _SYSTEM_OPTIONAL)
    chip_slug = chips.index.get(s.text("chip").lower())
    if chip_slug is None:
        s.fail("chip", f"{raw['chip']!r} is not a chip in chips.yaml")
    tiers_raw = raw["tiers"]
    if not isinstance(tiers_raw, list) or not tiers_raw:
        s.fail("tiers", "must be a non-empty list, innermost tier first")
    tiers = tuple(_parse_tier(file, f"{slug}.tiers[{i}]", t) for i, t in enumerate(tiers_raw))
    for i in range(1, len(tiers)):
        if tiers[i].domain_chips <= tiers[i - 1].domain_chips:
            s.fail(f"tiers[{i}].domain_chips", "must grow outward (innermost tier first)")
    return SystemSpec(
        slug=slug,
        name=s.text("name"),
        chip=chips.chips[chip_slug],
        chips_per_node=int(s.num("chips_per_node", integer=True)),
        tiers=tiers,
        max_chips=int(s.num("max_chips", integer=True)) if "max_chips" in raw else 10_000_000,
        source=s.text("source"),
        as_of=s.date(),
        flat_ring_collectives=_flag(s, raw, "flat_ring_collectives", default=True),
    )


def _flag(s: _Ctx, raw: Any, key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        s.fail(key, f"must be true or false, got {value!r}")
    return bool(value)


def _load_systems(path: Path, chips: _ChipCatalog) -> dict[str, SystemSpec]:
    systems = {
        str(k): _parse_system(path.name, str(k), v, chips) for k, v in _mapping(path).items()
    }
    for chip_slug, sys_slug in chips.default_system.items():
        if sys_slug not in systems:
            raise GigatrainError(
                f"chips.yaml: {chip_slug}.default_system {sys_slug!r} is not a system in {path.name}"
            )
    return systems


@functools.cache
def _default_systems() -> dict[str, SystemSpec]:
    return _load_systems(DATA_DIR / "systems.yaml", _default_chip_catalog())


def load_systems(path: Path | None = None, chips_path: Path | None = None) -> dict[str, SystemSpec]:
    """All systems by slug; tiers in SI (bytes/s per chip one way, seconds per step)."""
    if path is None and chips_path is None:
        return dict(_default_systems())
    return _load_systems(Path(path or DATA_DIR / "systems.yaml"), _chip_catalog(chips_path))


def get_system(name: str) -> SystemSpec:
    """A system by slug, or a chip slug/alias (then that chip's ``default_system``)."""
    systems = _default_systems()
    key = str(name).strip().lower()
    if key in systems:
        return systems[key]
    cat = _default_chip_catalog()
    if key in cat.index:
        return systems[cat.default_system[cat.index[key]]]
    raise unknown_name("system", str(name), [*systems, *cat.chips])


def default_system_for(chip: ChipSpec) -> SystemSpec:
    """The catalog system built from ``chip`` (its ``default_system``)."""
    cat = _default_chip_catalog()
    if chip.slug not in cat.default_system:
        raise unknown_name("chip", chip.slug, cat.chips)
    system = _default_systems()[cat.default_system[chip.slug]]
    # a chip replaced by calibration keeps its catalog network but carries its own numbers
    return system if system.chip == chip else replace(system, chip=chip)


def single_device_system(chip: ChipSpec) -> SystemSpec:
    """One chip and one trivial tier (no network): for calibration on a single device."""
    local = NetworkTier("local", 1, chip.hbm_bandwidth_bytes_per_s, 1.0, 0.0)
    return SystemSpec(
        slug=f"{chip.slug}-x1",
        name=f"single {chip.name}",
        chip=chip,
        chips_per_node=1,
        tiers=(local,),
        max_chips=1,
        source=chip.source,
        as_of=chip.as_of,
    )


# ---------------------------------------------------------------- prices, economics
def _parse_price(file: str, i: int, raw: Any, chips: _ChipCatalog) -> PriceRecord:
    p = _Ctx(file, f"[{i}]", raw)
    p.keys(_PRICE_REQUIRED, _PRICE_OPTIONAL)
    chip = chips.index.get(p.text("chip").lower())
    if chip is None:
        p.fail("chip", f"{raw['chip']!r} is not a chip in chips.yaml")
    kind = p.text("kind")
    if kind not in PRICE_KINDS:
        p.fail("kind", f"must be one of {', '.join(PRICE_KINDS)}, got {kind!r}")
    p.entry = f"[{i}] ({chip} {kind})"
    want, other = (
        ("usd_per_chip_hour", "usd") if kind in _HOURLY_KINDS else ("usd", "usd_per_chip_hour")
    )
    if other in raw:
        p.fail(other, f"does not apply to kind {kind}; use {want}")
    value = p.num(want)
    return PriceRecord(
        chip=chip,
        kind=kind,
        usd_per_chip_hour=value if want == "usd_per_chip_hour" else None,
        usd=value if want == "usd" else None,
        basis=p.text("basis"),
        source=p.text("source"),
        as_of=p.date(),
        label=p.label("label", raw["label"]) if "label" in raw else "",
    )


def load_prices(path: Path | None = None, chips_path: Path | None = None) -> list[PriceRecord]:
    """Every price record (USD per chip-hour, or USD per chip for purchases)."""
    path = Path(path or DATA_DIR / "prices.yaml")
    data = _read(path)
    if not isinstance(data, list) or not data:
        raise GigatrainError(f"{path.name}: must be a non-empty list of price records")
    chips = _chip_catalog(chips_path)
    return [_parse_price(path.name, i, r, chips) for i, r in enumerate(data)]


def load_economics(path: Path | None = None) -> dict[str, Constant]:
    """Named constants (PUE, $/kWh, capex per MW, failure rates...) with unit and source."""
    path = Path(path or DATA_DIR / "economics.yaml")
    out: dict[str, Constant] = {}
    for key, raw in _mapping(path).items():
        c = _Ctx(path.name, str(key), raw)
        c.keys(_CONST_REQUIRED, _CONST_OPTIONAL)
        out[str(key)] = Constant(
            key=str(key),
            value=c.num("value"),
            unit=c.text("unit"),
            source=c.text("source"),
            as_of=c.date(),
            label=c.label("label", raw["label"]) if "label" in raw else "",
            note=c.text("note", optional=True),
        )
    return out
