"""Score fine-tuning and RL estimates against measured post-training runs (``posttrain_runs.csv``).

Interpretation of each source (stated assumptions):

* NeMo / Megatron-Bridge SFT and LoRA tables: the layout string gives TP, PP, VP, (CP, DP), MBS;
  global batch and packed sequence length as printed; framework profile ``megatron``.
* NeMo Automodel LoRA: TP, FSDP (ZeRO-3 over the FSDP ranks), MBS; profile ``torchtitan``
  (PyTorch FSDP2 + TP, the same stack).
* torchtune: 8-GPU A100 FSDP rows only (ZeRO-3, A100 80GB assumed, profile ``pytorch-fsdp``);
  tokens/s read as the 8 GPUs' total: the per-GPU reading (SERVING.md's grade-B assumption)
  would put 70B LoRA at 3,384 tokens/s per A100, ≈ 3× the A100's 312 TFLOP/s peak at
  4·N FLOPs per token; rows with CPU offload, 8-bit/paged optimizers or consumer GPUs are not
  represented.
* NeMo-RL GRPO: generation TP·PP and training TP, CP, EP, PP as printed; G-GBS responses per
  step, G-GBS/T-GBS optimizer steps; "G-Average Seq len" read as prompt + response with a
  128-token prompt (ESTIMATE: OpenMathInstruct-2/DAPO prompts are short); the rollout waits for
  the longest response, tail factor = (max length − prompt)/(mean response); "On policy" rows
  colocated; "N-step Off" rows disaggregated, half the GPUs generating, generation overlapped.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..catalog.hardware import get_system
from ..catalog.models import get_model
from ..errors import GigatrainError
from ..posttrain.finetune import FinetuneSpec, finetune_estimate
from ..posttrain.rl import RLSpec, rl_estimate
from ..specs import Job, ModelSpec, Plan, SystemSpec
from .serving_runs import POSTTRAIN_CSV

MODELS = (
    ("deepseek-v3", "deepseek-v3"),
    ("qwen3-235b-a22b", "qwen3-235b-a22b"),
    ("qwen3-30b-a3b", "qwen3-30b-a3b"),
    ("qwen3-32b", "qwen3-32b"),
    ("qwen2.5-32b", "qwen2.5-72b"),
    ("qwen2.5-7b", "qwen2.5-7b"),
    ("llama-3.1-8b", "llama-3.1-8b"),
    ("llama3-8b", "llama-3-8b"),
    ("llama-3.1-70b", "llama-3.1-70b"),
    ("llama3-70b", "llama-3-70b"),
    ("llama-3-70b", "llama-3-70b"),
    ("llama-3.1-405b", "llama-3.1-405b"),
    ("llama-2-7b", "llama-2-7b"),
    ("llama2-7b", "llama-2-7b"),
    ("llama-2-13b", "llama-2-13b"),
    ("llama-2-70b", "llama-2-70b"),
    ("llama2-70b", "llama-2-70b"),
)
CHIPS = {
    "h100-sxm-80gb": "h100-sxm",
    "h100-sxm-80gb (dgx-h100)": "h100-sxm",
    "gb200": "gb200",
    "gb300": "gb300",
    "a100": "a100-80gb",
}
RL_PROMPT_TOKENS = 128


@dataclass(frozen=True)
class PostResult:
    row_id: str
    source: str
    metric: str
    predicted: float | None
    measured: float
    rel_error: float | None
    status: str
    reason: str = ""

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def _num(text: str) -> float | None:
    m = re.search(r"([0-9][0-9,]*\.?[0-9]*)", text or "")
    return float(m.group(1).replace(",", "")) if m else None


def _deg(layout: str, name: str) -> int | None:
    m = re.search(rf"\b{name}\s+(\d+)", layout)
    return int(m.group(1)) if m else None


def _model_slug(name: str) -> str | None:
    low = name.lower().replace(" ", "-")
    low = low.replace("qwen2.5-32b", "qwen2.5-32b")
    for key, slug in MODELS:
        if key in low:
            return (
                None if key == "qwen2.5-32b" else slug
            )  # no Qwen2.5 32B architecture in the catalog
    return None


def _predict(r: dict[str, str], rl_changes: dict | None = None) -> tuple[float, str] | str:
    """(predicted value, '') or the reason the row is unsupported."""
    src, task, metric = r["source_group"], r["task"], r["metric"]
    slug = _model_slug(r["model_name"])
    if slug is None:
        return f"model {r['model_name']!r} has no architecture in the catalog"
    chip = CHIPS.get(r["chip_type"].strip().lower())
    if chip is None:
        return f"chip {r['chip_type']!r} is not in the catalog"
    model, system = get_model(slug), get_system(chip)
    chips = int(_num(r["num_chips"]) or 0)
    layout = r["parallel_layout"]
    fp8 = "fp8" in r["precision"].lower()
    precision = "fp8" if fp8 else "bf16"
    if src == "nemo_rl_perf_summary":
        return _predict_rl(r, model, system, chips, precision, rl_changes or {})
    if src == "torchtune_readme":
        if chips != 8 or "offload" in layout.lower() or "fsdp" not in layout.lower():
            return "torchtune row on one GPU, with CPU offload, or without FSDP: not represented"
        if metric == "peak_mem_gib":
            return "torchtune peak memory mixes GB/GiB and allocator reporting; not scored"
        seq = int(_num(r["seq_len_or_prompt_len"]) or 2048)
        mbs = int(_num(r["global_batch"]) or 2)
        plan = Plan(
            tp=1,
            pp=1,
            dp=8,
            zero_stage=3,
            micro_batch=mbs,
            recompute="full",
            sequence_parallel=False,
        )
        framework, gbs = "pytorch-fsdp", mbs * 8
    else:
        seq = int(_num(r["seq_len_or_prompt_len"]) or 4096)
        gbs = int(_num(r["global_batch"]) or 32)
        tp, pp = _deg(layout, "TP") or 1, _deg(layout, "PP") or 1
        cp, vp, mbs = _deg(layout, "CP") or 1, _deg(layout, "VP") or 1, _deg(layout, "MBS") or 1
        fsdp = _deg(layout, "FSDP")
        dp = chips // (tp * pp * cp)
        if dp < 1:
            return f"layout {layout!r} needs more than {chips} chips"
        automodel = src == "nvidia_nemo_automodel_perf"
        plan = Plan(
            tp=tp,
            pp=pp,
            cp=cp,
            dp=dp,
            vpp=vp if pp > 1 else 1,
            micro_batch=mbs,
            zero_stage=3 if (automodel or fsdp) else 1,
            schedule="interleaved" if vp > 1 and pp > 1 else "1f1b",
            recompute="selective",
            sequence_parallel=tp > 1,
        )
        framework = "torchtitan" if automodel else "megatron"
    method = {"sft_full": "full", "lora": "lora", "qlora": "qlora"}.get(task)
    if method is None:
        return f"task {task!r} is not modelled"
    job = Job(seq_len=seq, global_batch_seqs=gbs, precision=precision, framework=framework)  # type: ignore[arg-type]
    e = finetune_estimate(model, system, job, plan, FinetuneSpec(method=method))  # type: ignore[arg-type]
    if metric == "tokens_per_s_per_chip":
        return (e.tokens_per_s if src == "torchtune_readme" else e.tokens_per_s_per_chip), ""
    if metric == "step_time_s":
        return e.step_time_s, ""
    return f"metric {metric!r} is not predicted"


def _predict_rl(
    r: dict[str, str],
    model: ModelSpec,
    system: SystemSpec,
    chips: int,
    precision: str,
    rl_changes: dict,
) -> tuple[float, str] | str:
    layout = r["parallel_layout"]
    g = re.search(r"generation \[TP,PP\]=\[(\d+),(\d+)\]", layout)
    t = re.search(r"training \[TP,CP,EP,PP,VPP\]=\[([^\]]*)\]", layout)
    gbs = re.search(r"G-GBS ([\d,]+) / T-GBS ([\d,]+)", r["global_batch"])
    if not (g and t and gbs):
        return "NeMo-RL layout or batch not parsed"
    vals = [int(v) for v in t.group(1).split(",") if v.strip().isdigit()]
    if len(vals) < 4:
        return "NeMo-RL training layout not parsed"
    ttp, tcp, tep, tpp = vals[:4]
    g_seqs, t_seqs = (int(x.replace(",", "")) for x in gbs.groups())
    avg = _num(r["response_len"])
    max_len = _num(r["seq_len_or_prompt_len"])
    if not avg or not max_len:
        return "sequence lengths not stated"
    off = "off" in layout.lower()
    placement = "disaggregated" if off else "colocated"
    train_chips = chips // 2 if off else chips
    dp = train_chips // (ttp * tcp * tpp)
    if dp < 1 or train_chips % (ttp * tcp * tpp):
        return f"training layout does not divide {train_chips} chips"
    resp = max(int(avg) - RL_PROMPT_TOKENS, 1)
    tail = min(max((max_len - RL_PROMPT_TOKENS) / resp, 1.0), 8.0)
    gen_tp = int(g.group(1)) * int(g.group(2))
    spec = RLSpec(
        prompts_per_step=g_seqs,
        samples_per_prompt=1,
        prompt_len=RL_PROMPT_TOKENS,
        response_len=resp,
        train_steps_per_rl_step=max(g_seqs // t_seqs, 1),
        gen_tp=gen_tp,
        gen_dtype="fp8" if precision == "fp8" else "bf16",
        placement=placement,  # type: ignore[arg-type]
        off_policy_steps=1 if off else 0,
        tail_factor=tail,
        **rl_changes,
    )
    ep = tep if model.moe is not None else 1
    plan = Plan(
        tp=ttp,
        cp=tcp,
        pp=tpp,
        dp=dp,
        ep=ep,
        zero_stage=1,
        recompute="selective",
        sequence_parallel=ttp > 1,
    )
    seq = int(avg) + (-int(avg)) % (2 * tcp)  # context parallel splits the sequence in 2·cp chunks
    job = Job(seq_len=seq, global_batch_seqs=t_seqs, precision=precision, framework="megatron")  # type: ignore[arg-type]
    e = rl_estimate(model, system, chips, spec, plan, job)
    if r["metric"] == "step_time_s":
        return e.step_time_s, ""
    if r["metric"] == "tokens_per_s_per_chip":
        return g_seqs * avg / e.step_time_s / chips, ""
    return f"metric {r['metric']!r} is not predicted"


def score_posttrain(path: Path | None = None, rl_changes: dict | None = None) -> list[PostResult]:
    p = Path(path) if path else POSTTRAIN_CSV
    try:
        with open(p, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise GigatrainError(f"cannot read post-training runs file {p}: {e.strerror}") from None
    out = []
    for r in rows:
        try:
            measured = float((r.get("measured_value") or "nan").replace(",", ""))
        except ValueError:
            measured = float("nan")
        rid, src, metric = r.get("row_id") or "", r.get("source_group") or "", r.get("metric") or ""
        if not measured > 0:
            got: tuple[float, str] | str = "measured_value is empty or not positive"
        else:
            try:
                got = _predict(r, rl_changes)
            except GigatrainError as e:
                got = f"cannot be estimated: {e}"
            except (ValueError, KeyError, IndexError, ZeroDivisionError, TypeError) as e:
                got = f"row cannot be read: {e!r}"
        if isinstance(got, str):
            out.append(PostResult(rid, src, metric, None, measured, None, "unsupported", got))
        else:
            pred = got[0]
            out.append(PostResult(rid, src, metric, pred, measured, pred / measured - 1.0, "ok"))
    return out


def summarize_posttrain(res: list[PostResult]) -> dict:
    groups: dict[str, list[float]] = defaultdict(list)
    for r in res:
        if r.rel_error is not None:
            groups[f"{r.source}|{r.metric}"].append(r.rel_error)
            groups[f"all|{r.metric}"].append(r.rel_error)
    return {
        "rows": len(res),
        "supported": sum(r.rel_error is not None for r in res),
        "groups": {
            k: {
                "rows": len(v),
                "median_abs_error": float(np.median(np.abs(v))),
                "p90_abs_error": float(np.percentile(np.abs(v), 90)),
            }
            for k, v in sorted(groups.items())
        },
    }


#: grid for the one fitted RL knob, ``RLSpec.refit_bytes_per_s`` (bytes/s per generation chip)
REFIT_GRID = tuple(float(x) for x in np.geomspace(2.5e8, 8e9, 16))


def _rl_loss(
    res: list[PostResult], model_of: dict[str, str], skip: str = "", only: str = ""
) -> float:
    e = [
        abs(np.log(1.0 + r.rel_error))
        for r in res
        if r.rel_error is not None
        and r.metric == "step_time_s"
        and r.source == "nemo_rl_perf_summary"
        and model_of[r.row_id] != skip
        and (not only or model_of[r.row_id] == only)
    ]
    return float(np.median(e)) if e else float("nan")


def fit_refit() -> dict:
    """Fit ``refit_bytes_per_s`` on the NeMo-RL step times (median |log error| over a grid) and
    score each model family held out (fitted on the others): there is one RL source, so
    leave-one-model-out stands in for leave-one-source-out."""
    with open(POSTTRAIN_CSV, newline="", encoding="utf-8") as f:
        rows = {r["row_id"]: r for r in csv.DictReader(f)}
    model_of = {k: (_model_slug(v["model_name"]) or "") for k, v in rows.items()}
    runs = {bw: score_posttrain(rl_changes={"refit_bytes_per_s": bw}) for bw in REFIT_GRID}
    best = min(REFIT_GRID, key=lambda bw: _rl_loss(runs[bw], model_of))
    held: dict[str, dict[str, float]] = {}
    for m in sorted(
        {
            model_of[r.row_id]
            for r in runs[best]
            if r.source == "nemo_rl_perf_summary" and r.rel_error is not None
        }
    ):
        bw = min(REFIT_GRID, key=lambda b: _rl_loss(runs[b], model_of, skip=m))
        e = [
            abs(r.rel_error)
            for r in runs[bw]
            if r.rel_error is not None
            and r.metric == "step_time_s"
            and r.source == "nemo_rl_perf_summary"
            and model_of[r.row_id] == m
        ]
        held[m] = {"refit_bytes_per_s": bw, "rows": len(e), "median_abs_error": float(np.median(e))}
    all_e = [
        abs(r.rel_error)
        for r in runs[best]
        if r.rel_error is not None
        and r.metric == "step_time_s"
        and r.source == "nemo_rl_perf_summary"
    ]
    held_e: list[float] = []
    for m, h in held.items():
        held_e += [
            abs(r.rel_error)
            for r in runs[h["refit_bytes_per_s"]]
            if r.rel_error is not None
            and r.metric == "step_time_s"
            and r.source == "nemo_rl_perf_summary"
            and model_of[r.row_id] == m
        ]
    return {
        "refit_bytes_per_s": best,
        "fitted_median_abs_error": float(np.median(all_e)),
        "held_out_median_abs_error": float(np.median(held_e)),
        "held_out_p90_abs_error": float(np.percentile(held_e, 90)),
        "per_model": held,
    }


def main() -> None:  # python -m gigatrain.validate.serving_posttrain [--fit]
    import sys

    if "--fit" in sys.argv[1:]:
        f = fit_refit()
        print(
            f"refit_bytes_per_s = {f['refit_bytes_per_s']:.3g}; step time median |error| fitted "
            f"{f['fitted_median_abs_error']:.3f}, leave-one-model-out {f['held_out_median_abs_error']:.3f} "
            f"(p90 {f['held_out_p90_abs_error']:.3f})"
        )
        for m, h in f["per_model"].items():
            print(
                f"  held out {m:18s} n={h['rows']:2d} refit={h['refit_bytes_per_s']:.3g} median={h['median_abs_error']:.3f}"
            )
        return
    res = score_posttrain()
    s = summarize_posttrain(res)
    print(f"rows {s['rows']}, supported {s['supported']}")
    for k, v in s["groups"].items():
        print(
            f"{k:55s} n={v['rows']:3d} median={v['median_abs_error']:.3f} p90={v['p90_abs_error']:.3f}"
        )


if __name__ == "__main__":
    main()
