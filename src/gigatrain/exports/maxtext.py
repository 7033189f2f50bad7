"""MaxText: YAML overrides of ``MaxText/configs/base.yml`` with ICI and DCN mesh axes.

MaxText's mesh is ``dcn_X × ici_X`` per axis X in ``data``, ``fsdp``, ``context``,
``expert``, ``tensor``, ``pipeline``; the ICI product is the devices of one slice and the DCN
product the number of slices (``pyconfig``'s check). gigatrain's dp = data × fsdp × expert
(EP is nested in the data-parallel ranks); ZeRO-3 → ``fsdp``, ZeRO-0 → ``data``, ZeRO-1 →
``data`` with ``shard_optimizer_over_data: true``; ZeRO-2 is refused. Batch:
``per_device_batch_size`` × devices × ``gradient_accumulation_steps`` = global batch
(fractional per-device batches are allowed); with PP, ``num_pipeline_microbatches``; vpp →
``num_layers_per_pipeline_stage`` (circular pipeline). ``max_target_length`` = seq;
``dtype``/``weight_dtype``; fp8 → ``quantization: fp8``. Recompute → ``remat_policy``
(:data:`REMAT`). Architecture: ``base_emb_dim``, ``base_num_query_heads``, ``base_num_kv_heads``,
``base_mlp_dim``, ``base_num_decoder_layers``, ``head_dim``, ``vocab_size``, MoE
``num_experts``, ``num_experts_per_tok``, ``base_moe_mlp_dim``, ``first_num_dense_layers``,
``shared_experts``; MLA ``attention_type: mla`` with ``q_lora_rank``, ``kv_lora_rank``,
``qk_nope_head_dim``, ``qk_rope_head_dim``, ``v_head_dim``.

MaxText 0.2.5 requires Python ≥ 3.12 (this project runs 3.11) and JAX, so the tests check
these files against :data:`SCHEMA` (keys of its ``configs/base.yml``, all verified present in
the 0.2.5 wheel), :data:`REMAT_POLICIES` and MaxText's mesh rule.
"""

from __future__ import annotations

import math
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

FORMAT = "maxtext"
FRAMEWORK = "jax"
AXES = ("tensor", "context", "expert", "fsdp", "data", "pipeline")  # filled into ICI in this order
#: recompute → remat_policy (maxtext/configs/base.yml 0.2.5 lists the valid policies):
#: "minimal_with_context" saves every matmul output and the attention context (no recompute),
#: "minimal" saves the matmul outputs and recomputes the attention core (Megatron's selective),
#: "full" recomputes the whole layer
REMAT = {"none": "minimal_with_context", "selective": "minimal", "full": "full"}
#: remat_policy values base.yml (MaxText 0.2.5) accepts
REMAT_POLICIES = frozenset(
    {
        "minimal_with_context",
        "minimal",
        "save_dot_with_context_except_mlp",
        "save_dot_except_mlpwi",
        "save_dot_except_mlp",
        "save_qkv_proj",
        "qkv_proj_offloaded",
        "custom",
        "minimal_offloaded",
        "save_out_proj",
        "full",
    }
)
#: base.yml keys these files use (the documented schema the tests check against)
SCHEMA = frozenset(
    [f"{tier}_{ax}_parallelism" for tier in ("ici", "dcn") for ax in AXES]
    + [
        "model_name",
        "override_model_config",
        "base_emb_dim",
        "base_num_query_heads",
        "base_num_kv_heads",
        "base_mlp_dim",
        "base_num_decoder_layers",
        "head_dim",
        "vocab_size",
        "mlp_activations",
        "num_experts",
        "num_experts_per_tok",
        "base_moe_mlp_dim",
        "first_num_dense_layers",
        "shared_experts",
        "attention_type",
        "q_lora_rank",
        "kv_lora_rank",
        "qk_nope_head_dim",
        "qk_rope_head_dim",
        "v_head_dim",
        "logits_via_embedding",
        "per_device_batch_size",
        "max_target_length",
        "gradient_accumulation_steps",
        "num_pipeline_microbatches",
        "num_layers_per_pipeline_stage",
        "dtype",
        "weight_dtype",
        "quantization",
        "remat_policy",
        "num_slices",
        "shard_optimizer_over_data",
        "steps",
    ]
)


def mesh(t: Target) -> dict[str, tuple[int, int]]:
    """axis → (ici, dcn): each axis takes as much of the slice (the fast domain) as divides it."""
    p = t.plan
    dp_cp = p.dp * p.cp
    if p.zero_stage == 3:
        group = p.fsdp_shard or dp_cp
        if group % p.cp or dp_cp % group:
            raise GigatrainError(
                f"maxtext cannot express fsdp_shard={p.fsdp_shard}: it must be a multiple of "
                f"cp={p.cp} dividing dp×cp={dp_cp}"
            )
        fsdp, data = group // p.cp, dp_cp // group
    else:
        fsdp, data = 1, p.dp
    expert = 1
    if p.ep > 1:  # EP ranks come out of the data-parallel ranks
        if p.ep > p.dp:
            raise GigatrainError(
                f"maxtext cannot express ep={p.ep} > dp={p.dp} (MaxText's expert axis is part "
                "of the data-parallel ranks)"
            )
        if fsdp % p.ep == 0:
            fsdp, expert = fsdp // p.ep, p.ep
        elif data % p.ep == 0:
            data, expert = data // p.ep, p.ep
        else:
            raise GigatrainError(
                f"maxtext cannot express ep={p.ep}: it divides neither fsdp={fsdp} nor data={data}"
            )
    degrees = {
        "tensor": p.tp,
        "context": p.cp,
        "expert": expert,
        "fsdp": fsdp,
        "data": data,
        "pipeline": p.pp,
    }
    room = min(t.chips, t.fast_domain_chips)
    out = {}
    for ax in AXES:
        ici = math.gcd(degrees[ax], room)
        room //= ici
        out[ax] = (ici, degrees[ax] // ici)
    return out


def overrides(t: Target) -> tuple[dict[str, Any], list[str]]:
    p, j, m = t.plan, t.job, t.model
    gas = microbatches(t)
    if p.zero_stage == 2:
        raise GigatrainError(
            "maxtext cannot express zero_stage=2; valid: 0 (data), 1 (shard_optimizer_over_data), "
            "3 (fsdp)"
        )
    d: dict[str, Any] = {}
    for ax, (ici, dcn) in mesh(t).items():
        d[f"ici_{ax}_parallelism"] = ici
        d[f"dcn_{ax}_parallelism"] = dcn
    d["num_slices"] = math.prod(v[1] for v in mesh(t).values())
    if p.zero_stage == 1:
        d["shard_optimizer_over_data"] = True
    if p.pp > 1:
        if m.num_layers % (p.pp * p.vpp):
            raise GigatrainError(
                f"maxtext cannot express pp={p.pp} vpp={p.vpp}: MaxText stages hold equal layer "
                f"counts and pp×vpp does not divide num_layers={m.num_layers}"
            )
        d["per_device_batch_size"] = j.global_batch_seqs / t.chips
        d["num_pipeline_microbatches"] = gas
        if p.vpp > 1:
            if m.num_layers % (p.pp * p.vpp):
                raise GigatrainError(
                    f"maxtext cannot express vpp={p.vpp}: pp×vpp must divide num_layers={m.num_layers}"
                )
            d["num_layers_per_pipeline_stage"] = m.num_layers // (p.pp * p.vpp)
    else:
        d["per_device_batch_size"] = j.global_batch_seqs / t.chips / gas
        d["gradient_accumulation_steps"] = gas
    d["max_target_length"] = j.seq_len
    d["dtype"] = "float32" if j.precision == "fp32" else "bfloat16"
    d["weight_dtype"] = "float32"
    if j.precision == "fp8":
        d["quantization"] = "fp8"
    elif j.precision not in ("bf16", "fp32"):
        raise GigatrainError(
            f"maxtext cannot express precision={j.precision}; valid: bf16, fp32, fp8"
        )
    d["remat_policy"] = REMAT[p.recompute]
    d.update(
        {
            "override_model_config": True,
            "base_emb_dim": m.hidden_size,
            "base_num_query_heads": m.num_attention_heads,
            "base_num_kv_heads": m.num_kv_heads,
            "base_mlp_dim": m.ffn_hidden_size,
            "base_num_decoder_layers": m.num_layers,
            "head_dim": m.head_dim_eff,
            "vocab_size": m.vocab_size,
            "mlp_activations": ["silu", "linear"] if m.mlp_gated else ["gelu"],
            "logits_via_embedding": m.tied_embeddings,
        }
    )
    missing: list[str] = []
    if m.moe is not None:
        d.update(
            {
                "num_experts": m.moe.num_experts,
                "num_experts_per_tok": m.moe.top_k,
                "base_moe_mlp_dim": m.moe.expert_ffn_hidden_size,
                "first_num_dense_layers": m.num_layers - m.moe.num_moe_layers,
                "shared_experts": m.moe.num_shared_experts,
            }
        )
    if m.mla is not None:
        d.update(
            {
                "attention_type": "mla",
                "q_lora_rank": m.mla.q_lora_rank,
                "kv_lora_rank": m.mla.kv_lora_rank,
                "qk_nope_head_dim": m.mla.qk_nope_head_dim,
                "qk_rope_head_dim": m.mla.qk_rope_head_dim,
                "v_head_dim": m.mla.v_head_dim,
            }
        )
    if not p.sequence_parallel and p.tp > 1:
        missing.append(
            "sequence_parallel=False (MaxText shards activations by its logical axis rules)"
        )
    for flag, what in (
        (m.bias != "none", f"bias={m.bias}"),
        (m.qk_norm, "qk_norm"),
        (m.attention_sinks, "attention_sinks"),
        (m.learned_position_embeddings > 0, "learned position embeddings"),
    ):
        if flag:
            missing.append(f"{what} (set by model_name/decoder_block, not by an override)")
    return d, missing


def export(t: Target) -> Exported:
    check_capabilities(FORMAT, t, FRAMEWORK)
    d, missing = overrides(t)
    body = yaml.safe_dump(d, sort_keys=False, default_flow_style=None)
    launch = "python3 -m MaxText.train MaxText/configs/base.yml gigatrain.yml run_name=... (one process per host)"
    text = comment_block("#", t, "MaxText", missing) + f"# launch: {launch}\n" + body
    return Exported(FORMAT, {"": text}, launch, tuple(missing))


def parse(files: dict[str, str]) -> Imported:
    d = load_yaml(FORMAT, files[""])
    deg = {
        ax: to_int(f"ici_{ax}_parallelism", d.get(f"ici_{ax}_parallelism", 1))
        * to_int(f"dcn_{ax}_parallelism", d.get(f"dcn_{ax}_parallelism", 1))
        for ax in AXES
    }
    if any(v <= 0 for v in deg.values()):
        raise GigatrainError(
            "maxtext: -1 (auto) mesh axes need the device count; set every ici_/dcn_ axis"
        )
    chips = math.prod(deg.values())
    gas = to_int(
        "num_pipeline_microbatches" if deg["pipeline"] > 1 else "gradient_accumulation_steps",
        d.get(
            "num_pipeline_microbatches" if deg["pipeline"] > 1 else "gradient_accumulation_steps", 1
        ),
    )
    pdb = float(d.get("per_device_batch_size", 1))
    gbs = round(pdb * chips * (1 if deg["pipeline"] > 1 else gas))
    dp = deg["data"] * deg["fsdp"] * deg["expert"]
    zero = 3 if deg["fsdp"] > 1 else (1 if d.get("shard_optimizer_over_data") else 0)
    fsdp_group = deg["fsdp"] * deg["expert"] * deg["context"]
    fsdp_shard = fsdp_group if zero == 3 and deg["data"] > 1 else 0
    vpp = 1
    if d.get("num_layers_per_pipeline_stage") and d.get("base_num_decoder_layers"):
        vpp = to_int("base_num_decoder_layers", d["base_num_decoder_layers"]) // (
            deg["pipeline"]
            * to_int("num_layers_per_pipeline_stage", d["num_layers_per_pipeline_stage"])
        )
    remat = {v: k for k, v in REMAT.items()}.get(str(d.get("remat_policy", "full")), "selective")
    mbs = gbs // (dp * gas) if gbs % (dp * gas) == 0 else 1
    plan = Plan(
        tp=deg["tensor"],
        pp=deg["pipeline"],
        dp=dp,
        cp=deg["context"],
        ep=deg["expert"],
        vpp=vpp,
        micro_batch=max(1, mbs),
        zero_stage=zero,
        fsdp_shard=fsdp_shard,
        recompute=remat,  # type: ignore[arg-type]
    )  # type: ignore[arg-type]
    precision = (
        "fp8"
        if d.get("quantization") == "fp8"
        else ("fp32" if d.get("dtype") == "float32" else "bf16")
    )
    f: dict[str, Any] = {}
    for key, name in (
        ("base_emb_dim", "hidden_size"),
        ("base_num_query_heads", "num_attention_heads"),
        ("base_num_kv_heads", "num_kv_heads"),
        ("base_mlp_dim", "ffn_hidden_size"),
        ("base_num_decoder_layers", "num_layers"),
        ("vocab_size", "vocab_size"),
    ):
        if key in d:
            f[name] = to_int(key, d[key])
    moe: dict[str, Any] = {}
    if d.get("num_experts", 1) and to_int("num_experts", d.get("num_experts", 1)) > 1:
        moe = {
            "num_experts": to_int("num_experts", d["num_experts"]),
            "top_k": to_int("num_experts_per_tok", d.get("num_experts_per_tok", 1)),
            "expert_ffn_hidden_size": to_int(
                "base_moe_mlp_dim", d.get("base_moe_mlp_dim", f.get("ffn_hidden_size", 0))
            ),
            "num_moe_layers": f.get("num_layers", 0)
            - to_int("first_num_dense_layers", d.get("first_num_dense_layers", 0)),
        }
    return Imported(
        FORMAT,
        plan,
        to_int("max_target_length", d.get("max_target_length", 2048)),
        gbs,
        precision,
        FRAMEWORK,
        chips=chips,
        model_fields=f,
        moe_fields=moe,
    )
