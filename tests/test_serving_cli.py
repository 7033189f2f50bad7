"""CLI: infer, infer-compare, finetune, rl end to end (JSON shape) and one-line bad-input errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gigatrain.interfaces.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_infer_json_sizes_fleet_and_prices() -> None:
    r = cli(
        "infer",
        "--model",
        "llama-3.1-70b",
        "--chip",
        "h100-sxm",
        "--ttft",
        "500ms",
        "--tpot",
        "30ms",
        "--requests-per-s",
        "50",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    b = d["best"]
    assert b["ttft_s"] <= 0.5 and b["tpot_s"] <= 0.03 and b["fits"]
    assert d["fleet"]["chips"] >= b["replica_chips"] and d["fleet"]["requests_per_s"] >= 50
    assert b["usd_per_m_output_tokens"] > 0 and d["curve"]


def test_infer_two_chips_compares() -> None:
    r = cli(
        "infer",
        "--model",
        "llama-3.1-8b",
        "--chip",
        "h100-sxm",
        "--chip",
        "b200",
        "--tpot",
        "20ms",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    assert [x["chip"] for x in json.loads(r.stdout)] == ["h100-sxm", "b200"]


def test_finetune_and_rl_json() -> None:
    r = cli(
        "finetune",
        "--model",
        "llama-3.1-8b",
        "--chip",
        "h100-sxm",
        "--chips",
        "8",
        "--method",
        "qlora",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (
        d["method"] == "qlora"
        and d["frozen_dtype"] == "nf4"
        and d["trainable_params"] < d["total_params"] / 50
    )
    r = cli(
        "rl",
        "--model",
        "llama-3.1-8b",
        "--chip",
        "h100-sxm",
        "--chips",
        "16",
        "--gen-tp",
        "1",
        "--prompts",
        "64",
        "--steps",
        "10",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (
        d["step_time_s"] > 0
        and d["days"] > 0
        and set(d["time_s"]) == {"rollout", "logprobs", "train", "weight_sync"}
    )


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ("infer", "--model", "llama-3.1-70b", "--chip", "h100", "--ttft", "fast"),
            "ttft: cannot read 'fast'",
        ),
        (
            ("infer", "--model", "llama-3.1-70b", "--chip", "h100-sxm", "--input-len", "0"),
            "input_len=0 must be in",
        ),
        (
            ("infer", "--model", "llama-3.1-70b", "--chip", "h100-sxm", "--precision", "int3"),
            "precision='int3'",
        ),
        (("infer", "--model", "nope", "--chip", "h100-sxm"), "unknown model 'nope'"),
        (
            ("infer", "--model", "llama-3.1-405b", "--chip", "h100-sxm", "--tpot", "1ms"),
            "no deployment meets",
        ),
        (
            (
                "finetune",
                "--model",
                "llama-3.1-8b",
                "--chip",
                "h100-sxm",
                "--chips",
                "8",
                "--method",
                "dora",
            ),
            "method='dora'",
        ),
        (
            (
                "rl",
                "--model",
                "llama-3.1-70b",
                "--chip",
                "h100-sxm",
                "--chips",
                "16",
                "--gen-tp",
                "1",
            ),
            "does not fit for generation",
        ),
        (
            (
                "rl",
                "--model",
                "llama-3.1-8b",
                "--chip",
                "h100-sxm",
                "--chips",
                "16",
                "--placement",
                "split",
            ),
            "placement='split'",
        ),
    ],
)
def test_bad_input_is_one_line(args: tuple[str, ...], needle: str) -> None:
    r = cli(*args)
    out = r.stderr + r.stdout
    assert needle in out, out
    assert "Traceback" not in out


# ----------------------------------------------------- validate --runs: serving / post-training
def _subset(tmp_path, name: str, keep) -> str:
    """The shipped ``name`` CSV cut to the rows ``keep(row)`` accepts, written to tmp_path."""
    import csv

    from gigatrain.validate.serving_runs import DATA

    with open(DATA / name, newline="", encoding="utf-8") as f:
        rd = csv.DictReader(f)
        rows = [r for r in rd if keep(r)]
        cols = rd.fieldnames
    out = tmp_path / name
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    return str(out)


ROW_KEYS = {"row_id", "metric", "predicted", "measured", "rel_error", "status", "reason"}


def test_validate_runs_detects_serving_schema_and_matches_the_library(tmp_path) -> None:
    from gigatrain.validate.serving import score_cases
    from gigatrain.validate.serving_runs import case_from_row, read_serving_rows

    path = _subset(
        tmp_path,
        "inference_runs.csv",
        lambda r: (
            r["source_group"] in ("inferencemax", "nvidia_trtllm_perf_overview")
            and int(r["row_id"][3:]) % 40 == 0
        ),
    )
    r = cli("validate", "--runs", path, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["schema"] == "serving" and d["rows"] and set(d["rows"][0]) >= ROW_KEYS
    want = {
        x.row_id: x
        for x in score_cases(
            [case_from_row(row) for row in read_serving_rows(tmp_path / "inference_runs.csv")]
        )
    }
    scored = [x for x in d["rows"] if x["status"] == "ok"]
    assert len(scored) >= 10
    for x in scored:
        w = want[x["row_id"]]
        assert x["predicted"] == pytest.approx(w.predicted, rel=1e-9)
        assert x["rel_error"] == pytest.approx(x["predicted"] / x["measured"] - 1, rel=1e-9)
    assert d["summary"]["supported"] == len([x for x in d["rows"] if x["rel_error"] is not None])
    table = cli("validate", "--runs", path)
    assert (
        table.returncode == 0 and "serving validation" in table.stdout and "median" in table.stdout
    )


def test_validate_runs_detects_posttrain_schema(tmp_path) -> None:
    from gigatrain.validate.serving_posttrain import score_posttrain

    path = _subset(
        tmp_path, "posttrain_runs.csv", lambda r: r["source_group"] != "torchtune_readme"
    )
    r = cli("validate", "--runs", path, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["schema"] == "posttrain" and set(d["rows"][0]) >= ROW_KEYS
    want = {x.row_id: x.predicted for x in score_posttrain(tmp_path / "posttrain_runs.csv")}
    got = {x["row_id"]: x["predicted"] for x in d["rows"]}
    assert got.keys() == want.keys() and sum(v is not None for v in got.values()) >= 20
    assert all(got[k] == pytest.approx(want[k]) for k in got if got[k] is not None)
    assert "step_time_s" in cli("validate", "--runs", path).stdout


def test_validate_runs_unknown_header_is_one_line_naming_file_and_columns(tmp_path) -> None:
    bad = tmp_path / "odd[v1].csv"
    bad.write_text("a,b,c\n1,2,3\n")
    r = cli("validate", "--runs", str(bad))
    assert r.returncode == 2 and r.stdout == ""
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "odd[v1].csv" in err and "Traceback" not in err
    assert (
        "inference_runs.csv" in err
        and "posttrain_runs.csv" in err
        and "batch_or_concurrency" in err
    )


def test_validate_runs_bad_values_are_unsupported_rows_not_crashes(tmp_path) -> None:
    import csv

    from gigatrain.validate.serving_runs import DATA

    for name, col, value in (
        ("inference_runs.csv", "batch_or_concurrency", "request rate QPS=fast"),
        ("inference_runs.csv", "measured_value", "n/a"),
        ("posttrain_runs.csv", "measured_value", "lots"),
        ("posttrain_runs.csv", "num_chips", "many"),
    ):
        with open(DATA / name, newline="", encoding="utf-8") as f:
            rd = csv.DictReader(f)
            row = dict(next(rd))
            cols = rd.fieldnames
        row[col] = value
        path = tmp_path / f"{col}-{name}"
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerow(row)
        r = cli("validate", "--runs", str(path), "--json")
        assert r.returncode == 0, (name, col, r.stderr)
        (only,) = json.loads(r.stdout)["rows"]
        assert only["status"] == "unsupported" and only["reason"], (name, col, only)


def test_api_facade_exposes_the_serving_and_posttrain_entry_points() -> None:
    """The CLI and the web call these; library users reach them through ``gigatrain.api``."""
    from gigatrain import api
    from gigatrain.posttrain import named as post
    from gigatrain.serving import named as serving

    assert api.infer_named is serving.infer_named and api.price_for is serving.price_for
    assert api.finetune_named is post.finetune_named and api.rl_named is post.rl_named


def _report_data(path) -> dict:
    import re

    html = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", html) and "<link" not in html  # nothing fetched
    m = re.search(r"<script type='application/json' id='report-data'>(.*?)</script>", html, re.S)
    assert m, "no report data"
    return json.loads(m.group(1))


def test_infer_and_rl_write_self_contained_reports(tmp_path) -> None:
    pytest.importorskip("plotly")
    out = tmp_path / "serving.html"
    r = cli(
        "infer",
        "--model",
        "llama-3.1-70b",
        "--chip",
        "h100-sxm",
        "--ttft",
        "500ms",
        "--tpot",
        "30ms",
        "--requests-per-s",
        "50",
        "--json",
        "--report",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    d, rep = json.loads(r.stdout), _report_data(out)
    assert rep["kind"] == "infer" and rep["result"]["fleet"]["chips"] == d["fleet"]["chips"]
    assert rep["result"]["best"]["ttft_s"] == pytest.approx(d["best"]["ttft_s"], rel=1e-12)
    assert rep["validation"]["supported"] > 100
    html = out.read_text(encoding="utf-8")
    assert (
        f"{d['fleet']['chips']:,}" in html
        and "Throughput per chip vs interactivity" not in html.split("<script")[0]
    )
    assert "chart-serving-curve" in html and "servingCurve" in html
    out = tmp_path / "rl.html"
    r = cli(
        "rl",
        "--model",
        "llama-3.1-8b",
        "--chip",
        "h100-sxm",
        "--chips",
        "16",
        "--gen-tp",
        "1",
        "--prompts",
        "64",
        "--steps",
        "10",
        "--json",
        "--report",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    d, rep = json.loads(r.stdout), _report_data(out)
    assert rep["kind"] == "rl" and rep["result"]["step_time_s"] == pytest.approx(
        d["step_time_s"], rel=1e-12
    )
    assert rep["result"]["cost_usd"] == pytest.approx(d["cost_usd"], rel=1e-12)
    bad = cli(
        "infer",
        "--model",
        "llama-3.1-8b",
        "--chip",
        "h100-sxm",
        "--chip",
        "b200",
        "--report",
        str(out),
    )
    assert bad.returncode == 2 and "--report takes one --chip" in bad.stderr
