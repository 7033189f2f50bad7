"""Measured serving rows (``inference_runs.csv`` schema) → deployments the serving model can run.

Each row names a model, chip, layout, engine, precision, request lengths and load; this module
maps them onto catalog entries and a :class:`~gigatrain.serving.deploy.Deployment`, or returns a
reason why a row cannot be represented. Interpretation rules (each one a stated assumption):

* models by name onto catalog architectures (DeepSeek-R1 = DeepSeek-V3 architecture; Llama 3.3
  70B = Llama 3.1 70B; CodeLlama 13B = Llama 2 13B shape);
* InferenceMAX lengths are nominal caps drawn with ``random-range-ratio`` 0.8, so the mean is
  0.9 × nominal (SERVING.md §2.1);
* weights: fp4/mxfp4/nvfp4/uint4 → fp4, fp8 → fp8, else bf16; KV cache fp8 where the row says
  so or the engine is TensorRT-LLM with a quantised checkpoint (its default), else bf16;
* TensorRT-LLM engines (``trt``, ``dynamo-trt``, trtllm-bench, Triton) fuse a layer's non-GEMM
  kernels (``Deployment.fused_kernels``); vLLM, SGLang and ATOM do not;
* ``spec_decoding=mtp`` = one draft token (DeepSeek MTP module, next-n = 1);
* Neuron TP counts NeuronCores: 2 per Trainium1, 4 logical (LNC=2) per Trainium2;
* InferenceMAX disaggregated rows: each decode worker is a replica of its GPUs (data-parallel
  attention and expert parallelism over all of them when ``dp_attn`` is true) with the prefill
  GPUs shared out per decode worker; ``output_tok_per_s_per_chip`` is per decode GPU.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..catalog.hardware import get_system
from ..catalog.models import get_model
from ..errors import GigatrainError
from ..serving.deploy import Deployment, Request
from ..specs import ModelSpec, SystemSpec

DATA = Path(__file__).parent / "data"
INFERENCE_CSV = DATA / "inference_runs.csv"
POSTTRAIN_CSV = DATA / "posttrain_runs.csv"

MODEL_MAP: tuple[tuple[str, str], ...] = (
    ("deepseek-r1", "deepseek-v3"),
    ("deepseek-v3", "deepseek-v3"),
    ("gpt-oss-120b", "gpt-oss-120b"),
    ("gpt-oss-20b", "gpt-oss-20b"),
    ("llama-3.3-70b", "llama-3.1-70b"),
    ("llama-3.1-70b", "llama-3.1-70b"),
    ("llama-3-70b", "llama-3-70b"),
    ("llama-3.1-405b", "llama-3.1-405b"),
    ("llama-3.1-8b", "llama-3.1-8b"),
    ("llama-3-8b", "llama-3-8b"),
    ("llama-2-70b", "llama-2-70b"),
    ("llama-2-13b", "llama-2-13b"),
    ("llama-2-7b", "llama-2-7b"),
    ("codellama-13b", "llama-2-13b"),
    ("mixtral-8x7b", "mixtral-8x7b"),
    ("mixtral-8x22b", "mixtral-8x22b"),
    ("mistral-7b", "mistral-7b"),
    ("llama-4-scout", "llama-4-scout-17b-16e"),
    ("llama-4-maverick", "llama-4-maverick-17b-128e"),
    ("qwen3-30b-a3b", "qwen3-30b-a3b"),
    ("qwen3-235b-a22b", "qwen3-235b-a22b"),
    ("falcon-180b", "falcon-180b"),
    ("qwen2.5-72b", "qwen2.5-72b"),
    ("qwen2.5-7b", "qwen2.5-7b"),
    ("qwen3-32b", "qwen3-32b"),
)
CHIP_MAP = {
    "h200-sxm-141gb": "h200",
    "a100-sxm4-80gb": "a100-80gb",
    "trainium1": "trn1",
    "trainium2": "trn2",
    "h100-sxm-80gb": "h100-sxm",
}
NEURON_CORES_PER_CHIP = {"trn1": 2, "trn2": 4}
IMAX_LENGTH_FACTOR = 0.9


@dataclass(frozen=True)
class ServingCase:
    row_id: str
    source: str
    metric: str
    measured: float
    model: ModelSpec
    system: SystemSpec
    deployment: Deployment
    request: Request
    replicas: float  # measured instance / one replica (instance totals)
    per_decode_chip: bool  # output per chip divided by decode chips only (InferenceMAX disagg)
    offline: bool  # all requests queued: concurrency = what fits, up to the queue
    request_rate: float  # > 0: open-loop arrivals per second (Little's law sets concurrency)
    max_batch: int = 0  # engine batch limit when the source implies one (0 = the model's)


@dataclass(frozen=True)
class Unsupported:
    row_id: str
    source: str
    metric: str
    measured: float
    reason: str


def read_serving_rows(path: Path | None = None) -> list[dict[str, str]]:
    p = Path(path) if path else INFERENCE_CSV
    try:
        with open(p, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise GigatrainError(f"cannot read serving runs file {p}: {e.strerror}") from None
    need = {"row_id", "source_group", "model_name", "chip_type", "metric", "measured_value"}
    if rows and not need <= set(rows[0]):
        raise GigatrainError(
            f"{p.name}: missing columns {', '.join(sorted(need - set(rows[0])))} "
            "(expected the inference_runs.csv schema)"
        )
    return rows


@cache
def _model(slug: str) -> ModelSpec:
    return get_model(slug)


def model_slug(name: str) -> str | None:
    low = name.lower().split("(")[0].strip().replace(" ", "-")
    for key, slug in MODEL_MAP:
        if key in low:
            return slug
    return None


def _chip_system(name: str) -> SystemSpec | None:
    key = name.strip().lower()
    try:
        return get_system(CHIP_MAP.get(key, key))
    except GigatrainError:
        return None


def _int(text: str) -> int | None:
    m = re.match(r"^\s*(\d+)", text or "")
    return int(m.group(1)) if m else None


def _dtypes(precision: str, engine: str) -> tuple[str, str]:
    p = precision.lower()
    if any(t in p for t in ("fp4", "uint4", "int4")):
        w = "fp4"
    elif "fp8" in p:
        w = "fp8"
    else:
        w = "bf16"
    kv_fp8 = (
        "kv" in p
        and "fp8" in p
        and ("kv cache fp8" in p or "weights+kv" in p or "kv cache dtype fp8" in p)
    )
    if w != "bf16" and ("trt" in engine.lower() or "tensorrt" in engine.lower()):
        kv_fp8 = True
    return w, ("fp8" if kv_fp8 else "bf16")


_DISAGG = re.compile(
    r"(\d+) prefill workers? on (\d+) GPUs \(TP(\d+) EP(\d+)\), (\d+) decode workers? on (\d+) GPUs \(TP(\d+) EP(\d+)\)"
)


def case_from_row(r: dict[str, str]) -> ServingCase | Unsupported:
    rid, src, metric = r.get("row_id", ""), r.get("source_group", ""), r.get("metric", "")
    try:
        measured = float(r.get("measured_value") or "nan")
    except ValueError:
        measured = float("nan")

    def no(reason: str) -> Unsupported:
        return Unsupported(rid, src, metric, measured, reason)

    if not measured > 0:
        return no("measured_value is empty or not positive")
    if src.startswith("mlperf"):
        return no(
            "MLPerf results state no TP/PP layout or input lengths; Server throughput is "
            "bounded by p99 latency limits, which the model does not search"
        )
    slug = model_slug(r.get("model_name", ""))
    if slug is None:
        return no(f"model {r.get('model_name', '')!r} has no architecture in the catalog")
    system = _chip_system(r.get("chip_type", ""))
    if system is None:
        return no(f"chip {r.get('chip_type', '')!r} is not in the catalog")
    model = _model(slug)
    notes = r.get("notes", "")
    scen = r.get("scenario", "").lower()
    engine = r.get("engine", "")
    w, kv = _dtypes(r.get("precision", ""), engine)
    isl, osl = _int(r.get("input_len", "")), _int(r.get("output_len", ""))
    if not isl or not osl:
        return no("input or output length not stated")
    imax = src == "inferencemax"
    if imax:
        isl, osl = max(1, round(isl * IMAX_LENGTH_FACTOR)), max(1, round(osl * IMAX_LENGTH_FACTOR))
    spec = 0
    if "spec_decoding=mtp" in notes:
        spec = 1
    elif "speculative" in notes.lower() and "no speculative" not in notes.lower():
        return no("speculative decoding with an unstated draft length")
    n_chips = _int(r.get("num_chips", "")) or 0
    batch_text = r.get("batch_or_concurrency", "")
    conc = _int(batch_text)
    offline, rate, static = False, 0.0, False
    if "max-throughput" in batch_text or "qps=inf" in batch_text.lower():
        offline = True
        conc = _int(re.sub(r"^\D*", "", batch_text)) or 100000
    elif "qps=" in batch_text.lower():
        rate = float(batch_text.lower().split("qps=")[1].split()[0])
        conc = 1
    elif "static" in scen or src == "aws_neuron_perf" or "batch 1" in scen:
        static = True
    if not conc:
        return no(f"batch/concurrency {batch_text!r} not understood")
    tp_text = r.get("tp", "")
    dpa = "true" in (r.get("dp", "") or "").lower()
    per_decode = False
    prefill_chips = prefill_tp = 0
    if tp_text.startswith("P:"):
        m = _DISAGG.search(notes)
        if not m:
            return no("disaggregated layout not parsed from notes")
        np_w, np_g, _ptp, _pep, nd_w, nd_g, dtp, dep = (int(x) for x in m.groups())
        dec_gpus = nd_g // nd_w
        dpa = "d:true" in (r.get("dp", "") or "").lower()
        tp = dec_gpus if dpa else dtp
        pp = max(1, dec_gpus // tp)
        ep = dec_gpus if dpa else dep
        ptp = np_g // np_w
        prefill_chips = max(ptp, (np_g // nd_w) // ptp * ptp)
        prefill_tp = ptp
        replicas = float(nd_w)
        conc = max(1, round(conc / nd_w))
        per_decode = metric == "output_tok_per_s_per_chip"
    else:
        tp = _int(tp_text) or 1
        if "neuroncore" in tp_text.lower():
            per = NEURON_CORES_PER_CHIP.get(system.chip.slug, 2)
            tp = max(1, tp // per)
        pp = _int(r.get("pp", "")) or 1
        ep = _int(r.get("ep", "")) or 1
        if dpa and model.moe is not None:
            ep = max(ep, 1)
        replicas = max(1.0, n_chips / (tp * pp)) if n_chips else 1.0
    if model.moe is None:
        ep, dpa = 1, False
    elif ep > tp or tp % ep or model.moe.num_experts % ep:
        ep = 1
    if not dpa and model.mla is None and model.num_attention_heads % tp:
        return no(f"tp={tp} does not divide {model.num_attention_heads} heads")
    # InferenceMAX drives OpenAI-compatible HTTP servers (vLLM, SGLang, trtllm-serve, Dynamo)
    # with the benchmark_serving client; the TensorRT-LLM tables (trtllm-bench, gptSession, the
    # Triton C++ backend) and the Neuron benchmarks measure the engine without that front end
    api = imax
    # TensorRT-LLM (trtllm-bench, Triton backend, trtllm-serve and Dynamo's TRT-LLM workers)
    # fuses a layer's non-GEMM ops (ServingKnobs.fused_kernels_per_layer)
    fused = "trt" in engine.lower() or "tensorrt" in engine.lower()
    dep_ = Deployment(
        tp=tp,
        pp=pp,
        ep=ep,
        dp_attention=dpa,
        weight_dtype=w,
        kv_dtype=kv,
        concurrency=int(conc),
        batching="static" if static else "continuous",
        spec_tokens=spec,
        prefill_chips=prefill_chips,
        prefill_tp=prefill_tp,
        api_server=api,
        fused_kernels=fused,
    )
    # Triton serving of a TensorRT engine: trtllm-build's default max_batch_size is 256
    max_batch = 256 if "triton" in engine.lower() else 0
    return ServingCase(
        rid,
        src,
        metric,
        measured,
        model,
        system,
        dep_,
        Request(int(isl), int(osl)),
        replicas,
        per_decode,
        offline,
        rate,
        max_batch,
    )
