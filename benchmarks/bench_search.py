"""Search speed: candidate plans evaluated per second, and the wall time of a full search.

Run with ``python benchmarks/bench_search.py`` (single core: the thread variables below are
set before NumPy loads). Prints, for ``megatron-gpt-1t`` on 16,384 ``h100-sxm`` chips (global
batch 3,072 × 2,048 tokens):

* the full search's wall time (space construction, memory-bound pruning, evaluation of every
  remaining candidate, and the ``estimate`` of the top 10) — best of several runs;
* plans per second through the whole pipeline (decode + ``valid_mask`` + ``evaluate`` +
  ranking), on the same search and on a larger one (chips 1,024–65,536, 2.1 M candidates);
* plans per second of ``evaluate`` alone on the same candidates, for comparison.

Targets (issue 3): ≥ 1,000,000 plans/s on one core and < 2 s for the 1T search.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

from gigatrain.api import resolve  # noqa: E402
from gigatrain.catalog.frameworks import knobs_for  # noqa: E402
from gigatrain.model.estimate import evaluate  # noqa: E402
from gigatrain.search.engine import CHUNK_ROWS, search  # noqa: E402
from gigatrain.search.space import build_space  # noqa: E402


def evaluate_only_rate(model: str, chip: str, chips: int, seq: int, gbs: int) -> tuple[int, float]:
    """(candidates, seconds) for ``evaluate`` alone over the whole unpruned space."""
    r = resolve(model, chip, seq, gbs)
    sp = build_space(r.model, r.job, chips)
    knobs = knobs_for(r.job.framework)
    chunks = [sp.chunk(a, min(a + CHUNK_ROWS, sp.size)) for a in range(0, sp.size, CHUNK_ROWS)]
    t = time.perf_counter()
    for p in chunks:
        evaluate(r.model, r.system, r.job, p, knobs)
    return sp.size, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    r = resolve("megatron-gpt-1t", "h100-sxm", 2048, 3072, tokens=450e9)
    search(r.model, r.system, r.job, 16384)  # warm caches (catalog YAML, layer costs)

    runs = [search(r.model, r.system, r.job, 16384) for _ in range(args.repeat)]
    best = min(runs, key=lambda x: x.wall_s)
    print(f"megatron-gpt-1t on 16,384 h100-sxm, global batch 3,072 x 2,048 (best of {args.repeat})")
    print(
        f"  candidates {best.candidates:,}; skipped by memory bound {best.pruned:,}; "
        f"evaluated {best.evaluated:,}; fit {best.feasible:,}"
    )
    print(f"  full search wall time      {best.wall_s:8.3f} s   (target < 2 s)")
    print(f"  pipeline plans/s           {best.plans_per_s:12,.0f}")
    print(
        f"  best plan: {best.best.plan.describe()}  step {best.best.step_time_s:.3f} s  "
        f"MFU {best.best.estimate.mfu:.1%}"
    )

    big_runs = [
        search(r.model, r.system, r.job, "1024-65536") for _ in range(max(args.repeat // 2, 1))
    ]
    big = min(big_runs, key=lambda x: x.wall_s)
    print(f"megatron-gpt-1t on 1,024-65,536 h100-sxm ({len(big.chip_counts)} chip counts)")
    print(f"  candidates {big.candidates:,}; evaluated {big.evaluated:,}; fit {big.feasible:,}")
    print(f"  full search wall time      {big.wall_s:8.3f} s")
    print(f"  pipeline plans/s           {big.plans_per_s:12,.0f}   (target >= 1,000,000)")

    n, s = min(
        (
            evaluate_only_rate("megatron-gpt-1t", "h100-sxm", 16384, 2048, 3072)
            for _ in range(args.repeat)
        ),
        key=lambda x: x[1],
    )
    print(
        f"evaluate() alone on the 1T space ({n:,} candidates, chunks of {CHUNK_ROWS:,}): "
        f"{n / s:12,.0f} plans/s"
    )


if __name__ == "__main__":
    main()
