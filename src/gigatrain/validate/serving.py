"""Score the serving model against measured serving runs (``inference_runs.csv`` schema).

Rows that share a model and chip are evaluated together as arrays (the same
:func:`gigatrain.serving.perf.evaluate` the CLI calls). Load is set as the source ran it:

* closed-loop concurrency C (InferenceMAX): evaluate at C;
* static batch (Neuron, TensorRT-LLM 0.9): static batching at that batch;
* offline "all N requests queued" (trtllm-bench): C = min(N, the concurrency that fits);
* open-loop request rate λ (TensorRT-LLM online table): C from Little's law C = λ·cycle(C),
  iterated; C stops at what fits (saturation).

Output rows are ``{row_id, source, metric, predicted, measured, rel_error, status, reason}``
with ``rel_error = predicted/measured − 1``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GigatrainError
from ..serving.deploy import to_arrays
from ..serving.knobs import DEFAULT_SERVING_KNOBS, ServingKnobs
from ..serving.kv import served_model
from ..serving.perf import evaluate
from ..yamlio import read_text
from .runs import REQUIRED_COLUMNS
from .serving_runs import ServingCase, Unsupported, case_from_row, read_serving_rows

THROUGHPUT_METRICS = (
    "output_tok_per_s_per_chip",
    "total_tok_per_s_per_chip",
    "output_tok_per_s_total",
    "requests_per_s",
)
LATENCY_METRICS = ("ttft_ms", "tpot_ms", "e2e_latency_s", "tok_per_s_per_user")


@dataclass(frozen=True)
class ServingResult:
    row_id: str
    source: str
    metric: str
    predicted: float | None
    measured: float
    rel_error: float | None
    status: str  # ok | predicted_oom | unsupported
    reason: str = ""
    model: str = ""
    chip: str = ""
    layout: str = ""

    def to_dict(self) -> dict:
        return {
            "row_id": self.row_id,
            "source": self.source,
            "metric": self.metric,
            "predicted": self.predicted,
            "measured": self.measured,
            "rel_error": self.rel_error,
            "status": self.status,
            "reason": self.reason,
            "model": self.model,
            "chip": self.chip,
            "layout": self.layout,
        }


def _metric(case: ServingCase, r: dict[str, np.ndarray], i: int) -> float:
    m = case.metric
    if m == "total_tok_per_s_per_chip":
        return float(r["total_tokens_per_s_per_chip"][i])
    if m == "output_tok_per_s_per_chip":
        if case.per_decode_chip:
            d = case.deployment
            return float(r["output_tokens_per_s"][i]) / (d.tp * d.pp)
        return float(r["output_tokens_per_s_per_chip"][i])
    if m == "output_tok_per_s_total":
        return float(r["output_tokens_per_s"][i]) * case.replicas
    if m == "requests_per_s":
        return float(r["requests_per_s"][i]) * case.replicas
    if m == "tok_per_s_per_user":
        return float(r["tokens_per_s_per_user"][i])
    if m == "ttft_ms":
        return float(r["ttft_s"][i]) * 1e3
    if m == "tpot_ms":
        return float(r["tpot_s"][i]) * 1e3
    if m == "e2e_latency_s":
        return float(r["e2e_s"][i])
    raise KeyError(m)


SUPPORTED_METRICS = THROUGHPUT_METRICS + LATENCY_METRICS


def _evaluate_group(cases: list[ServingCase], knobs: ServingKnobs) -> dict[str, np.ndarray]:
    c0 = cases[0]
    s = served_model(c0.model)
    arr = to_arrays(
        [c.deployment for c in cases], [c.request for c in cases], c0.system.chip.peak_flops_per_s
    )
    offline = np.array([c.offline for c in cases])
    rate = np.array([c.request_rate for c in cases])
    if offline.any() or (rate > 0).any():
        r = evaluate(s, c0.system, arr, knobs)
        cap = np.maximum(r["max_concurrency"], 1.0)
        engine_cap = np.array([c.max_batch or np.inf for c in cases])
        cap = np.minimum(cap, engine_cap)
        arr.concurrency = np.where(offline, np.minimum(arr.concurrency, cap), arr.concurrency)
        open_loop = rate > 0
        if open_loop.any():
            conc = np.where(open_loop, 1.0, arr.concurrency)
            for _ in range(25):  # Little's law fixed point, damped
                arr.concurrency = conc
                cyc = evaluate(s, c0.system, arr, knobs)["e2e_s"]
                conc = np.where(
                    open_loop, np.minimum(0.5 * conc + 0.5 * np.maximum(rate * cyc, 1.0), cap), conc
                )
            arr.concurrency = conc
    return evaluate(s, c0.system, arr, knobs)


def score_cases(
    items: Iterable[ServingCase | Unsupported], knobs: ServingKnobs = DEFAULT_SERVING_KNOBS
) -> list[ServingResult]:
    out: list[ServingResult] = []
    groups: dict[tuple[str, str], list[ServingCase]] = defaultdict(list)
    for c in items:
        if isinstance(c, Unsupported):
            out.append(
                ServingResult(
                    c.row_id, c.source, c.metric, None, c.measured, None, "unsupported", c.reason
                )
            )
        elif c.metric not in SUPPORTED_METRICS:
            out.append(
                ServingResult(
                    c.row_id,
                    c.source,
                    c.metric,
                    None,
                    c.measured,
                    None,
                    "unsupported",
                    f"metric {c.metric!r} is not predicted",
                )
            )
        else:
            groups[(c.model.slug, c.system.slug)].append(c)
    for cases in groups.values():
        r = _evaluate_group(cases, knobs)
        for i, c in enumerate(cases):
            p = _metric(c, r, i)
            ok = bool(r["fits"][i])
            out.append(
                ServingResult(
                    c.row_id,
                    c.source,
                    c.metric,
                    p,
                    c.measured,
                    p / c.measured - 1.0,
                    "ok" if ok else "predicted_oom",
                    ""
                    if ok
                    else f"predicted not to fit (max concurrency {int(r['max_concurrency'][i])})",
                    c.model.slug,
                    c.system.chip.slug,
                    c.deployment.describe(),
                )
            )
    return out


def shipped_cases() -> list[ServingCase | Unsupported]:
    return [case_from_row(r) for r in read_serving_rows()]


def _stats(errs: list[float]) -> dict[str, float | int | None]:
    a = np.abs(np.array(errs)) if errs else np.array([np.nan])
    return {
        "rows": len(errs),
        "median_abs_error": float(np.median(a)) if errs else None,
        "p90_abs_error": float(np.percentile(a, 90)) if errs else None,
        "within_15pct": float(np.mean(a <= 0.15)) if errs else None,
    }


def metric_class(metric: str) -> str:
    return "throughput" if metric in THROUGHPUT_METRICS else "latency"


def summarize(results: list[ServingResult]) -> dict:
    """Median and p90 |error| per source × metric class, per source × metric, and overall."""
    scored = [r for r in results if r.rel_error is not None]
    by: dict[str, list[float]] = defaultdict(list)
    reasons: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in scored:
        by[f"{r.source}|{metric_class(r.metric)}"].append(r.rel_error)  # type: ignore[arg-type]
        by[f"{r.source}|{r.metric}"].append(r.rel_error)  # type: ignore[arg-type]
        by[f"all|{metric_class(r.metric)}"].append(r.rel_error)  # type: ignore[arg-type]
    for r in results:
        if r.status == "unsupported":
            reasons[r.source][r.reason.split(";")[0][:90]] += 1
    sources = sorted({r.source for r in results})
    return {
        "rows": len(results),
        "supported": len(scored),
        "predicted_oom": sum(r.status == "predicted_oom" for r in results),
        "groups": {k: _stats(v) for k, v in sorted(by.items())},
        "per_source_rows": {
            s: {
                "rows": sum(r.source == s for r in results),
                "supported": sum(r.source == s and r.rel_error is not None for r in results),
            }
            for s in sources
        },
        "unsupported_reasons": {s: dict(v) for s, v in reasons.items()},
    }


def main() -> None:  # python -m gigatrain.validate.serving
    res = score_cases(shipped_cases())
    s = summarize(res)
    print(f"rows {s['rows']}, supported {s['supported']}, predicted OOM {s['predicted_oom']}")
    for k, v in s["groups"].items():
        if v["rows"]:
            print(
                f"{k:60s} n={v['rows']:5d} median={v['median_abs_error']:.3f} p90={v['p90_abs_error']:.3f}"
            )


if __name__ == "__main__":
    main()


#: columns ``gigatrain validate --runs`` needs to recognise each schema (the shipped CSVs have more)
SERVING_COLUMNS = (
    "row_id",
    "source_group",
    "model_name",
    "chip_type",
    "num_chips",
    "tp",
    "engine",
    "precision",
    "input_len",
    "output_len",
    "batch_or_concurrency",
    "metric",
    "measured_value",
)
POSTTRAIN_COLUMNS = (
    "row_id",
    "source_group",
    "task",
    "model_name",
    "chip_type",
    "num_chips",
    "parallel_layout",
    "precision",
    "metric",
    "measured_value",
)


def runs_schema(header: Iterable[str]) -> str:
    """``serving``, ``posttrain``, ``training`` or ``unknown``: which scorer a runs CSV with these
    columns needs (for ``gigatrain validate --runs FILE``)."""
    cols = {c.strip() for c in header}
    if cols >= set(SERVING_COLUMNS):
        return "serving"
    if cols >= set(POSTTRAIN_COLUMNS):
        return "posttrain"
    if cols >= set(REQUIRED_COLUMNS):
        return "training"
    return "unknown"


def file_schema(path: str | Path) -> str:
    """The schema of the runs CSV at ``path`` from its header line (``serving``, ``posttrain`` or
    ``training``); one-line :class:`GigatrainError` naming the file and each schema's required
    columns when the header matches none of them."""
    import csv
    import io

    text = read_text(path, "runs file", max_bytes=256 * 2**20)
    try:
        header = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as e:
        raise GigatrainError(f"runs file {path}: not valid CSV on its header line ({e})") from None
    kind = runs_schema(header)
    if kind == "unknown":
        raise GigatrainError(
            f"runs file {path}: header matches no runs schema; expected the columns of "
            f"published_runs.csv ({', '.join(REQUIRED_COLUMNS)}), inference_runs.csv "
            f"({', '.join(SERVING_COLUMNS)}) or posttrain_runs.csv ({', '.join(POSTTRAIN_COLUMNS)})"
        )
    return kind


def _case_or_unsupported(r: dict[str, str]) -> ServingCase | Unsupported:
    """:func:`case_from_row`, with a row whose values cannot be read reported as unsupported."""
    try:
        return case_from_row(r)
    except (GigatrainError, ValueError, KeyError, IndexError, ZeroDivisionError) as e:
        try:
            measured = float(r.get("measured_value") or "nan")
        except ValueError:
            measured = float("nan")
        return Unsupported(
            r.get("row_id", ""),
            r.get("source_group", ""),
            r.get("metric", ""),
            measured,
            f"row cannot be read: {e}",
        )


def score_serving_file(path: str | Path | None = None) -> tuple[list[dict], dict]:
    """Rows ``{row_id, metric, predicted, measured, rel_error, status, reason}`` (plus source,
    model, chip, layout) and the summary for a serving runs CSV (default: the shipped one)."""
    res = score_cases(
        [_case_or_unsupported(r) for r in read_serving_rows(Path(path) if path else None)]
    )
    return [r.to_dict() for r in res], summarize(res)
