"""Megatron-LM / Megatron-Core: a ``torchrun ... pretrain_gpt.py`` launch script.

Option names are Megatron-LM's ``megatron/training/arguments.py`` (core_r0.16): parallel
degrees ``--tensor-model-parallel-size``, ``--pipeline-model-parallel-size``,
``--num-virtual-stages-per-pipeline-rank`` (with
``--account-for-embedding-in-pipeline-split --account-for-loss-in-pipeline-split`` when
num_layers + 2 splits evenly and num_layers does not), ``--context-parallel-size``,
``--expert-model-parallel-size`` (``--expert-tensor-parallel-size 1`` when EP folds over the
TP ranks), ``--sequence-parallel``; sharding ``--use-distributed-optimizer`` (ZeRO-1,
``--num-distributed-optimizer-instances`` for a hybrid group) and Megatron-FSDP
(``--use-megatron-fsdp --data-parallel-sharding-strategy optim_grads_params`` = ZeRO-3);
batch ``--micro-batch-size``, ``--global-batch-size``, ``--seq-length``; precision
``--bf16`` / ``--fp16`` / ``--fp8-format hybrid`` / ``--fp4-format e2m1``; recompute
``--recompute-granularity selective|full`` (``--recompute-method uniform
--recompute-num-layers 1`` for full). Architecture: ``--num-layers``, ``--hidden-size``,
``--ffn-hidden-size``, ``--num-attention-heads``, ``--group-query-attention
--num-query-groups``, ``--kv-channels``, ``--swiglu``, ``--untie-embeddings-and-output-weights``,
``--normalization``, ``--position-embedding-type``, MoE (``--num-experts``,
``--moe-router-topk``, ``--moe-ffn-hidden-size``, ``--moe-layer-freq``,
``--moe-shared-expert-intermediate-size``) and MLA (``--multi-latent-attention``,
``--q-lora-rank``, ``--kv-lora-rank``, ``--qk-head-dim``, ``--qk-pos-emb-head-dim``,
``--v-head-dim``). Megatron-Core's ``TransformerConfig`` takes the same names with
underscores, which is what the tests construct from these arguments.

The data-parallel degree is not an argument: Megatron derives it from the world size
(torchrun's ``--nnodes`` × ``--nproc-per-node``).
"""

from __future__ import annotations

from typing import Any

from ..errors import GigatrainError
from .base import (
    Exported,
    Imported,
    Target,
    check_capabilities,
    comment_block,
    layers_per_virtual_stage,
    microbatches,
    moe_layer_pattern,
    shell_args,
    split_args,
    to_int,
)

FORMAT = "megatron"
FRAMEWORK = "megatron"


def model_args(t: Target, fmt: str = FORMAT) -> tuple[list[str], list[str]]:
    """Architecture arguments and the model features Megatron-LM has no argument for."""
    m = t.model
    a = [
        "--num-layers",
        str(m.num_layers),
        "--hidden-size",
        str(m.hidden_size),
        "--ffn-hidden-size",
        str(m.ffn_hidden_size),
        "--num-attention-heads",
        str(m.num_attention_heads),
    ]
    missing: list[str] = []
    if m.num_kv_heads != m.num_attention_heads:
        a += ["--group-query-attention", "--num-query-groups", str(m.num_kv_heads)]
    if m.head_dim and m.head_dim != m.hidden_size // m.num_attention_heads:
        a += ["--kv-channels", str(m.head_dim)]
    if m.mlp_gated:
        a.append("--swiglu")
    if not m.tied_embeddings:
        a.append("--untie-embeddings-and-output-weights")
    a += ["--normalization", "RMSNorm" if m.norm_type == "rmsnorm" else "LayerNorm"]
    if m.norm_type == "layernorm_nobias":
        missing.append("norm_type=layernorm_nobias (Megatron's LayerNorm has a bias)")
    if m.learned_position_embeddings:
        a += [
            "--position-embedding-type",
            "learned_absolute",
            "--max-position-embeddings",
            str(m.learned_position_embeddings),
        ]
    else:
        a += ["--position-embedding-type", "rope", "--max-position-embeddings", str(t.job.seq_len)]
    if m.bias == "none":
        a.append("--disable-bias-linear")
    elif m.bias == "qkv":
        a += ["--disable-bias-linear", "--add-qkv-bias"]
    elif m.bias == "qkvo":
        missing.append("bias=qkvo (Megatron biases all linear layers or only QKV)")
    if m.qk_norm:
        a.append("--qk-layernorm")
    a += ["--vocab-size", str(m.vocab_size), "--make-vocab-size-divisible-by", "1"]
    if m.moe is not None:
        a += [
            "--num-experts",
            str(m.moe.num_experts),
            "--moe-router-topk",
            str(m.moe.top_k),
            "--moe-ffn-hidden-size",
            str(m.moe.expert_ffn_hidden_size),
            "--moe-layer-freq",
            moe_layer_pattern(m),
        ]
        if m.moe.num_shared_experts:
            a += [
                "--moe-shared-expert-intermediate-size",
                str(m.moe.num_shared_experts * m.moe.shared_expert_ffn_hidden_size),
            ]
        if m.moe.router_bias:  # aux-loss-free balancing (DeepSeek-V3) needs sigmoid scores
            a += ["--moe-router-enable-expert-bias", "--moe-router-score-function", "sigmoid"]
    if m.mla is not None:
        a += [
            "--multi-latent-attention",
            "--kv-lora-rank",
            str(m.mla.kv_lora_rank),
            "--qk-head-dim",
            str(m.mla.qk_nope_head_dim),
            "--qk-pos-emb-head-dim",
            str(m.mla.qk_rope_head_dim),
            "--v-head-dim",
            str(m.mla.v_head_dim),
        ]
        if m.mla.q_lora_rank:
            a += ["--q-lora-rank", str(m.mla.q_lora_rank)]
    if m.mtp_modules:
        a += ["--mtp-num-layers", str(m.mtp_modules)]
    for flag, what in (
        (m.attention_sinks, "attention_sinks (learned softmax sinks)"),
        (m.embedding_norm, "embedding_norm (LayerNorm after the embedding)"),
        (m.norms_per_layer != 2, f"norms_per_layer={m.norms_per_layer}"),
    ):
        if flag:
            missing.append(what)
    return a, missing


def plan_args(t: Target, fmt: str = FORMAT) -> list[str]:
    """Parallel, batch, precision and recompute arguments."""
    p, j = t.plan, t.job
    microbatches(t)  # refuses a global batch that is not whole micro-batches
    a = ["--tensor-model-parallel-size", str(p.tp), "--pipeline-model-parallel-size", str(p.pp)]
    if p.vpp > 1:
        _, account = layers_per_virtual_stage(fmt, t, uneven=True)
        a += ["--num-virtual-stages-per-pipeline-rank", str(p.vpp)]
        if account:
            a += [
                "--account-for-embedding-in-pipeline-split",
                "--account-for-loss-in-pipeline-split",
            ]
    elif p.pp > 1 and t.model.num_layers % p.pp:
        a += uneven_stages(fmt, t.model.num_layers, p.pp)
    if p.cp > 1:
        a += ["--context-parallel-size", str(p.cp)]
    if p.ep > 1:
        a += ["--expert-model-parallel-size", str(p.ep)]
        if p.ep > p.dp * p.cp:  # MoE parallel folding: experts over the TP ranks too
            a += ["--expert-tensor-parallel-size", "1"]
    if p.sequence_parallel and p.tp > 1:
        a.append("--sequence-parallel")
    group = p.fsdp_shard or p.dp * p.cp
    if p.zero_stage == 1:
        a.append("--use-distributed-optimizer")
    elif p.zero_stage in (2, 3):  # Megatron-FSDP, as its README enables it
        a += [
            "--use-megatron-fsdp",
            "--data-parallel-sharding-strategy",
            "optim_grads" if p.zero_stage == 2 else "optim_grads_params",
            "--use-distributed-optimizer",
            "--no-gradient-accumulation-fusion",
            "--ckpt-format",
            "fsdp_dtensor",
        ]
    if p.zero_stage and group != p.dp * p.cp:
        if (p.dp * p.cp) % group:
            raise GigatrainError(f"fsdp_shard={p.fsdp_shard} does not divide dp×cp={p.dp * p.cp}")
        a += ["--num-distributed-optimizer-instances", str(p.dp * p.cp // group)]
    a += [
        "--micro-batch-size",
        str(p.micro_batch),
        "--global-batch-size",
        str(j.global_batch_seqs),
        "--seq-length",
        str(j.seq_len),
    ]
    a += {
        "bf16": ["--bf16"],
        "fp16": ["--fp16"],
        "fp32": [],
        "fp8": ["--bf16", "--fp8-format", "hybrid"],
        "fp4": ["--bf16", "--fp4-format", "e2m1"],
    }[j.precision]
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
    return a


def uneven_stages(fmt: str, n: int, pp: int) -> list[str]:
    """Arguments for num_layers that pp does not divide: the embedding and loss counted as a
    layer each when n + 2 splits evenly, else ``--decoder-first/last-pipeline-num-layers``
    with the middle stages even (DeepSeek-V3: 61 layers over pp=16 = 2 + 14×4 + 3)."""
    if (n + 2) % pp == 0:
        return ["--account-for-embedding-in-pipeline-split", "--account-for-loss-in-pipeline-split"]
    if pp < 3:
        raise GigatrainError(
            f"{fmt} cannot express pp={pp} with num_layers={n}: pp must divide num_layers"
        )
    k = -(-n // pp)
    rest = n - (pp - 2) * k
    if rest < 2:
        k = n // pp
        rest = n - (pp - 2) * k
    first = rest // 2
    return [
        "--decoder-first-pipeline-num-layers",
        str(first),
        "--decoder-last-pipeline-num-layers",
        str(rest - first),
    ]


def export(t: Target) -> Exported:
    check_capabilities(FORMAT, t, FRAMEWORK)
    margs, missing = model_args(t)
    argv = plan_args(t) + margs
    launch = (
        f"torchrun --nnodes {t.nodes} --nproc-per-node {t.procs_per_node} pretrain_gpt.py \\\n"
        + shell_args(argv)
    )
    text = (
        "#!/usr/bin/env bash\n"
        + comment_block("#", t, "Megatron-LM", missing)
        + "# arguments: megatron/training/arguments.py; data, tokenizer and optimizer flags to add\n"
        + launch
        + ' \\\n    "$@"\n'
    )
    return Exported(FORMAT, {"": text}, launch, tuple(missing))


# ---------------------------------------------------------------- import
def _int(args: dict[str, Any], key: str, default: int) -> int:
    v = args.get(key)
    return default if v is None or v is True else to_int(f"--{key.replace('_', '-')}", v)


def parse_plan(args: dict[str, Any], fmt: str = FORMAT) -> tuple[dict[str, Any], dict[str, Any]]:
    """Plan fields and job fields from Megatron argument names (underscored)."""
    tp, pp = (
        _int(args, "tensor_model_parallel_size", 1),
        _int(args, "pipeline_model_parallel_size", 1),
    )
    num_layers = _int(args, "num_layers", 0)
    vpp = _int(args, "virtual_pipeline_model_parallel_size", 0) or _int(
        args, "num_virtual_stages_per_pipeline_rank", 0
    )
    lpvs = _int(args, "num_layers_per_virtual_pipeline_stage", 0)
    if not vpp and lpvs:
        if not num_layers:
            raise GigatrainError(
                "--num-layers-per-virtual-pipeline-stage needs --num-layers to give vpp"
            )
        vpp = num_layers // (pp * lpvs)
    vpp = vpp or 1
    zero = 0
    if args.get("use_distributed_optimizer"):
        zero = 1
    if args.get("use_megatron_fsdp") or args.get("use_torch_fsdp2"):
        strategy = str(args.get("data_parallel_sharding_strategy", "optim_grads_params"))
        zero = {"no_shard": 0, "optim": 1, "optim_grads": 2, "optim_grads_params": 3}.get(
            strategy, 3
        )
    granularity = args.get("recompute_granularity")
    recompute = {"selective": "selective", "full": "full", None: "none"}.get(granularity)
    if recompute is None:
        raise GigatrainError(f"--recompute-granularity={granularity!r}; valid: selective, full")
    precision = "fp32"
    if args.get("bf16"):
        precision = "bf16"
    if args.get("fp16"):
        precision = "fp16"
    if args.get("fp8_format") or args.get("fp8"):
        precision = "fp8"
    if args.get("fp4_format") or args.get("fp4"):
        precision = "fp4"
    ep = _int(args, "expert_model_parallel_size", 1)
    plan = {
        "tp": tp,
        "pp": pp,
        "vpp": vpp,
        "cp": _int(args, "context_parallel_size", 1),
        "ep": ep,
        "micro_batch": _int(args, "micro_batch_size", 1),
        "zero_stage": zero,
        "recompute": recompute,
        "sequence_parallel": bool(args.get("sequence_parallel")) or tp == 1,
    }
    job = {
        "seq_len": _int(args, "seq_length", 0) or _int(args, "encoder_seq_length", 4096),
        "global_batch": _int(args, "global_batch_size", 0),
        "precision": precision,
        "shard_replicas": _int(args, "num_distributed_optimizer_instances", 1),
    }
    if not job["global_batch"]:
        raise GigatrainError(
            "--global-batch-size is missing; Megatron's default (micro-batch × dp) "
            "is not a fixed number, so give it"
        )
    return plan, job


def parse_model(args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """ModelSpec, MoE and MLA fields from architecture arguments (only those present)."""
    f: dict[str, Any] = {}
    for key, name in (
        ("num_layers", "num_layers"),
        ("hidden_size", "hidden_size"),
        ("ffn_hidden_size", "ffn_hidden_size"),
        ("num_attention_heads", "num_attention_heads"),
        ("vocab_size", "vocab_size"),
        ("kv_channels", "head_dim"),
    ):
        if key in args:
            f[name] = _int(args, key, 0)
    if "num_attention_heads" in f:
        f["num_kv_heads"] = (
            _int(args, "num_query_groups", f["num_attention_heads"])
            if args.get("group_query_attention")
            else f["num_attention_heads"]
        )
    if "num_layers" in f:
        f["mlp_gated"] = bool(args.get("swiglu"))
        f["tied_embeddings"] = not args.get("untie_embeddings_and_output_weights")
        norm = str(args.get("normalization", "LayerNorm"))
        f["norm_type"] = "rmsnorm" if norm.lower() == "rmsnorm" else "layernorm"
        f["qk_norm"] = bool(args.get("qk_layernorm"))
        f["bias"] = (
            ("qkv" if args.get("add_qkv_bias") else "none")
            if args.get("disable_bias_linear")
            else "all"
        )
        if args.get("position_embedding_type") == "learned_absolute":
            f["learned_position_embeddings"] = _int(args, "max_position_embeddings", 0)
        if "mtp_num_layers" in args:
            f["mtp_modules"] = _int(args, "mtp_num_layers", 0)
    moe: dict[str, Any] = {}
    if "num_experts" in args:
        moe = {
            "num_experts": _int(args, "num_experts", 0),
            "top_k": _int(args, "moe_router_topk", 2),
            "expert_ffn_hidden_size": _int(
                args, "moe_ffn_hidden_size", f.get("ffn_hidden_size", 0)
            ),
            "router_bias": bool(args.get("moe_router_enable_expert_bias")),
        }
        freq = str(args.get("moe_layer_freq", "1"))
        moe["num_moe_layers"] = _moe_layers(freq, f.get("num_layers", 0))
        shared = _int(args, "moe_shared_expert_intermediate_size", 0)
        if shared:
            moe["shared_intermediate"] = shared
    mla: dict[str, Any] = {}
    if args.get("multi_latent_attention"):
        mla = {
            "q_lora_rank": _int(args, "q_lora_rank", 0),
            "kv_lora_rank": _int(args, "kv_lora_rank", 512),
            "qk_nope_head_dim": _int(args, "qk_head_dim", 128),
            "qk_rope_head_dim": _int(args, "qk_pos_emb_head_dim", 64),
            "v_head_dim": _int(args, "v_head_dim", 128),
        }
    return f, moe, mla


def _moe_layers(freq: str, num_layers: int) -> int:
    """MoE layer count from ``--moe-layer-freq`` (an int N = every Nth layer, or a list
    expression such as ``([0]*3+[1]*58)``)."""
    import re

    s = freq.strip()
    if s.isdigit():
        n = int(s)
        return num_layers // n if n else 0
    m = re.fullmatch(r"\(?\[0\]\*(\d+)\+\[1\]\*(\d+)\)?", s.replace(" ", ""))
    if m:
        return int(m.group(2))
    if re.fullmatch(r"\[[01](,[01])*\]", s.replace(" ", "")):
        return s.count("1")
    raise GigatrainError(
        f"--moe-layer-freq={freq!r}; valid: an integer, a 0/1 list or ([0]*K+[1]*M)"
    )


def parse(files: dict[str, str]) -> Imported:
    text = files[""]
    args = split_args(text)
    plan, job = parse_plan(args)
    fields, moe, mla = parse_model(args)
    chips = None
    nnodes, nproc = args.get("nnodes"), args.get("nproc_per_node")
    if isinstance(nnodes, str) and isinstance(nproc, str) and nnodes.isdigit() and nproc.isdigit():
        chips = int(nnodes) * int(nproc)
    from ..specs import Plan

    return Imported(
        FORMAT,
        Plan(dp=0, **plan),
        job["seq_len"],
        job["global_batch"],
        job["precision"],
        FRAMEWORK,
        chips=chips,
        model_fields=fields,
        moe_fields=moe,
        mla_fields=mla,
        shard_replicas=job["shard_replicas"],
    )
