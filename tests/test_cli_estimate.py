"""`gigatrain estimate` / `catalog` as a user drives them, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gigatrain.api import estimate_named

BASE = [
    "estimate",
    "--model",
    "llama-3.1-8b",
    "--chip",
    "h100-sxm",
    "--chips",
    "64",
    "--tp",
    "2",
    "--global-batch",
    "256",
    "--seq",
    "4096",
]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gigatrain.interfaces.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_estimate_json_equals_library() -> None:
    out = cli(*BASE, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    lib = estimate_named("llama-3.1-8b", "h100-sxm", 64, tp=2, global_batch=256, seq=4096)
    assert data["step_time_s"] == pytest.approx(lib.step_time_s)
    assert data["memory_bytes"] == pytest.approx(lib.memory_bytes)
    # every breakdown sums to its total
    assert sum(data["time_breakdown"].values()) == pytest.approx(data["step_time_s"])
    assert sum(data["memory_breakdown"].values()) == pytest.approx(data["memory_bytes"])
    assert data["plan"]["dp"] == 32 and data["fits"] is True


def test_estimate_tables_render() -> None:
    out = cli(*BASE, "--tokens", "15T")
    assert out.returncode == 0, out.stderr
    for text in ("Memory per rank", "Step time", "MFU", "days", "fits"):
        assert text in out.stdout


def test_model_from_hf_config_json(tmp_path) -> None:
    cfg = {
        "model_type": "llama",
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    out = cli("estimate", "--model", str(path), "--chip", "a100-80gb", "--chips", "8", "--json")
    assert out.returncode == 0, out.stderr
    # Llama 3.2 1B shape: 1,235,814,400 parameters (published exact count)
    assert json.loads(out.stdout)["params_total"] == 1_235_814_400


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--tp", "6"], "valid tp: 1, 2, 4, 8, 16, 32"),
        (["--tp", "2", "--pp", "3"], "does not divide chips=64"),
        (["--dp", "7"], "degrees multiply to"),
        (["--chip", "h100"], None),  # alias: works
        (["--chip", "h1000"], "nearest"),
        (["--model", "llama-9"], "unknown model"),
        (["--seq", "-5"], "seq must be a positive"),
        (["--chips", "1000000000"], "chips"),
        (["--recompute", "sometimes"], "sometimes"),
        (["--precision", "int3"], "precision"),
        (["--zero", "7"], "zero_stage"),
        (["--tokens", "lots"], "cannot read"),
        (["--global-batch", "100"], "global batch 100"),
    ],
)
def test_bad_input_gives_one_line_errors(args: list[str], needle: str | None) -> None:
    base = dict(zip(BASE[1::2], BASE[2::2], strict=False))
    for flag, value in zip(args[0::2], args[1::2], strict=True):
        base[flag] = value
    flat = ["estimate"] + [x for kv in base.items() for x in kv]
    out = cli(*flat)
    if needle is None:
        assert out.returncode == 0, out.stderr
        return
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert needle in out.stderr, out.stderr


def test_malformed_model_files(tmp_path) -> None:
    bad_yaml = tmp_path / "m.yaml"
    bad_yaml.write_text("num_layers: [1, 2\n")
    out = cli("estimate", "--model", str(bad_yaml), "--chip", "h100-sxm", "--chips", "8")
    assert out.returncode == 2 and "invalid YAML" in out.stderr
    bad_json = tmp_path / "config.json"
    bad_json.write_text("{not json")
    out = cli("estimate", "--model", str(bad_json), "--chip", "h100-sxm", "--chips", "8")
    assert out.returncode == 2 and "not valid JSON" in out.stderr
    neg = tmp_path / "neg.yaml"
    neg.write_text(
        "num_layers: -2\nhidden_size: 64\nnum_attention_heads: 4\nnum_kv_heads: 4\n"
        "vocab_size: 100\nffn_hidden_size: 256\n"
    )
    out = cli("estimate", "--model", str(neg), "--chip", "h100-sxm", "--chips", "8")
    assert out.returncode == 2 and "num_layers" in out.stderr


@pytest.mark.parametrize("kind", ["chips", "models", "systems", "prices", "economics"])
def test_catalog_lists_entries_with_sources(kind: str) -> None:
    out = cli("catalog", kind, "--json")
    assert out.returncode == 0, out.stderr
    records = json.loads(out.stdout)
    assert len(records) >= 5
    assert all(r.get("source") for r in records)


def test_startup_imports_stay_light() -> None:
    """`gigatrain --help` must not import torch, FastAPI or matplotlib."""
    code = (
        "import sys, gigatrain.interfaces.cli as c; "
        "print(','.join(m for m in ('torch', 'fastapi', 'matplotlib', 'plotly') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
