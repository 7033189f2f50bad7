"""``gigatrain catalog KIND``: catalog entries as records (for --json) and Rich tables, every
row with its source and date. Presentation only: values come from the catalog loaders, in SI
internally and in the listed units here.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import GigatrainError

KINDS = ("chips", "models", "systems", "prices", "economics", "frameworks")


def _chips() -> list[dict[str, Any]]:
    from ..catalog.hardware import load_chips

    out = []
    for c in load_chips().values():
        out.append(
            {
                "slug": c.slug,
                "name": c.name,
                "vendor": c.vendor,
                "bf16_tflops": c.peak_flops_per_s.get("bf16", 0) / 1e12 or None,
                "fp8_tflops": c.peak_flops_per_s.get("fp8", 0) / 1e12 or None,
                "hbm_gb": round(c.hbm_bytes / 1e9, 1),
                "hbm_tb_per_s": c.hbm_bandwidth_bytes_per_s / 1e12,
                "tdp_w": c.tdp_w,
                "labels": ", ".join(f"{k}: {v}" for k, v in c.labels.items()),
                "source": c.source,
                "as_of": c.as_of,
            }
        )
    return out


def _models() -> list[dict[str, Any]]:
    from ..catalog.models import load_models, model_info
    from ..model.workload import params_active, params_total

    out = []
    for m in load_models().values():
        info = model_info(m.slug)
        out.append(
            {
                "slug": m.slug,
                "name": m.name,
                "params_b": round(params_total(m) / 1e9, 2),
                "active_b": round(params_active(m) / 1e9, 2),
                "layers": m.num_layers,
                "hidden": m.hidden_size,
                "heads": m.num_attention_heads,
                "kv_heads": m.num_kv_heads,
                "experts": f"{m.moe.top_k}/{m.moe.num_experts}" if m.moe else "",
                "training_tokens": info.get("training_tokens"),
                "source": m.source,
                "as_of": str(info.get("as_of", "")),
            }
        )
    return out


def _systems() -> list[dict[str, Any]]:
    from ..catalog.hardware import load_systems

    out = []
    for s in load_systems().values():
        tiers = "; ".join(
            f"{t.name} ×{t.domain_chips:,} {t.bandwidth_bytes_per_s / 1e9:g} GB/s" for t in s.tiers
        )
        out.append(
            {
                "slug": s.slug,
                "name": s.name,
                "chip": s.chip.slug,
                "chips_per_node": s.chips_per_node,
                "tiers": tiers,
                "max_chips": s.max_chips,
                "source": s.source,
                "as_of": s.as_of,
            }
        )
    return out


def _prices() -> list[dict[str, Any]]:
    from ..catalog.hardware import load_prices

    return [
        {
            "chip": p.chip,
            "kind": p.kind,
            "usd_per_chip_hour": p.usd_per_chip_hour,
            "usd_per_chip": p.usd,
            "basis": p.basis,
            "source": p.source,
            "as_of": p.as_of,
            "label": p.label,
        }
        for p in load_prices()
    ]


def _economics() -> list[dict[str, Any]]:
    from ..catalog.hardware import load_economics

    return [
        {
            "key": c.key,
            "value": c.value,
            "unit": c.unit,
            "source": c.source,
            "as_of": c.as_of,
            "label": c.label,
            "note": c.note,
        }
        for c in load_economics().values()
    ]


def _frameworks() -> list[dict[str, Any]]:
    from ..catalog.frameworks import load_frameworks
    from ..knobs import DEFAULT_KNOBS

    out = []
    for f in load_frameworks().values():
        over = {
            fl.name: getattr(f.knobs, fl.name)
            for fl in fields(f.knobs)
            if getattr(f.knobs, fl.name) != getattr(DEFAULT_KNOBS, fl.name)
        }
        out.append(
            {
                "slug": f.slug,
                "match": ", ".join(f.match),
                "note": f.note,
                "knobs": ", ".join(f"{k}={v:g}" for k, v in over.items()),
                "history": "; ".join(
                    f"before {e.before_year}: {e.knobs_text} ({e.source})" for e in f.history
                ),
                "source": "catalog/data/frameworks.yaml",
                "as_of": "",
            }
        )
    return out


_LOADERS = {
    "chips": _chips,
    "models": _models,
    "systems": _systems,
    "prices": _prices,
    "economics": _economics,
    "frameworks": _frameworks,
}


def catalog_records(kind: str) -> list[dict[str, Any]]:
    """Every entry of catalog ``kind`` as a flat dict (JSON-ready), source and date included."""
    if kind not in _LOADERS:
        raise GigatrainError(f"unknown catalog {kind!r}; valid: {', '.join(KINDS)}")
    return _LOADERS[kind]()


_COLUMNS = {
    "chips": (
        "slug",
        "vendor",
        "bf16_tflops",
        "fp8_tflops",
        "hbm_gb",
        "hbm_tb_per_s",
        "tdp_w",
        "labels",
        "source",
        "as_of",
    ),
    "models": (
        "slug",
        "params_b",
        "active_b",
        "layers",
        "hidden",
        "heads",
        "kv_heads",
        "experts",
        "training_tokens",
        "source",
        "as_of",
    ),
    "systems": ("slug", "chip", "chips_per_node", "tiers", "source", "as_of"),
    "prices": (
        "chip",
        "kind",
        "usd_per_chip_hour",
        "usd_per_chip",
        "basis",
        "source",
        "as_of",
        "label",
    ),
    "economics": ("key", "value", "unit", "source", "as_of", "label"),
    "frameworks": ("slug", "match", "knobs", "history", "note"),
}


#: the columns shown when the terminal (or pipe) is narrow: (record key, header)
_COMPACT: dict[str, tuple[tuple[str, str], ...]] = {
    "chips": (
        ("slug", "slug"),
        ("vendor", "vendor"),
        ("bf16_tflops", "bf16 TF"),
        ("fp8_tflops", "fp8 TF"),
        ("hbm_gb", "HBM GB"),
        ("hbm_tb_per_s", "TB/s"),
        ("tdp_w", "TDP W"),
        ("as_of", "as of"),
    ),
    "models": (
        ("slug", "slug"),
        ("params_b", "params"),
        ("active_b", "active"),
        ("layers", "layers"),
        ("heads_kv", "heads/kv"),
        ("experts", "experts"),
        ("training_tokens", "tokens"),
    ),
    "systems": (
        ("slug", "slug"),
        ("chip", "chip"),
        ("chips_per_node", "per node"),
        ("max_chips", "max chips"),
        ("tiers", "tiers"),
    ),
    "prices": (
        ("chip", "chip"),
        ("kind", "kind"),
        ("usd_per_chip_hour", "$/chip-h"),
        ("usd_per_chip", "$/chip"),
        ("label", "label"),
        ("as_of", "as of"),
    ),
    "economics": (("key", "key"), ("value", "value"), ("unit", "unit"), ("as_of", "as of")),
    "frameworks": (("slug", "slug"), ("knobs", "knobs")),
}
_NUMERIC = {
    "bf16_tflops", "fp8_tflops", "hbm_gb", "hbm_tb_per_s", "tdp_w", "params_b", "active_b",
    "layers", "hidden", "heads", "kv_heads", "heads_kv", "training_tokens", "chips_per_node",
    "max_chips", "usd_per_chip_hour", "usd_per_chip", "value",
}  # fmt: skip
#: below this width the compact column set is used (unless ``wide``)
WIDE_FROM = 140


def _cell(v: Any, key: str = "") -> str:
    """A record value as escaped table text (catalog text may hold ``[...]``)."""
    if v is None or v == "":
        return "–" if v is None else ""
    if key == "training_tokens" and isinstance(v, int | float):
        return f"{v / 1e12:.3g}T" if v >= 1e12 else f"{v / 1e9:.3g}B"
    if isinstance(v, float):
        if abs(v) >= 1e6:
            return f"{v:.4g}"
        return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:,.4g}"
    if isinstance(v, int) and not isinstance(v, bool) and key != "slug":
        return f"{v:,}"
    return escape(str(v))


def catalog_table(
    kind: str, records: list[dict[str, Any]], console: Console, wide: bool = False
) -> None:
    """A Rich table of ``records`` (from :func:`catalog_records`). Narrow consoles (pipes get 80
    columns) show :data:`_COMPACT` columns; ``wide`` or a console of at least
    :data:`WIDE_FROM` columns shows every column, source and date included."""
    compact = not wide and console.width < WIDE_FROM and kind in _COMPACT
    if compact:
        cols = _COMPACT[kind]
        records = [{**r, "heads_kv": f"{r.get('heads')}/{r.get('kv_heads')}"} for r in records]
    else:
        cols = tuple((c, c) for c in (_COLUMNS.get(kind) or (tuple(records[0]) if records else ())))
    unit = " · params in billions" if kind == "models" else ""
    t = Table(
        title=f"catalog: {kind} ({len(records)}){unit}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        caption_justify="left",
        caption="fewer columns at this width; --wide (or --json) for sources and notes"
        if compact
        else None,
    )
    for key, header in cols:
        t.add_column(
            header,
            justify="right" if key in _NUMERIC else "left",
            overflow="fold",
            no_wrap=key in _NUMERIC or key in ("slug", "chip", "kind", "as_of"),
        )
    for r in records:
        t.add_row(*(_cell(r.get(c), c) for c, _ in cols))
    console.print(t)
