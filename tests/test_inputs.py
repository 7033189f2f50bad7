"""A corpus of bad inputs — HF config.json, YAML, runs CSV, estimate outputs — each refused with
one line naming the field, the value and what is valid; never a hang, NaN or negative number."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import pytest

from gigatrain.catalog.models import from_hf_config, get_model, load_model_file
from gigatrain.errors import GigatrainError
from gigatrain.model.workload import params_total
from gigatrain.yamlio import parse_yaml, read_yaml, read_yaml_cached

GPT2 = {
    "model_type": "gpt2",
    "n_embd": 768,
    "n_layer": 12,
    "n_head": 12,
    "vocab_size": 50257,
    "n_positions": 1024,
    "activation_function": "gelu_new",
}
MIXTRAL = {
    "model_type": "mixtral",
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 32000,
    "intermediate_size": 14336,
    "num_local_experts": 8,
    "num_experts_per_tok": 2,
}
DEEPSEEK = {
    "model_type": "deepseek_v3",
    "hidden_size": 7168,
    "num_hidden_layers": 61,
    "num_attention_heads": 128,
    "vocab_size": 129280,
    "intermediate_size": 18432,
    "moe_intermediate_size": 2048,
    "n_routed_experts": 256,
    "n_shared_experts": 1,
    "num_experts_per_tok": 8,
    "first_k_dense_replace": 3,
    "q_lora_rank": 1536,
    "kv_lora_rank": 512,
    "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64,
    "v_head_dim": 128,
}


# ------------------------------------------------------------------ HF config.json semantics
def test_gpt2_ties_embeddings_by_default_and_matches_the_published_count() -> None:
    assert params_total(from_hf_config(GPT2, "gpt2")) == 124_439_808  # HF GPT-2 small
    untied = from_hf_config({**GPT2, "tie_word_embeddings": False}, "gpt2")
    assert params_total(untied) == 124_439_808 + 768 * 50257


@pytest.mark.parametrize(
    "model_type, tied",
    [
        ("llama", False),
        ("mistral", False),
        ("qwen2", False),
        ("gemma", True),
        ("opt", True),
        ("unknown-x", False),
    ],
)
def test_tie_word_embeddings_default_follows_the_model_type(model_type: str, tied: bool) -> None:
    cfg = {
        "model_type": model_type,
        "hidden_size": 512,
        "num_hidden_layers": 2,
        "num_attention_heads": 8,
        "vocab_size": 1000,
        "intermediate_size": 1024,
    }
    assert from_hf_config(cfg, "m").tied_embeddings is tied


def test_mixtral_and_deepseek_configs_map_to_moe() -> None:
    m = from_hf_config(MIXTRAL, "mixtral")
    assert m.moe is not None and (m.moe.num_experts, m.moe.top_k) == (8, 2)
    assert 46e9 < params_total(m) < 47e9  # Mixtral 8x7B: 46.7B
    d = from_hf_config(DEEPSEEK, "dsv3")
    assert d.moe is not None and d.moe.num_moe_layers == 58 and d.mla is not None
    assert 671e9 < params_total(d) < 672e9  # DeepSeek-V3 without the MTP module


@pytest.mark.parametrize(
    "cfg, needle",
    [
        ({**MIXTRAL, "num_experts_per_tok": -5}, "num_experts_per_tok=-5; valid: 1..8"),
        ({**MIXTRAL, "num_experts_per_tok": 0}, "num_experts_per_tok=0; valid: 1..8"),
        ({**MIXTRAL, "num_experts_per_tok": 9}, "num_experts_per_tok=9; valid: 1..8"),
        ({**MIXTRAL, "num_local_experts": 1.5}, "num_local_experts=1.5; expected an integer"),
        ({**MIXTRAL, "num_local_experts": True}, "num_local_experts=True; expected an integer"),
        ({**DEEPSEEK, "first_k_dense_replace": 62}, "first_k_dense_replace=62; valid: 0..61"),
        ({**GPT2, "n_layer": float("nan")}, "n_layer=nan"),
        ({**GPT2, "n_layer": float("inf")}, "n_layer=inf"),
        ({**GPT2, "n_embd": 10**50}, "n_embd="),
        ({**GPT2, "n_embd": "768"}, "n_embd='768'; expected an integer"),
        (
            {**GPT2, "tie_word_embeddings": "false"},
            "tie_word_embeddings='false'; expected true or false",
        ),
        ({**GPT2, "n_head": 7}, "not divisible by num_attention_heads=7"),
        ({"model_type": "gpt2", "n_layer": 2}, "lacks hidden_size"),
        ({**MIXTRAL, "num_key_value_heads": 5}, "num_kv_heads=5 must divide"),
    ],
)
def test_bad_hf_config_values_are_one_line_errors(cfg: dict, needle: str) -> None:
    with pytest.raises(GigatrainError, match=None) as ei:
        from_hf_config(cfg, "m")
    msg = str(ei.value)
    assert needle in msg and "\n" not in msg


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"\xff\xfe" + '{"n_embd": 8}'.encode("utf-16-le"), "UTF-16"),
        (bytes(range(256)) * 4, "binary"),
        (b'{"n_embd": 7\xe9}', "not UTF-8"),
        ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
        ('{"n_embd": 1' + "0" * 5000 + "}", "5001 characters"),
        ('{"n_embd": NaN}', "NaN is not a number JSON allows"),
        ('{"n_embd": -Infinity}', "-Infinity is not a number JSON allows"),
        ("[1, 2]", "expected a JSON object"),
        ('{"n_embd": ', "not valid JSON"),
    ],
)
def test_bad_config_files_are_one_line_errors(
    tmp_path: Path, content: bytes | str, needle: str
) -> None:
    path = _write(tmp_path, "config.json", content)
    with pytest.raises(GigatrainError) as ei:
        load_model_file(path)
    assert needle in str(ei.value) and "\n" not in str(ei.value)


def test_calibration_model_names_are_models() -> None:
    assert get_model("small-llama").num_layers == 6
    with pytest.raises(GigatrainError, match="small-llama"):
        get_model("small-lama")  # the nearest names include the calibration models


# ------------------------------------------------------------------ YAML reader
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


def test_alias_bomb_fails_fast() -> None:
    t0 = time.perf_counter()
    with pytest.raises(GigatrainError, match="alias bomb"):
        parse_yaml(BOMB, "bomb.yaml")
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize(
    "text, needle",
    [
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("x: &x [1, *x]\n", "recursive"),
        ("a: [1, 2\n", "invalid YAML at line"),
        ("a: *nope\n", "invalid YAML"),
    ],
)
def test_bad_yaml_is_one_line(text: str, needle: str) -> None:
    with pytest.raises(GigatrainError) as ei:
        parse_yaml(text, "t.yaml")
    assert needle in str(ei.value) and "\n" not in str(ei.value)


def test_small_aliases_and_merge_keys_still_work() -> None:
    data = parse_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\nd: [*b, *b]\n")
    assert data["c"] == {"x": 1, "y": 3} and data["d"] == [{"x": 1, "y": 2}] * 2


def test_yaml_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gigatrain import yamlio

    monkeypatch.setattr(yamlio, "MAX_BYTES", 1000)
    p = _write(tmp_path, "big.yaml", "a: " + "x" * 2000)
    t0 = time.perf_counter()
    with pytest.raises(GigatrainError, match="limit"):
        read_yaml(p)
    assert time.perf_counter() - t0 < 0.5


def test_yaml_binary_and_utf16(tmp_path: Path) -> None:
    with pytest.raises(GigatrainError, match="UTF-16"):
        read_yaml(_write(tmp_path, "u.yaml", "a: 1".encode("utf-16")))
    with pytest.raises(GigatrainError, match="binary"):
        read_yaml(_write(tmp_path, "b.yaml", b"a: \x00\x01"))


def test_cached_reader_sees_changes_and_returns_copies(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    p = _write(tmp_path, "c.yaml", "a: [1]\n")
    first = read_yaml_cached(p)
    first["a"].append(2)  # a caller's mutation must not leak into the cache
    assert read_yaml_cached(p) == {"a": [1]}
    p.write_text("a: [1, 2, 3]\n")
    assert read_yaml_cached(p) == {"a": [1, 2, 3]}
    assert any((tmp_path / "cache" / "gigatrain").glob("yaml-*.pickle"))


def test_catalog_models_parsed_once(monkeypatch) -> None:
    from gigatrain.catalog import models
    from gigatrain.interfaces.render_catalog import catalog_records

    calls = []
    real = models.read_yaml_cached
    monkeypatch.setattr(
        models, "read_yaml_cached", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    models._catalog_raw.cache_clear()
    try:
        assert len(catalog_records("models")) == 70
    finally:
        models._catalog_raw.cache_clear()
    assert len(calls) == 1


# ------------------------------------------------------------------ runs CSV
def test_runs_csv_with_bad_rows_reports_them_and_scores_the_rest(tmp_path: Path) -> None:
    from gigatrain.validate.runs import DATA, read_rows
    from gigatrain.validate.score import score_rows

    rows = list(csv.DictReader((DATA / "published_runs.csv").open(encoding="utf-8")))[:8]
    bad = {
        "num_chips": "nan",
        "tp": "abc",
        "seq_len": "inf",
        "hidden_size": "-5",
        "global_batch_size_seqs": "1e400",
        "measured_step_time_s": "0",
    }
    for i, (col, value) in enumerate(bad.items()):
        rows[i] = {**rows[i], col: value}
    path = tmp_path / "runs.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with path.open("a", encoding="utf-8") as f:
        f.write("short,row\n")
    results = score_rows(read_rows(path))
    assert len(results) == 9
    reasons = {r.row_id: r.reason for r in results if r.status != "ok"}
    for i, (col, value) in enumerate(bad.items()):
        assert f"{col}={value!r}" in reasons[rows[i]["row_id"]]
    assert any("field count" in r for r in reasons.values())
    ok = [r for r in results if r.status == "ok"]
    assert ok and all(math.isfinite(r.rel_error) for r in ok)


def test_validate_cli_with_a_nan_row_exits_0_and_names_the_row(tmp_path: Path, capsys) -> None:
    from gigatrain.interfaces import cli
    from gigatrain.validate.runs import DATA

    rows = list(csv.DictReader((DATA / "published_runs.csv").open(encoding="utf-8")))[:3]
    rows[1] = {**rows[1], "num_chips": "nan"}
    path = tmp_path / "my.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(SystemExit) as ei:
        cli.main(["validate", "--runs", str(path), "--json"])
    assert ei.value.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    bad = [r for r in out["rows"] if r["row_id"] == rows[1]["row_id"]]
    assert bad and "num_chips='nan'" in bad[0]["reason"]


# ------------------------------------------------------------------ output guard and API
def test_guard_names_the_bad_field() -> None:
    from dataclasses import replace

    from gigatrain.api import estimate_named
    from gigatrain.guard import InconsistentResultError, check_estimate

    e = estimate_named("llama-3.1-8b", "h100-sxm", 8)
    assert check_estimate(e) is e
    bad = replace(e, memory_breakdown={**e.memory_breakdown, "memory/activations": -1.0})
    with pytest.raises(InconsistentResultError, match=r"memory/activations\]=-1 is negative"):
        check_estimate(bad)
    with pytest.raises(InconsistentResultError, match="step_time_s=nan is NaN"):
        check_estimate(replace(e, step_time_s=float("nan")))
    with pytest.raises(InconsistentResultError, match="mfu=inf is infinite"):
        check_estimate(replace(e, mfu=float("inf")))


@pytest.mark.parametrize("slug", ["llama-3.1-405b", "deepseek-v3", "mixtral-8x22b", "gpt3-175b"])
def test_estimates_of_catalog_models_pass_the_guard(slug: str) -> None:
    import gigatrain

    e = gigatrain.estimate(slug, "h100-sxm", 1024, tp=8, pp=8, global_batch=1024)
    assert e.memory_bytes > 0 and e.step_time_s > 0 and 0 < e.mfu < 1


def test_python_api_is_lazy_and_complete() -> None:
    import subprocess
    import sys

    code = (
        "import sys, gigatrain; assert 'numpy' not in sys.modules; "
        "assert set(gigatrain.__all__) >= {'estimate','search','cost','fleet','compare','check'}; "
        "assert callable(gigatrain.cost) and gigatrain.__version__"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_python_api_functions() -> None:
    import gigatrain

    r = gigatrain.search("llama-3.1-70b", "h100-sxm", 1024, tokens="2T", top=2)
    assert len(r.top) == 2 and r.top[0].estimate.fits
    c = gigatrain.cost("llama-3.1-70b", "h100-sxm", 1024, tokens="2T")
    assert c.days > 0 and c.total_usd > 0
    f = gigatrain.fleet("trn2", power="100MW")
    assert f.chips > 0
    rows = gigatrain.compare("llama-3.1-70b", 1024, ["h100-sxm", "b200"], tokens="2T")
    assert [r.chip for r in rows] == ["h100-sxm", "b200"]
    rep = gigatrain.check("src/gigatrain/examples/deal-2gw-trainium.yaml")
    assert rep.verdicts
    with pytest.raises(gigatrain.GigatrainError, match="seq"):
        gigatrain.estimate("llama-3.1-8b", "h100-sxm", 8, seq=0)


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"row_id,source_group\x00\n", "binary"),
        ("row_id,source_group\n".encode("utf-16"), "UTF-16"),
        ("row_id," + "a" * 200_000 + "\n", "not valid CSV at line 1"),
        ("a,b\n1,2\n", "lacks column(s) row_id"),
    ],
)
def test_unreadable_runs_files_are_one_line(
    tmp_path: Path, content: bytes | str, needle: str
) -> None:
    from gigatrain.validate.runs import read_rows

    with pytest.raises(GigatrainError) as ei:
        read_rows(_write(tmp_path, "runs.csv", content))
    assert needle in str(ei.value) and "\n" not in str(ei.value)


def test_huge_integers_are_named_not_crashed() -> None:
    from gigatrain.errors import require_positive

    with pytest.raises(GigatrainError, match="n_embd=<a 16,610-bit integer>"):
        from_hf_config({**GPT2, "n_embd": 10**5000}, "m")
    with pytest.raises(GigatrainError, match="seq must be a positive integer"):
        require_positive("seq", 10**5000, integer=True, maximum=10**7)
