/* gigatrain charts: pure functions from the JSON API's data to Plotly figures.
 * Shared by the planner page (static/app.js) and the self-contained HTML report
 * (interfaces/report.py inlines this file). Presentation only: every number drawn here
 * arrives in the data; nothing is computed but unit conversions for display. */
(function (root) {
  "use strict";
  const GIB = 1024 ** 3;
  const COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b",
    "#b279a2", "#ff9da6", "#9d755d", "#bab0ac", "#2f4b7c", "#a05195", "#665191"];

  function num(x, digits) {
    if (x === null || x === undefined || !isFinite(x)) return "—";
    return Number(x).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 2 : digits });
  }
  function sig(x, n) {
    if (x === null || x === undefined || !isFinite(x)) return "—";
    return Number(Number(x).toPrecision(n || 3)).toLocaleString("en-US", { maximumFractionDigits: 12 });
  }
  const fmt = {
    num: num,
    sig: sig,
    gib: (b) => (b === null || b === undefined ? "—" : num(b / GIB, 1) + " GiB"),
    pct: (f) => (f === null || f === undefined ? "—" : num(100 * f, 1) + "%"),
    seconds: function (s) {
      if (s === null || s === undefined || !isFinite(s)) return "—";
      if (s < 1e-3) return num(s * 1e6, 1) + " µs";
      if (s < 1) return num(s * 1e3, 1) + " ms";
      if (s < 120) return num(s, 2) + " s";
      if (s < 7200) return num(s / 60, 1) + " min";
      if (s < 2 * 86400) return num(s / 3600, 1) + " h";
      return num(s / 86400, 1) + " days";
    },
    si: function (x, unit) {
      if (x === null || x === undefined || !isFinite(x)) return "—";
      const scales = [[1e18, "E"], [1e15, "P"], [1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
      for (const [s, p] of scales) if (Math.abs(x) >= s) return num(x / s, 2) + " " + p + (unit || "");
      return num(x, 2) + (unit ? " " + unit : "");
    },
    usd: function (x) {
      if (x === null || x === undefined || !isFinite(x)) return "—";
      const a = Math.abs(x);
      if (a >= 1e9) return "$" + num(x / 1e9, 2) + "B";
      if (a >= 1e6) return "$" + num(x / 1e6, 2) + "M";
      if (a >= 1e3) return "$" + num(x / 1e3, 1) + "k";
      return "$" + num(x, 2);
    },
  };

  /* A figure from the API ({value, unit}) as text. */
  fmt.byUnit = function (value, unit) {
    if (value === null || value === undefined || !isFinite(value)) return "—";
    switch (unit) {
      case "usd": return fmt.usd(value);
      case "days": return num(value, 1) + " days";
      case "s": return fmt.seconds(value);
      case "ratio": return fmt.pct(value);
      case "count": return num(value, 0);
      case "j": return fmt.si(value / 3600, "Wh");
      case "w": return fmt.si(value, "W");
      case "flop_s": return fmt.si(value, "FLOP/s");
      case "flop": return sig(value, 3) === "—" ? "—" : Number(value).toExponential(2) + " FLOP";
      case "params": return fmt.si(value, "") + " params";
      default: return sig(value, 4) + (unit ? " " + unit : "");
    }
  };

  /* An axis title: plotly.js 3 reads only {text: ...} objects (a bare string is ignored). */
  const axisTitle = (text) => ({ text: text, standoff: 8, font: { size: 12 } });

  const LAYOUT = {
    autosize: true, // the height comes from the container's CSS (.chart), so a resize keeps it
    margin: { l: 70, r: 20, t: 36, b: 50 },
    font: { family: "system-ui, sans-serif", size: 12 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    legend: { orientation: "h", y: -0.2 },
  };
  const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"] };

  function draw(el, traces, layout) {
    if (typeof el === "string") el = document.getElementById(el);
    if (!el || !root.Plotly) return;
    root.Plotly.react(el, traces, Object.assign({}, LAYOUT, layout), CONFIG);
  }

  /* Remove a chart (its data no longer matches the inputs). */
  function clear(el) {
    if (typeof el === "string") el = document.getElementById(el);
    if (el && root.Plotly) root.Plotly.purge(el);
  }

  /* Stacked bar of per-rank memory parts, with the chip's capacity as a line. */
  function memory(el, est) {
    const parts = Object.entries(est.memory_breakdown || {}).filter(([, v]) => v > 0);
    const traces = parts.map(([k, v], i) => ({
      type: "bar", orientation: "h", name: k.replace("memory/", ""), x: [v / GIB], y: ["worst rank"],
      marker: { color: COLORS[i % COLORS.length] },
      hovertemplate: k.replace("memory/", "") + ": %{x:.2f} GiB<extra></extra>",
    }));
    const cap = est.memory_capacity_bytes / GIB;
    const total = est.memory_bytes / GIB;
    draw(el, traces, {
      barmode: "stack",
      title: { text: "Memory per rank (" + est.worst_stage + " stage): " + num(total, 1) +
        " of " + num(cap, 1) + " GiB" + (est.fits ? "" : " — does NOT fit"), font: { size: 13 } },
      xaxis: { title: axisTitle("memory per rank (GiB)"), range: [0, Math.max(cap, total) * 1.08] },
      yaxis: { title: axisTitle("rank"), showticklabels: false },
      legend: { orientation: "h", y: -0.45 },
      shapes: [{ type: "line", x0: cap, x1: cap, y0: -0.5, y1: 0.5, line: { color: "#c00", width: 3, dash: "dash" } }],
      annotations: [{ x: cap, y: 0.5, text: "capacity", showarrow: false, yanchor: "bottom", font: { color: "#c00" } }],
    });
  }

  /* Where the step time goes (slowest rank, exposed time only). */
  function stepTime(el, est) {
    const parts = Object.entries(est.time_breakdown || {}).filter(([, v]) => v > 0);
    const traces = parts.map(([k, v], i) => ({
      type: "bar", orientation: "h", name: k.replace("time/", ""), x: [v], y: ["step"],
      marker: { color: COLORS[i % COLORS.length] },
      hovertemplate: k.replace("time/", "") + ": %{x:.4g} s<extra></extra>",
    }));
    draw(el, traces, {
      barmode: "stack",
      title: { text: "Step time: " + fmt.seconds(est.step_time_s) + " (" + num(est.microbatches, 0) +
        " micro-batches)", font: { size: 13 } },
      xaxis: { title: axisTitle("time per step, exposed (s)") },
      yaxis: { title: axisTitle("slowest rank"), showticklabels: false },
      legend: { orientation: "h", y: -0.45 },
    });
  }

  /* Cost against time to train, one point per chip; the Pareto-optimal ones joined.
   * rows: [{chip, days, cost_usd, pareto, label}] as the compare endpoint returns them. */
  function pareto(el, rows, title) {
    rows = (rows || []).filter((r) => r.days !== null && r.cost_usd !== null);
    const front = rows.filter((r) => r.pareto).sort((a, b) => a.days - b.days);
    const traces = [
      {
        type: "scatter", mode: "markers+text", name: "chips", x: rows.map((r) => r.days),
        y: rows.map((r) => r.cost_usd), text: rows.map((r) => r.chip), textposition: "top center",
        marker: { size: 11, color: rows.map((r) => (r.pareto ? "#e45756" : "#4c78a8")) },
        customdata: rows.map((r) => r.label || ""),
        hovertemplate: "%{text}<br>%{x:.1f} days, $%{y:,.3s}<br>%{customdata}<extra></extra>",
      },
      {
        type: "scatter", mode: "lines", name: "Pareto front", x: front.map((r) => r.days),
        y: front.map((r) => r.cost_usd), line: { color: "#e45756", dash: "dot" }, hoverinfo: "skip",
      },
    ];
    draw(el, traces, {
      title: { text: title || "Cost vs time to train, across chips", font: { size: 13 } },
      xaxis: { title: axisTitle("time to train (days, with goodput)"), rangemode: "tozero" },
      yaxis: { title: axisTitle("cost of the run (USD)"), rangemode: "tozero", tickprefix: "$" },
      showlegend: false,
    });
  }

  /* The model's own error bars: median |error| per chip (bar) and p90 (whisker). */
  function errors(el, summary, highlight) {
    const byChip = (summary && summary.by_chip) || {};
    const names = Object.keys(byChip).filter((k) => byChip[k].median_abs_rel_error !== null);
    const colors = names.map((k) => (highlight && highlight.indexOf(k) >= 0 ? "#e45756" : "#4c78a8"));
    const traces = [{
      type: "bar", x: names, y: names.map((k) => 100 * byChip[k].median_abs_rel_error),
      marker: { color: colors },
      error_y: {
        type: "data", symmetric: false, array: names.map((k) => 100 * ((byChip[k].p90_abs_rel_error || 0) - byChip[k].median_abs_rel_error)),
        arrayminus: names.map(() => 0), color: "#888",
      },
      customdata: names.map((k) => byChip[k].n),
      hovertemplate: "%{x}: median |error| %{y:.1f}%<br>%{customdata} runs<extra></extra>",
    }];
    draw(el, traces, {
      title: { text: "Prediction error vs measured runs, by chip (bar: median |error|, whisker: p90)", font: { size: 13 } },
      xaxis: { title: axisTitle("chip of the measured runs") },
      yaxis: { title: axisTitle("|predicted / measured − 1| (%)"), rangemode: "tozero" }, showlegend: false,
    });
  }

  /* Bars of named figures, e.g. goodput losses or a fleet's power split. */
  function bars(el, labels, values, title, unit, xTitle) {
    draw(el, [{ type: "bar", x: labels, y: values, marker: { color: COLORS.slice(0, labels.length) },
      hovertemplate: "%{x}: %{y:.4g} " + (unit || "") + "<extra></extra>" }],
      { title: { text: title, font: { size: 13 } }, xaxis: { title: axisTitle(xTitle || "") },
        yaxis: { title: axisTitle(unit || ""), rangemode: "tozero" }, showlegend: false });
  }

  /* Serving: output tokens/s per chip against tokens/s per user (the Pareto front of every
   * deployment that fits, as /api/infer returns it), the chosen deployment marked. */
  function servingCurve(el, inf) {
    const c = inf.curve || [];
    const b = inf.best;
    const traces = [{
      type: "scatter", mode: "lines+markers", name: "Pareto front", x: c.map((p) => p.tokens_per_s_per_user),
      y: c.map((p) => p.output_tokens_per_s_per_chip), customdata: c.map((p) => p.layout),
      marker: { size: 7, color: COLORS[0] }, line: { color: COLORS[0] },
      hovertemplate: "%{x:.1f} tok/s/user, %{y:,.0f} tok/s/chip<br>%{customdata}<extra></extra>",
    }];
    if (b) {
      traces.push({
        type: "scatter", mode: "markers", name: "chosen deployment", x: [b.tokens_per_s_per_user],
        y: [b.output_tokens_per_s_per_chip], marker: { size: 14, color: "#e45756", symbol: "star" },
        hovertemplate: "chosen: %{x:.1f} tok/s/user, %{y:,.0f} tok/s/chip<extra></extra>",
      });
    }
    draw(el, traces, {
      title: { text: "Throughput per chip vs interactivity (" + inf.model + " on " + inf.chip + ")", font: { size: 13 } },
      xaxis: { title: axisTitle("interactivity (output tokens/s per user)"), rangemode: "tozero" },
      yaxis: { title: axisTitle("throughput (output tokens/s per chip)"), rangemode: "tozero" },
    });
  }

  /* Serving latency: TTFT and TPOT split into their parts (each row sums to its total). */
  function latency(el, inf) {
    const p = (inf.best && inf.best.latency_parts_s) || { ttft: {}, tpot: {} };
    const names = Array.from(new Set([...Object.keys(p.ttft), ...Object.keys(p.tpot)]));
    const traces = names.filter((k) => (p.ttft[k] || 0) > 0 || (p.tpot[k] || 0) > 0).map((k, i) => ({
      type: "bar", orientation: "h", name: k.replace(/_/g, " "),
      x: [1e3 * (p.ttft[k] || 0), 1e3 * (p.tpot[k] || 0)], y: ["TTFT", "TPOT"],
      marker: { color: COLORS[i % COLORS.length] },
      hovertemplate: k.replace(/_/g, " ") + ": %{x:.2f} ms<extra></extra>",
    }));
    draw(el, traces, {
      barmode: "stack",
      title: { text: "Latency: TTFT " + fmt.seconds(inf.best && inf.best.ttft_s) + ", TPOT " +
        fmt.seconds(inf.best && inf.best.tpot_s), font: { size: 13 } },
      xaxis: { title: axisTitle("time (ms)") }, yaxis: { title: axisTitle("latency") },
      legend: { orientation: "h", y: -0.3 },
    });
  }

  /* Serving memory per chip: weights, KV cache, workspace, against HBM capacity. */
  function servingMemory(el, inf, capacityBytes) {
    const m = (inf.best && inf.best.memory_bytes_per_chip) || {};
    const parts = ["weights", "kv_cache", "workspace"].filter((k) => (m[k] || 0) > 0);
    const traces = parts.map((k, i) => ({
      type: "bar", orientation: "h", name: k.replace("_", " "), x: [m[k] / GIB], y: ["chip"],
      marker: { color: COLORS[i % COLORS.length] },
      hovertemplate: k.replace("_", " ") + ": %{x:.2f} GiB<extra></extra>",
    }));
    const layout = {
      barmode: "stack",
      title: { text: "Memory per chip: " + num((m.total || 0) / GIB, 1) + " GiB (KV cache " +
        num((m.kv_cache || 0) / GIB, 1) + " GiB at " + num(inf.best ? inf.best.deployment.concurrency : 0, 0) +
        " concurrent requests)", font: { size: 13 } },
      xaxis: { title: axisTitle("memory per chip (GiB)") }, yaxis: { title: axisTitle("chip"), showticklabels: false },
      legend: { orientation: "h", y: -0.45 },
    };
    if (capacityBytes) {
      const cap = capacityBytes / GIB;
      layout.xaxis.range = [0, Math.max(cap, (m.total || 0) / GIB) * 1.08];
      layout.shapes = [{ type: "line", x0: cap, x1: cap, y0: -0.5, y1: 0.5, line: { color: "#c00", width: 3, dash: "dash" } }];
      layout.annotations = [{ x: cap, y: 0.5, text: "HBM", showarrow: false, yanchor: "bottom", font: { color: "#c00" } }];
    }
    draw(el, traces, layout);
  }

  /* Post-training: where a step goes — RL parts (rollout, log-probs, train, weight sync) or a
   * fine-tuning step's time breakdown. */
  function postSteps(el, d) {
    const parts = d.time_s ? Object.entries(d.time_s) : Object.entries(d.time_breakdown || {}).map(([k, v]) => [k.replace("time/", ""), v]);
    const traces = parts.filter(([, v]) => v > 0).map(([k, v], i) => ({
      type: "bar", orientation: "h", name: k.replace(/_/g, " "), x: [v], y: ["step"],
      marker: { color: COLORS[i % COLORS.length] },
      hovertemplate: k.replace(/_/g, " ") + ": %{x:.4g} s<extra></extra>",
    }));
    draw(el, traces, {
      barmode: "stack",
      title: { text: (d.time_s ? "RL step" : "Fine-tuning step") + ": " + fmt.seconds(d.step_time_s), font: { size: 13 } },
      xaxis: { title: axisTitle("time per step (s)") }, yaxis: { title: axisTitle("step"), showticklabels: false },
      legend: { orientation: "h", y: -0.45 },
    });
  }

  root.GT = Object.assign(root.GT || {}, { fmt: fmt, charts: { memory, stepTime, pareto, errors, bars, draw, clear,
    servingCurve, latency, servingMemory, postSteps } });
})(typeof window !== "undefined" ? window : this);
