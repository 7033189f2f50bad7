"""Search: same estimate as `gigatrain estimate`, pruning = brute force, never slower than the
published plans, clear failures for absurd requests, CLI end to end."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from gigatrain.api import annotate_search, estimate_named, resolve
from gigatrain.catalog.frameworks import knobs_for
from gigatrain.errors import GigatrainError
from gigatrain.model.estimate import estimate, evaluate
from gigatrain.search.engine import Constraints, best_plan, search
from gigatrain.search.space import Axes, batch_sizes, build_space, chip_counts, divisors
from gigatrain.specs import Plan
from gigatrain.validate.runs import Case, case_from_row, shipped_rows


def _r(
    model: str = "megatron-gpt-39.1b",
    chip: str = "h100-sxm",
    seq: int = 2048,
    gbs: int = 512,
    tokens: float = 0.0,
):
    return resolve(model, chip, seq, gbs, tokens)


# ------------------------------------------------------------------ identical to estimate
def test_top_plan_estimate_identical_to_gigatrain_estimate() -> None:
    r = _r(tokens=300e9)
    res = annotate_search(search(r.model, r.system, r.job, 256, top=3), r)  # as the CLI shows it
    for c in res.top:
        p = c.plan
        named = estimate_named(
            "megatron-gpt-39.1b",
            "h100-sxm",
            256,
            seq=2048,
            global_batch=512,
            tokens=300e9,
            tp=p.tp,
            pp=p.pp,
            cp=p.cp,
            ep=p.ep,
            dp=p.dp,
            vpp=p.vpp,
            micro_batch=p.micro_batch,
            zero_stage=p.zero_stage,
            fsdp_shard=p.fsdp_shard,
            recompute=p.recompute,
            sequence_parallel=p.sequence_parallel,
        )
        assert named.to_dict() == c.estimate.to_dict()
        assert named.memory_breakdown == c.estimate.memory_breakdown
        assert named.time_breakdown == c.estimate.time_breakdown
    # ranked by step time, all fit
    steps = [c.step_time_s for c in res.top]
    assert steps == sorted(steps) and all(c.estimate.fits for c in res.top)


def test_best_plan_convenience() -> None:
    r = _r()
    plan, est = best_plan(r.model, r.system, r.job, 128)
    assert isinstance(plan, Plan) and plan.chips == 128 and est.fits
    again = estimate(r.model, r.system, r.job, plan, knobs_for("megatron"))
    assert est.to_dict() == again.to_dict()


# ------------------------------------------------------------------ pruning = brute force
def _brute_best(model, system, job, chips, limit_frac=1.0):
    """Every valid candidate the framework can run, through evaluate at once, no pruning, no
    chunking."""
    from gigatrain.catalog.frameworks import get_framework
    from gigatrain.search.capabilities import runnable_mask

    knobs = knobs_for(job.framework)
    p = build_space(model, job, chips).all(model)
    p = p.take(runnable_mask(get_framework(job.framework).capabilities, model, p))
    r = evaluate(model, system, job, p, knobs)
    fits = r["memory/total"] <= limit_frac * system.chip.hbm_bytes
    return p, r, fits


@pytest.mark.parametrize(
    "model,chip,chips,seq,gbs",
    [
        ("megatron-gpt-39.1b", "h100-sxm", 64, 2048, 256),  # pruning active, many fit
        ("megatron-gpt-1t", "a100-80gb", 512, 2048, 512),  # tight: most layouts pruned
        ("mixtral-8x7b", "h100-sxm", 64, 4096, 256),  # MoE: expert parallelism
        ("gpt3-small", "h100-sxm", 8, 2048, 64),  # tiny, nothing pruned
    ],
)
def test_pruned_search_equals_brute_force(model, chip, chips, seq, gbs) -> None:
    r = _r(model, chip, seq, gbs)
    pruned = search(r.model, r.system, r.job, chips, top=5)
    full = search(r.model, r.system, r.job, chips, top=5, prune=False)
    assert [c.plan for c in pruned.top] == [c.plan for c in full.top]
    assert pruned.feasible == full.feasible and full.pruned == 0
    assert pruned.evaluated + pruned.pruned >= full.evaluated
    _p, res, fits = _brute_best(r.model, r.system, r.job, chips)
    assert int(fits.sum()) == full.feasible
    if fits.any():
        assert pruned.top[0].step_time_s == pytest.approx(res["step_time_s"][fits].min(), rel=1e-12)
    else:
        assert not pruned.top and pruned.diagnosis is not None


def test_memory_bound_never_exceeds_true_memory() -> None:
    """The pruning bound (state leaves of a layout) is below every candidate's memory."""
    from gigatrain.search.engine import _state_bound

    r = _r("mixtral-8x7b", "h100-sxm", 4096, 256)
    sp = build_space(r.model, r.job, 64)
    knobs = knobs_for("megatron")
    lb = _state_bound(r.model, r.system, r.job, sp.layouts, knobs)
    rows = np.arange(len(sp.layouts))
    p = sp.rows(rows)
    mem = evaluate(r.model, r.system, r.job, p, knobs)["memory/total"]
    owner = np.repeat(rows, sp.n_opts)
    assert np.all(mem >= lb[owner] * (1 - 1e-12))


# ------------------------------------------------------------------ the space
def test_space_rules() -> None:
    r = _r("megatron-gpt-39.1b", "h100-sxm", 2048, 512)
    p = build_space(r.model, r.job, 64).all(r.model)
    assert np.all(p.chips == 64)
    assert np.all(r.model.num_attention_heads % p.tp == 0)
    assert np.all(512 % (p.dp * p.micro_batch) == 0)
    assert set(np.unique(p.zero_stage)) == {0, 1, 2, 3}
    assert set(np.unique(p.recompute)) == {0, 1, 2}
    assert np.all(~p.sequence_parallel[p.tp == 1])
    hybrid = (p.zero_stage == 3) & (p.fsdp_shard < p.dp * p.cp)
    low = p.zero_stage < 3
    assert hybrid.any() and np.all(p.fsdp_shard[low] == (p.dp * p.cp)[low])
    assert (p.vpp > 1).any()
    # no duplicates
    cols = np.stack(
        [
            p.tp,
            p.pp,
            p.dp,
            p.cp,
            p.ep,
            p.vpp,
            p.micro_batch,
            p.zero_stage,
            p.fsdp_shard,
            p.recompute,
            p.sequence_parallel.astype(np.int64),
        ],
        axis=1,
    )
    assert len(np.unique(cols, axis=0)) == len(p)
    # a restricted axis
    q = build_space(r.model, r.job, 64, Axes(tp=(8,), recompute=("full",))).all(r.model)
    assert set(np.unique(q.tp)) == {8} and set(np.unique(q.recompute)) == {2}


def test_chip_counts_and_batches() -> None:
    sys_ = _r().system
    assert chip_counts(64, sys_) == [64]
    assert chip_counts("16-64", sys_) == [16, 24, 32, 40, 48, 56, 64]
    big = chip_counts("8192-65536", sys_)
    assert big[0] == 8192 and big[-1] == 65536 and 16384 in big and 12288 in big
    assert batch_sizes("1024-4096") == [1024, 1536, 2048, 3072, 4096]
    assert batch_sizes("4-6") == [4, 5, 6]
    assert list(divisors(12)) == [1, 2, 3, 4, 6, 12]


# ------------------------------------------------------------------ published runs
def _published_cases() -> list[Case]:
    want = {"307", "362", "366", "419", "447", "300", "vtrain_multi_001"}
    cases = [c for c in map(case_from_row, shipped_rows()) if isinstance(c, Case)]
    picked = [c for c in cases if c.row_id in want]
    # and a few more: a hybrid-FSDP row and the smallest rows of two big sources
    picked += [c for c in cases if c.plan.zero_stage == 3 and c.plan.fsdp_shard][:1]
    picked += [c for c in cases if c.source_group == "ultrascale_playbook" and c.plan.pp > 1][:1]
    return picked


def test_search_never_slower_than_published_plans() -> None:
    cases = _published_cases()
    assert len(cases) >= 6
    for c in cases:
        knobs = knobs_for(c.job.framework)
        pub = estimate(c.model, c.system, c.job, c.plan, knobs)
        if not pub.fits:
            continue
        res = search(c.model, c.system, c.job, c.plan.chips, top=1, knobs=knobs)
        assert res.best.step_time_s <= pub.step_time_s * (1 + 1e-9), (c.row_id, c.plan)


# ------------------------------------------------------------------ objectives, Pareto
def test_cost_energy_and_pareto() -> None:
    r = _r(tokens=100e9)
    res = search(r.model, r.system, r.job, "64-256", "cost", top=3, pareto=("time", "cost"))
    b = res.best
    assert res.price is not None and b.cost_usd is not None and b.time_to_train_s is not None
    usd = b.time_to_train_s * b.chips * res.price.usd_per_chip_hour / 3600
    assert b.cost_usd == pytest.approx(usd)
    costs = [c.cost_usd for c in res.top]
    assert costs == sorted(costs)
    pts = [(c.step_time_s, c.cost_usd) for c in res.pareto]
    assert pts == sorted(pts)
    assert all(b2 < b1 for (_, b1), (_, b2) in itertools.pairwise(pts))
    assert min(c.cost_usd for c in res.pareto) == pytest.approx(b.cost_usd)
    given = search(r.model, r.system, r.job, 64, "cost", top=1, usd_per_chip_hour=2.0)
    assert given.price.usd_per_chip_hour == 2.0
    en = search(r.model, r.system, r.job, 64, "energy", top=1)
    assert en.best.energy_j == pytest.approx(en.best.time_to_train_s * 64 * en.watts_per_chip)


def test_ranged_global_batch_ranks_per_token() -> None:
    r = _r()
    res = search(
        r.model, r.system, r.job, 64, top=5, constraints=Constraints(global_batch="256-512")
    )
    assert set(res.global_batches) == {256, 384, 512}
    per_tok = [c.step_time_s / (c.global_batch * 2048) for c in res.top]
    assert per_tok == sorted(per_tok)


def test_progress_callback() -> None:
    r = _r()
    seen: list[tuple[int, int]] = []
    search(r.model, r.system, r.job, 64, progress=lambda d, t: seen.append((d, t)), chunk_rows=1000)
    assert len(seen) > 1 and seen[-1][0] == seen[-1][1]


# ------------------------------------------------------------------ failures
def test_nothing_fits_diagnosis() -> None:
    r = _r("megatron-gpt-1t", "h100-sxm", 2048, 3072)
    res = search(r.model, r.system, r.job, 64)
    d = res.diagnosis
    assert not res.top and d is not None and d.reason == "memory"
    assert d.overshoot_bytes and d.overshoot_bytes > 0 and d.closest is not None
    assert any(f.startswith("more chips: fits from") for f in d.fixes)
    with pytest.raises(GigatrainError, match="nothing fits on 64 chips"):
        best_plan(r.model, r.system, r.job, 64)
    # restricted axes: the diagnosis names the restriction to lift
    r2 = _r("megatron-gpt-39.1b", "h100-sxm", 2048, 512)
    res2 = search(r2.model, r2.system, r2.job, 64, axes=Axes(tp=(1,), pp=(1,), zero_stage=(0,)))
    assert res2.diagnosis is not None
    assert any("lift the" in f for f in res2.diagnosis.fixes)


def test_no_layout_and_deadline_diagnoses() -> None:
    r = _r("megatron-gpt-39.1b", "h100-sxm", 2048, 512)
    odd = replace(r.job, global_batch_seqs=7)
    res = search(r.model, r.system, odd, 64, axes=Axes(tp=(8,), pp=(1,)))
    assert res.diagnosis is not None and res.diagnosis.reason == "no_layout"
    slow = replace(r.job, tokens=1e13)
    res = search(r.model, r.system, slow, 64, constraints=Constraints(deadline_days=1))
    assert res.diagnosis is not None and res.diagnosis.reason == "deadline"
    assert "days" in res.diagnosis.message


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"chips": 10**9}, "exceeds the largest"),
        ({"chips": "64-32"}, "is empty"),
        ({"chips": "abc"}, "cannot read"),
        ({"chips": 64, "objective": "speed"}, "objective='speed'"),
        ({"chips": 64, "top": 0}, "top must be"),
        (
            {"chips": "1-1000000", "constraints": Constraints(global_batch="1-1000000")},
            "global batch sizes",
        ),
        (
            {"chips": "1024-65536", "constraints": Constraints(max_candidates=1000)},
            "over the limit",
        ),
        ({"chips": 64, "constraints": Constraints(deadline_days=3)}, "token budget"),
        ({"chips": 64, "pareto": ("time", "time")}, "two different axes"),
        ({"chips": 64, "pareto": ("time", "speed")}, "pareto axis"),
    ],
)
def test_absurd_requests_fail_fast(kwargs, match) -> None:
    r = _r()
    chips = kwargs.pop("chips")
    with pytest.raises(GigatrainError, match=match):
        search(r.model, r.system, r.job, chips, **kwargs)


def test_missing_price_is_an_error_for_cost_only() -> None:
    r = resolve("megatron-gpt-39.1b", "mi300x", 2048, 512)
    with pytest.raises(GigatrainError, match="no on_demand rental price"):
        search(r.model, r.system, r.job, 64, "cost")
    assert search(r.model, r.system, r.job, 64, "cost", usd_per_chip_hour=3.0).top
    assert search(r.model, r.system, r.job, 64, "time").best.cost_usd is None


# ------------------------------------------------------------------ CLI
def test_cli_search_json_and_table() -> None:
    from gigatrain.interfaces.cli import app

    runner = CliRunner()
    args = [
        "search",
        "--model",
        "megatron-gpt-39.1b",
        "--chip",
        "h100-sxm",
        "--chips",
        "64",
        "--global-batch",
        "256",
        "--seq",
        "2048",
        "--tokens",
        "100B",
        "--top",
        "3",
    ]
    out = runner.invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert len(data["top"]) == 3 and data["counts"]["feasible"] > 0
    best = data["top"][0]
    assert best["estimate"]["fits"] and best["time_to_train_s"] > 0
    table = runner.invoke(app, [*args, "--pareto", "time,memory"])
    assert table.exit_code == 0, table.output
    assert "Top 3 plans" in table.output and "Pareto front" in table.output
    assert "Memory per rank" in table.output  # the best plan's breakdown


def test_cli_errors_are_one_line() -> None:
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-c",
        "from gigatrain.interfaces.cli import main; main()",
        "search",
        "--model",
        "megatron-gpt-1t",
        "--chip",
        "h100-sxm",
        "--chips",
        "1000000000",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "exceeds the largest" in p.stderr and "Traceback" not in p.stderr
    nothing = subprocess.run(
        [*cmd[:-1], "64", "--global-batch", "3072", "--seq", "2048"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert nothing.returncode == 1 and "nothing fits on 64 chips" in nothing.stdout


def test_fleet_sized_count_is_searched_and_costed() -> None:
    """`fleet --power 2GW --chip trn2` sizes 1,911,132 chips (12 × 159,261: no layout uses all
    of them); search and cost answer on the largest usable count with a raised batch, and say
    so, instead of refusing."""
    from gigatrain.api import make_job
    from gigatrain.catalog.hardware import get_system
    from gigatrain.catalog.models import get_model
    from gigatrain.economics.cost import default_global_batch, plan_for
    from gigatrain.model.critical_batch import batch_bound
    from gigatrain.model.workload import model_flops_per_token
    from gigatrain.search.engine import search

    m, system = get_model("megatron-gpt-1t"), get_system("trn2")
    flop = 20e12 * model_flops_per_token(m, 4096)
    job = make_job(4096, default_global_batch(4096, flop), 20e12, "bf16", "neuron")
    bound = batch_bound(flop, 4096).seqs
    assert not search(m, system, job, 1_911_132, top=1).top  # exactly that count: no layout
    res = search(m, system, job, 1_911_132, top=1, allow_fewer=True, max_global_batch=bound)
    best = res.best
    assert 0.75 * 1_911_132 <= best.chips < 1_911_132
    assert job.global_batch_seqs < best.global_batch <= bound
    assert any("cannot feed 1,911,132 chips" in n for n in res.notes)
    _, est = plan_for(m, system, job, 1_911_132, allow_fewer=True, grow_batch=True)
    assert est.chips == best.chips and est.job.global_batch_seqs == best.global_batch
