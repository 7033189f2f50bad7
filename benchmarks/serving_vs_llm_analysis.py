"""Anchor: gigatrain's serving model and llm-analysis (inference mode) on the same measured rows.

Rows: every shipped serving row that a static-batch analytical estimator can represent — the
TensorRT-LLM 0.9 static-batch tables (gptSessionBenchmark: output tokens/s per GPU at the
printed batch, and batch-1 first-token latency) for dense models on H100/H200 — scored with
both tools, ``rel_error = predicted/measured − 1``.

llm-analysis (github.com/cli99/llm-analysis, PyPI ``llm-analysis`` 0.2.2) is given the same
architecture (from gigatrain's catalog; gated MLPs entered at its non-gated convention with a
parameter-matched width, rounded to a multiple of h as it requires), the chip's spec peaks and
bandwidths, its ``w8a8e16`` format for the FP8 rows, and the same achievable fractions that
gigatrain's catalog uses (matmul_efficiency, hbm_efficiency), so the comparison is of the
models, not of the constants. llm-analysis models static batches only, so continuous-batching
rows (InferenceMAX, trtllm-bench) are left out of this table.

Run: ``pip install llm-analysis==0.2.2 fire`` then ``python benchmarks/serving_vs_llm_analysis.py``.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

from gigatrain.validate.serving import score_cases, shipped_cases
from gigatrain.validate.serving_runs import ServingCase


def _llm_analysis():
    try:
        import llm_analysis.analysis as la
        import llm_analysis.config as lac
    except ImportError:
        return None, None
    logging.getLogger("llm_analysis").setLevel(logging.ERROR)
    return la, lac


def _model_json(case: ServingCase, folder: Path) -> str:
    m = case.model
    h = m.hidden_size
    ffn = m.ffn_hidden_size * (1.5 if m.mlp_gated else 1.0)  # 3·h·f gated = 2·h·(1.5 f)
    ffn = max(1, round(ffn / h)) * h
    cfg = {
        "name": m.slug,
        "num_layers": m.num_layers,
        "n_head": m.num_attention_heads,
        "hidden_dim": h,
        "vocab_size": m.vocab_size,
        "max_seq_len": 32768,
        "num_key_value_heads": m.num_kv_heads,
        "ffn_embed_dim": ffn,
        "model_type": "llama" if m.mlp_gated else "gpt",
    }
    path = folder / f"{m.slug}.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def _gpu(lac, case: ServingCase) -> str:
    c = case.system.chip
    name = f"gigatrain-{c.slug}"
    tier = case.system.tiers[0]
    lac.gpu_configs[name] = lac.GPUConfig(
        name=name,
        mem_per_GPU_in_GB=c.hbm_bytes / 1e9,
        hbm_bandwidth_in_GB_per_sec=c.hbm_bandwidth_bytes_per_s / 1e9,
        intra_node_bandwidth_in_GB_per_sec=tier.bandwidth_bytes_per_s / 1e9,
        intra_node_min_message_latency=tier.latency_s,
        peak_fp16_TFLOPS=c.peak("bf16") / 1e12,
        peak_i8_TFLOPS=c.peak("fp8") / 1e12,
    )
    return name


def _predict_llm_analysis(la, lac, case: ServingCase, folder: Path) -> float | None:
    d, req = case.deployment, case.request
    kw = dict(
        model_name=_model_json(case, folder),
        gpu_name=_gpu(lac, case),
        dtype_name="w8a8e16" if d.weight_dtype == "fp8" else "w16a16e16",
        tp_size=d.tp,
        batch_size_per_gpu=d.concurrency,
        seq_len=req.input_len,
        num_tokens_to_generate=max(req.output_len, 1),
        flops_efficiency=case.system.chip.matmul_efficiency,
        hbm_memory_efficiency=case.system.chip.hbm_efficiency,
        log_level="ERROR",
    )
    try:
        r = la.infer(**kw)
    except Exception:  # llm-analysis raises on configs it cannot fit (e.g. out of memory)
        return None
    if case.metric == "ttft_ms":
        return float(r["prefill_latency"]) * 1e3
    if case.metric == "output_tok_per_s_per_chip":
        return d.concurrency * req.output_len / float(r["total_latency"]) / d.tp
    return None


def main() -> int:
    la, lac = _llm_analysis()
    if la is None:
        print("llm-analysis is not installed: pip install llm-analysis==0.2.2 fire")
        return 0
    cases = [
        c
        for c in shipped_cases()
        if isinstance(c, ServingCase)
        and c.deployment.batching == "static"
        and c.source == "nvidia_trtllm_perf_overview"
        and c.model.moe is None
    ]
    ours = {r.row_id: r for r in score_cases(cases)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for c in cases:
            p = _predict_llm_analysis(la, lac, c, Path(tmp))
            g = ours[c.row_id]
            rows.append((c, g.rel_error, None if p is None else p / c.measured - 1.0))
    print(
        f"{'row':9s} {'model':12s} {'chip':9s} {'layout':24s} {'in/out':>10s} {'metric':26s} {'measured':>9s} "
        f"{'gigatrain':>9s} {'llm-anal.':>9s}"
    )
    for c, g, la_err in rows:
        d = c.deployment
        print(
            f"{c.row_id:9s} {c.model.slug:12s} {c.system.chip.slug:9s} {f'tp{d.tp} {d.weight_dtype} b{d.concurrency}':24s} "
            f"{f'{c.request.input_len}/{c.request.output_len}':>10s} {c.metric:26s} {c.measured:9.1f} "
            f"{g:+9.1%} " + (f"{la_err:+9.1%}" if la_err is not None else f"{'n/a':>9s}")
        )
    for metric in ("output_tok_per_s_per_chip", "ttft_ms"):
        both = [
            (g, e) for c, g, e in rows if c.metric == metric and g is not None and e is not None
        ]
        if both:
            a = np.abs(np.array(both))
            print(
                f"{metric:26s} rows {len(both):3d}  median |error|: gigatrain {np.median(a[:, 0]):.1%}, "
                f"llm-analysis {np.median(a[:, 1]):.1%}  (p90 {np.percentile(a[:, 0], 90):.0%} / "
                f"{np.percentile(a[:, 1], 90):.0%})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
