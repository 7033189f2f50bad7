"""Claim files: thresholds, open questions, per-claim errors, mixed fleets, inline chips,
capex, contract values, build schedules, and markup-safe output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gigatrain.catalog.hardware import get_chip
from gigatrain.economics import claims
from gigatrain.economics.power import chip_power
from gigatrain.interfaces.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "gigatrain" / "examples"


def _check(claim: dict, **extra) -> claims.Verdict:
    return claims.check_claims(
        {"assumptions": {"chip": "trn2"}, "claims": [claim], **extra}
    ).verdicts[0]


def test_threshold_hand_check() -> None:
    # 2 GW = 1.5M chips ± 10 % holds iff 2e9 / 1.65e6 ≤ W ≤ 2e9 / 1.35e6 (1,212 – 1,481 W)
    v = _check({"id": "x", "kind": "chips_for_power", "power": "2GW", "claimed": "1.5M"})
    assert v.verdict == "cannot tell" or v.verdict == "inconsistent"
    line = next(t for t in v.thresholds if "all-in power" in t)
    lo, hi = (float(x) for x in re.findall(r"([\d.]+) kW", line))
    assert lo == pytest.approx(2e9 / 1.65e6 / 1e3, abs=0.01)
    assert hi == pytest.approx(2e9 / 1.35e6 / 1e3, abs=0.01)


def test_open_question_and_per_claim_errors() -> None:
    rep = claims.check_claims({
        "assumptions": {"chip": "trn2"},
        "claims": [
            {"id": "open", "kind": "chips_for_power", "power": "1GW"},
            {"id": "bad-chip", "kind": "chips_for_power", "chip": "nope", "power": "1GW",
             "claimed": "1M"},
            {"id": "bad-kind", "kind": "teleport", "claimed": 1},
            "not a mapping",
            {"id": "fine", "kind": "energy", "power": "1GW", "period": "1y", "claimed": "8.76 TWh"},
        ],
    })  # fmt: skip
    got = {v.id: v.verdict for v in rep.verdicts}
    assert got == {"open": "open", "bad-chip": "error", "bad-kind": "error", "#4": "error",
                   "fine": "consistent"}  # fmt: skip
    o = rep.verdicts[0]
    assert o.computed == pytest.approx(1e9 / chip_power(get_chip("trn2")).facility_peak_w)
    assert rep.counts()["error"] == 3


def test_mixed_fleet_inline_chip_schedule_contract_capex() -> None:
    w2 = chip_power(get_chip("trn2")).facility_peak_w
    w3 = chip_power(get_chip("trn3")).facility_peak_w
    v = _check({"id": "mix", "kind": "chips_for_power", "power": "2GW", "claimed": "1.4M",
                "fleet": [{"chip": "trn2", "share": "50%"}, {"chip": "trn3", "share": "50%"}]})  # fmt: skip
    assert v.computed == pytest.approx(1e9 / w2 + 1e9 / w3)
    inline = {"x9": {"bf16_tflops": 1000, "tdp_w": 1000}}
    v = _check({"id": "in", "kind": "watts_per_chip", "chip": "x9", "claimed": "2kW"}, chips=inline)
    assert v.computed == pytest.approx(1000 * 1.8 * 1.10)  # default server ratio and PUE
    v = _check({"id": "s", "kind": "chips_by_date", "at": "2026Q3", "claimed": "1",
                "schedule": [{"by": "2026Q1", "power": "100MW"}, {"by": "2026-06", "chips": 1000},
                             {"by": "2026Q4", "power": "1GW"}]})  # fmt: skip
    assert v.computed == pytest.approx(1e8 / w2 + 1000)
    v = _check({"id": "c", "kind": "contract_value", "chips": 1000, "period": "1y",
                "usd_per_chip_hour": 2, "claimed": "$17.52M"})  # fmt: skip
    assert v.computed == pytest.approx(1000 * 2 * 8760) and v.verdict == "consistent"
    v = _check({"id": "k", "kind": "capex", "chip": "h100-sxm", "chips": 1000,
                "chip_price": "$30000", "claimed": "$45M"})  # fmt: skip
    assert v.computed == pytest.approx(1000 * 30000 + 1000 * 1275 / 1e6 * 11.7e6)


def test_examples_check_in_one_command_each() -> None:
    for name in ("deal-2gw-trainium.yaml", "public-deals.yaml"):
        rep = claims.check_claims(EXAMPLES / name)
        assert not rep.counts()["error"]
        assert any(v.thresholds for v in rep.verdicts)


def test_markup_in_claims_prints_verbatim(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        'title: "A [/] title [red]x"\n'
        "claims:\n"
        '  - {id: "b[/]", says: "text [bold]kept[/bold] and [/]", kind: energy, power: 1GW,'
        " period: 1y, claimed: 8.76 TWh}\n",
        encoding="utf-8",
    )
    r = CliRunner().invoke(app, ["check", str(f)])
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "A [/] title [red]x" in out and "text [bold]kept[/bold] and [/]" in out
