"""DeepSpeed: a ``ds_config.json`` plus a Megatron-DeepSpeed launcher (``.launch.sh``).

JSON keys are DeepSpeed's (``deepspeed/runtime/config.py``, ``runtime/zero/config.py``):
``train_batch_size`` = ``train_micro_batch_size_per_gpu`` × ``gradient_accumulation_steps``
× data-parallel size (DeepSpeed asserts this), ``zero_optimization.stage`` (0–3) with
``mics_shard_size`` for a hybrid (MiCS) ZeRO-3 group, ``bf16.enabled`` / ``fp16.enabled``.
The model-parallel degrees are not DeepSpeed config keys: they go to the launcher
(``deepspeed --num_nodes N --num_gpus G pretrain_gpt.py``) as Megatron-DeepSpeed arguments
(``--tensor-model-parallel-size``, ``--pipeline-model-parallel-size`` or
``--no-pipeline-parallel``, ``--ds-sequence-parallel-size`` for Ulysses CP,
``--moe-expert-parallel-size``, ``--zero-stage``, ``--recompute-granularity``).

Not runnable, refused with one line: ZeRO-2/3 with pipeline parallelism (DeepSpeed's pipeline
engine asserts ZeRO ≤ 1), interleaved pipelines (vpp > 1), fp8/fp4 (no DeepSpeed config key;
Transformer Engine inside the model), hybrid ZeRO-1/2 groups (MiCS/hpZ are ZeRO-3 only).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import GigatrainError
from ..specs import Plan
from . import megatron
from .base import (
    Exported,
    Imported,
    Target,
    check_capabilities,
    comment_block,
    microbatches,
    shell_args,
    split_args,
    to_int,
)

FORMAT = "deepspeed"
FRAMEWORK = "megatron-deepspeed"
COMPANIONS = (".launch.sh",)


def ds_config(t: Target) -> dict[str, Any]:
    p, j = t.plan, t.job
    gas = microbatches(t)
    zero: dict[str, Any] = {"stage": p.zero_stage}
    group = p.fsdp_shard or p.dp * p.cp
    if p.zero_stage and group != p.dp * p.cp:
        if p.zero_stage != 3:
            raise GigatrainError(
                f"deepspeed cannot express fsdp_shard={p.fsdp_shard} with zero_stage={p.zero_stage}; "
                "hybrid groups (MiCS) are ZeRO-3 only: use zero_stage=3 or fsdp_shard=0"
            )
        zero["mics_shard_size"] = group
    if p.zero_stage >= 1:
        zero.update({"overlap_comm": True, "contiguous_gradients": True})
    return {
        "train_batch_size": j.global_batch_seqs,
        "train_micro_batch_size_per_gpu": p.micro_batch,
        "gradient_accumulation_steps": gas,
        "bf16": {"enabled": j.precision == "bf16"},
        "fp16": {"enabled": j.precision == "fp16"},
        "zero_optimization": zero,
        "gradient_clipping": 1.0,
        "steps_per_print": 10,
        "wall_clock_breakdown": False,
    }


def launcher_args(t: Target) -> tuple[list[str], list[str]]:
    p = t.plan
    a = ["--tensor-model-parallel-size", str(p.tp)]
    a += ["--pipeline-model-parallel-size", str(p.pp)] if p.pp > 1 else ["--no-pipeline-parallel"]
    if p.cp > 1:
        a += ["--ds-sequence-parallel-size", str(p.cp)]
    if p.sequence_parallel and p.tp > 1:
        a.append("--sequence-parallel")
    a += [
        "--micro-batch-size",
        str(p.micro_batch),
        "--global-batch-size",
        str(t.job.global_batch_seqs),
        "--seq-length",
        str(t.job.seq_len),
    ]
    a += {"bf16": ["--bf16"], "fp16": ["--fp16"], "fp32": []}[t.job.precision]
    if p.recompute == "selective":
        a += ["--recompute-granularity", "selective"]
    elif p.recompute == "full":
        a += [
            "--recompute-granularity",
            "full",
            "--recompute-method",
            "uniform",
            "--recompute-num-layers",
            "1",
        ]
    margs, missing = megatron.model_args(t, FORMAT)
    # Megatron-DeepSpeed (microsoft/Megatron-DeepSpeed megatron/arguments.py) spells GQA
    # --num-key-value-heads and MoE --num-experts/--topk/--expert-interval, with experts the
    # size of the dense MLP; its EP is --moe-expert-parallel-size
    drop = {
        "--group-query-attention": 0,
        "--moe-router-topk": 1,
        "--moe-ffn-hidden-size": 1,
        "--moe-layer-freq": 1,
        "--moe-shared-expert-intermediate-size": 1,
        "--moe-router-enable-expert-bias": 0,
        "--moe-router-score-function": 1,
    }
    out: list[str] = []
    i = 0
    while i < len(margs):
        if margs[i] in drop:
            i += 1 + drop[margs[i]]
            continue
        if margs[i] == "--normalization":  # Megatron-DeepSpeed's choices are lower-case
            out += ["--normalization", margs[i + 1].lower()]
            i += 2
            continue
        if margs[i] == "--num-query-groups":
            out += ["--num-key-value-heads", margs[i + 1]]
            i += 2
            continue
        out.append(margs[i])
        i += 1
    m = t.model
    if m.moe is not None:
        out += ["--topk", str(m.moe.top_k)]
        dense = m.num_layers - m.moe.num_moe_layers
        if dense and m.num_layers % (m.num_layers // max(1, m.moe.num_moe_layers)):
            missing.append(
                f"{dense} dense-first layers (Megatron-DeepSpeed places experts every "
                "--expert-interval layers)"
            )
        if m.moe.expert_ffn_hidden_size != m.ffn_hidden_size:
            missing.append(
                f"expert_ffn_hidden_size={m.moe.expert_ffn_hidden_size} (Megatron-DeepSpeed experts "
                f"are the dense MLP's size, {m.ffn_hidden_size})"
            )
        if m.moe.num_shared_experts:
            missing.append(
                "shared experts (Megatron-DeepSpeed has residual MoE, not shared experts)"
            )
        if m.moe.router_bias:
            missing.append("router expert bias (aux-loss-free balancing)")
    a += out
    if p.ep > 1:
        a += ["--moe-expert-parallel-size", str(p.ep)]
    if t.model.mla is not None:
        missing.append("multi-latent attention (Megatron-DeepSpeed has no MLA)")
    a += ["--deepspeed", "--deepspeed_config", "ds_config.json", "--zero-stage", str(p.zero_stage)]
    return a, missing


def export(t: Target) -> Exported:
    check_capabilities(FORMAT, t, FRAMEWORK)
    if t.job.precision not in ("bf16", "fp16", "fp32"):
        raise GigatrainError(
            f"deepspeed cannot express precision={t.job.precision}; valid: bf16, fp16, fp32 "
            "(fp8 lives in Transformer Engine inside the model, not in ds_config)"
        )
    if t.plan.cp > 1 and t.plan.tp > 1 and t.plan.sequence_parallel:
        raise GigatrainError(
            f"deepspeed cannot express cp={t.plan.cp} with tp sequence parallelism: Megatron-"
            "DeepSpeed's --ds-sequence-parallel-size (Ulysses) excludes --sequence-parallel; use --no-sp"
        )
    if t.plan.ep > t.plan.dp * t.plan.cp:
        raise GigatrainError(
            f"deepspeed cannot express ep={t.plan.ep} > dp×cp={t.plan.dp * t.plan.cp}; "
            "DeepSpeed-MoE places experts within the data-parallel group"
        )
    cfg = ds_config(t)
    argv, missing = launcher_args(t)
    launch = (
        f"deepspeed --num_nodes {t.nodes} --num_gpus {t.procs_per_node} pretrain_gpt.py \\\n"
        + shell_args(argv)
    )
    script = (
        "#!/usr/bin/env bash\n"
        + comment_block("#", t, "DeepSpeed", missing)
        + launch
        + ' \\\n    "$@"\n'
    )
    return Exported(
        FORMAT, {"": json.dumps(cfg, indent=2) + "\n", ".launch.sh": script}, launch, tuple(missing)
    )


def parse(files: dict[str, str]) -> Imported:
    try:
        cfg = json.loads(files[""])
    except json.JSONDecodeError as e:
        raise GigatrainError(f"ds_config is not valid JSON: {e}") from None
    if not isinstance(cfg, dict):
        raise GigatrainError("ds_config must be a JSON object")
    args = split_args(files.get(".launch.sh", ""))
    plan, job = megatron.parse_plan(
        {
            **args,
            "global_batch_size": args.get("global_batch_size") or cfg.get("train_batch_size", 0),
        },
        FORMAT,
    )
    if args.get("no_pipeline_parallel"):
        plan["pp"] = 1
    if args.get("ds_sequence_parallel_size"):
        plan["cp"] = to_int("--ds-sequence-parallel-size", args["ds_sequence_parallel_size"])
    if args.get("moe_expert_parallel_size"):
        plan["ep"] = to_int("--moe-expert-parallel-size", args["moe_expert_parallel_size"])
    gbs = to_int("train_batch_size", cfg.get("train_batch_size", job["global_batch"]))
    mbs = to_int(
        "train_micro_batch_size_per_gpu",
        cfg.get("train_micro_batch_size_per_gpu", plan["micro_batch"]),
    )
    gas = to_int("gradient_accumulation_steps", cfg.get("gradient_accumulation_steps", 1))
    if gbs % (mbs * gas):
        raise GigatrainError(
            f"train_batch_size={gbs} is not train_micro_batch_size_per_gpu×"
            f"gradient_accumulation_steps×dp ({mbs}×{gas}×dp)"
        )
    dp = gbs // (mbs * gas)
    zero_cfg = cfg.get("zero_optimization") or {}
    zero = to_int("zero_optimization.stage", zero_cfg.get("stage", 0))
    if not 0 <= zero <= 3:
        raise GigatrainError(f"zero_optimization.stage={zero}; valid: 0, 1, 2, 3")
    precision = (
        "bf16"
        if (cfg.get("bf16") or {}).get("enabled")
        else "fp16"
        if (cfg.get("fp16") or {}).get("enabled")
        else "fp32"
    )
    fsdp_shard = to_int("mics_shard_size", zero_cfg.get("mics_shard_size", 0)) if zero == 3 else 0
    if fsdp_shard < 0:
        fsdp_shard = 0
    plan.update(micro_batch=mbs, zero_stage=zero)
    chips = None
    nn, ng = args.get("num_nodes"), args.get("num_gpus")
    if isinstance(nn, str) and isinstance(ng, str) and nn.isdigit() and ng.isdigit():
        chips = int(nn) * int(ng)
    fields, moe, mla = megatron.parse_model(
        {
            **args,
            "group_query_attention": "num_key_value_heads" in args,
            "num_query_groups": args.get("num_key_value_heads"),
            "moe_router_topk": args.get("topk", 1),
        }
    )
    if moe:  # experts the dense MLP's size unless a metadata model says otherwise
        moe.pop("num_moe_layers", None)
        moe.pop("router_bias", None)
        moe["expert_ffn_hidden_size"] = (
            0  # not stated by Megatron-DeepSpeed: the named model's, else the MLP's
        )
    return Imported(
        FORMAT,
        Plan(dp=dp, fsdp_shard=fsdp_shard, **plan),
        job["seq_len"],
        gbs,
        precision,
        FRAMEWORK,
        chips=chips,
        model_fields=fields,
        moe_fields=moe,
        mla_fields=mla,
    )
