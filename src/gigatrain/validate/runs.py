"""Measured-run CSV rows (the schema of ``published_runs.csv``) → estimator inputs.

Each row becomes a :class:`Case` (model, system, job, plan, the metric the source reports and
its value) or an unsupported row with the reason. Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..catalog.frameworks import Capabilities, eras_before, framework_for_text, get_framework
from ..catalog.hardware import default_system_for, get_chip
from ..catalog.models import load_models
from ..errors import GigatrainError
from ..model.plans import check_plan  # local: plans imports numpy only; keeps row parsing light
from ..search.engine import Constraints, search
from ..specs import ChipSpec, Job, ModelSpec, MoESpec, Plan, SystemSpec
from ..yamlio import read_text
from .conventions import (
    cores_per_chip,
    flops_convention,
    measured_allreduce_busbw,
    measured_per_chip_bandwidth,
    peak_basis_flops,
    system_for_text,
    with_measured_network,
)

DATA = Path(__file__).parent / "data"
SHIPPED = ("published_runs.csv", "vtrain_runs.csv", "ultrascale_playbook_runs.csv")
REQUIRED_COLUMNS = (
    "row_id",
    "source_group",
    "num_layers",
    "hidden_size",
    "num_attention_heads",
    "seq_len",
    "chip_type",
    "num_chips",
    "tp",
    "pp",
    "dp",
    "global_batch_size_seqs",
)
#: chip keys in the sweeps that the catalog aliases do not carry
EXTRA_CHIP_KEYS = {"A100": "a100-80gb"}  # vTrain: 40 vs 80 GB not stated; compute is identical


@dataclass(frozen=True)
class Case:
    row_id: str
    source_group: str
    chip_type: str
    model: ModelSpec
    system: SystemSpec
    job: Job
    plan: Plan
    metric: str  # step_time_s | tokens_per_s | tokens_per_s_per_chip | tflops_per_chip
    measured: float
    flops_convention: str  # for tflops_per_chip: megatron_eq3 | model_noncausal | model_causal
    peak_mem_gib: float | None = None
    spec_grade: str = ""
    #: what the row did not state and was assumed (vocab, layout, peak basis), for the report
    assumptions: tuple[str, ...] = ()
    #: the job's measured scale-out bandwidth per chip (conventions.with_measured_network),
    #: applied per plan (PlanArrays.scale_out_bytes_per_s) so that ``system`` stays shared
    scale_out_bytes_per_s: float | None = None
    #: the year the source was published (:func:`source_year`): the run cannot be newer, so a
    #: framework change made after it was not in the run (``history`` in frameworks.yaml)
    source_year: int | None = None


@dataclass(frozen=True)
class Unsupported:
    row_id: str
    source_group: str
    chip_type: str
    reason: str
    spec_grade: str = ""


def read_rows(path: Path | None = None, text: str | None = None) -> list[dict[str, str]]:
    """Rows of a CSV in the published_runs schema; one clear line when the file is not UTF-8
    text (binary, UTF-16), is not CSV, or lacks columns. Rows with bad values are kept and
    reported per row by :func:`case_from_row`."""
    if text is None:
        assert path is not None
        text = read_text(path, "runs file", max_bytes=256 * 2**20)
    reader = csv.DictReader(io.StringIO(text))
    try:
        cols = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in cols]
        if missing:
            raise GigatrainError(
                f"runs file {path or '<text>'} lacks column(s) {', '.join(missing)}; it must have "
                "the columns of published_runs.csv"
            )
        return [dict(r) for r in reader]
    except csv.Error as e:
        raise GigatrainError(
            f"runs file {path or '<text>'}: not valid CSV at line {max(reader.line_num, 1)} ({e})"
        ) from None


def shipped_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for name in SHIPPED:
        rows += read_rows(DATA / name)
    return rows


def _num(v: str | None) -> float | None:
    v = (v or "").strip().replace(",", "")
    if not v:
        return None
    try:
        x = float(v)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


#: columns that must hold a finite number >= 0 when given (counts at most 1e12)
_NUMERIC_COLUMNS = (
    "num_layers",
    "hidden_size",
    "ffn_hidden_size",
    "num_attention_heads",
    "num_kv_heads",
    "head_dim",
    "vocab_size",
    "seq_len",
    "moe_num_experts",
    "moe_top_k",
    "moe_expert_ffn_hidden",
    "moe_shared_experts",
    "num_chips",
    "tp",
    "pp",
    "dp",
    "cp",
    "ep",
    "vpp",
    "micro_batch_size",
    "global_batch_size_seqs",
)
_MEASURED_COLUMNS = (
    "measured_tflops_per_chip",
    "measured_tokens_per_sec_total",
    "measured_tokens_per_sec_per_chip",
    "measured_step_time_s",
    "measured_peak_mem_gib",
)


def row_problem(r: dict[str | None, str | None]) -> str | None:
    """Why a CSV row cannot be read (wrong field count, a non-numeric, NaN, infinite, negative
    or fractional count, a measurement that is not a positive number), or None."""
    if None in r or any(v is None for v in r.values()):
        return "malformed CSV row: its field count differs from the header's"
    for col in (*_NUMERIC_COLUMNS, *_MEASURED_COLUMNS):
        text = (r.get(col) or "").strip().replace(",", "")
        if not text:
            continue
        x = _num(text)
        counts = col in _NUMERIC_COLUMNS
        if x is None or x < 0 or (not counts and x == 0):
            return f"{col}={text!r} is not {'a count' if counts else 'a positive number'}"
        if counts and (x != int(x) or x > 1e12):
            return f"{col}={text!r} is not a whole count in 0..1e12"
    return None


@cache
def _catalog_by_shape() -> dict[tuple[int, ...], ModelSpec]:
    out: dict[tuple[int, ...], ModelSpec] = {}
    for m in load_models().values():
        out.setdefault((m.num_layers, m.hidden_size, m.num_attention_heads, m.vocab_size), m)
        out.setdefault((m.num_layers, m.hidden_size, m.num_attention_heads), m)
    return out


def _norm_name(text: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", text.lower().replace("llama2", "llama-2").replace("-", ""))


@cache
def _catalog_by_name() -> dict[str, ModelSpec]:
    out: dict[str, ModelSpec] = {}
    for m in load_models().values():
        for key in (m.slug, m.name):
            if key:
                out.setdefault(_norm_name(key), m)
    return out


def catalog_model_named(name: str) -> ModelSpec | None:
    """The catalog model a row's ``model_name`` names ("Llama 3.1 405B" → llama-3.1-405b), or
    None: the longest catalog name that the row's name starts with or equals."""
    key = _norm_name(name.split("(")[0])
    if not key:
        return None
    by_name = _catalog_by_name()
    if key in by_name:
        return by_name[key]
    hits = [
        k
        for k in by_name
        if len(k) >= 5 and key.startswith(k) and not key[len(k) : len(k) + 1].isdigit()
    ]
    return by_name[max(hits, key=len)] if hits else None


#: vocabulary assumed when a row gives none and no catalog model has its shape: GPT-style BPE
#: (50,257, GPT-2/3) for models named GPT, the LLaMA/MaxText SentencePiece 32,000 otherwise
ASSUMED_VOCAB = {"gpt": 50257, "": 32000}


def model_from_row(r: dict[str, str], assumed: list[str] | None = None) -> ModelSpec:
    """The architecture in a row; flags (gating, tying, norms) from the catalog model of the same
    shape when there is one, otherwise from ``arch_notes`` keywords. A row without architecture
    columns takes the catalog model its ``model_name`` names; a row without a vocabulary takes
    :data:`ASSUMED_VOCAB`. Each such assumption is appended to ``assumed``."""
    assumed = assumed if assumed is not None else []
    L, h, nh = (
        int(_num(r["num_layers"]) or 0),
        int(_num(r["hidden_size"]) or 0),
        int(_num(r["num_attention_heads"]) or 0),
    )
    if not (L and h and nh):
        named = catalog_model_named(r.get("model_name") or "")
        if named is None:
            raise GigatrainError(
                "architecture columns (num_layers, hidden_size, num_attention_heads) are "
                "empty and the model name matches no catalog model"
            )
        assumed.append(f"architecture of catalog model {named.slug}")
        return named
    V = int(_num(r.get("vocab_size")) or 0)
    notes = (r.get("arch_notes", "") + " " + r.get("model_name", "")).lower()
    base = _catalog_by_shape().get((L, h, nh, V)) or _catalog_by_shape().get((L, h, nh))
    ffn = int(_num(r.get("ffn_hidden_size")) or (base.ffn_hidden_size if base else 4 * h))
    kv = int(_num(r.get("num_kv_heads")) or (base.num_kv_heads if base else nh))
    hd = int(_num(r.get("head_dim")) or (base.head_dim if base else 0))
    if not V:
        V = base.vocab_size if base else 0
    if not V:
        V = ASSUMED_VOCAB["gpt" if "gpt" in notes else ""]
        assumed.append(f"vocab {V:,} (not stated)")
    if base is not None:
        gated, tied, norm, bias, lpe = (
            base.mlp_gated,
            base.tied_embeddings,
            base.norm_type,
            base.bias,
            base.learned_position_embeddings,
        )
        mla = base.mla
    else:
        gated = ("swiglu" in notes or "geglu" in notes or "silu" in notes or "llama" in notes) or (
            ffn != 4 * h and "gelu" not in notes
        )
        tied = "tied" in notes and "untied" not in notes
        norm = "rmsnorm" if ("rmsnorm" in notes or gated) else "layernorm"
        bias = "all" if norm == "layernorm" else "none"
        lpe = 0
        mla = None
    moe = None
    n_exp = _num(r.get("moe_num_experts"))
    if n_exp:
        if base is not None and base.moe is not None:
            moe = base.moe
            mla = base.mla
        else:
            fe = int(_num(r.get("moe_expert_ffn_hidden")) or ffn)
            moe = MoESpec(
                num_experts=int(n_exp),
                top_k=int(_num(r.get("moe_top_k")) or 2),
                expert_ffn_hidden_size=fe,
                num_moe_layers=L,
                num_shared_experts=int(_num(r.get("moe_shared_experts")) or 0),
                shared_expert_ffn_hidden_size=fe,
            )
    if mla is None and nh % kv:
        raise GigatrainError(f"num_kv_heads={kv} does not divide heads={nh}")
    slug = f"row:{r.get('model_name') or 'model'}"
    return ModelSpec(
        slug=slug,
        num_layers=L,
        hidden_size=h,
        ffn_hidden_size=ffn,
        num_attention_heads=nh,
        num_kv_heads=kv,
        vocab_size=V,
        head_dim=hd,
        mlp_gated=gated,
        tied_embeddings=tied,
        learned_position_embeddings=lpe,
        norm_type=norm,
        bias=bias,
        mla=mla,
        moe=moe,
        qk_norm=base.qk_norm if base else False,
        name=r.get("model_name", ""),
    )


def _recompute(text: str, default: str = "none") -> str:
    t = text.lower()
    if not t:
        return default
    if t.startswith("none"):
        return "none"
    if "full" in t or "--checkpoint-activations" in t or "75% non-attn" in t:
        return "full"
    return "selective"


def _zero(text: str, dp: int, default: int = 1) -> tuple[int, int]:
    """(ZeRO stage, shard degree or 0 = whole dp group) from the ``zero_or_fsdp`` text; an
    empty text means the framework's default (:class:`~gigatrain.catalog.frameworks.Capabilities`).

    Hybrid layouts name their shard group: "FSDP=128 x DP 8", "FSDP2 degree 8", "256-way
    fully-sharded", or MaxText's "ICI FSDP over slice; 4 slice(s) via DCN DP" (shard = dp/4).
    """
    t = text.lower()
    if not t.strip():
        return default, 0
    if "shard_grad_op" in t or "zero-2" in t:
        return 2, 0
    if "fsdp" in t or "zero-3" in t or "full_shard" in t or "fully-sharded" in t:
        shard = 0
        m = re.search(r"(\d+) slice\(s\)", t)
        if m:
            shard = dp // max(int(m.group(1)), 1)
        m = re.search(r"fsdp2? ?(?:=|degree)? ?(\d+)", t) or re.search(
            r"(\d+)-way fully-sharded", t
        )
        if m and "slice(s)" not in t:
            shard = int(m.group(1))
        if shard <= 0 or dp % shard:
            shard = 0
        return 3, shard
    if "zero-0" in t or t.startswith("none") or ("ddp" in t and "distributed optimizer" not in t):
        return 0, 0
    return 1, 0


def _precision(text: str) -> str:
    t = text.lower()
    if "fp4" in t:
        return "fp4"
    if "fp8" in t:
        return "fp8"
    if "fp16" in t and "bf16" not in t:
        return "fp16"
    if ("fp32" in t or "tf32" in t) and "bf16" not in t and "mixed" not in t:
        return "fp32"
    return "bf16"


#: the throughput columns in order of preference: convention-free first
_DIRECT = (
    ("measured_step_time_s", "step_time_s"),
    ("measured_tokens_per_sec_per_chip", "tokens_per_s_per_chip"),
    ("measured_tokens_per_sec_total", "tokens_per_s"),
)


def _metric(
    r: dict[str, str], chip: ChipSpec, precision: str, assumed: list[str]
) -> tuple[str, float, str] | None:
    """(metric, value, FLOPs convention) of the row's best throughput figure: step time or
    tokens/s as given; else TFLOP/s per chip, MFU × the stated peak, or HFU × the stated peak,
    each under the FLOPs convention its ``mfu_definition`` states (:mod:`.conventions`)."""
    for col, metric in _DIRECT:
        v = _num(r.get(col))
        if v:
            return metric, v, ""
    definition = r.get("mfu_definition") or ""
    v = _num(r.get("measured_tflops_per_chip"))
    if v:
        return "tflops_per_chip", v, flops_convention(definition)
    for col, hardware in (("measured_mfu_pct", False), ("measured_hfu_pct", True)):
        pct = _num(r.get(col))
        if pct:
            peak, stated = peak_basis_flops(r.get("peak_flops_basis") or "", precision, chip)
            if not stated:
                assumed.append(f"MFU peak basis {peak / 1e12:,.0f} TFLOP/s (not stated)")
            return (
                "tflops_per_chip",
                pct / 100 * peak / 1e12,
                flops_convention(definition, hardware),
            )
    return None


def _layout_stated(r: dict[str, str]) -> bool:
    return any((r.get(c) or "").strip() for c in ("tp", "pp", "dp", "cp", "ep", "zero_or_fsdp"))


def case_from_row(r: dict[str, str], require_metric: bool = True) -> Case | Unsupported:
    """The estimator inputs of one row. ``require_metric=False`` also accepts rows without a
    throughput (the OOM records), as a ``memory_only`` case. A row that cannot be read is
    reported as unsupported with its reason; the other rows are still scored."""
    problem = row_problem(r)  # type: ignore[arg-type]
    if problem is None:
        try:
            return _case_from_row(r, require_metric)
        except (ValueError, ArithmeticError) as e:  # GigatrainError is a ValueError
            problem = f"row not readable: {e}"
    return Unsupported(
        str(r.get("row_id") or "?"),
        str(r.get("source_group") or "?"),
        str(r.get("chip_type") or ""),
        problem,
        str(r.get("spec_grade") or ""),
    )


def _case_from_row(r: dict[str, str], require_metric: bool) -> Case | Unsupported:
    rid, group, chip_type = r.get("row_id", "?"), r.get("source_group", "?"), r.get("chip_type", "")
    grade = r.get("spec_grade", "")
    assumed: list[str] = []

    def unsupported(reason: str) -> Unsupported:
        return Unsupported(rid, group, chip_type, reason, grade)

    try:
        chip = get_chip(EXTRA_CHIP_KEYS.get(chip_type, chip_type))
    except GigatrainError:
        chip = None
    precision = _precision(r.get("precision", ""))
    metric = _metric(r, chip, precision, assumed) if chip is not None else None
    if metric is None and not require_metric:
        metric = ("memory_only", float("nan"), "")
    if metric is None:
        if chip is None and any(_num(r.get(c)) for c, _ in _DIRECT):
            return unsupported(f"chip {chip_type!r} is not in the catalog")
        what = (
            "GPU-hours only (see `gigatrain cost`)"
            if _num(r.get("measured_gpu_hours"))
            else "no throughput metric in a convention gigatrain can reproduce"
        )
        return unsupported(
            what if chip is not None else f"chip {chip_type!r} is not in the catalog"
        )
    assert chip is not None
    try:
        model = model_from_row(r, assumed)
    except GigatrainError as e:
        return unsupported(str(e))
    system = system_for_text(chip, r.get("hardware", ""), default_system_for(chip))
    fw_text = r.get("framework", "")
    if (_num(r.get("pp")) or 1) > 1 and "after_pp_fix=False" in r.get("notes", ""):
        # the Playbook sweep mixes runs before and after a nanotron pipeline-engine fix; the
        # same layout ran several times slower before it (SOURCES-measured-sweeps.md §2)
        fw_text += " [before pp fix]"
    framework = framework_for_text(fw_text)
    caps = get_framework(framework).capabilities
    year = source_year(r.get("source_citation", ""))
    assumed.extend(
        f"{framework} as of {year}: {e.knobs_text} (changed in {e.before_year})"
        for e in eras_before(framework, year)
    )
    chips = int(_num(r.get("num_chips")) or 0)
    gbs = int(_num(r.get("global_batch_size_seqs")) or 0)
    seq = int(_num(r.get("seq_len")) or 0)
    if not chips:
        return unsupported("chip count (num_chips) not given")
    busbw = measured_allreduce_busbw(r.get("notes", ""))
    measured_system, scale_out = system, None
    if busbw is not None and chips > system.chips_per_node:
        measured_system = with_measured_network(system, busbw, chips)
        scale_out = measured_per_chip_bandwidth(system, busbw)
        assumed.append(
            f"network: the job's measured all-reduce bus bandwidth, {busbw / 1e9:.4g} GB/s"
        )
    if not (gbs and seq):
        return unsupported("global batch or sequence length not given")
    job = Job(seq_len=seq, global_batch_seqs=gbs, precision=precision, framework=framework)  # type: ignore[arg-type]
    if not _layout_stated(r):
        plan = _searched_plan(model, measured_system, job, chips)
        if plan is None:
            return unsupported(
                f"no parallel layout stated and none of {framework}'s fits {chips} chips"
            )
        assumed.append(f"layout searched ({plan.describe()}; not stated)")
    else:
        rc_default = caps.default_recompute
        if (
            not (r.get("activation_recompute") or "").strip()
            and metric[2] == "megatron_eq3"
            and "full" in caps.recompute
        ):
            # Eq. 3 counts the recompute forward because the run performed it (Narayanan et al.
            # 2021 §3: "activation recomputation" in every run); a row that reports in it and
            # states no recompute is read as full recompute
            rc_default = "full"
            assumed.append("recompute: full (the row's TFLOP/s follow Eq. 3, which counts it)")
        plan_or_reason = _stated_plan(r, model, chips, gbs, fw_text, caps, rc_default)
        if isinstance(plan_or_reason, str):
            return unsupported(plan_or_reason)
        plan = plan_or_reason

    try:
        check_plan(model, job, plan)
    except GigatrainError as e:
        return unsupported(f"layout not representable: {e}")
    name, value, conv = metric
    return Case(
        rid,
        group,
        chip_type,
        model,
        system,
        job,
        plan,
        name,
        value,
        conv,
        _num(r.get("measured_peak_mem_gib")),
        grade,
        tuple(assumed),
        scale_out,
        year,
    )


_YEAR = re.compile(r"(?<![\d.])(20[0-3]\d)(?![\d.])")


def source_year(citation: str) -> int | None:
    """The first year (2000–2039) a citation names, e.g. "Narayanan et al. 2021, ..." → 2021;
    None when it names none. Citations open with the publication year, so later years they
    mention (software versions, access dates) come after it."""
    m = _YEAR.search(citation)
    return int(m.group(1)) if m else None


def _stated_plan(
    r: dict[str, str],
    model: ModelSpec,
    chips: int,
    gbs: int,
    fw_text: str,
    caps: Capabilities,
    recompute_default: str | None = None,
) -> Plan | str:
    """The row's own layout, or why it cannot be represented. Empty tp/pp mean none (FSDP-only
    llm-foundry and MaxText rows); degrees given per core are converted to per chip."""
    tp, pp = int(_num(r.get("tp")) or 1), int(_num(r.get("pp")) or 1)
    cp = int(_num(r.get("cp")) or 1)
    cores = cores_per_chip(f"{r.get('hardware', '')} {r.get('notes', '')}")
    if cores > 1 and tp % cores == 0:
        tp //= cores  # a chip's cores share its TP group
    if chips % (tp * pp * cp):
        return f"tp·pp·cp = {tp * pp * cp} does not divide {chips} chips"
    dp = chips // (tp * pp * cp)
    if gbs % dp:
        return f"global batch {gbs} is not divisible by dp={dp}"
    # micro-batch not stated (Narayanan Table 1, some NeMo rows): 1, Megatron's default
    mbs = int(_num(r.get("micro_batch_size")) or 1)
    if gbs % (dp * mbs):
        return f"global batch {gbs} is not a multiple of dp×micro_batch = {dp}×{mbs}"
    zero, shard = _zero(r.get("zero_or_fsdp", ""), dp, caps.default_zero_stage)
    if shard and cp > 1:
        shard *= cp  # FSDP shards over the flattened dp×cp mesh (torchtitan, Megatron-FSDP)
    if caps.batch_per_device and pp == 1:
        mbs = gbs // dp  # one step = one pass over the rank's batch (TP chips share it)
    if pp > 1 and "torchtitan" in fw_text.lower():
        mbs = 1  # torchtitan's batch_size is the local batch; PP splits it into micro-batches of 1
    sp_text = (r.get("sequence_parallel") or "").lower()
    return Plan(
        tp=tp,
        pp=pp,
        dp=dp,
        cp=cp,
        ep=int(_num(r.get("ep")) or 1),
        vpp=int(_num(r.get("vpp")) or 1),
        micro_batch=mbs,
        zero_stage=zero,
        fsdp_shard=shard,
        recompute=_recompute(
            r.get("activation_recompute", ""), recompute_default or caps.default_recompute
        ),  # type: ignore[arg-type]
        # TP without sequence parallelism is rare in current frameworks; assume it unless stated
        sequence_parallel=not sp_text.startswith("no"),
    )


def _searched_plan(model: ModelSpec, system: SystemSpec, job: Job, chips: int) -> Plan | None:
    """The fastest plan the framework can run on ``chips`` (for rows that state no layout)."""
    try:
        res = search(model, system, job, chips, "time", Constraints(time_limit_s=30.0), top=1)
    except GigatrainError:
        return None
    return res.top[0].plan if res.top else None
