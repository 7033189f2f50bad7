"""Time-cost Pareto over a chip range: knee, deadline/budget, bounded cost winner."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gigatrain.catalog import prices
from gigatrain.economics import objectives as ob


@dataclass
class _P:  # the fields choose() reads from a RunCost
    chips: int
    wall_s: float
    total_usd: float


def _front() -> list[_P]:
    d = 86400.0
    # fastest/expensive → slow/cheap; the bend is at 16k chips (100 d, $260M)
    return [_P(131072, 40 * d, 900e6), _P(65536, 47 * d, 510e6), _P(16384, 100 * d, 260e6),
            _P(4096, 260 * d, 170e6), _P(1024, 870 * d, 150e6)]  # fmt: skip


def test_knee_is_the_bend() -> None:
    f = _front()
    k = ob.knee_index([p.wall_s for p in f], [p.total_usd for p in f])
    assert f[k].chips == 16384
    assert ob.knee_index([1.0, 2.0], [2.0, 1.0]) == 0


def test_cost_winner_is_bounded_by_slowdown() -> None:
    r = ob.choose(_front(), "cost")  # type: ignore[arg-type]
    assert r.max_slowdown == 2.0
    w = r.front[r.winner]
    assert w.wall_s <= 2.0 * r.front[0].wall_s and w.chips == 65536
    r_free = ob.choose(_front(), "cost", max_slowdown=None)  # type: ignore[arg-type]
    assert r_free.front[r_free.winner].chips == 1024  # the 22-fold slower cheapest, when asked


def test_deadline_and_budget_filter() -> None:
    d = 86400.0
    r = ob.choose(_front(), "time", budget_usd=300e6)  # type: ignore[arg-type]
    assert r.front[r.winner].chips == 16384
    r = ob.choose(_front(), "cost", deadline_days=50, max_slowdown=None)  # type: ignore[arg-type]
    assert r.front[r.winner].chips == 65536 and r.front[r.winner].wall_s <= 50 * d
    r = ob.choose(_front(), "cost", deadline_days=10)  # type: ignore[arg-type]
    assert r.winner is None and not any(r.allowed)
    with pytest.raises(Exception, match="objective"):
        ob.choose(_front(), "speed")  # type: ignore[arg-type]


def test_compare_uses_one_provider_unless_asked() -> None:
    from gigatrain.api import make_job
    from gigatrain.catalog.models import get_model
    from gigatrain.economics import cost

    m, job = get_model("llama-3.1-8b"), make_job(8192, 256, 1e12)
    rows = cost.compare_chips(m, job, 256, ["h100-sxm", "b200", "tpu-v4"])
    provs = {r.cost.price.provider for r in rows if r.cost.price}
    assert provs == {"AWS"}  # H100's newest price is AWS: B200 at AWS's price, TPU v4 none
    tpu = rows[2].cost
    assert tpu.price is None and "from AWS" in tpu.assumptions["price"]
    mixed = cost.compare_chips(m, job, 256, ["h100-sxm", "b200", "tpu-v4"], mix_providers=True)
    assert mixed[2].cost.price is not None and mixed[2].cost.price.provider == "GCP"
    assert prices.provider_of("AWS p5.48xlarge $98.32/instance-hr / 8") == "AWS"
