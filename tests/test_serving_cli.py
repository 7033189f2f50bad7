"""CLI: infer, infer-compare, finetune, rl end to end (JSON shape) and one-line bad-input errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gigatrain.interfaces.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_infer_json_sizes_fleet_and_prices() -> None:
    r = cli("infer", "--model", "llama-3.1-70b", "--chip", "h100-sxm", "--ttft", "500ms", "--tpot", "30ms",
            "--requests-per-s", "50", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    b = d["best"]
    assert b["ttft_s"] <= 0.5 and b["tpot_s"] <= 0.03 and b["fits"]
    assert d["fleet"]["chips"] >= b["replica_chips"] and d["fleet"]["requests_per_s"] >= 50
    assert b["usd_per_m_output_tokens"] > 0 and d["curve"]


def test_infer_two_chips_compares() -> None:
    r = cli("infer", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--chip", "b200", "--tpot", "20ms", "--json")
    assert r.returncode == 0, r.stderr
    assert [x["chip"] for x in json.loads(r.stdout)] == ["h100-sxm", "b200"]


def test_finetune_and_rl_json() -> None:
    r = cli("finetune", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--chips", "8", "--method", "qlora", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["method"] == "qlora" and d["frozen_dtype"] == "nf4" and d["trainable_params"] < d["total_params"] / 50
    r = cli("rl", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--chips", "16", "--gen-tp", "1", "--prompts", "64",
            "--steps", "10", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["step_time_s"] > 0 and d["days"] > 0 and set(d["time_s"]) == {"rollout", "logprobs", "train", "weight_sync"}


@pytest.mark.parametrize("args, needle", [
    (("infer", "--model", "llama-3.1-70b", "--chip", "h100", "--ttft", "fast"), "--ttft: cannot read 'fast'"),
    (("infer", "--model", "llama-3.1-70b", "--chip", "h100-sxm", "--input-len", "0"), "--input-len=0 must be in"),
    (("infer", "--model", "llama-3.1-70b", "--chip", "h100-sxm", "--precision", "int3"), "--precision='int3'"),
    (("infer", "--model", "nope", "--chip", "h100-sxm"), "unknown model 'nope'"),
    (("infer", "--model", "llama-3.1-405b", "--chip", "h100-sxm", "--tpot", "1ms"), "no deployment meets"),
    (("finetune", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--chips", "8", "--method", "dora"), "--method='dora'"),
    (("rl", "--model", "llama-3.1-70b", "--chip", "h100-sxm", "--chips", "16", "--gen-tp", "1"), "does not fit for generation"),
    (("rl", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--chips", "16", "--placement", "split"), "placement='split'"),
])
def test_bad_input_is_one_line(args: tuple[str, ...], needle: str) -> None:
    r = cli(*args)
    out = r.stderr + r.stdout
    assert needle in out, out
    assert "Traceback" not in out
