"""AWS NeuronX Distributed Training (NxDT): the YAML job config of its ``hf_llama`` /
``hf_mixtral`` examples.

Keys follow the NxDT config reference: ``trainer.devices`` (ranks per node) and
``trainer.num_nodes``; ``distributed_strategy.tensor_model_parallel_size``,
``pipeline_model_parallel_size``, ``expert_model_parallel_size``, ``zero1`` (ZeRO-1 optimizer
sharding), ``sequence_parallel``, ``kv_replicator`` (KV heads replicated when TP exceeds them);
``data.micro_batch_size``, ``data.global_batch_size``, ``data.seq_length``;
``model.activations_checkpoint_granularity`` (``selective`` = core attention, ``full``;
``null`` = none) and architecture keys (``num_layers``, ``hidden_size``,
``intermediate_size``, ``num_attention_heads``, ``num_kv_heads``, ``vocab_size``,
``max_position_embeddings``, ``moe.num_experts``, ``moe.top_k``); ``precision.type``
(``mixed_precision`` = bf16 with fp32 master weights, ``fp32``).

Refused: ZeRO-2/3 (NxD shards the optimizer only, ``zero1``), interleaved pipelines (vpp),
context parallelism — per the catalog's capability table for ``neuron``. neuronx-distributed
is published on AWS's own package index, not PyPI (PyPI holds an empty 0.1 placeholder), so
the tests check against :data:`SCHEMA` and NxDT's divisibility rules.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import GigatrainError
from ..specs import Plan
from .base import (
    Exported,
    Imported,
    Target,
    check_capabilities,
    comment_block,
    load_yaml,
    microbatches,
    to_int,
)

FORMAT = "neuron"
FRAMEWORK = "neuron"
SCHEMA: dict[str, frozenset[str]] = {
    "trainer": frozenset({"devices", "num_nodes", "max_steps"}),
    "distributed_strategy": frozenset(
        {
            "tensor_model_parallel_size",
            "pipeline_model_parallel_size",
            "virtual_pipeline_model_parallel_size",
            "expert_model_parallel_size",
            "zero1",
            "sequence_parallel",
            "kv_replicator",
        }
    ),
    "data": frozenset({"micro_batch_size", "global_batch_size", "seq_length"}),
    "model": frozenset(
        {
            "num_layers",
            "hidden_size",
            "intermediate_size",
            "num_attention_heads",
            "num_kv_heads",
            "vocab_size",
            "max_position_embeddings",
            "activations_checkpoint_granularity",
            "moe",
            "fusions",
        }
    ),
    "precision": frozenset({"type", "master_weights"}),
}
_PRECISION = {"bf16": "mixed_precision", "fp32": "fp32", "fp8": "mixed_precision_fp8"}


def config(t: Target) -> tuple[dict[str, Any], list[str]]:
    p, j, m = t.plan, t.job, t.model
    microbatches(t)
    if j.precision not in _PRECISION:
        raise GigatrainError(
            f"neuron cannot express precision={j.precision}; valid: {', '.join(_PRECISION)}"
        )
    ds: dict[str, Any] = {
        "tensor_model_parallel_size": p.tp,
        "pipeline_model_parallel_size": p.pp,
        "virtual_pipeline_model_parallel_size": 1,
        "zero1": p.zero_stage == 1,
        "sequence_parallel": bool(p.sequence_parallel and p.tp > 1),
    }
    if p.ep > 1:
        ds["expert_model_parallel_size"] = p.ep
    if p.tp > m.num_kv_heads:
        ds["kv_replicator"] = p.tp // m.num_kv_heads
    model: dict[str, Any] = {
        "num_layers": m.num_layers,
        "hidden_size": m.hidden_size,
        "intermediate_size": m.ffn_hidden_size,
        "num_attention_heads": m.num_attention_heads,
        "num_kv_heads": m.num_kv_heads,
        "vocab_size": m.vocab_size,
        "max_position_embeddings": j.seq_len,
        "activations_checkpoint_granularity": None if p.recompute == "none" else p.recompute,
    }
    missing: list[str] = []
    if m.moe is not None:
        model["moe"] = {"num_experts": m.moe.num_experts, "top_k": m.moe.top_k}
        if m.moe.num_shared_experts or m.moe.num_moe_layers != m.num_layers:
            missing.append(
                "shared experts / dense-first layers (NxDT's MoE examples are all-MoE Mixtral/DBRX)"
            )
    if m.mla is not None:
        missing.append("multi-latent attention (no NxDT model config for MLA)")
    if p.fsdp_shard and p.zero_stage == 1 and p.fsdp_shard != p.dp * p.cp:
        raise GigatrainError(
            f"neuron cannot express fsdp_shard={p.fsdp_shard}; zero1 shards over all of dp"
        )
    cfg = {
        "trainer": {"devices": t.procs_per_node, "num_nodes": t.nodes},
        "distributed_strategy": ds,
        "data": {
            "micro_batch_size": p.micro_batch,
            "global_batch_size": j.global_batch_seqs,
            "seq_length": j.seq_len,
        },
        "model": model,
        "precision": {"type": _PRECISION[j.precision], "master_weights": j.precision != "fp32"},
    }
    return cfg, missing


def export(t: Target) -> Exported:
    check_capabilities(FORMAT, t, FRAMEWORK)
    cfg, missing = config(t)
    launch = (
        f"torchrun --nnodes {t.nodes} --nproc_per_node {t.procs_per_node} training_orchestrator.py "
        "--config-path . --config-name gigatrain"
    )
    text = (
        comment_block("#", t, "NeuronX Distributed Training", missing)
        + f"# launch: {launch}\n"
        + yaml.safe_dump(cfg, sort_keys=False)
    )
    return Exported(FORMAT, {"": text}, launch, tuple(missing))


def parse(files: dict[str, str]) -> Imported:
    d = load_yaml(FORMAT, files[""])
    tr, ds, data, model = (
        d.get(k) or {} for k in ("trainer", "distributed_strategy", "data", "model")
    )
    tp = to_int("tensor_model_parallel_size", ds.get("tensor_model_parallel_size", 1))
    pp = to_int("pipeline_model_parallel_size", ds.get("pipeline_model_parallel_size", 1))
    vpp = to_int(
        "virtual_pipeline_model_parallel_size",
        ds.get("virtual_pipeline_model_parallel_size", 1) or 1,
    )
    chips = None
    if "devices" in tr and "num_nodes" in tr:
        chips = to_int("trainer.devices", tr["devices"]) * to_int(
            "trainer.num_nodes", tr["num_nodes"]
        )
    gran = model.get("activations_checkpoint_granularity")
    recompute = {None: "none", "selective": "selective", "full": "full"}.get(gran)
    if recompute is None:
        raise GigatrainError(
            f"model.activations_checkpoint_granularity={gran!r}; valid: selective, full, null"
        )
    ptype = (d.get("precision") or {}).get("type", "mixed_precision")
    precision = {v: k for k, v in _PRECISION.items()}.get(ptype, "bf16")
    plan = Plan(
        tp=tp,
        pp=pp,
        dp=0,
        vpp=vpp,
        ep=to_int("expert_model_parallel_size", ds.get("expert_model_parallel_size", 1)),
        micro_batch=to_int("micro_batch_size", data.get("micro_batch_size", 1)),
        zero_stage=1 if ds.get("zero1", True) else 0,
        recompute=recompute,  # type: ignore[arg-type]
        sequence_parallel=bool(ds.get("sequence_parallel", True)) or tp == 1,
    )
    f = {
        name: to_int(key, model[key])
        for key, name in (
            ("num_layers", "num_layers"),
            ("hidden_size", "hidden_size"),
            ("intermediate_size", "ffn_hidden_size"),
            ("num_attention_heads", "num_attention_heads"),
            ("num_kv_heads", "num_kv_heads"),
            ("vocab_size", "vocab_size"),
        )
        if key in model
    }
    moe = {}
    if isinstance(model.get("moe"), dict):
        moe = {
            "num_experts": to_int("moe.num_experts", model["moe"].get("num_experts", 1)),
            "top_k": to_int("moe.top_k", model["moe"].get("top_k", 1)),
        }
    return Imported(
        FORMAT,
        plan,
        to_int("data.seq_length", data.get("seq_length", 4096)),
        to_int("data.global_batch_size", data.get("global_batch_size", 0)),
        precision,
        FRAMEWORK,
        chips=chips,
        model_fields=f,
        moe_fields=moe,
    )
