/* gigatrain planner page: reads the form, calls the JSON API, renders what comes back.
 * No model logic here: every number shown arrives from the API (the library functions the
 * CLI calls). Server text is inserted with textContent only, never as HTML. */
(function () {
  "use strict";
  const GT = window.GT;
  const fmt = GT.fmt;
  const $ = (id) => document.getElementById(id);
  const state = { features: {}, seq: 0, validation: null, est: null, timers: {}, errors: {}, picked: null };

  // ------------------------------------------------------------------ helpers
  /* An error the user can fix: `field` is the id of the input it is about (if any). */
  class InputError extends Error {
    constructor(msg, field) { super(msg); this.field = field || null; }
  }

  async function api(method, path, body) {
    const opts = { method: method, headers: {} };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(path, opts);
    let data = null;
    try { data = await res.json(); } catch (e) { data = { error: "the server answered HTTP " + res.status }; }
    if (!res.ok) {
      const err = new InputError(apiMessage(data, res.status), data && data.field);
      err.status = res.status;
      err.retryAfter = parseInt(res.headers.get("Retry-After") || "0", 10) || 0;
      throw err;
    }
    return data;
  }
  /* The server's one-line message, with the field named by its label on this page. */
  function apiMessage(data, status) {
    if (!data || !data.error) return "the server answered HTTP " + status;
    const d = data.detail && data.detail[0];
    const input = data.field && $(data.field);
    if (d && input) {
      // the page's label instead of the API's field name; the value once
      const msg = d.msg.replace(new RegExp("^" + data.field + "(=\\S+)?:\\s*"), "");
      const bare = (d.value || "").replace(/^'(.*)'$/, "$1");
      return label(data.field) + ": " + (d.value && msg.indexOf(bare) < 0 ? d.value + " " : "") + msg;
    }
    return data.error;
  }
  function label(id) {
    const e = $(id);
    const l = e && e.closest("label");
    const text = l ? Array.from(l.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join(" ").trim() : "";
    return text || id;
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

  // ------------------------------------------------------------------ the error banner
  /* Every input problem of the current request, from the estimate and its follow-ups, one
   * line each; the inputs they name are marked. Errors of an older request are dropped. */
  function setError(source, err) {
    if (err) state.errors[source] = err; else delete state.errors[source];
    renderErrors();
  }
  function renderErrors() {
    const lines = [];
    for (const e of document.querySelectorAll(".invalid")) e.classList.remove("invalid");
    for (const e of document.querySelectorAll("[aria-invalid]")) e.removeAttribute("aria-invalid");
    for (const err of Object.values(state.errors)) {
      if (lines.indexOf(err.message) < 0) lines.push(err.message);
      const input = err.field && $(err.field);
      if (input) { input.classList.add("invalid"); input.setAttribute("aria-invalid", "true"); }
    }
    const box = $("error");
    box.replaceChildren(...lines.map((l) => el("div", l)));
    box.hidden = lines.length === 0;
  }
  /* A follow-up's error belongs in the banner when it is about an input (a 4xx naming a
   * field, e.g. a price the server cannot read), not when it is a result (nothing fits). */
  const isInputError = (err) => err instanceof InputError && !!err.field && err.status !== 429;

  // ------------------------------------------------------------------ strict numbers
  const NUMBER = /^[+]?(\d+\.?\d*|\.\d+)(e[+]?\d+)?$/i;
  /* The number typed in `id`: digits, an optional fraction and exponent (8192, 8.192e3, 1e3,
   * 1_000 or 1,000); anything else, a fraction where a whole number goes, or a value outside
   * [min, max] is an InputError naming the field and the value. */
  function numberField(id, opts) {
    const o = Object.assign({ integer: true, min: 1, max: Infinity }, opts || {});
    const raw = $(id).value.trim();
    const name = label(id);
    if (raw === "") throw new InputError(name + ": enter a number", id);
    const text = raw.replace(/[_,](?=\d{3}(\D|$))/g, "");
    if (!NUMBER.test(text)) throw new InputError(name + ": '" + raw + "' is not a number (e.g. 8192 or 8.192e3)", id);
    const v = Number(text);
    if (!isFinite(v)) throw new InputError(name + ": '" + raw + "' is too large", id);
    if (o.integer && !Number.isInteger(v)) throw new InputError(name + ": '" + raw + "' is not a whole number", id);
    if (v < o.min || v > o.max) {
      throw new InputError(name + ": " + raw + " is outside " + fmt.num(o.min, 6) + "–" + (isFinite(o.max) ? fmt.num(o.max, 6) : "∞"), id);
    }
    return v;
  }
  const optText = (id) => ($(id).value.trim() === "" ? null : $(id).value.trim());
  const sizing = () => document.querySelector("input[name=sizing]:checked").value;

  // ------------------------------------------------------------------ request bodies
  function jobBody() {
    const b = {
      chip: $("chip").value,
      seq: numberField("seq", { max: 1e7 }),
      global_batch: numberField("global_batch", { max: 1e9 }),
      tokens: $("tokens").value.trim() || 0,
      precision: $("precision").value,
      framework: $("framework").value,
    };
    if ($("system").value) b.system = $("system").value;
    if ($("use-config").checked && $("config").value.trim()) {
      try { b.config = JSON.parse($("config").value); } catch (e) { throw new InputError("config.json: " + e.message, "config"); }
    } else {
      b.model = $("model").value;
    }
    return b;
  }
  /* The plan's degrees come from /api/choices (specs.PLAN_DEGREES); the page's static inputs
   * cover today's, and addDegreeInputs() adds one for any degree declared later. */
  let PLAN_INPUTS = ["tp", "pp", "cp", "ep", "vpp", "micro_batch"];
  let CHIP_DEGREES = ["tp", "pp", "cp"];
  function addDegreeInputs(degrees) {
    PLAN_INPUTS = degrees.map((d) => d.name);
    CHIP_DEGREES = degrees.filter((d) => d.splits_chips).map((d) => d.name);
    const before = $("zero_stage").closest("label");
    for (const d of degrees) {
      if ($(d.name)) continue;
      const label = document.createElement("label");
      label.textContent = d.name.replace("_", "-") + " ";
      const input = document.createElement("input");
      Object.assign(input, { id: d.name, type: "text", inputMode: "decimal", value: "1", title: d.help });
      label.appendChild(input);
      before.parentNode.insertBefore(label, before);
      PLAN_DEPENDS.add(d.name);
    }
  }
  function planBody() {
    const b = {};
    for (const k of PLAN_INPUTS) b[k] = numberField(k, { max: 1e6 });
    b.fsdp_shard = numberField("fsdp_shard", { min: 0, max: 1e7 });
    b.zero_stage = parseInt($("zero_stage").value, 10); // a <select> of 0-3
    b.recompute = $("recompute").value;
    b.sequence_parallel = $("sequence_parallel").checked;
    return b;
  }
  /* The estimate request. In power-envelope mode the fleet is what the power buys
   * (state.fleetChips); the plan runs on the largest count it can use (round_chips: the
   * server picks it and says why), or on a plan clicked in the best-plans table. */
  function estimateBody() {
    const b = Object.assign(jobBody(), planBody());
    if (sizing() === "power") {
      if (!state.fleetChips) throw new InputError("power: no fleet size yet", "power");
      if (state.picked) b.chips = state.picked.chips;
      else { b.chips = state.fleetChips; b.round_chips = true; }
    } else {
      b.chips = numberField("chips", { max: 1e7 });
    }
    return b;
  }
  function priceBody() {
    const b = {};
    for (const k of ["usd_per_chip_hour", "usd_per_kwh"]) if (optText(k) !== null) b[k] = optText(k);
    if (optText("pue") !== null) b.pue = numberField("pue", { integer: false, min: 1, max: 3 });
    return b;
  }
  /* The chip count the shown plan runs on (after the estimate), else what the inputs say. */
  function planChips() {
    if (state.est && state.estSeq === state.seq) return state.est.chips;
    return sizing() === "power" ? state.fleetChips : numberField("chips", { max: 1e7 });
  }
  function clusterMax() {
    const c = state.choices;
    const slug = $("system").value || (c.chips.find((x) => x.slug === $("chip").value) || {}).system;
    const s = c.systems.find((x) => x.slug === slug);
    return s ? s.max_chips : Infinity;
  }

  // ------------------------------------------------------------------ estimate
  async function update() {
    const seq = ++state.seq;
    document.body.dataset.request = String(seq);
    state.errors = {};
    setStatus("loading", "computing…");
    try { priceBody(); } catch (err) { state.errors.prices = err; } // reported with the rest
    try {
      if (sizing() === "power" && state.features.fleet) await sizeFleet(seq);
      if (seq !== state.seq) return;
      const est = await api("POST", "/api/estimate", estimateBody());
      if (seq !== state.seq) return; // a newer request is on its way
      state.est = est;
      state.estSeq = seq;
      renderEstimate(est);
      $("results").classList.remove("stale");
      renderErrors();
      setStatus("ready", Object.keys(state.errors).length ? "see the message above" : "up to date");
    } catch (err) {
      if (seq !== state.seq) return;
      state.errors.estimate = err;
      renderErrors();
      setStatus("error", "input error — the numbers below are for the last valid input");
      $("results").classList.add("stale");
    }
    document.body.dataset.shown = String(seq);
    followUps(); // search needs no plan: it can still show plans that work
  }

  async function sizeFleet(seq) {
    const body = Object.assign({ chip: $("chip").value, power: $("power").value.trim(), precision: $("precision").value }, priceBody());
    delete body.usd_per_chip_hour;
    let fl;
    try { fl = await api("POST", "/api/fleet", body); } catch (err) {
      if (!err.field) err.field = "power";
      throw err;
    }
    if (seq !== state.seq) return;
    state.fleetChips = fl.chips;
    renderFleet(fl);
    mark("fleet", seq);
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
    const note = $("power-note");
    if (sizing() === "power") {
      note.textContent = state.picked ? "the clicked plan runs on " + fmt.num(e.chips, 0) + " of the " +
        fmt.num(state.fleetChips, 0) + " chips this power buys" : (e.chips_note || "");
      note.hidden = false;
    }
    const eb = e.error_bars || {};
    const rows = Object.entries(eb.by_chip_type || {});
    if (e.error_bar && e.step_time_interval_s) {
      // held-out (leave-one-source-out) p10–p90 interval and the runs that back it
      const [lo, hi] = e.step_time_interval_s;
      setOut("out-err", e.error_bar.hi, "×" + e.error_bar.lo.toFixed(2) + "–" + e.error_bar.hi.toFixed(2));
      $("out-err-note").textContent = "step time " + lo.toFixed(2) + "–" + hi.toFixed(2) +
        " s (held-out p10–p90, " + e.error_bar.rows + " rows of " + e.error_bar.basis + "); " + (e.evidence || "");
    } else if (rows.length) {
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

  /* A follow-up failed: a busy server is retried after its Retry-After; an input error also
   * goes to the banner. Returns true when a retry was scheduled. */
  function followUpError(name, seq, err, retry) {
    if (err.status === 429 && retry) {
      const s = Math.min(Math.max(err.retryAfter, 1), 10);
      debounce(name, () => { if (fresh(seq)) retry(); }, 1000 * s);
      return true;
    }
    if (isInputError(err)) setError(name, err);
    return false;
  }

  async function runSearch() {
    if (!state.features.search) { $("search-note").textContent = "(search is not in this build)"; return; }
    const seq = state.seq;
    $("search-note").textContent = "searching…";
    try {
      const body = jobBody();
      if (sizing() === "power") {
        // every count the envelope can run, from half of it up: powers of two, 3·2^k and the
        // largest, capped at the system's largest cluster
        const cap = Math.min(state.fleetChips || 1, clusterMax());
        body.chips = cap > 1 ? Math.ceil(cap / 2) + "-" + cap : cap;
      } else {
        body.chips = numberField("chips", { max: 1e7 });
      }
      body.top = 10;
      const r = await api("POST", "/api/search", body);
      if (!fresh(seq)) return;
      state.search = r;
      $("search-note").textContent = (r.note || "") + (r.plans.length ? " — click a plan to use it" : "");
      table($("search-table"), ["#", "plan (click to use)", "chips", "step time", "MFU", "memory/rank", "days", p0cost(r)],
        r.plans.map((p, i) => [i + 1, p.describe, fmt.num(p.chips, 0), fmt.seconds(p.step_time_s), fmt.pct(p.mfu), fmt.gib(p.memory_bytes),
          p.days_to_train === null ? "—" : fmt.num(p.days_to_train, 1), fmt.usd(p.cost_usd)]),
        (i) => applyPlan(r.plans[i].plan));
    } catch (err) {
      if (!fresh(seq)) return;
      if (followUpError("search", seq, err, runSearch)) {
        $("search-note").textContent = "the server is busy with other searches; retrying in a moment…";
        return;
      }
      $("search-note").textContent = err.message;
      $("search-table").replaceChildren();
    }
    mark("search", seq);
  }

  function p0cost(r) {
    return r.plans.length && r.plans[0].per_step ? "cost per step" : "cost (failure-free)";
  }

  /* Use a plan from the best-plans table: its degrees and chip count. In power mode the
   * plan is kept (not re-rounded to the fleet) until an input it depends on changes. */
  function applyPlan(p) {
    for (const k of [...PLAN_INPUTS, "zero_stage", "fsdp_shard"]) $(k).value = String(p[k]);
    const chips = CHIP_DEGREES.reduce((n, k) => n * p[k], p.dp);
    $("chips").value = String(chips);
    $("recompute").value = p.recompute;
    $("sequence_parallel").checked = !!p.sequence_parallel;
    state.picked = sizing() === "power" ? { chips: chips } : null;
    update();
  }

  async function runCost() {
    const seq = state.seq;
    try {
      const b = Object.assign(estimateBody(), priceBody(), { pricing: $("pricing").value });
      if (state.est && state.estSeq === seq) { b.chips = state.est.chips; delete b.round_chips; }
      const c = await api("POST", "/api/cost", b);
      if (!fresh(seq)) return;
      renderCost(c);
    } catch (err) {
      if (!fresh(seq)) return;
      if (!state.errors.estimate) followUpError("cost", seq, err, null);
      kv($("cost-box"), [["not priced", err.message]]);
      GT.charts.clear("chart-goodput");
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
    const g = c.goodput_chart;
    if (g) GT.charts.bars("chart-goodput", g.labels, g.values, g.title, g.unit, g.x_title);
  }

  function clearCompare(note) {
    GT.charts.clear("chart-pareto");
    table($("compare-table"), ["compare"], [[note]]);
  }

  async function runCompare() {
    const seq = state.seq;
    const cur = $("chip").value;
    // the chip being planned is the reference of the price-performance ratios when compared
    const chips = Array.from($("compare-chips").selectedOptions).map((o) => o.value)
      .sort((a, b) => (b === cur) - (a === cur));
    if (chips.length === 0) {
      clearCompare("select chips to compare (Prices → compare chips)");
      mark("compare", seq);
      return;
    }
    try {
      const b = Object.assign(jobBody(), priceBody(), { chips: planChips(), compare: chips, pricing: $("pricing").value });
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
      if (followUpError("compare", seq, err, runCompare)) {
        clearCompare("the server is busy with other searches; retrying in a moment…");
        return;
      }
      clearCompare(err.message);
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
      const body = Object.assign({ chip: $("chip").value, chips: planChips(), precision: $("precision").value }, priceBody());
      delete body.usd_per_chip_hour;
      const f = await api("POST", "/api/fleet", body);
      if (!fresh(seq)) return;
      renderFleet(f);
    } catch (err) {
      if (!fresh(seq)) return;
      if (!state.errors.estimate) followUpError("fleet", seq, err, null);
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
    document.body.dataset.validation = "done";
  }

  // ------------------------------------------------------------------ setup
  function systemsFor(chip) {
    const items = [{ value: "", label: "default for chip" }];
    for (const s of state.choices.systems) if (s.chip === chip) items.push({ value: s.slug, label: s.slug + " — " + s.name });
    fill($("system"), items, "");
  }

  /* Inputs a clicked plan depends on: changing one of them drops the clicked plan. */
  const PLAN_DEPENDS = new Set(["model", "config", "use-config", "chip", "system", "power", "seq", "global_batch",
    "precision", "framework", "tp", "pp", "cp", "ep", "vpp", "micro_batch", "zero_stage", "fsdp_shard", "recompute",
    "sequence_parallel"]);

  function onInput(ev) {
    if (ev && ev.target && PLAN_DEPENDS.has(ev.target.id)) state.picked = null;
    debounce("update", update, 200);
  }

  function setSizing(power) {
    $("power-label").hidden = !power;
    $("power-note").hidden = !power;
    $("chips-label").hidden = power;
    state.picked = null;
  }

  async function init() {
    try {
      const [choices, health] = await Promise.all([api("GET", "/api/choices"), api("GET", "/api/health")]);
      state.choices = choices;
      state.features = health.features || {};
    } catch (err) {
      setError("init", new InputError("cannot reach the API: " + err.message));
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
    if (c.plan_degrees) addDegreeInputs(c.plan_degrees);
    systemsFor("h100-sxm");
    $("chip").addEventListener("change", () => systemsFor($("chip").value));
    for (const name of ["search", "cost", "compare", "fleet"]) document.body.dataset[name] = state.features[name] ? "on" : "off";

    $("inputs").addEventListener("input", onInput);
    $("inputs").addEventListener("change", onInput);
    for (const r of document.querySelectorAll("input[name=sizing]")) {
      r.addEventListener("change", () => { if (r.checked) setSizing(r.value === "power"); });
    }
    $("run-search").addEventListener("click", runSearch);
    loadValidation();
    await update();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
