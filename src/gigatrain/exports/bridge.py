"""Megatron-Bridge: Hydra-style ``section.key=value`` overrides of a recipe's ``ConfigContainer``
(``scripts/training/run_recipe.py --recipe NAME override ...``).

``model.*`` keys are Megatron-Core ``TransformerConfig`` fields (Bridge's ``GPTModelProvider``
subclasses it): ``tensor_model_parallel_size``, ``pipeline_model_parallel_size``,
``virtual_pipeline_model_parallel_size``, ``context_parallel_size``,
``expert_model_parallel_size``, ``expert_tensor_parallel_size``, ``sequence_parallel``,
``recompute_granularity``/``recompute_method``/``recompute_num_layers``, ``seq_length`` and
the architecture (``num_layers``, ``hidden_size``, ...); ``train.micro_batch_size``,
``train.global_batch_size``; ``ddp.use_distributed_optimizer`` /
``optimizer.use_distributed_optimizer``, ``ddp.use_megatron_fsdp``,
``ddp.data_parallel_sharding_strategy``, ``ddp.num_distributed_optimizer_instances``;
``mixed_precision`` recipe names (``bf16_mixed``, ``fp16_mixed``,
``bf16_with_fp8_hybrid``... see :data:`MIXED`). Built from the same arguments as the
Megatron-LM export, so the two cannot disagree.
"""

from __future__ import annotations

from typing import Any

from ..errors import GigatrainError
from ..specs import Plan
from . import megatron
from .base import Exported, Imported, Target, check_capabilities, comment_block, split_args

FORMAT = "megatron-bridge"
FRAMEWORK = "megatron"
MIXED = {
    "bf16": "bf16_mixed",
    "fp16": "fp16_mixed",
    "fp32": "fp32",
    "fp8": "bf16_with_fp8_hybrid",
    "fp4": "bf16_with_nvfp4_mixed",
}
_MODEL_KEYS = (
    "tensor_model_parallel_size",
    "pipeline_model_parallel_size",
    "context_parallel_size",
    "expert_model_parallel_size",
    "expert_tensor_parallel_size",
    "recompute_granularity",
    "recompute_method",
    "recompute_num_layers",
    "num_layers",
    "hidden_size",
    "ffn_hidden_size",
    "num_attention_heads",
    "num_query_groups",
    "kv_channels",
    "num_moe_experts",
    "moe_router_topk",
    "moe_ffn_hidden_size",
    "moe_shared_expert_intermediate_size",
    "q_lora_rank",
    "kv_lora_rank",
    "qk_head_dim",
    "qk_pos_emb_head_dim",
    "v_head_dim",
    "mtp_num_layers",
)


def overrides(t: Target) -> tuple[dict[str, Any], list[str]]:
    margs, missing = megatron.model_args(t, FORMAT)
    a = split_args(
        " ".join(
            megatron.plan_args(t, FORMAT)
            + [x if not x.startswith("(") else f"'{x}'" for x in margs]
        )
    )
    experts = a.pop("num_experts", None)  # Megatron's name → the bridge's (absent: none)
    if experts is None:
        a.pop("num_moe_experts", None)
    else:
        a["num_moe_experts"] = experts
    o: dict[str, Any] = {}
    for k in _MODEL_KEYS:
        if a.get(k) not in (None, True):
            v = a[k]
            o[f"model.{k}"] = int(v) if isinstance(v, str) and v.isdigit() else v
    if t.plan.vpp > 1:
        o["model.virtual_pipeline_model_parallel_size"] = t.plan.vpp
    if t.model.moe is not None:
        o["model.moe_router_enable_expert_bias"] = t.model.moe.router_bias
        if t.model.moe.router_bias:
            o["model.moe_router_score_function"] = "sigmoid"
    if a.get("account_for_embedding_in_pipeline_split"):
        o["model.account_for_embedding_in_pipeline_split"] = True
        o["model.account_for_loss_in_pipeline_split"] = True
    o["model.sequence_parallel"] = bool(a.get("sequence_parallel"))
    o["model.seq_length"] = t.job.seq_len
    o["model.gated_linear_unit"] = t.model.mlp_gated
    o["model.share_embeddings_and_output_weights"] = t.model.tied_embeddings
    o["model.vocab_size"] = t.model.vocab_size
    o["dataset.sequence_length"] = t.job.seq_len
    o["train.micro_batch_size"] = t.plan.micro_batch
    o["train.global_batch_size"] = t.job.global_batch_seqs
    dist_opt = t.plan.zero_stage == 1
    o["ddp.use_distributed_optimizer"] = dist_opt
    o["optimizer.use_distributed_optimizer"] = dist_opt
    if t.plan.zero_stage in (2, 3):
        o["ddp.use_megatron_fsdp"] = True
        o["ddp.data_parallel_sharding_strategy"] = a["data_parallel_sharding_strategy"]
    if "num_distributed_optimizer_instances" in a:
        o["ddp.num_distributed_optimizer_instances"] = int(a["num_distributed_optimizer_instances"])
    o["mixed_precision"] = MIXED[t.job.precision]
    return o, missing


def export(t: Target) -> Exported:
    check_capabilities(FORMAT, t, FRAMEWORK)
    o, missing = overrides(t)
    body = "\n".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in o.items())
    launch = (
        f"torchrun --nnodes {t.nodes} --nproc-per-node {t.procs_per_node} scripts/training/run_recipe.py "
        f"--recipe <recipe for {t.model.slug}> $(grep -v '^#' THIS_FILE)"
    )
    text = comment_block("#", t, "Megatron-Bridge", missing) + f"# launch: {launch}\n" + body + "\n"
    return Exported(FORMAT, {"": text}, launch, tuple(missing))


def read_overrides(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, eq, val = line.partition("=")
        if not eq:
            raise GigatrainError(f"megatron-bridge override {line!r} is not key=value")
        out[key.strip()] = val.strip()
    return out


def parse(files: dict[str, str]) -> Imported:
    o = read_overrides(files[""])
    args: dict[str, Any] = {}
    for k, v in o.items():
        sec, _, name = k.partition(".")
        val: Any = {"true": True, "false": False}.get(v.lower(), v)
        if sec == "model" or sec == "train":
            args[name] = val
    args["num_experts"] = args.pop("num_moe_experts", None)
    if args["num_experts"] is None:
        del args["num_experts"]
    if o.get("model.num_query_groups") and o.get("model.num_query_groups") != o.get(
        "model.num_attention_heads"
    ):
        args["group_query_attention"] = True
    if "kv_lora_rank" in args:
        args["multi_latent_attention"] = True
    args["swiglu"] = args.pop("gated_linear_unit", False)
    args["untie_embeddings_and_output_weights"] = not args.pop(
        "share_embeddings_and_output_weights", False
    )
    args["disable_bias_linear"] = True
    args["normalization"] = "RMSNorm"
    if o.get("ddp.use_distributed_optimizer", "false").lower() == "true":
        args["use_distributed_optimizer"] = True
    if o.get("ddp.use_megatron_fsdp", "false").lower() == "true":
        args["use_megatron_fsdp"] = True
        args["data_parallel_sharding_strategy"] = o.get(
            "ddp.data_parallel_sharding_strategy", "optim_grads_params"
        )
    if "ddp.num_distributed_optimizer_instances" in o:
        args["num_distributed_optimizer_instances"] = o["ddp.num_distributed_optimizer_instances"]
    mp = o.get("mixed_precision", "bf16_mixed")
    precision = {v: k for k, v in MIXED.items()}.get(mp)
    if precision is None:
        raise GigatrainError(f"mixed_precision={mp!r}; valid: {', '.join(MIXED.values())}")
    if args.get("seq_length") is None and "dataset.sequence_length" in o:
        args["seq_length"] = o["dataset.sequence_length"]
    plan, job = megatron.parse_plan(args, FORMAT)
    fields, moe, mla = megatron.parse_model(args)
    for k in ("norm_type", "bias"):
        fields.pop(k, None)  # recipe defaults, not overrides
    moe.pop("num_moe_layers", None)  # the recipe's layer pattern (not an override here)
    return Imported(
        FORMAT,
        Plan(dp=0, **plan),
        job["seq_len"],
        job["global_batch"],
        precision,
        FRAMEWORK,
        model_fields=fields,
        moe_fields=moe,
        mla_fields=mla,
        shard_replicas=job["shard_replicas"],
    )
