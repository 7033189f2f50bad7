"""Sweeps: spec validation, what-if chips, Parquet store, resume after kill -9 (driver and
worker) on a local Ray cluster the test starts itself (loopback only, 2 CPUs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gigatrain.errors import GigatrainError

pa = pytest.importorskip("pyarrow")
pytest.importorskip("duckdb")

from gigatrain.sweep.query import run_query  # noqa: E402
from gigatrain.sweep.runner import run_sweep  # noqa: E402
from gigatrain.sweep.spec import load_spec, parse_spec  # noqa: E402
from gigatrain.sweep.store import done_keys, part_files, read_all  # noqa: E402
from gigatrain.sweep.whatif import build_system, parse_variant  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "src/gigatrain/examples/sweep-trn2-whatif.yaml"

SMALL = {
    "name": "small",
    "models": ["llama-3.1-8b", "llama-3.1-70b"],
    "chips": [
        "h100-sxm",
        {"name": "h100-hbm2x", "base": "h100-sxm", "overrides": {"hbm_tb_per_s": "x2"}},
    ],
    "chip_counts": [64, 128, 256, 512, 3],
    "global_batch": [512, 1024],
    "seq": [4096],
    "tokens": ["1T"],
}


def _spec(**over: object):
    raw = dict(SMALL)
    raw.update(over)
    return parse_spec(raw)


# ----------------------------------------------------------------------- spec and what-if
@pytest.mark.parametrize(
    "raw, needle",
    [
        ({"colour": 1}, "unknown field 'colour'; valid: name, models"),
        ({"chips": ["h101x"]}, "unknown chip 'h101x'"),
        ({"precision": ["int3"]}, "precision='int3'; valid: bf16"),
        ({"chip_counts": [0]}, "sweep spec: chip_counts must be positive, got 0"),
        ({"chip_counts": [1.5]}, "chip_counts=1.5 must be a whole number"),
        ({"objective": "fast"}, "objective='fast'; valid: time, time_to_train, cost, energy"),
        ({"record": "every"}, "record='every'; valid: best, pareto, all"),
        ({"max_rows": 1000}, "max_rows applies to record: all only (record is 'best')"),
        ({"record": "all", "max_rows": "lots"}, "sweep spec: max_rows"),
        (
            {"chips": [{"name": "x", "base": "trn2", "overrides": {"hbm_tbps": 5}}]},
            "unknown field 'hbm_tbps'; valid: hbm_gb",
        ),
        (
            {"chips": [{"name": "x", "base": "trn2", "overrides": {"hbm_tb_per_s": "y2"}}]},
            "hbm_tb_per_s: expected a positive number or 'xF'",
        ),
        (
            {"chips": [{"name": "x", "base": "trn2", "overrides": {"hbm_tb_per_s": -1}}]},
            "must be a finite positive number",
        ),
        (
            {"chips": [{"name": "trn2", "base": "trn2", "overrides": {"hbm_gb": 10}}]},
            "is a catalog chip",
        ),
        (
            {"chips": [{"name": "x", "base": "trn2", "overrides": {"micro": {"warp": 2}}}]},
            "unknown field 'warp'; valid: clock_ghz",
        ),
        ({"usd_per_chip_hour": [-2]}, "usd_per_chip_hour=-2"),
    ],
)
def test_spec_errors_are_one_line(raw: dict, needle: str) -> None:
    with pytest.raises(GigatrainError) as e:
        _spec(**raw)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_example_spec_and_point_keys_are_deterministic() -> None:
    spec = load_spec(EXAMPLE)
    assert spec.size == 1 * 6 * 3 * 3 * 1 * 1 * 1 * 1 * 1
    keys = [p.key(spec) for p in spec.points()]
    assert len(set(keys)) == len(keys)
    assert keys == [p.key(spec) for p in load_spec(EXAMPLE).points()]


def test_shipped_example_writes_parquet_that_query_reads(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLE)
    s = run_sweep(
        spec, tmp_path / "ex", executor="local", max_tasks=1
    )  # the timed point + one task
    assert (
        1 < s.points_computed <= 1 + s.points_per_task
        and s.points_missing == spec.size - s.points_computed
    )
    _, rows = run_query(
        tmp_path / "ex",
        "SELECT count(*), count(DISTINCT point_key), bool_or(hypothetical) FROM results",
    )
    assert rows[0][0] == rows[0][1] == s.points_computed


def test_whatif_moves_a_measured_fp8_gemm_efficiency_with_the_bf16_one() -> None:
    """A hypothetical H100 with a 1,500 TFLOP/s bf16 peak gets its GEMM efficiency from the
    chip-level model; the measured fp8 figure (MAMF 70.9 %) keeps its ratio to the bf16 one."""
    from gigatrain.catalog.hardware import get_chip

    base = get_chip("h100-sxm")
    v = {"name": "h100-x", "base": "h100-sxm", "overrides": {"dense_tflops": {"bf16": 1500}}}
    c = build_system(parse_variant(v))[0].chip
    assert c.matmul_efficiency != pytest.approx(base.matmul_efficiency, rel=1e-4)
    assert c.fp8_matmul_efficiency / c.matmul_efficiency == pytest.approx(
        base.fp8_matmul_efficiency / base.matmul_efficiency, rel=1e-12
    )


def test_whatif_chip_is_labelled_and_derived_by_replace() -> None:
    from gigatrain.catalog.hardware import get_chip

    v = parse_variant(
        {
            "name": "trn2-x",
            "base": "trn2",
            "overrides": {
                "hbm_tb_per_s": "x2",
                "hbm_gb": 192,
                "usd_per_chip_hour": "x1.5",
                "scale_up_gb_per_s": "x2",
                "dense_tflops": {"fp8": 2600},
            },
        }
    )
    system, price = build_system(v)
    base = get_chip("trn2")
    c = system.chip
    assert c.slug == "trn2-x" and "hypothetical" in c.name and "hypothetical" in c.labels
    assert c.hbm_bandwidth_bytes_per_s == pytest.approx(2 * base.hbm_bandwidth_bytes_per_s)
    assert c.hbm_bytes == 192e9 and c.peak_flops_per_s["fp8"] == 2600e12
    assert c.peak_flops_per_s["bf16"] == base.peak_flops_per_s["bf16"]
    assert system.tiers[0].bandwidth_bytes_per_s == pytest.approx(
        2 * build_system(parse_variant("trn2"))[0].tiers[0].bandwidth_bytes_per_s
    )
    assert price is not None and price > 0
    assert get_chip("trn2") == base  # the catalog is untouched
    # a faster clock raises the peak through the chip-level model
    fast = build_system(
        parse_variant(
            {"name": "trn2-f", "base": "trn2", "overrides": {"micro": {"clock_ghz": "x1.25"}}}
        )
    )[0].chip
    assert fast.peak_flops_per_s["bf16"] == pytest.approx(1.25 * base.peak_flops_per_s["bf16"])


# ----------------------------------------------------------------------- local store and resume
def test_local_sweep_resumes_without_duplicates(tmp_path: Path) -> None:
    spec = _spec(points_per_task=3)
    out = tmp_path / "s"
    first = run_sweep(spec, out, executor="local", max_tasks=2)
    assert first.points_computed == 6 and first.points_missing == spec.size - 6
    again = run_sweep(spec, out, executor="local")
    assert again.points_done_before == 6 and again.points_missing == 0
    t = read_all(out)
    keys = t.column("point_key").to_pylist()
    assert len(keys) == spec.size == len(set(keys))  # record: best → one row per point
    assert run_sweep(spec, out, executor="local").points_computed == 0  # nothing left to do
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["fingerprint"] == spec.fingerprint() and "chips.yaml" in manifest["catalog_sha256"]
    )
    rows = {r["point_key"]: r for r in t.to_pylist()}
    bad = [r for r in rows.values() if r["chips"] == 3 and r["model"] == "llama-3.1-70b"]
    assert bad and not any(r["feasible"] for r in bad) and all(r["reason"] for r in bad)
    hyp = [r for r in rows.values() if r["chip"] == "h100-hbm2x"]
    assert hyp and all(r["hypothetical"] and r["chip_base"] == "h100-sxm" for r in hyp)
    _, res = run_query(out, "SELECT count(*), count(DISTINCT point_key) FROM results")
    assert res == [(spec.size, spec.size)]
    with pytest.raises(GigatrainError, match="query: "):
        run_query(out, "SELEC 1")
    with pytest.raises(GigatrainError, match="different sweep"):
        run_sweep(_spec(seq=[2048]), out, executor="local")


def test_pareto_record_and_half_written_files_are_ignored(tmp_path: Path) -> None:
    spec = _spec(
        record="pareto", models=["llama-3.1-8b"], chips=["h100-sxm"], chip_counts=[64, 256]
    )
    out = tmp_path / "p"
    (out / "results" / "chip=h100-sxm").mkdir(parents=True)
    (out / "results" / "chip=h100-sxm" / ".tmp-dead.parquet").write_bytes(b"half")
    run_sweep(spec, out, executor="local")
    assert not list((out / "results").glob("*/.tmp-*"))
    _, rows = run_query(out, "SELECT point_key, count(*) n, max(rank) FROM results GROUP BY 1")
    assert len(rows) == spec.size and all(n == m + 1 for _, n, m in rows)


# ----------------------------------------------------------------------- Ray: kill -9 worker and driver
def _descendants(pid: int) -> set[int]:
    """PIDs whose parent chain reaches ``pid`` (processes this test started)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out: set[int] = set()
    for p in parents:
        q, seen = p, 0
        while q in parents and q > 1 and seen < 64:
            q, seen = parents[q], seen + 1
            if q == pid:
                out.add(p)
                break
    return out


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only
    import ray._private.ray_constants as rc

    rc.ENABLE_RAY_CLUSTER = False
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_worker_and_driver_kill9_lose_nothing(tmp_path: Path, ray_cluster) -> None:
    ray = ray_cluster
    node = ray.nodes()[0]["NodeManagerAddress"]
    assert node == "127.0.0.1"
    spec = _spec(points_per_task=4, chip_counts=[32, 64, 128, 256, 512, 1024, 3])
    total = spec.size  # 2 models × 2 chips × 7 counts × 2 batches = 56
    out = tmp_path / "r"

    # 1. a worker killed with SIGKILL mid-run: Ray (or the driver) reruns its task
    import threading

    killed: list[int] = []

    def killer() -> None:
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            for pid in _descendants(os.getpid()):
                if "ray::_ray_task" in _cmdline(pid):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.05)

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    summary = run_sweep(spec, out, executor="ray")
    th.join(timeout=5)
    assert killed, "no sweep task was seen running to kill"
    keys = read_all(out).column("point_key").to_pylist()
    assert summary.points_missing == 0 and len(keys) == total == len(set(keys))

    # 2. the driver (a separate `gigatrain sweep --address` process) killed with SIGKILL mid-run
    spec_path = tmp_path / "spec.json"
    raw = dict(
        SMALL, points_per_task=2, chip_counts=[32, 64, 128, 256, 512, 1024, 2048, 3], seq=[2048]
    )
    spec_path.write_text(json.dumps(raw))  # JSON is YAML
    out2 = tmp_path / "d"
    address = ray.get_runtime_context().gcs_address
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gigatrain",
            "sweep",
            str(spec_path),
            "--out",
            str(out2),
            "--address",
            address,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(part_files(out2)) < 3 and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the driver finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and anything it started
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    spec2 = parse_spec(raw)
    partial = len(done_keys(out2))
    assert 0 < partial < spec2.size
    resumed = run_sweep(spec2, out2, executor="ray")
    assert resumed.points_done_before == partial and resumed.points_computed == spec2.size - partial
    keys2 = read_all(out2).column("point_key").to_pylist()
    assert len(keys2) == spec2.size == len(set(keys2))


def test_cli_sweep_query_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gigatrain.interfaces.cli import main

    spec = tmp_path / "s.json"
    spec.write_text(
        json.dumps(dict(SMALL, models=["llama-3.1-8b"], chip_counts=[64, 256], global_batch=[512]))
    )
    out = tmp_path / "o"
    with pytest.raises(SystemExit) as e:
        main(["sweep", str(spec), "--out", str(out), "--local", "--json"])
    assert e.value.code in (0, None)
    summary = json.loads(capsys.readouterr().out)
    assert summary["points_total"] == 4 and summary["points_missing"] == 0
    with pytest.raises(SystemExit):
        main(
            [
                "query",
                str(out),
                "SELECT chip, hypothetical, chips FROM best ORDER BY chip, chips",
                "--json",
            ]
        )
    rows = json.loads(capsys.readouterr().out)
    assert [r["hypothetical"] for r in rows] == [True, True, False, False]
    with pytest.raises(SystemExit):
        main(["query", str(out), "SELECT count(*) AS n FROM results", "--csv"])
    assert capsys.readouterr().out.splitlines() == ["n", "4"]
    for view in ("best", "pareto"):
        png = tmp_path / f"{view}.png"
        with pytest.raises(SystemExit):
            main(["sweep-plot", str(out), "-o", str(png), "--view", view])
        assert png.stat().st_size > 1000
    with pytest.raises(SystemExit) as e:
        main(["query", str(tmp_path), "SELECT 1"])
    assert e.value.code == 2 and "not a sweep directory" in capsys.readouterr().err


# ----------------------------------------------------------------------- record: all (every plan)
EVERY = {
    "name": "every",
    "models": ["llama-3.1-8b"],
    "chips": [
        "h100-sxm",
        {"name": "h100-hbm2x", "base": "h100-sxm", "overrides": {"hbm_tb_per_s": "x2"}},
    ],
    "chip_counts": [8, 16, 7919],  # 7919 is prime: no layout, one infeasible row
    "global_batch": [256],
    "seq": [2048],
    "tokens": ["1T"],
    "record": "all",
    "max_rows": "1M",
}


def _valid_candidates(spec) -> dict[str, int]:
    """Per point key: the candidates search would evaluate (build_space on the framework's axes,
    valid_mask & runnable_mask), counted here independently of the sweep code."""
    from gigatrain.api import resolve
    from gigatrain.catalog.frameworks import get_framework
    from gigatrain.model.plans import valid_mask
    from gigatrain.search.capabilities import framework_axes, runnable_mask
    from gigatrain.search.space import FULL_AXES, build_space

    out = {}
    for p in spec.points():
        r = resolve(
            p.model,
            p.chip.base,
            p.seq,
            p.global_batch,
            p.tokens,
            p.precision,
            framework=p.framework,
        )
        caps = get_framework(r.job.framework).capabilities
        sp = build_space(r.model, r.job, p.chips, framework_axes(caps, FULL_AXES))
        plans = sp.chunk(0, sp.size)
        out[p.key(spec)] = int(
            (valid_mask(r.model, r.job, plans) & runnable_mask(caps, r.model, plans)).sum()
        )
    return out


def test_every_plan_rows_are_the_valid_candidates_and_query_reads_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gigatrain.interfaces.cli import main
    from gigatrain.sweep.every import estimate_rows

    spec = parse_spec(EVERY)
    valid = _valid_candidates(spec)
    nonzero = [n for n in valid.values() if n]
    assert len(nonzero) == 4 and sum(valid.values()) > 10_000  # 7919 chips: no candidate
    expected = sum(max(n, 1) for n in valid.values())  # a point without a plan leaves one row
    est = estimate_rows(spec)
    assert expected <= est.rows and all(est.per_point[k] >= max(n, 1) for k, n in valid.items())

    spec_path = tmp_path / "every.json"
    spec_path.write_text(json.dumps(EVERY))
    out = tmp_path / "e"
    with pytest.raises(SystemExit) as e:
        main(["sweep", str(spec_path), "--out", str(out), "--local", "--json"])
    assert e.value.code in (0, None)
    cap = capsys.readouterr()
    assert f"record: all — at most {est.rows:,} rows over 6 points (max_rows 1,000,000" in cap.err
    summary = json.loads(cap.out)
    assert summary["rows_written"] == expected and summary["rows_estimate"] == est.rows

    with pytest.raises(SystemExit):
        main(
            [
                "query",
                str(out),
                "SELECT point_key, count(*) AS n, count(DISTINCT (tp, pp, dp, cp, ep, vpp, "
                "micro_batch, zero, fsdp_shard, recompute, sequence_parallel)) AS plans, count(rank) AS fit, "
                "sum(fits::INT) AS fits, max(rank) AS top, count(tp) AS planned FROM results GROUP BY 1",
                "--json",
            ]
        )
    got = {r["point_key"]: r for r in json.loads(capsys.readouterr().out)}
    assert {k: r["n"] for k, r in got.items()} == {k: max(n, 1) for k, n in valid.items()}
    for k, r in got.items():
        if valid[k]:
            assert r["plans"] == r["planned"] == r["n"]  # no plan twice
            assert r["fit"] == r["fits"] > 0 and r["top"] == r["fits"] - 1  # ranks 0..fits-1
        else:
            assert r["planned"] == 0 and r["fits"] is None  # the single infeasible row
    _, rows = run_query(
        out,
        "SELECT count(*) FILTER (WHERE cost_usd IS NULL OR memory_bytes IS NULL "
        "OR time_to_train_s IS NULL OR mfu <= 0 OR tokens_per_s <= 0), "
        "count(*) FILTER (WHERE fits <> (memory_frac <= 1.0)) FROM results WHERE tp IS NOT NULL",
    )
    assert rows == [(0, 0)]
    _, rows = run_query(out, "SELECT reason FROM results WHERE chips = 7919")
    assert len(rows) == 2 and all("no valid plan on 7,919 chips" in r[0] for r in rows)

    # rank 0 is what record: best writes for the same point
    best_out = tmp_path / "b"
    run_sweep(parse_spec(dict(EVERY, record="best", max_rows=None)), best_out, executor="local")
    q = (
        "SELECT chip, chips, tp, pp, dp, micro_batch, zero, fsdp_shard, recompute, step_time_s FROM best "
        "ORDER BY chip, chips"
    )
    assert run_query(out, q)[1] == run_query(best_out, q)[1]


def test_every_plan_needs_a_row_cap_and_refuses_over_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gigatrain.interfaces.cli import main
    from gigatrain.sweep.every import check_row_cap, estimate_rows

    est = estimate_rows(parse_spec(EVERY)).rows
    no_cap = parse_spec(dict(EVERY, max_rows=None))
    with pytest.raises(GigatrainError) as e:
        run_sweep(no_cap, tmp_path / "n", executor="local")
    assert f"up to {est:,} rows and max_rows is missing" in str(e.value) and "\n" not in str(
        e.value
    )
    with pytest.raises(GigatrainError) as e:
        run_sweep(parse_spec(dict(EVERY, max_rows=est - 1)), tmp_path / "o", executor="local")
    assert f"up to {est:,} rows, over max_rows={est - 1:,}" in str(e.value) and "\n" not in str(
        e.value
    )
    assert (
        not (tmp_path / "n").exists() and not (tmp_path / "o").exists()
    )  # refused before anything
    spec_path = tmp_path / "s.json"
    spec_path.write_text(json.dumps(dict(EVERY, max_rows=1000)))
    with pytest.raises(SystemExit) as se:
        main(["sweep", str(spec_path), "--out", str(tmp_path / "c"), "--local"])
    err = capsys.readouterr().err
    assert se.value.code == 2 and f"up to {est:,} rows, over max_rows=1,000" in err
    assert not (tmp_path / "c").exists()
    shipped = load_spec(REPO / "src/gigatrain/examples/sweep-every-plan.yaml")  # within its own cap
    check_row_cap(shipped, estimate_rows(shipped))


def test_every_plan_resumes_to_the_exact_row_count(tmp_path: Path) -> None:
    raw = dict(EVERY, chip_counts=[8, 16, 32, 64, 7919], points_per_task=1)
    spec = parse_spec(raw)
    expected = sum(max(n, 1) for n in _valid_candidates(spec).values())
    out = tmp_path / "r"
    # 1. stopped after two tasks (deterministic), then resumed
    first = run_sweep(spec, out, executor="local", max_tasks=2)
    assert first.points_computed == 2 and 0 < first.rows_written < expected
    rest = run_sweep(spec, out, executor="local")
    assert rest.points_done_before == 2 and rest.rows_written == expected - first.rows_written
    _, rows = run_query(
        out,
        "SELECT count(*), count(DISTINCT (point_key, tp, pp, dp, cp, ep, vpp, micro_batch, "
        "zero, fsdp_shard, recompute, sequence_parallel)) FROM results",
    )
    assert rows == [(expected, expected)]

    # 2. the driver (`gigatrain sweep --local` in its own process) killed with SIGKILL mid-run
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(raw))
    out2 = tmp_path / "k"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gigatrain", "sweep", str(spec_path), "--out", str(out2), "--local"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(part_files(out2)) < 1 and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, "the driver finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    partial = len(done_keys(out2))
    assert 0 < partial < spec.size
    resumed = run_sweep(spec, out2, executor="local")
    assert resumed.points_done_before == partial and resumed.points_missing == 0
    assert read_all(out2).num_rows == expected
    _, rows = run_query(
        out2,
        "SELECT count(DISTINCT (point_key, tp, pp, dp, cp, ep, vpp, micro_batch, zero, "
        "fsdp_shard, recompute, sequence_parallel)) FROM results",
    )
    assert rows == [(expected,)]
