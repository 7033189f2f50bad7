"""Scale and fault test of ``gigatrain sweep`` (issue 13).

1. The same sweep (≥ 1,000 points, ≥ 10 M candidate plans) in one process (``--local``
   executor) and on a local Ray cluster this script starts itself (head + worker processes,
   loopback only): points/s and plans/s of each.
2. Fault test on Ray: a worker process killed with SIGKILL mid-run (Ray reruns its task), then
   a driver (``gigatrain sweep --address``, a separate process) killed with SIGKILL mid-run and
   the same sweep rerun: the rerun computes only the missing points, and the final results
   hold exactly one row per point, with the same best plan per point as the single-process run.

    python benchmarks/bench_sweep.py            # full: 1,296 points (~10 min on 2 busy cores)
    python benchmarks/bench_sweep.py --quick    # 96 points, for a smoke run
    python benchmarks/bench_sweep.py --workers 8 --json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FULL = {
    "name": "bench-sweep",
    "models": ["llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "megatron-gpt-1t"],
    "chips": [
        "h100-sxm",
        "b200",
        "trn2",
        "tpu-v5p",
        {"name": "trn2-hbm-bw2x", "base": "trn2", "overrides": {"hbm_tb_per_s": "x2"}},
        {"name": "b200-hbm-cap2x", "base": "b200", "overrides": {"hbm_gb": "x2"}},
    ],
    "chip_counts": [256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536],
    "global_batch": [1024, 2048, 4096],
    "seq": [4096],
    "tokens": ["15T"],
    "precision": ["bf16", "fp8"],
    "objective": "cost",
}
QUICK = dict(
    FULL,
    models=["llama-3.1-8b", "llama-3.1-70b"],
    chip_counts=[256, 1024, 4096, 16384],
    global_batch=[1024, 4096],
    precision=["bf16"],
)


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out = set()
    for p in parents:
        q, n = p, 0
        while q in parents and q > 1 and n < 64:
            q, n = parents[q], n + 1
            if q == pid:
                out.add(p)
                break
    return out


def _is_task(pid: int) -> bool:
    try:
        return b"ray::_ray_task" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _best(out: Path) -> dict[str, tuple]:
    from gigatrain.sweep.query import run_query

    _, rows = run_query(
        out, "SELECT point_key, feasible, tp, pp, dp, micro_batch, usd_per_mtoken FROM results"
    )
    return {r[0]: r[1:] for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 96-point smoke version")
    ap.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="CPUs of the local Ray cluster"
    )
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # Ray servers on 127.0.0.1 only
    import ray
    import ray._private.ray_constants as rc

    from gigatrain.sweep.query import run_query
    from gigatrain.sweep.runner import run_sweep
    from gigatrain.sweep.spec import parse_spec
    from gigatrain.sweep.store import done_keys, part_files

    rc.ENABLE_RAY_CLUSTER = False
    raw = QUICK if args.quick else FULL
    spec = parse_spec(raw)
    res: dict[str, object] = {"points": spec.size, "workers": args.workers, "cores": os.cpu_count()}
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    print(f"{spec.size:,} points; results under {tmp}", file=sys.stderr)

    # 1a. one process
    s = run_sweep(spec, tmp / "local", executor="local")
    _, ((plans,),) = run_query(tmp / "local", "SELECT sum(evaluated) FROM results")
    res["local"] = {
        "wall_s": round(s.wall_s, 1),
        "points_per_s": round(s.points_per_s, 2),
        "plans_evaluated": int(plans),
        "plans_per_s": round(plans / s.wall_s),
    }
    print(
        f"one process: {s.wall_s:.1f} s, {s.points_per_s:.2f} points/s, {plans:,} plans",
        file=sys.stderr,
    )

    # 1b + 2a. local Ray cluster (loopback), with a worker killed mid-run
    t0 = time.perf_counter()
    ray.init(
        num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False
    )
    startup = time.perf_counter() - t0
    assert ray.nodes()[0]["NodeManagerAddress"] == "127.0.0.1"
    killed: list[int] = []

    def killer() -> None:
        while not killed and not stop.is_set():
            if len(part_files(tmp / "ray")) >= 3:
                for pid in _descendants(os.getpid()):
                    if _is_task(pid):
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        return
            time.sleep(0.05)

    stop = threading.Event()
    th = threading.Thread(target=killer, daemon=True)
    th.start()
    s = run_sweep(spec, tmp / "ray", executor="ray")
    stop.set()
    th.join(timeout=5)
    _, ((n, nd),) = run_query(
        tmp / "ray", "SELECT count(*), count(DISTINCT point_key) FROM results"
    )
    res["ray"] = {
        "startup_s": round(startup, 1),
        "wall_s": round(s.wall_s, 1),
        "points_per_s": round(s.points_per_s, 2),
        "plans_per_s": round(plans / s.wall_s),
        "speedup_vs_one_process": round(res["local"]["wall_s"] / s.wall_s, 2),  # type: ignore[index]
        "speedup_incl_startup": round(res["local"]["wall_s"] / (s.wall_s + startup), 2),  # type: ignore[index]
        "tasks": s.tasks,
        "points_per_task": s.points_per_task,
        "worker_killed": bool(killed),
        "rows": n,
        "distinct_points": nd,
        "exact": n == nd == spec.size,
    }
    print(
        f"ray: {s.wall_s:.1f} s (+{startup:.1f} s startup), worker killed: {bool(killed)}, "
        f"rows {n} / distinct {nd} / points {spec.size}",
        file=sys.stderr,
    )

    # 2b. the driver killed with SIGKILL mid-run, then the same sweep rerun
    spec_path = tmp / "spec.json"
    spec_path.write_text(json.dumps(raw))
    out = tmp / "driver"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gigatrain",
            "sweep",
            str(spec_path),
            "--out",
            str(out),
            "--address",
            ray.get_runtime_context().gcs_address,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    want = max(3, len(part_files(tmp / "ray")) // 3)
    deadline = time.time() + 600
    while time.time() < deadline and len(part_files(out)) < want and proc.poll() is None:
        time.sleep(0.1)
    alive = proc.poll() is None
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    partial = len(done_keys(out))
    s = run_sweep(spec, out, executor="ray")
    _, ((n, nd),) = run_query(out, "SELECT count(*), count(DISTINCT point_key) FROM results")
    same = _best(out) == _best(tmp / "local")
    res["driver_kill"] = {
        "killed_mid_run": alive,
        "points_before_kill": partial,
        "rerun_computed": s.points_computed,
        "rerun_done_before": s.points_done_before,
        "rows": n,
        "distinct_points": nd,
        "exact": n == nd == spec.size,
        "same_best_plans_as_one_process": same,
    }
    print(
        f"driver kill: {partial} points survived, rerun computed {s.points_computed}; rows {n} / "
        f"distinct {nd}; same best plans as one process: {same}",
        file=sys.stderr,
    )
    ray.shutdown()
    ok = res["ray"]["exact"] and res["driver_kill"]["exact"] and same  # type: ignore[index]
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for k, v in res.items():
            print(f"{k}: {v}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
