"""Exports to training frameworks: round trips, the frameworks' own parsers, refusals."""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys

import pytest
import yaml

from gigatrain.api import estimate_named
from gigatrain.errors import GigatrainError
from gigatrain.exports import (
    FORMATS,
    estimate_config,
    export_plan,
    read_config,
    target_named,
    write_export,
)
from gigatrain.exports import maxtext as mx
from gigatrain.exports import neuron as nx

#: the Llama 3.1 405B plan on 16,384 H100 and a MoE plan; per format, the ZeRO stage or
#: degrees the framework runs (torchtitan and MaxText shard with FSDP under PP; DeepSpeed and
#: NxD have no interleaved schedule; MaxText stages hold equal layer counts; torchtitan's MoE
#: flavour is DeepSeek-V3)
DENSE = dict(
    model="llama-3.1-405b",
    chip="h100-sxm",
    chips=16384,
    seq=8192,
    global_batch=2048,
    tp=8,
    pp=16,
    vpp=4,
    recompute="full",
)
MOE = dict(
    model="mixtral-8x7b",
    chip="h100-sxm",
    chips=256,
    seq=4096,
    global_batch=512,
    tp=2,
    pp=4,
    ep=8,
    recompute="selective",
)
MOE_DSV3 = dict(
    model="deepseek-v3",
    chip="h100-sxm",
    chips=2048,
    seq=4096,
    global_batch=4096,
    pp=16,
    ep=64,
    recompute="full",
    zero_stage=3,
)
PLANS = {
    ("dense", "megatron"): DENSE,
    ("dense", "megatron-bridge"): DENSE,
    ("dense", "deepspeed"): {**DENSE, "vpp": 1},
    ("dense", "neuron"): {**DENSE, "vpp": 1},
    ("dense", "torchtitan"): {**DENSE, "zero_stage": 3},
    ("dense", "maxtext"): {**DENSE, "pp": 1, "vpp": 1, "zero_stage": 3},
    ("moe", "megatron"): MOE,
    ("moe", "megatron-bridge"): MOE,
    ("moe", "deepspeed"): MOE,
    ("moe", "neuron"): MOE,
    ("moe", "maxtext"): {**MOE, "zero_stage": 3},
    ("moe", "torchtitan"): MOE_DSV3,
}
# Megatron-Core on its own: DeepSeek-V3's 61 layers over pp=16 (uneven first/last stages), fp8
PLANS["dsv3", "megatron"] = {**MOE_DSV3, "zero_stage": 1}
PLANS["dsv3", "deepspeed"] = {
    **MOE_DSV3,
    "zero_stage": 1,
}  # MLA, shared experts listed as not expressible
PLANS["fp8", "megatron"] = {**DENSE, "precision": "fp8"}
PLANS["fp8", "torchtitan"] = {
    **DENSE,
    "zero_stage": 3,
    "precision": "fp8",
}  # Float8 needs SM89: round trip only
PLANS["fsdp", "megatron"] = {
    **MOE,
    "pp": 1,
    "zero_stage": 3,
    "fsdp_shard": 64,
}  # Megatron-FSDP, hybrid
PLANS["fp8", "maxtext"] = {**PLANS["dense", "maxtext"], "precision": "fp8"}
NAMES = {"deepspeed": "ds_config.json", "torchtitan": "gigatrain_plan.py"}


def _split(kw):
    kw = dict(kw)
    return kw.pop("model"), kw.pop("chip"), kw.pop("chips"), kw


def _export(kind, fmt, tmp_path):
    m, chip, n, kw = _split(PLANS[kind, fmt])
    t = target_named(m, chip, n, **kw)
    ex = export_plan(t, fmt)
    path = tmp_path / NAMES.get(fmt, f"{fmt}.cfg")
    write_export(ex, path)
    return t, ex, path


@pytest.mark.parametrize("kind,fmt", sorted(PLANS))
def test_round_trip_estimate_equal(kind, fmt, tmp_path):
    """export → import → estimate equals the original estimate (same plan, same numbers)."""
    m, chip, n, kw = _split(PLANS[kind, fmt])
    _t, _ex, path = _export(kind, fmt, tmp_path)
    before = estimate_named(
        m, chip, n, seq=kw.pop("seq"), global_batch=kw.pop("global_batch"), **kw
    )
    after = estimate_config(read_config(path))  # format detected from the content
    assert after.plan == before.plan
    assert after.job == before.job
    assert after.step_time_s == pytest.approx(before.step_time_s, rel=1e-12)
    assert after.memory_bytes == pytest.approx(before.memory_bytes, rel=1e-12)


@pytest.mark.parametrize("fmt", ["megatron", "deepspeed", "maxtext", "neuron"])
def test_import_without_metadata_with_flags(fmt, tmp_path):
    """A user's config (no gigatrain comment) reads the same plan given model and chip, and
    estimates on 4× the chips with dp absorbing the change."""
    t, _ex, path = _export("moe", fmt, tmp_path)
    for p in tmp_path.iterdir():
        p.write_text(
            "\n".join(line for line in p.read_text().splitlines() if "gigatrain:" not in line)
            + "\n"
        )
    imp = read_config(path, fmt)
    assert imp.model is None and imp.chip is None
    e = estimate_config(imp, model="mixtral-8x7b", chip="h100-sxm", chips=4 * t.chips)
    assert e.plan.dp == 4 * t.plan.dp and e.plan.tp == t.plan.tp and e.plan.ep == t.plan.ep


# ------------------------------------------------------------------ the frameworks' own parsers
def _need(mod):
    try:
        found = importlib.util.find_spec(mod) is not None
    except ModuleNotFoundError:  # the parent package (e.g. megatron) is absent
        found = False
    if not found:
        pytest.skip(f"{mod} is not installed (pip install -e '.[exports]')")


@pytest.mark.parametrize("kind", ["dense", "moe", "dsv3", "fp8", "fsdp"])
def test_megatron_core_accepts_arguments(kind, tmp_path):
    """Megatron-Core's TransformerConfig (its __post_init__ validation) and micro-batch
    calculator take the exported arguments, as Megatron-LM's core_transformer_config_from_args
    copies them (argument name = field name)."""
    _need("megatron.core")
    import dataclasses

    import torch
    from megatron.core.num_microbatches_calculator import ConstantNumMicroBatchesCalculator
    from megatron.core.transformer.transformer_config import TransformerConfig

    from gigatrain.exports.base import split_args

    t, _ex, path = _export(kind, "megatron", tmp_path)
    a = split_args(path.read_text())
    names = {f.name for f in dataclasses.fields(TransformerConfig)}
    kw = {
        k: (int(v) if isinstance(v, str) and v.isdigit() else v) for k, v in a.items() if k in names
    }
    if "num_experts" in a:
        kw["num_moe_experts"] = int(a["num_experts"])
    kw.pop("moe_layer_freq", None)
    if "num_virtual_stages_per_pipeline_rank" in a:
        kw["virtual_pipeline_model_parallel_size"] = int(a["num_virtual_stages_per_pipeline_rank"])
    if a.get("fp8_format"):
        kw["fp8"] = a["fp8_format"]
    for arg, fld in (
        ("decoder_first_pipeline_num_layers", "num_layers_in_first_pipeline_stage"),
        ("decoder_last_pipeline_num_layers", "num_layers_in_last_pipeline_stage"),
    ):
        if arg in a:  # Megatron-LM's core_transformer_config_from_args renames these two
            kw[fld] = int(a[arg])
    kw.update(
        bf16=bool(a.get("bf16")),
        params_dtype=torch.bfloat16,
        pipeline_dtype=torch.bfloat16,
        gated_linear_unit=bool(a.get("swiglu")),
        # Megatron-LM: --disable-bias-linear is dest=add_bias_linear, action=store_false
        add_bias_linear=not a.get("disable_bias_linear"),
        add_qkv_bias=bool(a.get("add_qkv_bias")),
    )
    cfg = TransformerConfig(**kw)
    p = t.plan
    assert (cfg.tensor_model_parallel_size, cfg.pipeline_model_parallel_size) == (p.tp, p.pp)
    assert (cfg.virtual_pipeline_model_parallel_size or 1) == p.vpp
    assert cfg.expert_model_parallel_size == p.ep and cfg.sequence_parallel == (
        p.sequence_parallel and p.tp > 1
    )
    assert cfg.recompute_granularity == (None if p.recompute == "none" else p.recompute)
    assert cfg.num_layers == t.model.num_layers and cfg.num_query_groups == t.model.num_kv_heads
    calc = ConstantNumMicroBatchesCalculator(
        int(a["global_batch_size"]), int(a["micro_batch_size"]), p.dp, 0, 0
    )
    assert calc.get() * p.micro_batch * p.dp == t.job.global_batch_seqs
    assert int(a["seq_length"]) == t.job.seq_len
    assert (cfg.fp8 == "hybrid") is (t.job.precision == "fp8") and cfg.bf16


@pytest.mark.parametrize("kind", ["dense", "moe"])
def test_deepspeed_config_parser(kind, tmp_path, monkeypatch):
    """DeepSpeed's DeepSpeedConfig (pydantic ZeRO config, batch assertion) reads ds_config.json
    with the plan's data-parallel size (an mpu stand-in; no distributed init)."""
    _need("deepspeed")
    import deepspeed.runtime.config as dsc

    t, _ex, path = _export(kind, "deepspeed", tmp_path)
    monkeypatch.setattr(dsc.dist, "get_rank", lambda *a, **k: 0)

    class MPU:  # what Megatron-DeepSpeed hands DeepSpeed
        def get_data_parallel_world_size(self):
            return t.plan.dp

    cfg = dsc.DeepSpeedConfig(str(path), mpu=MPU())
    assert cfg.train_batch_size == t.job.global_batch_seqs
    assert cfg.train_micro_batch_size_per_gpu == t.plan.micro_batch
    assert (
        cfg.gradient_accumulation_steps * t.plan.micro_batch * t.plan.dp == t.job.global_batch_seqs
    )
    assert cfg.zero_optimization_stage == t.plan.zero_stage
    assert cfg.bfloat16_config.enabled is (t.job.precision == "bf16")


@pytest.mark.parametrize("kind", ["dense", "moe"])
def test_torchtitan_config_manager(kind, tmp_path, monkeypatch):
    """torchtitan's ConfigManager loads the exported module (--module/--config) through tyro and
    builds the Trainer.Config, and ParallelDims.from_config accepts it for the plan's world
    size; degrees, batch, seq, precision and AC are the plan's."""
    _need("torchtitan")
    try:
        from torchtitan.config.manager import ConfigManager
    except ImportError as e:  # e.g. triton absent: torchtitan imports its kernels eagerly
        pytest.skip(f"torchtitan does not import here: {e}")
    t, _ex, _path = _export(kind, "torchtitan", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("gigatrain_plan", None)
    c = ConfigManager().parse_args(["--module", "gigatrain_plan", "--config", "gigatrain_config"])
    p, par, tr = t.plan, c.parallelism, c.training
    assert (
        par.tensor_parallel_degree,
        par.pipeline_parallel_degree,
        par.context_parallel_degree,
    ) == (p.tp, p.pp, p.cp)
    assert par.expert_parallel_degree == p.ep
    assert par.data_parallel_shard_degree * par.data_parallel_replicate_degree == p.dp
    assert par.pipeline_parallel_schedule == ("Interleaved1F1B" if p.vpp > 1 else "1F1B")
    if par.pipeline_parallel_layers_per_stage:
        n = (
            t.model.num_layers
            + par.pipeline_parallel_first_stage_less_layers
            + par.pipeline_parallel_last_stage_less_layers
        )
        assert n == p.pp * p.vpp * par.pipeline_parallel_layers_per_stage
    assert tr.global_batch_size == t.job.global_batch_seqs and tr.seq_len == t.job.seq_len
    assert tr.local_batch_size % par.pipeline_parallel_microbatch_size == 0
    assert tr.mixed_precision_param == "bfloat16"
    assert (
        type(c.activation_checkpoint).__qualname__.split(".")[0]
        == {"full": "FullAC", "selective": "SelectiveAC"}[p.recompute]
    )
    assert c.model_spec.flavor in ("405B", "671B")
    # the trainer's own mesh check: degrees multiply to the world size (no distributed init)
    from torchtitan.distributed.parallel_dims import ParallelDims

    dims = ParallelDims.from_config(par, world_size=t.chips)
    assert dims.dp_shard * dims.dp_replicate == p.dp


# ------------------------------------------------------------------ documented schemas
@pytest.mark.parametrize("kind", ["dense", "moe"])
def test_maxtext_schema_and_mesh(kind, tmp_path):
    """MaxText does not install on Python 3.11: keys ⊂ base.yml schema, ICI product = devices
    per slice, DCN product = slices, batch and degrees as planned."""
    t, _ex, path = _export(kind, "maxtext", tmp_path)
    d = yaml.safe_load(path.read_text())
    assert set(d) <= mx.SCHEMA
    ici = math.prod(d[f"ici_{a}_parallelism"] for a in mx.AXES)
    dcn = math.prod(d[f"dcn_{a}_parallelism"] for a in mx.AXES)
    assert (
        ici * dcn == t.chips and dcn == d["num_slices"] and ici == min(t.chips, t.fast_domain_chips)
    )
    assert d["ici_tensor_parallelism"] * d["dcn_tensor_parallelism"] == t.plan.tp
    gas = d.get("gradient_accumulation_steps", 1)
    assert round(d["per_device_batch_size"] * t.chips * gas) == t.job.global_batch_seqs
    assert (
        d["max_target_length"] == t.job.seq_len and d["remat_policy"] == mx.REMAT[t.plan.recompute]
    )
    assert d["remat_policy"] in mx.REMAT_POLICIES


@pytest.mark.parametrize("kind", ["dense", "moe"])
def test_neuron_schema(kind, tmp_path):
    """neuronx-distributed is on AWS's index only: keys ⊂ the NxDT config reference and its
    divisibility rules (tp·pp·dp = devices·nodes, global batch = mbs·dp·accumulation)."""
    t, _ex, path = _export(kind, "neuron", tmp_path)
    d = yaml.safe_load(path.read_text())
    for sec, keys in d.items():
        assert sec in nx.SCHEMA and set(keys) <= nx.SCHEMA[sec]
    ds, data = d["distributed_strategy"], d["data"]
    world = d["trainer"]["devices"] * d["trainer"]["num_nodes"]
    dp = world // (ds["tensor_model_parallel_size"] * ds["pipeline_model_parallel_size"])
    assert world == t.chips and dp == t.plan.dp and ds["zero1"] is (t.plan.zero_stage == 1)
    assert data["global_batch_size"] % (data["micro_batch_size"] * dp) == 0


# ------------------------------------------------------------------ refusals and the CLI
@pytest.mark.parametrize(
    "fmt,kw,needle",
    [
        ("deepspeed", {"zero_stage": 2}, "zero_stage with pp>1=2"),
        ("deepspeed", {"vpp": 4}, "vpp=4"),
        ("neuron", {"vpp": 4}, "vpp=4"),
        ("torchtitan", {"zero_stage": 1}, "zero_stage"),
        ("maxtext", {"zero_stage": 3}, "pp=16"),
    ],
)
def test_inexpressible_is_one_line_error(fmt, kw, needle):
    m, chip, n, base = _split(DENSE)
    t = target_named(m, chip, n, **{**base, **kw})
    with pytest.raises(GigatrainError) as e:
        export_plan(t, fmt)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_not_expressible_is_listed_in_file(tmp_path):
    t = target_named("deepseek-v3", "h100-sxm", 2048, seq=4096, global_batch=4096, pp=16, ep=64)
    ex = export_plan(t, "deepspeed")
    assert any("multi-latent" in x for x in ex.not_expressible)
    assert "not expressible in DeepSpeed: multi-latent" in ex.files[".launch.sh"]


def test_cli_export_and_import(tmp_path, capsys):
    from gigatrain.interfaces.cli import main

    out = tmp_path / "run.sh"
    with pytest.raises(SystemExit) as e:
        main(
            [
                "export",
                "--format",
                "megatron",
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
                "-o",
                str(out),
            ]
        )
    assert e.value.code == 0 and "--tensor-model-parallel-size 2" in out.read_text()
    with pytest.raises(SystemExit) as e:
        main(["import", str(out), "--chips", "256", "--json"])
    assert e.value.code == 0
    import json

    d = json.loads(capsys.readouterr().out)
    assert d["estimate"]["plan"]["dp"] == 128 and d["estimate"]["plan"]["tp"] == 2
    with pytest.raises(SystemExit) as e:
        main(
            [
                "export",
                "--format",
                "nope",
                "--model",
                "llama-3.1-8b",
                "--chip",
                "h100-sxm",
                "--chips",
                "8",
            ]
        )
    assert e.value.code == 2


@pytest.mark.parametrize(
    "text,name,needle",
    [
        ("hello", "x.txt", "cannot tell the format"),
        ("{not json", "x.json", "not valid JSON"),
        ("ici_tensor_parallelism: [1", "x.yml", "does not parse"),
        (
            "--tensor-model-parallel-size 2 --seq-length 4096",
            "x.sh",
            "--global-batch-size is missing",
        ),
        (
            "--tensor-model-parallel-size two --global-batch-size 8",
            "x.sh",
            "--tensor-model-parallel-size must be an integer",
        ),
    ],
)
def test_bad_config_is_one_line_error(tmp_path, text, name, needle):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(GigatrainError) as e:
        read_config(path)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_formats_listed():
    assert set(FORMATS) == {
        "megatron",
        "megatron-bridge",
        "deepspeed",
        "torchtitan",
        "maxtext",
        "neuron",
    }
    assert importlib.import_module("gigatrain.exports.torchtitan").FORMAT == "torchtitan"


@pytest.mark.parametrize("kind", ["dense", "moe"])
def test_bridge_model_overrides_are_transformer_config_fields(kind, tmp_path):
    """Megatron-Bridge cannot install on CPU (it requires Transformer Engine's CUDA build); its
    ``model.*`` overrides set fields of GPTModelProvider, a Megatron-Core TransformerConfig
    subclass: every key must be a field, and TransformerConfig must accept the values."""
    _need("megatron.core")
    import dataclasses

    import torch
    from megatron.core.transformer.transformer_config import TransformerConfig

    from gigatrain.exports.bridge import read_overrides

    t, _ex, path = _export(kind, "megatron-bridge", tmp_path)
    o = read_overrides(path.read_text())
    names = {f.name for f in dataclasses.fields(TransformerConfig)}
    model = {k.split(".", 1)[1]: v for k, v in o.items() if k.startswith("model.")}
    extra = {
        "seq_length",
        "vocab_size",
        "share_embeddings_and_output_weights",
    }  # GPTModelProvider's own
    assert set(model) - extra <= names
    kw = {
        k: ({"true": True, "false": False}.get(v, int(v) if v.isdigit() else v))
        for k, v in model.items()
        if k in names
    }
    cfg = TransformerConfig(
        **kw,
        bf16=True,
        params_dtype=torch.bfloat16,
        pipeline_dtype=torch.bfloat16,
        add_bias_linear=False,
    )
    p = t.plan
    assert (cfg.tensor_model_parallel_size, cfg.pipeline_model_parallel_size) == (p.tp, p.pp)
    assert (
        cfg.virtual_pipeline_model_parallel_size or 1
    ) == p.vpp and cfg.expert_model_parallel_size == p.ep
    assert (
        int(o["train.global_batch_size"]) == t.job.global_batch_seqs
        and int(o["model.seq_length"]) == t.job.seq_len
    )
    assert o["mixed_precision"] == "bf16_mixed"


def test_export_from_search_result(tmp_path):
    import json

    from gigatrain.api import resolve
    from gigatrain.exports import target_from_search
    from gigatrain.search.engine import search

    r = resolve("llama-3.1-8b", "h100-sxm", 4096, 256)
    res = search(r.model, r.system, r.job, chips=64, top=2)
    data = json.loads(json.dumps(res.to_dict(), default=str))
    t = target_from_search(data, 1)
    assert t.plan == res.top[0].plan
    with pytest.raises(GigatrainError, match="rank=3"):
        target_from_search(data, 3)
