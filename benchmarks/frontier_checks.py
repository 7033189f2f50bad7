"""Frontier-scale figures of issue 9, printed with what they are compared against.

Run: ``python benchmarks/frontier_checks.py`` (a few seconds). Prints:
* Llama 3.1 405B on 16,384 H100 with Meta's layout (TP8 PP16 DP128, interleaved, 126 layers
  split unevenly; Dubey et al. 2024 §3.3.2, ~400 TFLOP/s per GPU, 38–43% BF16 MFU), with the
  held-out interval and evidence label;
* the search's best plan for the same job, whether Megatron-Core can run it, and its notes;
* DeepSeek-V3's published layout (PP16, EP64, ZeRO-1, FP8, seq 4096; DeepSeek-V3 report §3.3)
  on 2,048 H800: memory per GPU against 80 GB;
* accuracy on the shipped rows by job size (median signed speed error): the scale bias.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from gigatrain.api import annotate_search, estimate_named, resolve
from gigatrain.catalog.frameworks import get_framework
from gigatrain.search.capabilities import unrunnable_reasons
from gigatrain.search.engine import search
from gigatrain.validate.error_bars import speed_error
from gigatrain.validate.runs import Case, case_from_row, shipped_rows
from gigatrain.validate.score import score_cases

GIB = 2**30


def meta_405b() -> None:
    e = estimate_named(
        "llama-3.1-405b",
        "h100-sxm",
        16384,
        seq=8192,
        global_batch=2048,
        tp=8,
        pp=16,
        vpp=4,
        recompute="none",
        framework="megatron",
    )
    tflops = e.mfu * 989
    print(
        f"Llama 3.1 405B, Meta layout ({e.plan.describe()}): {tflops:.0f} TFLOP/s per GPU "
        f"(MFU {e.mfu:.1%}; Meta ~400, 38–43%): {tflops / 400 - 1:+.1%}"
    )
    if e.step_time_interval_s:
        lo, hi = e.step_time_interval_s
        print(f"  step {e.step_time_s:.2f} s, held-out interval {lo:.2f}–{hi:.2f} s; {e.evidence}")
    print(
        f"  memory {e.memory_bytes / GIB:.1f} GiB of {e.memory_capacity_bytes / GIB:.1f} "
        f"({'fits' if e.fits else 'does not fit'}); runnable: {not e.warnings}"
    )


def search_405b() -> None:
    r = resolve("llama-3.1-405b", "h100-sxm", 8192, 2048, framework="megatron")
    t0 = time.perf_counter()
    res = annotate_search(search(r.model, r.system, r.job, 16384, top=5), r)
    best = res.top[0]
    reasons = unrunnable_reasons(
        get_framework("megatron").capabilities, r.model, best.plan, "megatron"
    )
    print(
        f"search best ({time.perf_counter() - t0:.2f} s): {best.plan.describe()} MFU {best.estimate.mfu:.1%} "
        f"(bar 34–48%), memory {best.memory_frac:.0%}, runnable in Megatron-Core: {not reasons}"
    )
    for n in res.notes:
        print(f"  • {n}")


def deepseek_v3() -> None:
    e = estimate_named(
        "deepseek-v3",
        "h800",
        2048,
        seq=4096,
        global_batch=15360,
        pp=16,
        ep=64,
        zero_stage=1,
        precision="fp8",
        recompute="selective",
        framework="megatron",
    )
    print(
        f"DeepSeek-V3 published layout on 2,048 H800: {e.memory_bytes / GIB:.1f} GiB of "
        f"{e.memory_capacity_bytes / GIB:.1f} GiB ({'fits' if e.fits else 'does NOT fit'}), MFU {e.mfu:.1%}"
    )


def scale_bias() -> None:
    cases = [c for c in (case_from_row(r) for r in shipped_rows()) if isinstance(c, Case)]
    res = score_cases(cases)
    by = {"≤64 chips": [], "65–2,047": [], "≥2,048": []}
    for c, r in zip(cases, res, strict=True):
        n = c.plan.chips
        by["≤64 chips" if n <= 64 else "65–2,047" if n < 2048 else "≥2,048"].append(speed_error(r))
    for k, v in by.items():
        print(
            f"in-sample speed error {k:10s} rows {len(v):5d}  median {np.expm1(np.median(v)):+.1%}  "
            f"p90 |err| {np.expm1(np.percentile(np.abs(v), 90)):.1%}"
        )


if __name__ == "__main__":
    for f in (meta_405b, search_405b, deepseek_v3, scale_bias):
        f()
        sys.stdout.flush()
