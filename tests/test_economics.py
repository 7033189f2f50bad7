"""Economics: quantities, power, goodput, cost, fleets, claim checks, roadmaps and their CLI.

Hand-checked figures (shared/facts/hardware.md §4):
* 2 GW for one year (8,760 h) = 17.52 TWh; at $0.03/kWh = $525.6M.
* Chinchilla-optimal 1T dense: D = 20·N = 2e13 tokens, C = 6·N·D = 1.2e26 FLOP.
* 2 GW / (500 W × 1.82 × PUE 1.15 = 1,046.5 W) = 1.91M Trn2.
* Young: τ = √(2δM); δ = 10 s, M = 3,600 s → 268.3 s.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gigatrain.api import make_job
from gigatrain.catalog.hardware import get_chip, get_system, load_economics, load_prices
from gigatrain.catalog.models import get_model
from gigatrain.economics import claims, cost, fleet, goodput, power, quantities, roadmap
from gigatrain.errors import GigatrainError
from gigatrain.interfaces.cli import app
from gigatrain.model.workload import params_total

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "gigatrain" / "examples"
runner = CliRunner()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gigatrain.interfaces.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


# ---------------------------------------------------------------- quantities
@pytest.mark.parametrize(
    ("dim", "text", "value"),
    [
        ("power", "2GW", 2e9),
        ("power", "500 MW", 5e8),
        ("power", "1.5e6 W", 1.5e6),
        ("power", "1,050 W", 1050.0),
        ("energy", "17.52 TWh", 17.52e12 * 3600),
        ("energy", "3 GWh", 3e9 * 3600),
        ("energy_price", "$0.03/kWh", 0.03),
        ("energy_price", "0.03", 0.03),
        ("energy_price", "3 c/kWh", 0.03),
        ("energy_price", "$30/MWh", 0.03),
        ("money", "$10B", 1e10),
        ("money", "$90 million", 9e7),
        ("money", "1.5e9 USD", 1.5e9),
        ("duration", "1y", 8760 * 3600.0),
        ("duration", "90d", 90 * 86400.0),
        ("duration", "2160 h", 2160 * 3600.0),
        ("flop", "1.2e26", 1.2e26),
        ("flop_rate", "400 EFLOP/s", 4e20),
        ("ratio", "40%", 0.4),
        ("count", "1.5M", 1.5e6),
        ("count", "1.5 million", 1.5e6),
        ("count", "~100k", 1e5),
    ],
)
def test_quantities_parse(dim: str, text: str, value: float) -> None:
    assert quantities.PARSERS[dim]("f", text) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("dim", "text", "needle"),
    [
        ("power", "2 GWh", "is an energy, not a power"),
        ("energy", "2GW", "is a power, not an energy"),
        ("power", "-2GW", "must be positive"),
        ("power", "2", "needs a unit"),
        ("duration", "5", "needs a unit"),
        ("power", "two gigawatts", "cannot read"),
        ("energy_price", "$30", "is an amount of money, not an electricity price"),
    ],
)
def test_quantities_errors(dim: str, text: str, needle: str) -> None:
    with pytest.raises(GigatrainError, match=needle) as e:
        quantities.PARSERS[dim]("--power", text)
    assert "\n" not in str(e.value)


def test_pretty_units_round_up_across_prefixes() -> None:
    assert quantities.fmt_power(999_999_999.99) == "1 GW"
    assert quantities.fmt_energy(6.3072e16) == "17.52 TWh"
    assert quantities.fmt_usd(5.256e8) == "$525.6M"


# ---------------------------------------------------------------- the hand-checked numbers
def test_two_gw_for_a_year_at_three_cents() -> None:
    e_j, usd = fleet.energy_cost(2e9, quantities.S_PER_YEAR, 0.03)
    assert e_j / 3.6e15 == pytest.approx(17.52, rel=1e-12)  # TWh
    assert usd == pytest.approx(525.6e6, rel=1e-12)
    f = fleet.size_fleet("trn2", power_w=2e9, usd_per_kwh=0.03)
    assert f.energy_per_year_full_j == pytest.approx(e_j)
    assert f.energy_usd_per_year_full == pytest.approx(525.6e6)


def test_chinchilla_1t_dense() -> None:
    tokens, flop = fleet.chinchilla_flop(1e12)
    assert tokens == 2e13
    assert flop == pytest.approx(1.2e26)
    assert fleet.chinchilla_params_for(1.2e26) == pytest.approx(1e12)


def test_two_gw_of_trn2_chip_count() -> None:
    f = fleet.size_fleet("trn2", power_w=2e9, pue=1.15, server_ratio=1.82)
    assert f.power.facility_peak_w == pytest.approx(500 * 1.82 * 1.15)
    assert f.chips == 1_911_132  # hardware.md §4(b): ~1.9M
    # all-in figure that the news claim implies: 2 GW / 1.5M = 1,333 W
    g = fleet.size_fleet("trn2", power_w=2e9, allin_w=2e9 / 1.5e6)
    assert g.chips in (1_499_999, 1_500_000)
    # IT envelope buys more chips than the same facility envelope
    assert fleet.size_fleet("trn2", power_w=2e9, power_is_it=True, pue=1.15).chips > f.chips


def test_fleet_from_budget_spends_at_most_the_budget() -> None:
    f = fleet.size_fleet("h100-sxm", budget_usd=1e10)
    assert f.capex_usd <= 1e10 < f.capex_usd + 60_000
    assert f.hardware_usd + f.datacenter_usd == pytest.approx(f.capex_usd)
    with pytest.raises(GigatrainError, match="purchase price"):
        fleet.size_fleet("trn2", budget_usd=1e10)
    with pytest.raises(GigatrainError, match="exactly one"):
        fleet.size_fleet("trn2", power_w=1e9, budget_usd=1e9)


# ---------------------------------------------------------------- goodput
def test_young_daly_interval() -> None:
    assert goodput.young_interval_s(10, 3600) == pytest.approx(math.sqrt(72_000))
    # Daly ≈ Young for δ ≪ M, and Daly sits at the minimum of Daly's own wall-time model
    d, m, r = 2.84, 10_546.9, 300.0
    tau = goodput.daly_interval_s(d, m)
    assert tau == pytest.approx(goodput.young_interval_s(d, m), rel=0.02)
    grid = np.linspace(tau * 0.5, tau * 2, 20_001)
    best = grid[np.argmin([goodput.wall_per_useful(t, d, m, r) for t in grid])]
    assert tau == pytest.approx(best, rel=1e-3)
    assert goodput.daly_interval_s(500, 200) == 200  # δ ≥ 2M → τ = M


def test_goodput_falls_with_chip_count() -> None:
    ckpt = 14 * 405e9
    gs = [goodput.goodput(n, ckpt).goodput for n in (1, 1024, 16_384, 100_000, 1_500_000)]
    assert all(a > b for a, b in itertools.pairwise(gs))
    assert gs[0] > 0.95  # one chip: 5.7 TB at 122 MB/s takes 13 h per checkpoint, MTBF 5.5 y
    assert 0.90 < gs[2] < 0.98  # Llama 3 reports > 90 % effective training time on 16k H100
    assert gs[-1] < 0.2  # a 1.5M-chip synchronous job fails every ~2 minutes
    g = goodput.goodput(16_384, ckpt)
    # Llama 3: 419 unexpected + 47 planned interruptions over 16,384 GPUs × 54 days
    assert g.mtbf_s == pytest.approx(54 * 86_400 / 466, rel=1e-3)
    assert g.loss_checkpoint + g.loss_rework + g.loss_restart == pytest.approx(1 - g.goodput)
    assert goodput.goodput(16_384, ckpt, fixed=0.9).goodput == 0.9
    with pytest.raises(GigatrainError):
        goodput.goodput(0, ckpt)


def test_checkpoint_bytes_is_14_bytes_per_param() -> None:
    m = get_model("llama-3.1-405b")
    b = goodput.checkpoint_bytes(m, make_job(8192, 2048))
    assert b == pytest.approx(14 * params_total(m))  # 2 + 4 + 8 (achievable.md §7.2: ~5.7 TB)


# ---------------------------------------------------------------- power
def test_chip_power_split_and_defaults() -> None:
    p = power.chip_power(get_chip("h100-sxm"))
    assert p.it_peak_w == pytest.approx(10_200 / 8)  # DGX H100 10.2 kW / 8 = 1,275 W
    assert p.facility_peak_w == pytest.approx(1275 * 1.10)
    assert p.facility_avg_w == pytest.approx(0.75 * p.facility_peak_w)
    assert p.chip_avg_w + p.host_avg_w == pytest.approx(p.it_avg_w)
    assert p.it_avg_w + p.cooling_avg_w == pytest.approx(p.facility_avg_w)
    fr = [power.power_fraction(u) for u in (0.0, 0.2, 0.375, 0.55, 0.9)]
    assert fr[0] == pytest.approx(0.47) and fr[2] == pytest.approx(0.75) and fr[-1] == 1.0
    assert all(a <= b for a, b in itertools.pairwise(fr))
    e = power.run_energy(p, 1000, 3600.0)
    assert sum(e.parts().values()) == pytest.approx(e.total_j)
    # no published rating: a labelled estimate, not an abort
    t1 = power.chip_power(get_chip("trn1"))
    assert t1.tdp_w == pytest.approx(142) and "ESTIMATE" in t1.assumptions["tdp_w"]
    with pytest.raises(GigatrainError, match="pue"):
        power.chip_power(get_chip("h100-sxm"), pue=0.5)


def test_one_power_model_from_rack_figures() -> None:
    """Rack / system figures replace TDP × 1.8 where they exist (fleet.md §4, hardware.md §3.4)."""
    gb200 = power.chip_power(get_chip("gb200"))
    assert gb200.it_peak_w == pytest.approx(120_000 / 72, rel=2e-3)  # NVL72 ~120 kW / 72
    assert 1200 * 1.8 / gb200.it_peak_w == pytest.approx(1.29, abs=0.01)  # the old 29 % excess
    gb300 = power.chip_power(get_chip("gb300"))
    assert gb300.it_peak_w == pytest.approx(135_000 / 72)  # NVIDIA planning 135 kW / 72
    assert 1400 * 1.8 / gb300.it_peak_w == pytest.approx(1.34, abs=0.01)
    trn2 = power.chip_power(get_chip("trn2"))
    # hardware.md §3.4 ESTIMATE: 500 W × 1.82 × AWS PUE 1.15 ≈ 1,050 W; TPUs at Google's 1.10
    assert trn2.facility_peak_w == pytest.approx(500 * 1.82 * 1.15)
    assert power.chip_power(get_chip("tpu-v5p")).pue == pytest.approx(1.10)
    for slug in ("tpu-v5p", "tpu-v6e", "trn1", "tpu-v3"):
        assert power.chip_power(get_chip(slug)).facility_peak_w > 0
    # the same all-in watts in fleet, check and roadmap
    f = fleet.size_fleet("trn2", power_w=2e9)
    assert f.power.facility_peak_w == pytest.approx(trn2.facility_peak_w)
    assert f.chips == int(2e9 // trn2.facility_peak_w)  # 1,911,132 (hardware.md §4(b) ~1.9M)
    rep = claims.check_claims(EXAMPLES / "deal-2gw-trainium.yaml")
    v = next(x for x in rep.verdicts if x.id == "chips-per-2gw")
    assert v.computed == pytest.approx(2e9 / trn2.facility_peak_w)
    r = roadmap.simulate(EXAMPLES / "roadmap.yaml")
    per_chip = r.periods[-1].facility_peak_w / sum(r.periods[-1].chips.values())
    assert per_chip == pytest.approx(trn2.facility_peak_w, rel=1e-6)


# ---------------------------------------------------------------- cost
@pytest.fixture(scope="module")
def est405():
    m = get_model("llama-3.1-405b")
    job = make_job(8192, 2048, 15.6e12)
    system = get_system("h100-sxm")
    _, e = cost.plan_for(m, system, job, 16_384)
    return m, system, job, e


@pytest.mark.parametrize("pricing", ["on_demand", "reserved_1yr", "reserved_3yr", "own"])
def test_run_cost_parts_sum(est405, pricing: str) -> None:
    m, system, job, e = est405
    c = cost.run_cost(m, system, job, est=e, options=cost.CostOptions(pricing=pricing))
    assert sum(c.parts.values()) == pytest.approx(c.total_usd)
    assert c.total_usd > 0 and c.fits
    assert c.wall_s == pytest.approx(c.compute_s / c.goodput.goodput)
    assert c.chip_hours == pytest.approx(16_384 * c.wall_s / 3600)
    assert c.usd_per_exaflop == pytest.approx(c.total_usd / (c.model_flops / 1e18))
    if pricing == "own":
        assert set(c.parts) == {"cost/hardware", "cost/datacenter", "cost/energy"}
        usd_kwh = load_economics()["electricity_usd_per_kwh_us_industrial"].value
        assert c.parts["cost/energy"] == pytest.approx(c.energy.total_j / 3.6e6 * usd_kwh)
    else:
        assert c.parts["cost/rent"] == pytest.approx(c.chip_hours * c.price.value)


def test_cost_overrides(est405) -> None:
    m, system, job, e = est405
    o = cost.CostOptions(pricing="on_demand", usd_per_chip_hour=2.0, goodput=0.9)
    c = cost.run_cost(m, system, job, est=e, options=o)
    assert c.total_usd == pytest.approx(16_384 * c.compute_s / 0.9 / 3600 * 2.0)


def test_price_choice() -> None:
    od = cost.choose_price("h100-sxm", "on_demand")
    assert od.as_of == max(
        p.as_of for p in load_prices() if p.chip == "h100-sxm" and p.kind == "on_demand"
    )
    r1 = cost.choose_price("trn2", "reserved_1yr")  # no record: derived with AWS's 41 % CUD
    assert r1.label == "DERIVED" and r1.value == pytest.approx(2.235 * (1 - 0.41))
    with pytest.raises(GigatrainError, match="no purchase price for trn2"):
        cost.choose_price("trn2", "own")
    v, _p = cost.peak_price_performance("trn2")
    assert v == pytest.approx(3.35, abs=0.01)  # hardware.md §2.1: $3.35 per PF-hour


def test_pareto_mask() -> None:
    assert cost.pareto_mask([1, 2, 3, 2], [3, 2, 1, 3]) == [True, True, True, False]
    assert cost.pareto_mask([1.0, math.inf], [1.0, 0.5]) == [True, False]


def test_default_global_batch() -> None:
    assert cost.default_global_batch(8192) == 2048  # Llama 3: 16M tokens per batch
    assert cost.default_global_batch(2048) == 8192


# ---------------------------------------------------------------- claims
EXPECTED = {
    "unveiled-2024-5nm": "cannot tell",
    "chips-per-2gw": "cannot tell",
    "energy-per-year": "consistent",
    "opex-ceiling-90m": "inconsistent",
    "orders-of-magnitude-cheaper": "inconsistent",
    "vs-us-industrial": "consistent",
    "price-performance-3-5x": "inconsistent",
    "trillion-param-beyond-sota": "inconsistent",
    "trillion-on-100k-trn2": "consistent",
    "trillion-on-whole-fleet": "cannot tell",
}


def test_example_deal_verdicts() -> None:
    rep = claims.check_claims(EXAMPLES / "deal-2gw-trainium.yaml")
    got = {v.id: v.verdict for v in rep.verdicts}
    assert got == EXPECTED
    by = {v.id: v for v in rep.verdicts}
    assert by["opex-ceiling-90m"].computed == pytest.approx(525.6e6)
    assert by["chips-per-2gw"].computed == pytest.approx(1_911_132, rel=1e-5)
    assert by["price-performance-3-5x"].computed == pytest.approx(6.96 / 3.35, rel=0.01)
    assert all(v.arithmetic for v in rep.verdicts if v.kind != "statement")


def test_parse_claimed_forms() -> None:
    c = claims.parse_claimed("c", "3-5", "ratio", 0.1)
    assert (c.lo, c.hi) == pytest.approx((2.7, 5.5))
    c = claims.parse_claimed("c", ">=100", "ratio", 0.0)
    assert c.lo == 100 and c.hi == math.inf
    c = claims.parse_claimed("c", "<= $90M", "money", 0.0)
    assert c.hi == 9e7
    c = claims.parse_claimed("c", "1.5e-3", "ratio", 0.0)  # an exponent is not a range
    assert c.lo == pytest.approx(1.5e-3)


@pytest.mark.parametrize(
    ("claim", "needle"),
    [
        (
            {
                "id": "x",
                "kind": "energy",
                "power": "two gigawatts",
                "period": "1y",
                "claimed": "1 TWh",
            },
            "claim 'x': power: cannot read 'two gigawatts'",
        ),
        (
            {"id": "y", "kind": "energy", "power": "2 GWh", "period": "1y", "claimed": "1 TWh"},
            "claim 'y': power: '2 GWh' is an energy, not a power",
        ),
        ({"id": "z", "kind": "nonsense", "claimed": 1}, "claim 'z': kind 'nonsense' is not known"),
        (
            {"id": "w", "kind": "energy", "period": "1y", "claimed": "1 TWh"},
            "claim 'w': power is missing",
        ),
    ],
)
def test_unparseable_claims_name_the_claim(claim: dict, needle: str) -> None:
    """A bad claim becomes an "error" verdict naming the claim; the other claims still run."""
    ok = {"id": "ok", "kind": "energy", "power": "2GW", "period": "1y", "claimed": "17.52 TWh"}
    rep = claims.check_claims({"claims": [claim, ok]})
    bad, good = rep.verdicts
    assert bad.verdict == "error" and needle in bad.note and "\n" not in bad.note
    assert good.verdict == "consistent"


def test_claim_without_claimed_value_is_an_open_question() -> None:
    rep = claims.check_claims({"claims": [{"id": "v", "kind": "energy", "power": "2GW",
                                           "period": "1y"}]})  # fmt: skip
    v = rep.verdicts[0]
    assert v.verdict == "open" and v.computed == pytest.approx(2e9 * 8760 * 3600)


# ---------------------------------------------------------------- roadmap
def test_example_roadmap() -> None:
    r = roadmap.simulate(EXAMPLES / "roadmap.yaml")
    assert all(x.finish for x in r.runs)
    cum = r.series["cum_energy_j"]
    assert all(a <= b for a, b in itertools.pairwise(cum))
    assert r.periods[-1].label == "2027Q4"
    assert r.periods[-1].facility_peak_w == pytest.approx(2e9, rel=1e-3)
    assert r.periods[-1].cum_energy_j == pytest.approx(cum[-1])
    assert sum(p.energy_j for p in r.periods) == pytest.approx(cum[-1])
    # a fixed-size job waits until that many chips are free
    big = next(x for x in r.runs if x.chips == 500_000)
    assert big.start >= "2026-07-01"


def test_roadmap_errors() -> None:
    with pytest.raises(GigatrainError, match="roadmap is empty"):
        roadmap.simulate({"fleet": [], "runs": [{"params": "1T"}]})
    with pytest.raises(GigatrainError, match="roadmap is empty: 'runs:'"):
        roadmap.simulate(
            {"fleet": [{"at": "2026Q1", "chip": "trn2", "add_chips": 1000}], "runs": []}
        )
    with pytest.raises(GigatrainError, match=r"fleet\[0\]\.add_power"):
        roadmap.simulate(
            {
                "fleet": [{"at": "2026Q1", "chip": "trn2", "add_power": "1 GWh"}],
                "runs": [{"params": "1T"}],
            }
        )
    with pytest.raises(GigatrainError, match="cannot read 'soon' as a date"):
        roadmap.simulate(
            {"fleet": [{"at": "soon", "chip": "trn2", "add_chips": 1}], "runs": [{"params": "1T"}]}
        )


# ---------------------------------------------------------------- catalog sources
def test_every_default_has_source_and_date() -> None:
    for c in load_economics().values():
        assert c.source and c.as_of and c.unit, c.key
    for p in load_prices():
        assert p.source and p.as_of and p.basis, p
    res = runner.invoke(app, ["catalog", "prices", "--json"])
    assert res.exit_code == 0, res.output
    recs = json.loads(res.output)
    assert recs and all(r["source"] and r["as_of"] for r in recs)
    res = runner.invoke(app, ["catalog", "prices"], env={"COLUMNS": "250"})
    assert "as_of" in res.output and "2025-03-17" in res.output and "source" in res.output


# ---------------------------------------------------------------- CLI end to end
def test_cli_fleet() -> None:
    res = runner.invoke(
        app, ["fleet", "--power", "2GW", "--chip", "trn2", "--usd-per-kwh", "$0.03/kWh", "--json"]
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["energy_usd_per_year_full"] == pytest.approx(525.6e6)
    assert d["targets"][0]["flop"] == pytest.approx(1.2e26)
    res = runner.invoke(app, ["fleet", "--budget", "$10B", "--chip", "h100-sxm"])
    assert res.exit_code == 0 and "capex" in res.output


def test_cli_cost_and_compare(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "cost",
            "--model",
            "megatron-gpt-1t",
            "--tokens",
            "20T",
            "--chip",
            "trn2",
            "--chips",
            "100000",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["chips"] <= 100_000 and d["total_usd"] > 0
    assert sum(d["parts"].values()) == pytest.approx(d["total_usd"])
    plot = tmp_path / "cmp.png"
    res = runner.invoke(
        app,
        [
            "compare",
            "--model",
            "llama-3.1-70b",
            "--tokens",
            "15T",
            "--chips",
            "2048",
            "--chip",
            "h100-sxm",
            "--chip",
            "trn2",
            "--chip",
            "mi300x",
            "--plot",
            str(plot),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert [r["chip"] for r in d["rows"]] == ["h100-sxm", "trn2", "mi300x"]
    assert d["rows"][0]["price_performance_vs_ref"] == pytest.approx(1.0)
    assert d["rows"][2]["total_usd"] is None  # no rental price for MI300X: time only
    assert plot.stat().st_size > 1000


def test_cli_check_and_roadmap(tmp_path: Path) -> None:
    res = runner.invoke(app, ["check", str(EXAMPLES / "deal-2gw-trainium.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert {c["id"]: c["verdict"] for c in d["claims"]} == EXPECTED
    res = runner.invoke(app, ["check", str(EXAMPLES / "deal-2gw-trainium.yaml")])
    assert "INCONSISTENT" in res.output and "$525.6M" in res.output
    svg = tmp_path / "roadmap.svg"
    res = runner.invoke(
        app, ["roadmap", str(EXAMPLES / "roadmap.yaml"), "--plot", str(svg), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["runs"]
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["fleet", "--chip", "trn2", "--power", "-2GW"], "must be positive"),
        (["fleet", "--chip", "trn2", "--power", "2 GWh"], "is an energy, not a power"),
        (["check", "{bad}"], "claim 'x': power"),
        (["roadmap", "{empty}"], "roadmap is empty"),
        (
            [
                "cost",
                "--model",
                "llama-3.1-8b",
                "--chip",
                "h100",
                "--chips",
                "8",
                "--pricing",
                "own",
                "--usd-per-kwh",
                "2 GW",
            ],
            "is a power, not an electricity price",
        ),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("claims:\n  - {id: x, kind: energy, power: lots, period: 1y, claimed: 1 TWh}\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("fleet: []\nruns: []\n")
    args = [a.replace("{bad}", str(bad)).replace("{empty}", str(empty)) for a in args]
    p = cli(*args)
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) <= 3


def test_roadmap_refuses_circular_after_and_absurd_power(tmp_path) -> None:
    from gigatrain.economics.roadmap import simulate
    from gigatrain.errors import GigatrainError

    base = {
        "title": "t",
        "start": "2026Q1",
        "fleet": [
            {
                "from": "2026Q1",
                "to": "2026Q4",
                "every": "quarter",
                "chip": "trn2",
                "add_power": "100MW",
            }
        ],
        "runs": [
            {"name": "a", "params": "1T", "chips": "10k", "after": "b"},
            {"name": "b", "params": "1T", "chips": "10k", "after": "a"},
        ],
    }
    with pytest.raises(GigatrainError, match="circular 'after' dependency a -> b -> a"):
        simulate(base)
    base["runs"] = [{"name": "a", "params": "1T", "chips": "10k"}]
    base["fleet"][0]["add_power"] = "1e30W"
    with pytest.raises(GigatrainError, match="over 1 TW"):
        simulate(base)


@pytest.mark.parametrize("command", ["cost", "compare"])
def test_seq_zero_is_refused_not_defaulted(command: str) -> None:
    import sys

    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "gigatrain",
            command,
            "--model",
            "llama-3.1-8b",
            "--tokens",
            "1T",
            "--chip",
            "h100-sxm",
            "--chips",
            "64",
            "--seq",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        res.returncode == 2
        and "seq must be a positive integer" in res.stderr
        and "Traceback" not in res.stderr
    )
