"""Sweep specs: axes → points, validated with one-line errors; deterministic point keys.

A spec (YAML, read through :func:`gigatrain.yamlio.read_yaml`)::

    name: trn2-hbm-whatif
    models: [megatron-gpt-1t, llama-3.1-405b]        # catalog slugs (or model YAML paths)
    chips:                                          # catalog chips and what-if variants
      - trn2
      - {name: trn2-hbm2x, base: trn2, overrides: {hbm_tb_per_s: x2}}
    chip_counts: [16384, 100k]                      # each value is one point
    global_batch: [2048]                            # sequences
    seq: [4096]
    tokens: [20T]
    precision: [bf16]
    framework: [auto]                               # auto = the chip family's usual one
    usd_per_chip_hour: [null]                       # null = the chip's catalog price
    objective: cost                                 # time | time_to_train | cost | energy
    record: best                                    # best (one row per point) | pareto | all
    pareto: [time_to_train, cost]                   # axes when record = pareto
    max_rows: 50M                                   # required when record = all (a cap on rows)
    max_memory_frac: 1.0
    points_per_task: auto                           # or an integer

Every combination of the axes is a *point*; its key is the first 16 hex digits of the SHA-256
of the point's canonical JSON (axis values, the chip's base and overrides, the objective and
what is recorded), so the same point has the same key in every run and on every machine —
which is what makes a sweep resumable without duplicates.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog.frameworks import get_framework
from ..catalog.models import load_models
from ..economics.quantities import parse_count_words
from ..errors import GigatrainError, unknown_name
from ..yamlio import read_yaml
from .whatif import Variant, parse_variant

OBJECTIVES = ("time", "time_to_train", "cost", "energy")
RECORDS = ("best", "pareto", "all")
PARETO_AXES = ("time", "time_to_train", "cost", "energy", "memory", "chips")
PRECISIONS = ("bf16", "fp16", "fp8", "fp4", "fp32")
FIELDS = (
    "name",
    "models",
    "chips",
    "chip_counts",
    "global_batch",
    "seq",
    "tokens",
    "precision",
    "framework",
    "usd_per_chip_hour",
    "objective",
    "record",
    "pareto",
    "max_memory_frac",
    "points_per_task",
    "max_rows",
    "description",
)
MAX_POINTS = 10_000_000
MAX_ROWS_CAP = 10**12


@dataclass(frozen=True)
class Point:
    """One sweep point: everything a search needs."""

    model: str
    chip: Variant
    chips: int
    global_batch: int
    seq: int
    tokens: float
    precision: str
    framework: str
    usd_per_chip_hour: float | None

    def ident(self, spec: SweepSpec) -> dict[str, Any]:
        return {
            "model": self.model,
            "chip": self.chip.name,
            "chip_base": self.chip.base,
            "chip_overrides": [list(o) for o in self.chip.overrides],
            "chips": self.chips,
            "global_batch": self.global_batch,
            "seq": self.seq,
            "tokens": self.tokens,
            "precision": self.precision,
            "framework": self.framework,
            "usd_per_chip_hour": self.usd_per_chip_hour,
            "objective": spec.objective,
            "record": spec.record,
            "pareto": list(spec.pareto) if spec.record == "pareto" else None,
            "max_memory_frac": spec.max_memory_frac,
        }

    def key(self, spec: SweepSpec) -> str:
        blob = json.dumps(self.ident(spec), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SweepSpec:
    name: str
    models: tuple[str, ...]
    chips: tuple[Variant, ...]
    chip_counts: tuple[int, ...]
    global_batch: tuple[int, ...]
    seq: tuple[int, ...]
    tokens: tuple[float, ...]
    precision: tuple[str, ...]
    framework: tuple[str, ...]
    usd_per_chip_hour: tuple[float | None, ...]
    objective: str = "cost"
    record: str = "best"
    pareto: tuple[str, str] = ("time_to_train", "cost")
    max_memory_frac: float = 1.0
    points_per_task: int | None = None  # None = auto
    #: record = all only: refuse to run when the estimated row count exceeds this (not part of
    #: the fingerprint: raising the cap does not change any row)
    max_rows: int | None = None
    raw: dict[str, Any] | None = None  # the spec as read (for the manifest)

    @property
    def size(self) -> int:
        n = 1
        for ax in (
            self.models,
            self.chips,
            self.chip_counts,
            self.global_batch,
            self.seq,
            self.tokens,
            self.precision,
            self.framework,
            self.usd_per_chip_hour,
        ):
            n *= len(ax)
        return n

    def points(self) -> list[Point]:
        """Every point, in a deterministic order (axes in spec order)."""
        return [
            Point(m, c, n, g, s, t, p, f, u)
            for m, c, n, g, s, t, p, f, u in itertools.product(
                self.models,
                self.chips,
                self.chip_counts,
                self.global_batch,
                self.seq,
                self.tokens,
                self.precision,
                self.framework,
                self.usd_per_chip_hour,
            )
        ]

    def fingerprint(self) -> str:
        """Hash of what determines the results (not the name or task sizing)."""
        ident = {
            "models": self.models,
            "chips": [(c.name, c.base, c.overrides) for c in self.chips],
            "chip_counts": self.chip_counts,
            "global_batch": self.global_batch,
            "seq": self.seq,
            "tokens": self.tokens,
            "precision": self.precision,
            "framework": self.framework,
            "usd_per_chip_hour": self.usd_per_chip_hour,
            "objective": self.objective,
            "record": self.record,
            "pareto": self.pareto,
            "max_memory_frac": self.max_memory_frac,
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[
            :16
        ]


def _list(raw: dict[str, Any], key: str, default: list[Any] | None = None) -> list[Any]:
    if key not in raw or raw[key] is None:
        if default is None:
            raise GigatrainError(f"sweep spec: missing field {key!r} (a list of values)")
        return default
    v = raw[key]
    out = v if isinstance(v, list) else [v]
    if not out:
        raise GigatrainError(f"sweep spec: {key} is empty; give at least one value")
    return out


def _count(key: str, v: Any, maximum: float) -> int:
    if isinstance(v, bool):
        raise GigatrainError(f"sweep spec: {key}={v!r} is not a count (examples: 2048, 100k)")
    try:
        x = parse_count_words(key, v)
    except GigatrainError as e:
        raise GigatrainError(f"sweep spec: {e} (examples: 2048, 100k, 15T)") from None
    if x != int(x) or x > maximum:
        raise GigatrainError(f"sweep spec: {key}={v!r} must be a whole number up to {maximum:,.0f}")
    return int(x)


def _model(v: Any) -> str:
    name = str(v)
    if name.endswith((".yaml", ".yml", ".json")):
        if not Path(name).is_file():
            raise GigatrainError(f"sweep spec: models: file {name!r} not found")
        return name
    models = load_models()
    if name.lower() not in models:
        raise unknown_name("model", name, models)
    return name.lower()


def parse_spec(raw: Any, name: str = "spec") -> SweepSpec:
    """A validated :class:`SweepSpec` from parsed YAML; the first problem is one line naming
    the field, the value and what is valid."""
    if not isinstance(raw, dict):
        raise GigatrainError(f"{name}: a sweep spec is a mapping of fields ({', '.join(FIELDS)})")
    for k in raw:
        if k not in FIELDS:
            raise GigatrainError(f"sweep spec: unknown field {k!r}; valid: {', '.join(FIELDS)}")
    models = tuple(dict.fromkeys(_model(v) for v in _list(raw, "models")))
    chips_raw = _list(raw, "chips")
    chips = tuple(parse_variant(c, f"chips[{i}]") for i, c in enumerate(chips_raw))
    names = [c.name for c in chips]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise GigatrainError(
            f"sweep spec: chips: {sorted(dup)[0]!r} appears twice; give each variant its own name"
        )
    counts = tuple(
        dict.fromkeys(_count("chip_counts", v, 10_000_000) for v in _list(raw, "chip_counts"))
    )
    gbs = tuple(
        dict.fromkeys(_count("global_batch", v, 1e9) for v in _list(raw, "global_batch", [1024]))
    )
    seq = tuple(dict.fromkeys(_count("seq", v, 10_000_000) for v in _list(raw, "seq", [4096])))
    tokens = tuple(dict.fromkeys(float(_count("tokens", v, 1e18)) for v in _list(raw, "tokens")))
    prec = tuple(dict.fromkeys(str(v) for v in _list(raw, "precision", ["bf16"])))
    for p in prec:
        if p not in PRECISIONS:
            raise GigatrainError(f"sweep spec: precision={p!r}; valid: {', '.join(PRECISIONS)}")
    fw = tuple(dict.fromkeys(str(v) for v in _list(raw, "framework", ["auto"])))
    for f in fw:
        if f != "auto":
            get_framework(f)
    prices: list[float | None] = []
    for v in _list(raw, "usd_per_chip_hour", [None]):
        if v is None:
            prices.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1e4:
            raise GigatrainError(
                f"sweep spec: usd_per_chip_hour={v!r}; valid: a number in (0, 10000) or null"
            )
        prices.append(float(v))
    objective = str(raw.get("objective", "cost"))
    if objective not in OBJECTIVES:
        raise GigatrainError(f"sweep spec: objective={objective!r}; valid: {', '.join(OBJECTIVES)}")
    record = str(raw.get("record", "best"))
    if record not in RECORDS:
        raise GigatrainError(f"sweep spec: record={record!r}; valid: {', '.join(RECORDS)}")
    par = raw.get("pareto", ["time_to_train", "cost"])
    if (
        not isinstance(par, list)
        or len(par) != 2
        or par[0] == par[1]
        or any(a not in PARETO_AXES for a in par)
    ):
        raise GigatrainError(
            f"sweep spec: pareto={par!r}; valid: two different of {', '.join(PARETO_AXES)}"
        )
    mmf = raw.get("max_memory_frac", 1.0)
    if isinstance(mmf, bool) or not isinstance(mmf, int | float) or not 0 < mmf <= 2:
        raise GigatrainError(f"sweep spec: max_memory_frac={mmf!r}; valid: a number in (0, 2]")
    ppt = raw.get("points_per_task", "auto")
    if ppt != "auto" and (
        isinstance(ppt, bool) or not isinstance(ppt, int) or not 1 <= ppt <= 100_000
    ):
        raise GigatrainError(
            f"sweep spec: points_per_task={ppt!r}; valid: auto or an integer 1..100000"
        )
    max_rows: int | None = None
    if raw.get("max_rows") is not None:
        if record != "all":
            raise GigatrainError(
                f"sweep spec: max_rows applies to record: all only (record is {record!r})"
            )
        max_rows = _count("max_rows", raw["max_rows"], MAX_ROWS_CAP)
    sname = str(raw.get("name", "sweep"))
    spec = SweepSpec(
        sname,
        models,
        chips,
        counts,
        gbs,
        seq,
        tokens,
        prec,
        fw,
        tuple(dict.fromkeys(prices)),
        objective,
        record,
        (str(par[0]), str(par[1])),
        float(mmf),
        None if ppt == "auto" else int(ppt),
        max_rows,
        raw,
    )
    if spec.size > MAX_POINTS:
        raise GigatrainError(
            f"sweep spec: {spec.size:,} points is over the limit of {MAX_POINTS:,}; split the sweep"
        )
    return spec


def load_spec(path: Path | str) -> SweepSpec:
    """Read and validate a sweep spec file."""
    return parse_spec(read_yaml(path, "sweep spec"), Path(path).name)
