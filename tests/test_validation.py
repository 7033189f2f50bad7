"""Accuracy against the shipped measured runs: fails when accuracy regresses past the stated
bounds (README "Accuracy"). The bounds sit a little above today's figures so that noise in a
refit passes but a real regression does not."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from gigatrain.catalog.frameworks import knobs_for
from gigatrain.model.estimate import evaluate
from gigatrain.model.plans import PlanArrays
from gigatrain.validate.runs import DATA, Case, case_from_row, read_rows, shipped_rows
from gigatrain.validate.score import score_rows, summarize

# today: 14.5% in-sample (README; fewer, bounded knobs than the 13.3% fit of 2026-11-26, which
# had 7–13 knobs per framework); the bar is 15%
MEDIAN_ABS_ERROR_BOUND = 0.15
# today: 8.7% on the torchtitan rows that report peak memory; the bar is 15%
TORCHTITAN_MEMORY_BOUND = 0.15
# OOM records of the Playbook sweep predicted to fit with more than 20% headroom (today: 0).
# The 30 records flagged AMBIGUOUS_OOM_FLAG (raw status Success, throughput and memory logged)
# are left out: the one among them predicted at 66% is measured at 46 GiB in the runs file.
# Today: 1, uspf_0456 (tp=32 pp=2 mbs=64, 3.57B, predicted at 68% of HBM): a cross-node TP32 layout
# whose transient buffers the activation model does not count.
OOM_FITTING_WITH_HEADROOM_MAX = 1


@pytest.fixture(scope="module")
def shipped() -> tuple[list, dict]:
    results = score_rows(shipped_rows())
    return results, summarize(results)


def test_median_throughput_error_on_grade_a_rows(shipped) -> None:
    _, summary = shipped
    assert summary["grade_a"]["median_abs_rel_error"] <= MEDIAN_ABS_ERROR_BOUND


def test_at_least_90_percent_of_grade_a_rows_supported(shipped) -> None:
    _, summary = shipped
    assert summary["grade_a_supported_fraction"] >= 0.90


def test_every_row_is_scored_or_has_a_reason(shipped) -> None:
    results, summary = shipped
    assert summary["rows"] == len(shipped_rows())
    for r in results:
        if r.status == "ok":
            assert r.predicted is not None and np.isfinite(r.predicted) and r.predicted > 0
            assert r.rel_error == pytest.approx(r.predicted / r.measured - 1)
        else:
            assert r.status == "unsupported" and r.reason


def test_torchtitan_peak_memory_within_bound(shipped) -> None:
    _, summary = shipped
    assert summary["memory_torchtitan"]["n"] >= 10
    assert summary["memory_torchtitan"]["median_abs_rel_error"] <= TORCHTITAN_MEMORY_BOUND


def test_oom_records_are_not_predicted_to_fit_comfortably() -> None:
    rows = [
        r
        for r in read_rows(DATA / "ultrascale_playbook_failures.csv")
        if r["outcome"] == "oom" and "AMBIGUOUS_OOM_FLAG" not in r["notes"]
    ]
    cases = [
        c for c in (case_from_row(r, require_metric=False) for r in rows) if isinstance(c, Case)
    ]
    assert len(cases) >= 0.95 * len(rows)
    comfortable = 0
    for c in cases:
        r = evaluate(
            c.model, c.system, c.job, PlanArrays.from_plans([c.plan]), knobs_for(c.job.framework)
        )
        comfortable += float(r["memory/total"][0]) < 0.8 * c.system.chip.hbm_bytes
    assert comfortable <= OOM_FITTING_WITH_HEADROOM_MAX


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gigatrain.interfaces.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_validate_json_schema_on_a_user_csv(tmp_path) -> None:
    src = (DATA / "published_runs.csv").read_text(encoding="utf-8").splitlines()
    # header + a dgxc row (step time) + a model-card row (GPU-hours only: unsupported)
    picked = [src[0], *[line for line in src[1:] if ",nvidia_dgxc_benchmarking," in line][:3]]
    picked += [line for line in src[1:] if ",llama2_model_card," in line][:1]
    path = tmp_path / "my_runs.csv"
    path.write_text("\n".join(picked) + "\n", encoding="utf-8")
    out = _cli("validate", "--runs", str(path), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"rows", "summary"}
    assert len(data["rows"]) == 4
    for row in data["rows"]:
        assert {
            "row_id",
            "metric",
            "predicted",
            "measured",
            "rel_error",
            "status",
            "reason",
        } <= set(row)
        assert row["status"] in ("ok", "unsupported")
    assert [r["status"] for r in data["rows"]].count("unsupported") == 1
    ok = [r for r in data["rows"] if r["status"] == "ok"]
    assert all(r["metric"] == "step_time_s" for r in ok)


def test_validate_rejects_a_csv_without_the_schema(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    out = _cli("validate", "--runs", str(path))
    assert out.returncode == 2
    err = out.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1
    # one line naming the file and the columns each schema needs (training, serving, post-training)
    assert str(path) in err and "header matches no runs schema" in err
    assert "measured_step_time_s" in err or "row_id" in err


def test_generic_profile_is_one_pooled_fit_that_beats_the_knobwise_median(monkeypatch) -> None:
    """The fallback for unknown frameworks is fitted on every framework's rows at once (each
    with its own catalog semantics, each framework weighing the same), starting from the
    knob-wise median: its pooled loss can only be lower, and every value stays on its grid."""
    import gigatrain.validate.fit as fit
    from gigatrain.catalog.frameworks import load_frameworks

    monkeypatch.setattr(fit, "GENERIC_ROWS_PER_FRAMEWORK", 4)
    cases = fit.shipped_cases()
    by_fw = fit.cases_by_framework(cases)
    frameworks = ("megatron", "pytorch-fsdp", "neuron")
    profiles = load_frameworks()
    fits = {fw: (profiles[fw].knobs, 0.0, len(by_fw[fw])) for fw in frameworks}
    sample = [c for fw in frameworks for c in by_fw[fw]]
    median = fit.generic_profile(fits)
    pooled = fit.generic_profile(fits, sample)
    pool = {fw: by_fw[fw][:: -(-len(by_fw[fw]) // 4)] for fw in frameworks}
    assert fit._pooled_loss(pool, pooled) <= fit._pooled_loss(pool, median)
    for name, grid in fit.FITTED_KNOBS.items():
        value = getattr(pooled, name)
        assert value == getattr(median, name) or np.isclose(grid, value).any()


def test_coordinate_search_stops_only_where_no_single_move_improves() -> None:
    """Passes repeat until one changes nothing, so the fit is a coordinate-wise optimum on the
    grids: with two coupled knobs one pass is not enough, and no single grid move improves."""
    from gigatrain.knobs import DEFAULT_KNOBS
    from gigatrain.validate.fit import coordinate_search

    grids = {"compute_time_scale": np.linspace(1.0, 2.0, 11), "dp_overlap": np.linspace(0, 1, 11)}

    def loss(k) -> float:  # a tilted bowl: the knobs trade off against each other
        c, d = k.compute_time_scale - 1.5, k.dp_overlap - 0.5
        return float(c**2 + d**2 + 1.6 * c * d)

    start = DEFAULT_KNOBS.with_(compute_time_scale=2.0, dp_overlap=1.0)
    _, one_loss = coordinate_search(loss, start, grids, list(grids), rounds=1)
    best, best_loss = coordinate_search(loss, start, grids, list(grids))
    assert best_loss < one_loss
    for name, grid in grids.items():
        for v in grid:
            assert loss(best.with_(**{name: float(v)})) >= best_loss - 1e-6


def test_a_broken_catalog_stops_validate_with_one_error(tmp_path, monkeypatch) -> None:
    """A syntax error in frameworks.yaml is one line naming the file, not 'row not readable'
    on each of the 3,670 rows."""
    import gigatrain.catalog.frameworks as frameworks
    from gigatrain.errors import GigatrainError

    broken = tmp_path / "frameworks.yaml"
    broken.write_text("generic:\n  note: a: b\n", encoding="utf-8")
    monkeypatch.setattr(frameworks, "DATA", broken)
    frameworks.load_frameworks.cache_clear()
    try:
        with pytest.raises(GigatrainError, match=r"frameworks\.yaml"):
            score_rows(list(shipped_rows())[:3])
    finally:
        monkeypatch.undo()
        frameworks.load_frameworks.cache_clear()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("[{before_year: 2023, knobs: {flash_attention: 0.0}}]", "before_year, knobs and source"),
        ("[{before_year: '2023', knobs: {}, source: s}]", "must be a year"),
        ("[{before_year: 2023, knobs: {flash_attention: 2.0}, source: s}]", "physical range"),
        ("{before_year: 2023}", "must be a list"),
    ],
)
def test_a_malformed_framework_history_is_one_line_naming_it(
    tmp_path, monkeypatch, entry: str, message: str
) -> None:
    import gigatrain.catalog.frameworks as frameworks
    from gigatrain.errors import GigatrainError

    bad = tmp_path / "frameworks.yaml"
    bad.write_text(f"generic:\n  match: []\n  history: {entry}\n", encoding="utf-8")
    monkeypatch.setattr(frameworks, "DATA", bad)
    frameworks.load_frameworks.cache_clear()
    try:
        with pytest.raises(GigatrainError, match=rf"generic\.history.*{message}"):
            frameworks.load_frameworks()
    finally:
        monkeypatch.undo()
        frameworks.load_frameworks.cache_clear()
