"""Re-predict recorded GPU measurements with the current estimator.

The device machine is lent rarely, so `benchmarks/gpu_calibration.sh` keeps the raw profile and
the measured steps; this script reruns only the prediction side, so the README's GPU figures
always come from today's model:

    python benchmarks/gpu_repredict.py benchmarks/results/h200-2026-11-26
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from gigatrain.calibrate.measure import TENSOR_MEMORY_LEAVES, chip_for_profile, predict_step
from gigatrain.calibrate.profile import load_profile, profile_knobs
from gigatrain.calibrate.torch_model import tiny_models
from gigatrain.catalog.frameworks import knobs_for


def main(folder: str) -> None:
    root = Path(folder)
    profile = load_profile(root / "gpu-profile.yaml")
    chip = chip_for_profile(profile)
    knobs = profile_knobs(profile, knobs_for("pytorch-eager"))
    models = tiny_models()
    errs, mem_errs = [], []
    print(f"device: {profile.device_name} ({profile.describe()})")
    print(
        f"{'model':12s} {'batch':>5s} {'seq':>5s} {'measured ms':>12s} {'predicted ms':>13s} {'error':>7s}"
        f" {'mem meas GiB':>13s} {'mem pred GiB':>13s} {'error':>7s}"
    )
    for path in sorted(root.glob("measure-*.json")):
        r = json.loads(path.read_text())
        est = predict_step(
            models[r["model"]],
            chip,
            batch=r["batch"],
            seq=r["seq"],
            precision=r["precision"],
            knobs=knobs,
        )
        mem = sum(v for k, v in est.memory_breakdown.items() if k in TENSOR_MEMORY_LEAVES)
        err = est.step_time_s / r["measured_step_s"] - 1
        merr = mem / r["measured_memory_bytes"] - 1
        errs.append(abs(err))
        mem_errs.append(abs(merr))
        print(
            f"{r['model']:12s} {r['batch']:5d} {r['seq']:5d} {r['measured_step_s'] * 1e3:12.1f}"
            f" {est.step_time_s * 1e3:13.1f} {err:+7.1%} {r['measured_memory_bytes'] / 2**30:13.2f}"
            f" {mem / 2**30:13.2f} {merr:+7.1%}"
        )
    print(
        f"median |error|: step time {statistics.median(errs):.1%}, memory {statistics.median(mem_errs):.1%}"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/h200-2026-11-26")
