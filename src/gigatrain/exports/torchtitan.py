"""torchtitan 0.3: a Python config-registry module (torchtitan moved from TOML job files to
Python configs; ``torchtitan/config/manager.py`` loads ``--module M --config FN`` by importing
``M`` and calling ``FN()`` for a ``Trainer.Config``, then applies ``--section.key value``
overrides with tyro).

The module builds on the release's own registry function for the model family
(``torchtitan.models.llama3.config_registry.llama3_8b`` / ``deepseek_v3_671b``), swaps in the
flavour's ``model_registry(FLAVOR)`` and sets fields of ``TrainingConfig`` (``seq_len``,
``local_batch_size``, ``global_batch_size``, ``mixed_precision_param``) and
``ParallelismConfig`` (``tensor_parallel_degree``, ``enable_sequence_parallel``,
``pipeline_parallel_degree``, ``pipeline_parallel_schedule`` = ``1F1B`` or
``Interleaved1F1B`` with ``pipeline_parallel_layers_per_stage``,
``pipeline_parallel_microbatch_size``, ``context_parallel_degree``,
``expert_parallel_degree``, ``data_parallel_shard_degree`` (FSDP2) and
``data_parallel_replicate_degree`` (DDP / HSDP)); ``activation_checkpoint`` is
``SelectiveAC.Config()`` or ``FullAC.Config()`` (``ActivationCheckpointing.Config()`` = none);
fp8 adds ``Float8LinearConverter``.

torchtitan shards with FSDP2 (ZeRO-3) or replicates (ZeRO-0): ZeRO-1/2 are refused. The model
architecture is a named flavour of the release (no free-form sizes on the command line): a
model without a flavour is refused with the list of flavours.
"""

from __future__ import annotations

import ast
from typing import Any

from ..errors import GigatrainError
from ..specs import Plan
from .base import (
    Exported,
    Imported,
    Target,
    check_capabilities,
    comment_block,
    layers_per_virtual_stage,
    to_int,
)

FORMAT = "torchtitan"
FRAMEWORK = "torchtitan"
CONFIG_FN = "gigatrain_config"

#: catalog slug -> (torchtitan model module, base registry function, flavour, HF assets dir)
FLAVOURS: dict[str, tuple[str, str, str, str]] = {
    "llama-3.1-8b": ("llama3", "llama3_8b", "8B", "./assets/hf/Llama-3.1-8B"),
    "llama-3.1-70b": ("llama3", "llama3_8b", "70B", "./assets/hf/Llama-3.1-70B"),
    "llama-3.1-405b": ("llama3", "llama3_8b", "405B", "./assets/hf/Llama-3.1-405B"),
    "deepseek-v3": ("deepseek_v3", "deepseek_v3_671b", "671B", "./assets/hf/DeepSeek-V3"),
}
_BY_FLAVOUR = {(mod, fl): slug for slug, (mod, _, fl, _) in FLAVOURS.items()}
_AC = {"none": "ActivationCheckpointing", "selective": "SelectiveAC", "full": "FullAC"}


def fields(t: Target) -> dict[str, Any]:
    """``section.key`` → value, as torchtitan's Trainer.Config holds them."""
    p, j = t.plan, t.job
    dp_cp = p.dp * p.cp
    if p.zero_stage == 3:
        group = p.fsdp_shard or dp_cp
        if dp_cp % group or group % p.cp:
            raise GigatrainError(
                f"torchtitan cannot express fsdp_shard={p.fsdp_shard} with dp={p.dp} cp={p.cp}; "
                "the shard group must be a multiple of cp dividing dp×cp"
            )
        shard, replicate = group // p.cp, dp_cp // group
    else:
        shard, replicate = 1, p.dp
    if p.ep > 1 and (shard * p.cp * p.tp) % p.ep:
        raise GigatrainError(
            f"torchtitan cannot express ep={p.ep}: it must divide data_parallel_shard×cp×tp="
            f"{shard}×{p.cp}×{p.tp} (EP borrows FSDP and TP ranks)"
        )
    per_dp = j.global_batch_seqs // p.dp
    if j.global_batch_seqs % (p.dp * p.micro_batch):
        raise GigatrainError(
            f"global_batch={j.global_batch_seqs} is not a multiple of dp×micro_batch="
            f"{p.dp}×{p.micro_batch}"
        )
    f: dict[str, Any] = {
        "training.seq_len": j.seq_len,
        "training.global_batch_size": j.global_batch_seqs,
        # with PP the local batch is split into pipeline micro-batches; without PP torchtitan
        # accumulates gradients over global / (local × dp) steps
        "training.local_batch_size": per_dp if p.pp > 1 else p.micro_batch,
        "training.mixed_precision_param": "float32" if j.precision == "fp32" else "bfloat16",
        "parallelism.data_parallel_shard_degree": shard,
        "parallelism.data_parallel_replicate_degree": replicate,
        "parallelism.tensor_parallel_degree": p.tp,
        "parallelism.enable_sequence_parallel": bool(p.sequence_parallel),
        "parallelism.context_parallel_degree": p.cp,
        "parallelism.expert_parallel_degree": p.ep,
        "parallelism.pipeline_parallel_degree": p.pp,
        "parallelism.pipeline_parallel_microbatch_size": p.micro_batch,
        "parallelism.pipeline_parallel_schedule": "Interleaved1F1B" if p.vpp > 1 else "1F1B",
    }
    if p.pp > 1 or p.ep > 1:
        # torchtitan refuses CUDA graphs with PP (Trainer.Config._validate_cuda_graphs) and with
        # most EP backends (they synchronise with the host)
        f["training.disable_cuda_graphs"] = True
    if p.pp > 1:
        # our stages are even (vpp chunks of num_layers/(pp·vpp)); torchtitan's default makes the
        # first and last stages one layer shorter, so say the layer count per stage
        n, chunks = t.model.num_layers, p.pp * p.vpp
        if p.vpp == 1 and n % chunks and (n + 2) % chunks:
            return f  # torchtitan splits the layers itself (first and last stages one shorter)
        per, account = layers_per_virtual_stage(FORMAT, t, uneven=True)
        f["parallelism.pipeline_parallel_layers_per_stage"] = per
        f["parallelism.pipeline_parallel_first_stage_less_layers"] = int(account)
        f["parallelism.pipeline_parallel_last_stage_less_layers"] = int(account)
    return f


def export(t: Target) -> Exported:
    check_capabilities(FORMAT, t, FRAMEWORK)
    if t.model.slug not in FLAVOURS:
        raise GigatrainError(
            f"torchtitan cannot express model={t.model.slug}: torchtitan 0.3 builds models from "
            f"named flavours; valid: {', '.join(FLAVOURS)} (add a flavour to its model registry)"
        )
    if t.job.precision not in ("bf16", "fp32", "fp8"):
        raise GigatrainError(
            f"torchtitan cannot express precision={t.job.precision}; valid: bf16, fp32, fp8"
        )
    mod, base, flavour, assets = FLAVOURS[t.model.slug]
    f = fields(t)
    conv = ""
    if t.job.precision == "fp8":
        conv = ', converters=[Float8LinearConverter.Config(filter_fqns=["lm_head"])]'
    lines = [
        f'"""torchtitan {mod} config written by gigatrain (torchtitan 0.3 config registry).',
        "",
        f"Launch: torchrun --nnodes {t.nodes} --nproc-per-node {t.procs_per_node} -m torchtitan.train "
        f"--module <this module> --config {CONFIG_FN}",
        '"""',
        comment_block("#", t, "torchtitan", []).rstrip("\n"),
        f"from torchtitan.models.{mod} import model_registry",
        f"from torchtitan.models.{mod}.config_registry import {base}",
        "from torchtitan.models.common.config_utils import decoder_vocab_size",
        f"from torchtitan.distributed.activation_checkpoint import {_AC[t.plan.recompute]}",
    ]
    if conv:
        lines.append("from torchtitan.components.quantization import Float8LinearConverter")
    lines += [
        "",
        "",
        f"def {CONFIG_FN}():",
        f"    config = {base}()",
        f'    config.model_spec = model_registry("{flavour}"{conv})',
        "    config.loss.loss_fn.global_vocab_size = decoder_vocab_size(config.model_spec)",
        f'    config.hf_assets_path = "{assets}"',
    ]
    lines += [f"    config.{k} = {v!r}" for k, v in f.items()]
    lines += [
        f"    config.activation_checkpoint = {_AC[t.plan.recompute]}.Config()",
        "    return config",
        "",
    ]
    launch = (
        f"torchrun --nnodes {t.nodes} --nproc-per-node {t.procs_per_node} -m torchtitan.train "
        f"--module gigatrain_plan --config {CONFIG_FN}"
    )
    return Exported(FORMAT, {"": "\n".join(lines)}, launch)


def parse(files: dict[str, str]) -> Imported:
    """Read the module without running it: ``config.section.key = literal`` assignments, the
    ``model_registry("FLAVOUR")`` call and the activation-checkpoint class (torchtitan's own
    loader would import and run it; see tests for that check)."""
    try:
        tree = ast.parse(files[""])
    except SyntaxError as e:
        raise GigatrainError(
            f"torchtitan config is not valid Python: {e.msg} (line {e.lineno})"
        ) from None
    vals: dict[str, Any] = {}
    flavour = module = None
    recompute = "selective"  # Trainer.Config's default activation_checkpoint is SelectiveAC
    fp8 = False
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and module is None
            and node.module is not None
            and node.module.startswith("torchtitan.models.")
        ):
            module = node.module.split(".")[2]
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            name = ast.unparse(node.targets[0])
            if name.startswith("config.") and isinstance(node.value, ast.Constant):
                vals[name[len("config.") :]] = node.value.value
            if name == "config.activation_checkpoint":
                cls = ast.unparse(node.value).split(".")[0]
                found = [k for k, v in _AC.items() if v == cls]
                if not found:
                    raise GigatrainError(
                        f"activation_checkpoint={cls}; valid: {', '.join(_AC.values())}"
                    )
                recompute = found[0]
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "model_registry" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                flavour = arg.value
            fp8 = fp8 or "Float8LinearConverter" in ast.unparse(node)
    return from_fields(vals, recompute, fp8, module, flavour)


def _get(vals: dict[str, Any], key: str, default: int) -> int:
    return to_int(key, vals.get(key, default))


def from_fields(
    vals: dict[str, Any],
    recompute: str,
    fp8: bool,
    module: str | None = None,
    flavour: str | None = None,
) -> Imported:
    """An :class:`Imported` from ``section.key`` values (the exported module, or tests reading
    the ``Trainer.Config`` torchtitan itself built)."""
    tp = _get(vals, "parallelism.tensor_parallel_degree", 1)
    pp = _get(vals, "parallelism.pipeline_parallel_degree", 1)
    cp = _get(vals, "parallelism.context_parallel_degree", 1)
    shard = _get(vals, "parallelism.data_parallel_shard_degree", -1)
    replicate = _get(vals, "parallelism.data_parallel_replicate_degree", 1)
    mbs = _get(vals, "parallelism.pipeline_parallel_microbatch_size", 1)
    local = _get(vals, "training.local_batch_size", 8)
    gbs = _get(vals, "training.global_batch_size", -1)
    if shard == -1:
        raise GigatrainError(
            "parallelism.data_parallel_shard_degree=-1 (the leftover ranks) needs the world size; "
            "set it explicitly"
        )
    dp = shard * replicate
    if gbs <= 0:
        gbs = local * dp
    if pp == 1:
        mbs = local
    schedule = str(vals.get("parallelism.pipeline_parallel_schedule", "1F1B"))
    vpp = 1
    lps = vals.get("parallelism.pipeline_parallel_layers_per_stage")
    if "interleaved" in schedule.lower() or "looped" in schedule.lower():
        vpp = 2  # torchtitan's default for looped schedules without a layer count
    model_slug = _BY_FLAVOUR.get((module or "", flavour or ""))
    if lps and model_slug:
        from ..catalog.models import get_model

        n = (
            get_model(model_slug).num_layers
            + _get(vals, "parallelism.pipeline_parallel_first_stage_less_layers", 1)
            + _get(vals, "parallelism.pipeline_parallel_last_stage_less_layers", 1)
        )
        vpp = max(1, n // (pp * to_int("pipeline_parallel_layers_per_stage", lps)))
    zero = 3 if shard > 1 else 0
    plan = Plan(
        tp=tp,
        pp=pp,
        dp=dp,
        cp=cp,
        ep=_get(vals, "parallelism.expert_parallel_degree", 1),
        vpp=vpp,
        micro_batch=mbs,
        zero_stage=zero,
        fsdp_shard=shard * cp if zero == 3 and replicate > 1 else 0,
        recompute=recompute,  # type: ignore[arg-type]
        sequence_parallel=bool(vals.get("parallelism.enable_sequence_parallel", True)),
    )
    precision = (
        "fp8"
        if fp8
        else ("fp32" if vals.get("training.mixed_precision_param") == "float32" else "bf16")
    )
    seq = _get(vals, "training.seq_len", 2048)
    notes = (
        ()
        if model_slug
        else (
            f"model flavour {module}/{flavour} is not in gigatrain's table; name it with --model",
        )
    )
    return Imported(
        FORMAT,
        plan,
        seq,
        gbs,
        precision,
        FRAMEWORK,
        chips=plan.chips,
        model=model_slug,
        notes=notes,
    )
