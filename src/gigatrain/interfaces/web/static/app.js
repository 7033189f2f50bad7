/* gigatrain planner page: reads the form, calls the JSON API, renders what comes back.
 * No model logic here: every number shown arrives from the API (the library functions the
 * CLI calls). Server text is inserted with textContent only, never as HTML. */
(function () {
  "use strict";
  const GT = window.GT;
  const fmt = GT.fmt;
  const $ = (id) => document.getElementById(id);
  const state = { features: {}, seq: 0, shown: 0, validation: null, est: null, timers: {} };

  // ------------------------------------------------------------------ helpers
  async function api(method, path, body) {
    const opts = { method: method, headers: {} };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(path, opts);
    let data = null;
    try { data = await res.json(); } catch (e) { data = { error: "HTTP " + res.status }; }
    if (!res.ok) throw new Error((data && data.error) || "HTTP " + res.status);
    return data;
  }
  function debounce(name, fn, ms) {
    clearTimeout(state.timers[name]);
    state.timers[name] = setTimeout(fn, ms);
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function fill(select, items, value) {
    select.replaceChildren();
    for (const it of items) {
      const o = el("option", it.label);
      o.value = it.value;
      select.appendChild(o);
    }
    if (value !== undefined) select.value = value;
  }
  function setOut(id, raw, text) {
    const e = $(id);
    e.textContent = text;
    e.dataset.value = raw === null || raw === undefined ? "" : String(raw);
  }
  function showError(msg) {
    const e = $("error");
    e.textContent = msg || "";
    e.hidden = !msg;
  }
  function setStatus(st, text) {
    document.body.dataset.state = st;
    $("status").dataset.state = st;
    $("status").textContent = text;
  }
  function table(t, header, rows, onClick) {
    t.replaceChildren();
    const head = el("tr");
    for (const h of header) head.appendChild(el("th", h));
    t.appendChild(head);
    rows.forEach((r, i) => {
      const tr = el("tr");
      for (const c of r) tr.appendChild(el("td", c));
      if (onClick) { tr.classList.add("clickable"); tr.addEventListener("click", () => onClick(i)); }
      t.appendChild(tr);
    });
  }
  function kv(box, pairs) {
    box.replaceChildren();
    for (const [k, v, id] of pairs) {
      const d = el("div", null, "kv-row");
      d.appendChild(el("span", k, "k"));
      const val = el("span", v, "v");
      if (id) val.id = id;
      d.appendChild(val);
      box.appendChild(d);
    }
  }
  const intVal = (id) => parseInt($(id).value, 10);
  const sizing = () => document.querySelector("input[name=sizing]:checked").value;
  const optText = (id) => ($(id).value.trim() === "" ? null : $(id).value.trim());

  // ------------------------------------------------------------------ request bodies
  function jobBody() {
    const b = {
      chip: $("chip").value,
      seq: intVal("seq"),
      global_batch: intVal("global_batch"),
      tokens: $("tokens").value.trim() || 0,
      precision: $("precision").value,
      framework: $("framework").value,
    };
    if ($("system").value) b.system = $("system").value;
    if ($("use-config").checked && $("config").value.trim()) {
      try { b.config = JSON.parse($("config").value); } catch (e) { throw new Error("config.json: " + e.message); }
    } else {
      b.model = $("model").value;
    }
    return b;
  }
  function estimateBody() {
    const b = jobBody();
    b.chips = intVal("chips");
    for (const k of ["tp", "pp", "cp", "ep", "vpp", "micro_batch", "fsdp_shard"]) b[k] = intVal(k);
    b.zero_stage = intVal("zero_stage");
    b.recompute = $("recompute").value;
    b.sequence_parallel = $("sequence_parallel").checked;
    return b;
  }
  function priceBody() {
    const b = {};
    for (const k of ["usd_per_chip_hour", "usd_per_kwh", "pue"]) if (optText(k) !== null) b[k] = optText(k);
    return b;
  }

  // ------------------------------------------------------------------ estimate
  async function update() {
    const seq = ++state.seq;
    document.body.dataset.request = String(seq);
    setStatus("loading", "computing…");
    let body;
    try {
      if (sizing() === "power" && state.features.fleet) {
        const fl = await api("POST", "/api/fleet", Object.assign({ chip: $("chip").value, power: $("power").value }, priceBody()));
        if (seq !== state.seq) return;
        $("chips").value = String(fl.chips);
        renderFleet(fl);
        mark("fleet", seq);
      }
      body = estimateBody();
      const est = await api("POST", "/api/estimate", body);
      if (seq !== state.seq) return; // a newer request is on its way
      state.est = est;
      renderEstimate(est);
      $("results").classList.remove("stale");
      showError("");
      setStatus("ready", "up to date");
      document.body.dataset.shown = String(seq);
      followUps();
    } catch (err) {
      if (seq !== state.seq) return;
      showError(err.message);
      setStatus("error", "input error — the numbers below are for the last valid input");
      $("results").classList.add("stale");
      document.body.dataset.shown = String(seq);
      followUps(); // search needs no plan: it can still show plans that work
    }
  }

  function renderEstimate(e) {
    setOut("out-step", e.step_time_s, fmt.seconds(e.step_time_s));
    setOut("out-mfu", e.mfu, fmt.pct(e.mfu));
    setOut("out-mfu-nc", e.mfu_noncausal, fmt.pct(e.mfu_noncausal));
    setOut("out-tps", e.tokens_per_s, fmt.si(e.tokens_per_s));
    setOut("out-tps-chip", e.tokens_per_s_per_chip, fmt.num(e.tokens_per_s_per_chip, 0));
    setOut("out-mem", e.memory_bytes, fmt.gib(e.memory_bytes));
    setOut("out-cap", e.memory_capacity_bytes, fmt.gib(e.memory_capacity_bytes));
    setOut("out-days", e.days_to_train, e.days_to_train === null ? "—" : fmt.num(e.days_to_train, 1));
    const fits = $("out-fits");
    fits.textContent = e.fits ? "fits" : "does NOT fit";
    fits.className = e.fits ? "ok" : "bad";
    setOut("out-plan", e.describe, e.describe);
    setOut("out-chips", e.chips, fmt.num(e.chips, 0));
    setOut("out-system", e.system, e.system);
    setOut("out-params", e.params_total, fmt.si(e.params_total));
    const eb = e.error_bars || {};
    const rows = Object.entries(eb.by_chip_type || {});
    if (rows.length) {
      const best = rows.sort((a, b) => b[1].n - a[1].n)[0];
      setOut("out-err", best[1].median_abs_rel_error, "±" + fmt.pct(best[1].median_abs_rel_error));
      $("out-err-note").textContent = "median |error| over " + best[1].n + " measured runs on " + best[0] +
        " (p90 " + fmt.pct(best[1].p90_abs_rel_error) + ")";
    } else if (eb.overall) {
      setOut("out-err", eb.overall.median_abs_rel_error, "±" + fmt.pct(eb.overall.median_abs_rel_error));
      $("out-err-note").textContent = "no measured runs on this chip; median |error| over all " + eb.overall.n + " runs";
    }
    GT.charts.memory("chart-memory", e);
    GT.charts.stepTime("chart-time", e);
    if (state.validation) GT.charts.errors("chart-errors", state.validation.summary, chipTypes(e.chip));
  }

  function chipTypes(slug) {
    const m = (state.validation && state.validation.chip_slugs) || {};
    return Object.keys(m).filter((k) => m[k] === slug);
  }

  // ------------------------------------------------------------------ search, cost, compare, fleet
  function followUps() {
    if (state.features.cost) debounce("cost", runCost, 50);
    if (state.features.compare) debounce("compare", runCompare, 100);
    if (state.features.search && $("auto-search").checked) debounce("search", runSearch, 100);
    if (state.features.fleet && sizing() === "chips") debounce("fleet", runFleetFromChips, 150);
  }

  // Each follow-up renders only if no newer input arrived meanwhile, then records which
  // request it answered in body[data-<name>] (the browser test waits on these).
  const fresh = (seq) => seq === state.seq;
  const mark = (name, seq) => { if (fresh(seq)) document.body.dataset[name] = String(seq); };

  async function runSearch() {
    if (!state.features.search) { $("search-note").textContent = "(search is not in this build)"; return; }
    const seq = state.seq;
    $("search-note").textContent = "searching…";
    try {
      const body = jobBody();
      const n = intVal("chips");
      // sized from a power envelope: search every count up to what it powers (N/2 to N:
      // powers of two, 3·2^k and N itself), as an envelope rarely divides into a layout
      body.chips = sizing() === "power" && n > 1 ? Math.ceil(n / 2) + "-" + n : n;
      body.top = 10;
      const r = await api("POST", "/api/search", body);
      if (!fresh(seq)) return;
      state.search = r;
      $("search-note").textContent = (r.note || "") + (r.plans.length ? " — click a plan to use it" : "");
      table($("search-table"), ["#", "plan (click to use)", "step time", "MFU", "memory/rank", "days", p0cost(r)],
        r.plans.map((p, i) => [i + 1, p.describe, fmt.seconds(p.step_time_s), fmt.pct(p.mfu), fmt.gib(p.memory_bytes),
          p.days_to_train === null ? "—" : fmt.num(p.days_to_train, 1), fmt.usd(p.cost_usd)]),
        (i) => applyPlan(r.plans[i].plan));
    } catch (err) {
      if (!fresh(seq)) return;
      $("search-note").textContent = err.message;
      $("search-table").replaceChildren();
    }
    mark("search", seq);
  }

  function p0cost(r) {
    return r.plans.length && r.plans[0].per_step ? "cost per step" : "cost (failure-free)";
  }

  function applyPlan(p) {
    for (const k of ["tp", "pp", "cp", "ep", "vpp", "micro_batch", "zero_stage", "fsdp_shard"]) $(k).value = String(p[k]);
    $("chips").value = String(p.tp * p.pp * p.cp * p.dp);
    $("recompute").value = p.recompute;
    $("sequence_parallel").checked = !!p.sequence_parallel;
    update();
  }

  async function runCost() {
    const seq = state.seq;
    try {
      const b = Object.assign(estimateBody(), priceBody(), { pricing: $("pricing").value });
      const c = await api("POST", "/api/cost", b);
      if (!fresh(seq)) return;
      renderCost(c);
    } catch (err) {
      if (!fresh(seq)) return;
      kv($("cost-box"), [["cost", err.message]]);
      if (window.Plotly) window.Plotly.purge($("chart-goodput"));
    }
    mark("cost", seq);
  }

  function figures(box, prefix, figs) {
    kv(box, (figs || []).map((f) => [f.label, fmt.byUnit(f.value, f.unit), prefix + f.id]));
    for (const f of figs || []) {
      const e = $(prefix + f.id);
      if (e) e.dataset.value = f.value === null ? "" : String(f.value);
    }
  }

  function renderCost(c) {
    figures($("cost-box"), "cost-", c.figures);
    if (c.price) $("cost-box").appendChild(el("div", "price: " + (c.assumptions.price || c.price.basis || ""), "small note"));
    if (c.goodput_chart) GT.charts.bars("chart-goodput", c.goodput_chart.labels, c.goodput_chart.values, c.goodput_chart.title, c.goodput_chart.unit);
  }

  async function runCompare() {
    const seq = state.seq;
    const cur = $("chip").value;
    // the chip being planned is the reference of the price-performance ratios when compared
    const chips = Array.from($("compare-chips").selectedOptions).map((o) => o.value)
      .sort((a, b) => (b === cur) - (a === cur));
    if (chips.length === 0) { mark("compare", seq); return; }
    try {
      const b = Object.assign(jobBody(), priceBody(), { chips: intVal("chips"), compare: chips, pricing: $("pricing").value });
      delete b.chip;
      delete b.system;
      delete b.usd_per_chip_hour; // one rental price cannot apply to every chip
      const r = await api("POST", "/api/compare", b);
      if (!fresh(seq)) return;
      GT.charts.pareto("chart-pareto", r.rows);
      table($("compare-table"), ["chip", "plan it would use", "days", "cost", "energy", "price-perf vs " + r.reference, "Pareto"],
        r.rows.map((x) => [x.chip, x.label, fmt.num(x.days, 1), fmt.usd(x.cost_usd), fmt.byUnit(x.energy_j, "j"),
          fmt.num(x.price_performance_vs_ref, 2) + "×", x.pareto ? "yes" : ""]));
    } catch (err) {
      if (!fresh(seq)) return;
      table($("compare-table"), ["compare"], [[err.message]]);
    }
    mark("compare", seq);
  }

  function renderFleet(f) {
    figures($("fleet-box"), "fleet-", f.figures);
  }

  async function runFleetFromChips() {
    if (!state.features.fleet) return;
    const seq = state.seq;
    try {
      const f = await api("POST", "/api/fleet", Object.assign({ chip: $("chip").value, chips: intVal("chips"),
        precision: $("precision").value }, priceBody()));
      if (!fresh(seq)) return;
      renderFleet(f);
    } catch (err) {
      if (!fresh(seq)) return;
      kv($("fleet-box"), [["fleet", err.message]]);
    }
    mark("fleet", seq);
  }

  // ------------------------------------------------------------------ validation
  async function loadValidation() {
    try {
      const v = await api("GET", "/api/validate");
      state.validation = v;
      GT.charts.errors("chart-errors", v.summary, state.est ? chipTypes(state.est.chip) : []);
      const rows = Object.entries(v.summary.by_source || {}).map(([k, s]) => [k, s.n,
        fmt.pct(s.median_abs_rel_error), fmt.pct(s.p90_abs_rel_error), fmt.pct(s.median_rel_error), fmt.pct(s.within_15pct)]);
      const o = v.summary.overall || {};
      rows.push(["all sources", o.n, fmt.pct(o.median_abs_rel_error), fmt.pct(o.p90_abs_rel_error),
        fmt.pct(o.median_rel_error), fmt.pct(o.within_15pct)]);
      table($("errors-table"), ["source", "runs", "median |error|", "p90 |error|", "median error (bias)", "within 15%"], rows);
    } catch (err) {
      table($("errors-table"), ["validation"], [[err.message]]);
    }
  }

  // ------------------------------------------------------------------ setup
  function systemsFor(chip) {
    const items = [{ value: "", label: "default for chip" }];
    for (const s of state.choices.systems) if (s.chip === chip) items.push({ value: s.slug, label: s.slug + " — " + s.name });
    fill($("system"), items, "");
  }

  async function init() {
    try {
      const [choices, health] = await Promise.all([api("GET", "/api/choices"), api("GET", "/api/health")]);
      state.choices = choices;
      state.features = health.features || {};
    } catch (err) {
      showError("cannot reach the API: " + err.message);
      setStatus("error", "offline");
      return;
    }
    const c = state.choices;
    fill($("model"), c.models.map((m) => ({ value: m.slug, label: m.slug })), "llama-3.1-8b");
    fill($("chip"), c.chips.map((x) => ({ value: x.slug, label: x.slug + " — " + x.name })), "h100-sxm");
    fill($("compare-chips"), c.chips.map((x) => ({ value: x.slug, label: x.slug })));
    for (const o of $("compare-chips").options) o.selected = ["h100-sxm", "h200", "b200", "trn2", "a100-80gb"].includes(o.value);
    fill($("precision"), c.precisions.map((p) => ({ value: p, label: p })), "bf16");
    fill($("framework"), c.frameworks.map((p) => ({ value: p, label: p })), "megatron");
    fill($("recompute"), c.recompute.map((p) => ({ value: p, label: p })), "selective");
    systemsFor("h100-sxm");
    $("chip").addEventListener("change", () => systemsFor($("chip").value));
    for (const name of ["search", "cost", "compare", "fleet"]) document.body.dataset[name] = state.features[name] ? "on" : "off";

    $("inputs").addEventListener("input", () => debounce("update", update, 200));
    $("inputs").addEventListener("change", () => debounce("update", update, 200));
    for (const r of document.querySelectorAll("input[name=sizing]")) {
      r.addEventListener("change", () => {
        const power = r.value === "power" && r.checked;
        if (!r.checked) return;
        $("power-label").hidden = !power;
        $("chips-label").hidden = power;
      });
    }
    $("run-search").addEventListener("click", runSearch);
    loadValidation();
    await update();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
