"""One self-contained HTML report: the planner page's charts and numbers for one run, plus
every assumption — plotly's JS, the chart code and the data inlined, nothing fetched.

The data are what the JSON API returns for the same inputs (:mod:`.web.service`), and the
charts are drawn by the page's own ``static/charts.js``, so a report and the page agree.
Tables are rendered here as plain HTML (readable without JavaScript).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import GigatrainError
from ..units import gib, pct, seconds, si
from .web import service

STATIC = Path(__file__).parent / "web" / "static"


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def fmt(value: Any, unit: str) -> str:
    """A figure ``{value, unit}`` as text (the same units as ``charts.js``' ``fmt.byUnit``)."""
    if value is None:
        return "—"
    v = float(value)
    if unit == "usd":
        a = abs(v)
        for scale, suffix in ((1e9, "B"), (1e6, "M")):
            if a >= scale:
                return f"${v / scale:,.2f}{suffix}"
        return f"${v / 1e3:,.1f}k" if a >= 1e3 else f"${v:,.2f}"
    if unit == "days":
        return f"{v:,.1f} days"
    if unit == "s":
        return seconds(v)
    if unit == "ratio":
        return pct(v)
    if unit == "count":
        return f"{v:,.0f}"
    if unit == "j":
        return si(v / 3600.0, "Wh")
    if unit == "w":
        return si(v, "W")
    if unit == "flop_s":
        return si(v, "FLOP/s")
    if unit == "flop":
        return f"{v:.2e} FLOP"
    if unit == "params":
        return si(v) + " params"
    return f"{v:.4g} {unit}".strip()


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="table"><tr>{head}</tr>{body}</table>'


def _figures(figs: list[dict[str, Any]]) -> str:
    return (
        '<div class="kv">'
        + "".join(
            f'<div class="kv-row"><span class="k">{_esc(f["label"])}</span>'
            f'<span class="v">{_esc(fmt(f["value"], f["unit"]))}</span></div>'
            for f in figs
        )
        + "</div>"
    )


def _try(notes: list[str], what: str, fn: Any, /, **kw: Any) -> Any:
    """Run an optional section; a missing module or an input it cannot price becomes a note."""
    try:
        return fn(**kw)
    except (GigatrainError, ImportError) as e:
        notes.append(f"{what}: {e}")
        return None


def _model_or_config(model: str) -> dict[str, Any]:
    """A catalog slug, or a local Hugging Face ``config.json`` (the CLI user's own file)."""
    path = Path(model)
    if path.suffix != ".json":
        return {"model": model}
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise GigatrainError(f"cannot read {model}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GigatrainError(f"{path.name}: not valid JSON ({e})") from None
    return {"config": cfg}


def collect(
    *,
    model: str,
    chip: str,
    chips: int,
    seq: int = 4096,
    global_batch: int = 1024,
    tokens: float = 0.0,
    precision: str = "bf16",
    system: str | None = None,
    framework: str = "megatron",
    plan: dict[str, Any] | None = None,
    compare: list[str] | None = None,
) -> dict[str, Any]:
    """Everything a report shows, as the JSON API returns it. Without ``plan`` the best plan
    found by search is used (the search section lists the runners-up)."""
    job = {
        "chip": chip,
        "system": system,
        "seq": seq,
        "global_batch": global_batch,
        "tokens": tokens,
        "precision": precision,
        "framework": framework,
        **_model_or_config(model),
    }
    notes: list[str] = []
    feats = service.features()
    found = None
    if plan is None and feats["search"]:
        found = _try(notes, "search", service.search, chips=chips, top=10, **job)
        if found and found["plans"]:
            best = found["plans"][0]
            plan = {k: best["plan"][k] for k in service.PLAN_FIELDS if k in best["plan"]}
            chips = best["chips"]
        elif found:
            notes.append(f"search: {found['note']}")
    est = service.estimate(chips=chips, **job, **(plan or {}))
    out: dict[str, Any] = {
        "inputs": {**job, "chips": chips, "plan": plan or {}},
        "estimate": est,
        "search": found,
        "notes": notes,
    }
    if tokens > 0 and feats["cost"]:
        out["cost"] = _try(notes, "cost", service.cost, chips=chips, **job, **(plan or {}))
    if compare and tokens > 0 and feats["compare"]:
        cjob = {k: v for k, v in job.items() if k not in ("chip", "system")}
        out["compare"] = _try(
            notes, "compare", service.compare, chips=chips, compare=list(compare), **cjob
        )
    if feats["fleet"]:
        out["fleet"] = _try(
            notes, "fleet", service.fleet, chip=chip, chips=chips, precision=precision
        )
    out["validation"] = service.validation()
    out["assumptions"] = assumptions(est, out)
    return out


def assumptions(est: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Knobs with their defaults and the catalog entries (with source and date) behind a run."""
    from ..catalog.hardware import get_chip, get_system
    from ..catalog.models import load_models
    from ..knobs import DEFAULT_KNOBS

    defaults = asdict(DEFAULT_KNOBS)
    knobs = [
        {"name": k, "value": v, "default": defaults.get(k)}
        for k, v in (est.get("knobs") or {}).items()
    ]
    sources = []
    chip = get_chip(est["chip"])
    sources.append({"what": f"chip {chip.slug}", "source": chip.source, "as_of": chip.as_of})
    sys_spec = get_system(est["system"])
    sources.append(
        {"what": f"system {sys_spec.slug}", "source": sys_spec.source, "as_of": sys_spec.as_of}
    )
    m = load_models().get(est["model"])
    if m is not None:
        sources.append({"what": f"model {m.slug}", "source": m.source, "as_of": ""})
    other: dict[str, str] = {}
    for section in ("cost", "fleet"):
        sec = data.get(section) or {}
        for k, v in (sec.get("assumptions") or {}).items():
            other[f"{section}/{k}"] = str(v)
    return {
        "knobs": knobs,
        "sources": sources,
        "other": other,
        "framework": est.get("job", {}).get("framework"),
    }


def _error_line(est: dict[str, Any]) -> str:
    bar, interval = est.get("error_bar"), est.get("step_time_interval_s")
    if bar and interval:  # held-out (leave-one-source-out) interval and the runs behind it
        return (
            f"step time {interval[0]:.3g}–{interval[1]:.3g} s (held-out p10–p90 ×{bar['lo']:.2f}–"
            f"{bar['hi']:.2f}, {bar['rows']} rows of {bar['basis']}); {est.get('evidence', '')}"
        )
    eb = est.get("error_bars") or {}
    rows = sorted((eb.get("by_chip_type") or {}).items(), key=lambda kv: -kv[1].get("n", 0))
    if rows:
        name, s = rows[0]
        return (
            f"±{pct(s['median_abs_rel_error'])} median |error| over {s['n']} measured runs on "
            f"{name} (p90 {pct(s['p90_abs_rel_error'])})"
        )
    o = eb.get("overall") or {}
    if o.get("median_abs_rel_error") is not None:
        return f"no measured runs on this chip; ±{pct(o['median_abs_rel_error'])} over all {o['n']}"
    return "—"


def render(data: dict[str, Any], plotly_js: str) -> str:
    """The HTML document for ``data`` (from :func:`collect`)."""
    e = data["estimate"]
    job = e["job"]
    title = f"{e['model']} on {e['chips']:,} × {e['chip']}"
    parts: list[str] = [f"<h1>{_esc(title)} <span class='sub'>gigatrain report</span></h1>"]
    parts.append(
        f"<p class='tag'>plan <code>{_esc(e['describe'])}</code> · system {_esc(e['system'])} · "
        f"seq {job['seq_len']:,} · global batch {job['global_batch_seqs']:,} seqs · "
        f"{_esc(job['precision'])} · framework {_esc(job['framework'])}"
        + (f" · {si(job['tokens'])} tokens" if job.get("tokens") else "")
        + f" · generated {dt.date.today().isoformat()}</p>"
    )
    for n in data.get("notes") or []:
        parts.append(f"<p class='error'>{_esc(n)}</p>")
    summary = [
        ["step time", seconds(e["step_time_s"])],
        [
            "MFU (causal) / full-attention convention",
            f"{pct(e['mfu'])} / {pct(e['mfu_noncausal'])}",
        ],
        [
            "tokens/s (cluster / per chip)",
            f"{si(e['tokens_per_s'])} / {e['tokens_per_s_per_chip']:,.0f}",
        ],
        [
            "memory per rank (" + e["worst_stage"] + " stage)",
            f"{gib(e['memory_bytes'])} of {gib(e['memory_capacity_bytes'])} — "
            + ("fits" if e["fits"] else "does NOT fit"),
        ],
        [
            "days to train (failure-free)",
            "—" if e.get("days_to_train") is None else f"{e['days_to_train']:,.1f}",
        ],
        ["parameters (total / active)", f"{si(e['params_total'])} / {si(e['params_active'])}"],
        ["how sure", _error_line(e)],
    ]
    parts.append("<h2>Estimate</h2>" + _table(["", ""], summary))
    parts.append(
        '<div id="chart-memory" class="chart"></div><div id="chart-time" class="chart"></div>'
    )
    s = data.get("search")
    if s and s.get("plans"):
        parts.append(f"<h2>Best plans</h2><p class='small'>{_esc(s['note'])}</p>")
        parts.append(
            _table(
                ["#", "plan", "step time", "MFU", "memory/rank", "days"],
                [
                    [
                        i + 1,
                        p["describe"],
                        seconds(p["step_time_s"]),
                        pct(p["mfu"]),
                        gib(p["memory_bytes"]),
                        "—" if p["days_to_train"] is None else f"{p['days_to_train']:,.1f}",
                    ]
                    for i, p in enumerate(s["plans"])
                ],
            )
        )
    c = data.get("cost")
    if c:
        parts.append("<h2>Cost, energy and goodput</h2>" + _figures(c["figures"]))
        parts.append('<div id="chart-goodput" class="chart"></div>')
    cmp_ = data.get("compare")
    if cmp_:
        parts.append(
            "<h2>Cost vs time across chips</h2><div id='chart-pareto' class='chart'></div>"
        )
        parts.append(
            _table(
                ["chip", "plan it would use", "days", "cost", "Pareto"],
                [
                    [
                        r["chip"],
                        r["label"],
                        fmt(r["days"], "days"),
                        fmt(r["cost_usd"], "usd"),
                        "yes" if r["pareto"] else "",
                    ]
                    for r in cmp_["rows"]
                ],
            )
        )
    f = data.get("fleet")
    if f:
        parts.append("<h2>Fleet</h2>" + _figures(f["figures"]))
    v = data["validation"]["summary"]
    parts.append(
        "<h2>How sure: the model against measured runs</h2>"
        "<div id='chart-errors' class='chart'></div>"
    )
    rows = [
        [
            k,
            st["n"],
            pct(st["median_abs_rel_error"]),
            pct(st["p90_abs_rel_error"]),
            pct(st["median_rel_error"]),
        ]
        for k, st in (v.get("by_source") or {}).items()
        if st.get("median_abs_rel_error") is not None
    ]
    parts.append(_table(["source", "runs", "median |error|", "p90 |error|", "median error"], rows))
    a = data["assumptions"]
    parts.append(
        "<h2>Assumptions</h2><h3>Knobs (framework profile "
        f"{_esc(a.get('framework'))}; default in brackets where it differs)</h3><ul class='assumptions'>"
    )
    for k in a["knobs"]:
        changed = k["default"] is not None and k["default"] != k["value"]
        parts.append(
            f"<li><code>{_esc(k['name'])}</code> = {_esc(k['value'])}"
            + (f" [default {_esc(k['default'])}]" if changed else "")
            + "</li>"
        )
    parts.append("</ul><h3>Catalog sources</h3><ul class='assumptions'>")
    for src in a["sources"]:
        parts.append(
            f"<li>{_esc(src['what'])}: {_esc(src['source'])}"
            + (f" ({_esc(src['as_of'])})" if src["as_of"] else "")
            + "</li>"
        )
    parts.append("</ul>")
    if a["other"]:
        parts.append(
            "<h3>Economics</h3><ul class='assumptions'>"
            + "".join(
                f"<li><code>{_esc(k)}</code>: {_esc(val)}</li>" for k, val in a["other"].items()
            )
            + "</ul>"
        )
    payload = json.dumps(data, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")
    css = (STATIC / "style.css").read_text(encoding="utf-8")
    charts = (STATIC / "charts.js").read_text(encoding="utf-8")
    draw = """
(function () {
  var d = JSON.parse(document.getElementById("report-data").textContent);
  var C = window.GT.charts;
  C.memory("chart-memory", d.estimate);
  C.stepTime("chart-time", d.estimate);
  if (d.cost && d.cost.goodput_chart) {
    var g = d.cost.goodput_chart;
    C.bars("chart-goodput", g.labels, g.values, g.title, g.unit, g.x_title);
  }
  if (d.compare) C.pareto("chart-pareto", d.compare.rows);
  var m = d.validation.chip_slugs || {};
  C.errors("chart-errors", d.validation.summary,
           Object.keys(m).filter(function (k) { return m[k] === d.estimate.chip; }));
})();
"""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(title)} — gigatrain</title><style>{css}\nbody{{padding:0 24px}}</style>"
        f"<script>{plotly_js}</script><script>{charts}</script></head><body>"
        + "".join(parts)
        + f"<script type='application/json' id='report-data'>{payload}</script>"
        + f"<script>{draw}</script></body></html>"
    )


def build_report(**kw: Any) -> str:
    """``collect`` + ``render`` with plotly's bundled JS inlined (needs the ``plotly`` package)."""
    path = service.plotly_js_path()
    if path is None:
        raise GigatrainError("the report inlines plotly's JS: pip install plotly (gigatrain[web])")
    js = path.read_text(encoding="utf-8").replace("</script", "<\\/script")
    return render(collect(**kw), js)


# ---------------------------------------------------------------- serving and post-training
#: what each kind of report draws with ``charts.js``, from the data ``service`` returns
_SERVING_DRAW = {
    "infer": """
  C.servingCurve("chart-serving-curve", d.result);
  C.latency("chart-serving-latency", d.result);
  C.servingMemory("chart-serving-memory", d.result, d.hbm_bytes);""",
    "finetune": '\n  C.postSteps("chart-posttrain-step", d.result);',
    "rl": '\n  C.postSteps("chart-posttrain-step", d.result);',
}


def collect_serving(kind: str, result: dict[str, Any]) -> dict[str, Any]:
    """A serving (``infer``) or post-training (``finetune`` | ``rl``) report's data: the API's
    answer (:func:`service.infer_dict`, :func:`service.finetune_dict`, :func:`service.rl_dict`),
    the chip's HBM and the model's accuracy on the shipped measured runs of that kind
    (median and p90 |error| per source and metric)."""
    from ..catalog.hardware import get_chip

    if kind not in _SERVING_DRAW:
        raise GigatrainError(f"report kind {kind!r}; valid: {', '.join(_SERVING_DRAW)}")
    if kind == "infer":
        from ..validate.serving import score_serving_file

        _, summary = score_serving_file()
    else:
        from ..validate.serving_posttrain import score_posttrain, summarize_posttrain

        summary = summarize_posttrain(score_posttrain())
    return {
        "kind": kind,
        "result": result,
        "hbm_bytes": get_chip(result["chip"]).hbm_bytes,
        "validation": service.clean(summary),
    }


def _serving_sections(d: dict[str, Any]) -> tuple[str, list[str]]:
    kind, r = d["kind"], d["result"]
    if kind == "infer":
        q, b = r["request"], r["best"]
        title = f"Serving {r['model']} on {r['chip']}"
        parts = [
            f"<p class='tag'>{q['input_len']:,} input / {q['output_len']:,} output tokens per request · "
            f"deployment <code>{_esc(r['describe'])}</code> · price {_esc(r['price_note'])}</p>",
            "<h2>Deployment</h2>" + _figures(r["figures"]),
            "<div id='chart-serving-curve' class='chart'></div><div id='chart-serving-latency' class='chart'></div>"
            "<div id='chart-serving-memory' class='chart'></div>",
            "<h2>Best deployments</h2>"
            + _table(
                ["deployment", "chips", "TTFT", "TPOT", "tok/s/user", "tok/s/chip", "$/M out"],
                [
                    [
                        _dep(e["deployment"]),
                        e["replica_chips"],
                        seconds(e["ttft_s"]),
                        seconds(e["tpot_s"]),
                        f"{e['tokens_per_s_per_user']:,.1f}",
                        f"{e['output_tokens_per_s_per_chip']:,.1f}",
                        fmt(e["usd_per_m_output_tokens"], "usd"),
                    ]
                    for e in r["top"]
                ],
            ),
        ]
        if b is not None:
            parts.append(
                "<h3>Latency parts (s)</h3>"
                + _table(
                    ["part", "TTFT", "TPOT"],
                    [
                        [
                            k,
                            seconds(b["latency_parts_s"]["ttft"].get(k, 0.0)),
                            seconds(b["latency_parts_s"]["tpot"].get(k, 0.0)),
                        ]
                        for k in dict.fromkeys(
                            [*b["latency_parts_s"]["ttft"], *b["latency_parts_s"]["tpot"]]
                        )
                    ],
                )
            )
    else:
        what = "RL" if kind == "rl" else f"fine-tuning ({r['method']})"
        title = f"{what} {r['model']} on {r['chips']:,} × {r['chip']}"
        parts = [
            f"<p class='tag'>training plan <code>{_esc(r['describe'])}</code> · price {_esc(r.get('price') or '—')}</p>",
            "<h2>Step, days and cost</h2>" + _figures(r["figures"]),
            "<div id='chart-posttrain-step' class='chart'></div>",
        ]
        steps = (
            r["time_s"]
            if kind == "rl"
            else {k.removeprefix("time/"): v for k, v in r["time_breakdown"].items()}
        )
        parts.append(
            _table(
                ["part of the step", "time", "share"],
                [
                    [k, seconds(v), pct(v / r["step_time_s"]) if r["step_time_s"] else "—"]
                    for k, v in steps.items()
                    if v > 0
                ],
            )
        )
    notes = (r.get("notes") or []) + ((r.get("best") or {}).get("notes") or [])
    if notes:
        parts.append(
            "<h2>Notes</h2><ul class='assumptions'>"
            + "".join(f"<li>{_esc(n)}</li>" for n in notes)
            + "</ul>"
        )
    v = d["validation"]
    parts.append(
        "<h2>How sure: the model against measured runs</h2>"
        + _table(
            ["source | metric", "rows", "median |error|", "p90 |error|"],
            [
                [k, st["rows"], pct(st["median_abs_error"]), pct(st["p90_abs_error"])]
                for k, st in v["groups"].items()
                if st["rows"]
            ],
        )
    )
    return title, parts


def _dep(dep: dict[str, Any]) -> str:
    return (
        f"tp{dep['tp']}"
        + (f"·pp{dep['pp']}" if dep["pp"] > 1 else "")
        + (f"·ep{dep['ep']}" if dep["ep"] > 1 else "")
        + f" {dep['weight_dtype']}/kv {dep['kv_dtype']} c{dep['concurrency']}"
    )


def render_serving(data: dict[str, Any], plotly_js: str) -> str:
    """The HTML document for a serving or post-training report (from :func:`collect_serving`)."""
    title, parts = _serving_sections(data)
    head = f"<h1>{_esc(title)} <span class='sub'>gigatrain report · {dt.date.today().isoformat()}</span></h1>"
    payload = json.dumps(data, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")
    css = (STATIC / "style.css").read_text(encoding="utf-8")
    charts = (STATIC / "charts.js").read_text(encoding="utf-8")
    draw = (
        "(function () {\n  var d = JSON.parse(document.getElementById('report-data').textContent);\n"
        "  var C = window.GT.charts;" + _SERVING_DRAW[data["kind"]] + "\n})();"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(title)} — gigatrain</title><style>{css}\nbody{{padding:0 24px}}</style>"
        f"<script>{plotly_js}</script><script>{charts}</script></head><body>"
        + head
        + "".join(parts)
        + f"<script type='application/json' id='report-data'>{payload}</script>"
        + f"<script>{draw}</script></body></html>"
    )


def build_serving_report(kind: str, result: dict[str, Any]) -> str:
    """``collect_serving`` + ``render_serving`` with plotly's bundled JS inlined: the HTML that
    ``gigatrain infer | finetune | rl --report FILE`` writes."""
    path = service.plotly_js_path()
    if path is None:
        raise GigatrainError("the report inlines plotly's JS: pip install plotly (gigatrain[web])")
    js = path.read_text(encoding="utf-8").replace("</script", "<\\/script")
    return render_serving(collect_serving(kind, result), js)
