"""Fit the few physical serving knobs on the shipped serving runs, and hold sources out.

Knobs fitted (all others keep their sourced defaults in :mod:`gigatrain.serving.knobs`):
``decode_bandwidth_scale``, ``kv_bandwidth_scale``, ``expert_gemm_efficiency_scale``, ``prefill_efficiency_scale``, ``kernel_overhead_scale``,
``step_overhead_s``, ``per_seq_step_overhead_s``, ``ttft_overhead_s``, ``ttft_per_prompt_token_s``,
``arrival_scv`` — ten knobs on 3,328 rows.

Loss: the mean over (source, metric) groups of the median |log(predicted/measured)|, so
that the 2,478-row InferenceMAX sweep does not drown the smaller sources, and throughput and
latency metrics each count. Search: coordinate descent over multiplicative steps (deterministic).

``python -m gigatrain.validate.serving_fit`` fits on all rows and prints the knobs;
``--loso`` fits without each source in turn and scores the held-out source.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from ..serving.knobs import DEFAULT_SERVING_KNOBS, ServingKnobs
from .serving import ServingCase, Unsupported, metric_class, score_cases, shipped_cases

FIT_KNOBS = (
    "decode_bandwidth_scale",
    "kv_bandwidth_scale",
    "expert_gemm_efficiency_scale",
    "prefill_efficiency_scale",
    "kernel_overhead_scale",
    "step_overhead_s",
    "per_seq_step_overhead_s",
    "ttft_overhead_s",
    "ttft_per_prompt_token_s",
    "arrival_scv",
)
_BOUNDS = {
    "decode_bandwidth_scale": (0.3, 1.15),
    "kv_bandwidth_scale": (0.2, 1.1),
    "expert_gemm_efficiency_scale": (0.1, 1.0),
    "prefill_efficiency_scale": (0.1, 1.25),
    "kernel_overhead_scale": (0.0, 5.0),
    "step_overhead_s": (0.0, 0.02),
    "ttft_overhead_s": (0.0, 0.3),
    "per_seq_step_overhead_s": (0.0, 1e-4),
    "ttft_per_prompt_token_s": (0.0, 2e-5),
    "arrival_scv": (0.5, 20.0),
}


def loss(cases: list[ServingCase | Unsupported], knobs: ServingKnobs) -> float:
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in score_cases(cases, knobs):
        if r.rel_error is not None and r.predicted and r.predicted > 0:
            groups[(r.source, r.metric)].append(abs(np.log(r.predicted / r.measured)))
    if not groups:
        return float("inf")
    return float(np.mean([np.median(v) for v in groups.values()]))


def fit(
    cases: list[ServingCase | Unsupported],
    start: ServingKnobs = DEFAULT_SERVING_KNOBS,
    rounds: int = 3,
) -> tuple[ServingKnobs, float]:
    knobs, best = start, loss(cases, start)
    for rnd in range(rounds):
        step = (0.5, 0.25, 0.1)[min(rnd, 2)]
        for name in FIT_KNOBS:
            lo, hi = _BOUNDS[name]
            cur = float(getattr(knobs, name))
            for f in (1 - step, 1 + step, 1 - step / 2, 1 + step / 2):
                v = min(max(cur * f if cur > 0 else step * hi, lo), hi)
                trial = knobs.with_(**{name: v})
                val = loss(cases, trial)
                if val < best - 1e-6:
                    knobs, best, cur = trial, val, v
    return knobs, best


def loso(cases: list[ServingCase | Unsupported]) -> dict[str, dict[str, float]]:
    """Fit without each source, score that source: median/p90 |error| per metric class."""
    sources = sorted({c.source for c in cases if isinstance(c, ServingCase)})
    out: dict[str, dict[str, float]] = {}
    for s in sources:
        train = [c for c in cases if c.source != s]
        test = [c for c in cases if c.source == s]
        knobs, _ = fit(train)
        res = score_cases(test, knobs)
        for cls in ("throughput", "latency"):
            e = np.abs(
                [
                    r.rel_error
                    for r in res
                    if r.rel_error is not None and metric_class(r.metric) == cls
                ]
            )
            if len(e):
                out[f"{s}|{cls}"] = {
                    "rows": len(e),
                    "median_abs_error": float(np.median(e)),
                    "p90_abs_error": float(np.percentile(e, 90)),
                }
        print(s, {k: v for k, v in out.items() if k.startswith(s)}, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loso", action="store_true", help="leave-one-source-out held-out figures")
    args = ap.parse_args()
    cases = shipped_cases()
    if args.loso:
        loso(cases)
        return
    print(f"start loss {loss(cases, DEFAULT_SERVING_KNOBS):.4f}")
    knobs, val = fit(cases)
    print(f"fitted loss {val:.4f}")
    for n in FIT_KNOBS:
        print(f"{n} = {getattr(knobs, n):.4g}")


if __name__ == "__main__":
    main()
