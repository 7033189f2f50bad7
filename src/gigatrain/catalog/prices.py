"""Which catalog price a run is charged: the newest record of a kind for a chip (prices.yaml),
or one derived from it with the provider's committed-use discount (economics.yaml)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..errors import GigatrainError
from .constants import cite, const
from .hardware import PriceRecord, load_prices

PRICINGS = ("on_demand", "reserved_1yr", "reserved_3yr", "capacity_block", "own")
_CUD_KEYS = {"aws": "cud_aws", "gcp": "cud_gcp", "azure": "cud_azure"}


@functools.cache
def _prices() -> tuple[PriceRecord, ...]:
    return tuple(load_prices())


@dataclass(frozen=True)
class PriceChoice:
    """The price used: a catalog record (or one derived from it), with its date and source."""

    chip: str
    kind: str
    value: float  # USD per chip-hour (rent) or USD per chip (purchase)
    basis: str
    source: str
    as_of: str
    label: str = ""

    @property
    def provider(self) -> str:
        """Who sells at this price: the first word of its basis (AWS, GCP, Azure, CoreWeave...)."""
        return provider_of(self.basis)

    def describe(self) -> str:
        unit = "/chip-h" if self.kind != "purchase" else "/chip"
        lab = f", {self.label}" if self.label else ""
        return (
            f"${self.value:,.4g}{unit} {self.kind} ({self.basis}; {self.source}, {self.as_of}{lab})"
        )


def provider_of(basis: str) -> str:
    """The seller named first in a price's basis ("AWS p5.48xlarge ..." → "AWS"; "GCP A3" →
    "GCP"; "Lambda H100" → "Lambda"); "given" for user prices."""
    word = (basis or "").split()[0] if (basis or "").split() else ""
    return word.strip(",;:()") or "unknown"


def _provider(basis: str) -> str | None:
    low = basis.lower()
    for name in ("aws", "gcp", "azure"):
        if name in low.replace("google cloud", "gcp"):
            return name
    return None


def price_records(chip: str, kind: str, provider: str | None = None) -> list[PriceRecord]:
    """Catalog prices of ``kind`` for ``chip`` (slug), optionally whose basis names ``provider``."""
    return [
        p
        for p in _prices()
        if p.chip == chip
        and p.kind == kind
        and (provider is None or provider.lower() in p.basis.lower())
    ]


def choose_price(chip: str, kind: str, provider: str | None = None) -> PriceChoice:
    """The newest catalog price of ``kind`` for ``chip`` (ties: the first listed).

    ``kind='own'`` means the purchase price. A missing 1-yr/3-yr price is derived from the
    chosen on-demand price with Epoch's committed-use discount (label DERIVED).
    """
    k = "purchase" if kind == "own" else kind
    if k not in (*PRICINGS, "purchase"):
        raise GigatrainError(f"pricing={kind!r}; valid: {', '.join(PRICINGS)}")
    recs = price_records(chip, k, provider)
    if recs:
        best = max(enumerate(recs), key=lambda ir: (ir[1].as_of, -ir[0]))[1]
        value = best.usd if k == "purchase" else best.usd_per_chip_hour
        assert value is not None
        return PriceChoice(chip, k, value, best.basis, best.source, best.as_of, best.label)
    if k.startswith("reserved_") and price_records(chip, "on_demand", provider):
        od = choose_price(chip, "on_demand", provider)
        prov = _provider(od.basis)
        if prov is not None:
            key = f"{_CUD_KEYS[prov]}_{k.removeprefix('reserved_')}"
            cud = const(key)
            return PriceChoice(
                chip,
                k,
                od.value * (1 - cud),
                f"on-demand ${od.value:.4g} × (1 − {cud:g} {prov.upper()} "
                f"committed-use discount) [{od.basis}]",
                f"{od.source}; {cite(key)}",
                od.as_of,
                "DERIVED",
            )
    have = sorted({p.kind for p in _prices() if p.chip == chip})
    what = "purchase" if k == "purchase" else f"{k} rental"
    hint = "--chip-price" if k == "purchase" else "--usd-per-chip-hour"
    raise GigatrainError(
        f"no {what} price for {chip} in prices.yaml"
        + (f" (it has: {', '.join(have)})" if have else "")
        + f"; give one with {hint}"
    )
