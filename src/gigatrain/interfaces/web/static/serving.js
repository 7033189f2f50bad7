/* gigatrain planner page: the Serving and Post-training tabs. Reads their forms, calls
 * /api/infer, /api/finetune and /api/rl, renders what comes back. No model logic here: every
 * number shown arrives from the API (the library functions `gigatrain infer | finetune | rl`
 * call). Server text is inserted with textContent only, never as HTML. */
(function () {
  "use strict";
  const GT = window.GT;
  const fmt = GT.fmt;
  const $ = (id) => document.getElementById(id);
  const state = { choices: null, seq: { serving: 0, posttrain: 0 }, timers: {}, loaded: {} };

  // ------------------------------------------------------------------ helpers
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
    if (!res.ok) throw new InputError((data && data.error) || "the server answered HTTP " + res.status, data && data.field);
    return data;
  }
  function el(tag, text) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
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
  /* Show `text`, keep the raw number in data-value (what the tests compare with the API). */
  function setOut(id, raw, text) {
    const e = $(id);
    e.textContent = text;
    e.dataset.value = raw === null || raw === undefined ? "" : String(raw);
  }
  function table(t, header, rows) {
    t.replaceChildren();
    const head = el("tr");
    for (const h of header) head.appendChild(el("th", h));
    t.appendChild(head);
    for (const r of rows) {
      const tr = el("tr");
      for (const c of r) tr.appendChild(el("td", c));
      t.appendChild(tr);
    }
  }
  function label(id) {
    const e = $(id);
    const l = e && e.closest("label");
    return l ? Array.from(l.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join(" ").trim() : id;
  }
  const NUMBER = /^[+]?(\d+\.?\d*|\.\d+)(e[+]?\d+)?$/i;
  /* The number typed in `id` (1,000 and 1_000 allowed); empty → null when optional. */
  function numberField(id, opts) {
    opts = opts || {};
    const raw = $(id).value.trim().replace(/[,_]/g, "");
    if (raw === "" && opts.optional) return null;
    if (!NUMBER.test(raw)) throw new InputError(label(id) + ": " + JSON.stringify($(id).value) + " is not a number", id);
    const v = Number(raw);
    if (opts.integer && !Number.isInteger(v)) throw new InputError(label(id) + ": " + raw + " is not a whole number", id);
    if (opts.min !== undefined && v < opts.min) throw new InputError(label(id) + ": " + raw + " is below " + opts.min, id);
    return v;
  }
  function showError(prefix, err) {
    const box = $(prefix + "-error");
    for (const e of document.querySelectorAll("#pane-" + (prefix === "sv" ? "serving" : "posttrain") + " .invalid")) e.classList.remove("invalid");
    if (!err) { box.hidden = true; box.replaceChildren(); return; }
    box.replaceChildren(el("div", err.message));
    box.hidden = false;
    let field = err.field && ($(prefix + "-" + err.field) || $(err.field));
    if (field && field.closest && field.closest("main") === $("pane-" + (prefix === "sv" ? "serving" : "posttrain"))) field.classList.add("invalid");
  }
  function debounce(name, fn, ms) {
    clearTimeout(state.timers[name]);
    state.timers[name] = setTimeout(fn, ms);
  }

  // ------------------------------------------------------------------ tabs
  function showTab(btn) {
    for (const b of document.querySelectorAll("nav.tabs button")) {
      const on = b === btn;
      b.setAttribute("aria-selected", on ? "true" : "false");
      $(b.dataset.pane).hidden = !on;
    }
    document.body.dataset.tab = btn.dataset.pane.replace("pane-", "");
    // plotly sizes a chart to its box: redraw the pane's charts now that it is visible
    if (btn.id === "tab-serving") ensure("serving", runServing);
    if (btn.id === "tab-posttrain") ensure("posttrain", runPosttrain);
    if (window.Plotly) for (const c of $(btn.dataset.pane).querySelectorAll(".js-plotly-plot")) window.Plotly.Plots.resize(c);
  }
  async function ensure(name, run) {
    if (state.loaded[name]) return;
    state.loaded[name] = true;
    await loadChoices();
    run();
  }
  async function loadChoices() {
    if (state.choices) return;
    state.choices = await api("GET", "/api/choices");
    const models = state.choices.models.map((m) => ({ value: m.slug, label: m.slug }));
    const chips = state.choices.chips.map((x) => ({ value: x.slug, label: x.slug + " — " + x.name }));
    fill($("sv-model"), models, "llama-3.1-70b");
    fill($("sv-chip"), chips, "h100-sxm");
    fill($("pt-model"), models, "llama-3.1-70b");
    fill($("pt-chip"), chips, "h100-sxm");
  }

  // ------------------------------------------------------------------ serving
  function servingBody() {
    const ms = (id) => { const v = numberField(id, { optional: true, min: 0 }); return v === null ? null : v / 1000; };
    const b = {
      model: $("sv-model").value, chip: $("sv-chip").value,
      input_len: numberField("sv-input_len", { integer: true, min: 1 }),
      output_len: numberField("sv-output_len", { integer: true, min: 1 }),
      ttft_s: ms("sv-ttft"), tpot_s: ms("sv-tpot"),
      requests_per_s: numberField("sv-requests_per_s", { optional: true }),
      precision: $("sv-precision").value,
      max_replica_chips: numberField("sv-max_replica_chips", { integer: true, min: 1 }),
      spec: numberField("sv-spec", { integer: true, min: 0 }),
      disaggregate: $("sv-disaggregate").checked,
      usd_per_chip_hour: numberField("sv-usd_per_chip_hour", { optional: true }),
    };
    for (const k of Object.keys(b)) if (b[k] === null) delete b[k];
    return b;
  }
  async function runServing() {
    const seq = ++state.seq.serving;
    document.body.dataset.servingRequest = String(seq);
    let body;
    try { body = servingBody(); } catch (err) { showError("sv", err); document.body.dataset.servingShown = String(seq); return; }
    $("sv-status").textContent = "searching deployments…";
    try {
      const r = await api("POST", "/api/infer", body);
      if (seq !== state.seq.serving) return;
      showError("sv", null);
      renderServing(r);
    } catch (err) {
      if (seq !== state.seq.serving) return;
      showError("sv", err);
      $("sv-status").textContent = "no answer for these inputs";
    }
    document.body.dataset.servingShown = String(seq);
  }
  function renderServing(r) {
    const b = r.best;
    const f = r.fleet;
    setOut("sv-fleet", f ? f.chips : null, f ? fmt.num(f.chips, 0) : "no demand given");
    setOut("sv-fleet-usd", f ? f.usd_per_hour : null, f && f.usd_per_hour !== null ? fmt.usd(f.usd_per_hour) + "/h" : "—");
    setOut("sv-usd-out", b.usd_per_m_output_tokens, fmt.usd(b.usd_per_m_output_tokens));
    setOut("sv-usd-in", b.usd_per_m_input_tokens, fmt.usd(b.usd_per_m_input_tokens));
    setOut("sv-ttft-out", b.ttft_s, fmt.seconds(b.ttft_s));
    setOut("sv-tpot-out", b.tpot_s, fmt.seconds(b.tpot_s));
    setOut("sv-tps-chip", b.output_tokens_per_s_per_chip, fmt.num(b.output_tokens_per_s_per_chip, 1));
    setOut("sv-tps-user", b.tokens_per_s_per_user, fmt.num(b.tokens_per_s_per_user, 1));
    setOut("sv-kv", b.memory_bytes_per_chip.kv_cache, fmt.gib(b.memory_bytes_per_chip.kv_cache));
    setOut("sv-maxconc", b.max_concurrency, fmt.num(b.max_concurrency, 0));
    setOut("sv-joules", b.joules_per_output_token, b.joules_per_output_token === null ? "—" : fmt.num(b.joules_per_output_token, 2) + " J");
    setOut("sv-describe", r.describe, r.describe);
    setOut("sv-replica", b.replica_chips, fmt.num(b.replica_chips, 0));
    $("sv-price").textContent = r.price_note || "—";
    $("sv-status").textContent = fmt.num(r.candidates, 0) + " deployments evaluated; " + fmt.num(r.fitting, 0) +
      " fit, " + fmt.num(r.feasible, 0) + " meet the targets";
    const chip = (state.choices.chips || []).find((c) => c.slug === r.chip);
    GT.charts.servingCurve("chart-serving-curve", r);
    GT.charts.latency("chart-serving-latency", r);
    GT.charts.servingMemory("chart-serving-memory", r, chip ? chip.hbm_bytes : null);
    table($("sv-top"), ["deployment", "chips", "TTFT", "TPOT", "tok/s/user", "tok/s/chip", "$/M out"],
      r.top.map((e) => [e.deployment.tp + "×" + e.deployment.pp + " " + e.deployment.weight_dtype + " c" + e.deployment.concurrency,
        fmt.num(e.replica_chips, 0), fmt.seconds(e.ttft_s), fmt.seconds(e.tpot_s), fmt.num(e.tokens_per_s_per_user, 1),
        fmt.num(e.output_tokens_per_s_per_chip, 1), fmt.usd(e.usd_per_m_output_tokens)]));
  }

  // ------------------------------------------------------------------ post-training
  const kind = () => (document.querySelector("input[name=pt-kind]:checked") || {}).value || "rl";
  function posttrainBody() {
    const b = {
      model: $("pt-model").value, chip: $("pt-chip").value,
      chips: numberField("pt-chips", { integer: true, min: 1 }), precision: $("pt-precision").value,
      usd_per_chip_hour: numberField("pt-usd_per_chip_hour", { optional: true }),
    };
    if (kind() === "rl") {
      Object.assign(b, { algorithm: $("pt-algorithm").value, placement: $("pt-placement").value });
      for (const k of ["prompts", "samples", "prompt_len", "response_len", "gen_tp", "steps"]) {
        b[k] = numberField("pt-" + k, { integer: true, min: k === "steps" ? 0 : 1 });
      }
    } else {
      Object.assign(b, { method: $("pt-method").value, tokens: $("pt-tokens").value.trim() || 0 });
      for (const k of ["lora_rank", "seq", "global_batch"]) b[k] = numberField("pt-" + k, { integer: true, min: 1 });
    }
    for (const k of Object.keys(b)) if (b[k] === null) delete b[k];
    return b;
  }
  async function runPosttrain() {
    const seq = ++state.seq.posttrain;
    document.body.dataset.posttrainRequest = String(seq);
    const k = kind();
    $("pt-rl-fields").hidden = k !== "rl";
    $("pt-ft-fields").hidden = k === "rl";
    let body;
    try { body = posttrainBody(); } catch (err) { showError("pt", err); document.body.dataset.posttrainShown = String(seq); return; }
    $("pt-status").textContent = "estimating…";
    try {
      const r = await api("POST", k === "rl" ? "/api/rl" : "/api/finetune", body);
      if (seq !== state.seq.posttrain) return;
      showError("pt", null);
      renderPosttrain(r, k);
    } catch (err) {
      if (seq !== state.seq.posttrain) return;
      showError("pt", err);
      $("pt-status").textContent = "no answer for these inputs";
    }
    document.body.dataset.posttrainShown = String(seq);
  }
  function renderPosttrain(r, k) {
    const days = k === "rl" ? r.days : r.days_to_train;
    setOut("pt-step", r.step_time_s, fmt.seconds(r.step_time_s));
    setOut("pt-tps", r.tokens_per_s_per_chip, fmt.num(r.tokens_per_s_per_chip, 0));
    setOut("pt-days", days, days === null || days === undefined ? "give " + (k === "rl" ? "RL steps" : "tokens") : fmt.num(days, 2) + " days");
    setOut("pt-cost", r.cost_usd, fmt.usd(r.cost_usd));
    $("pt-price").textContent = r.price || "—";
    $("pt-split").textContent = k === "rl" ? "rollout " + fmt.pct(r.rollout_share) + " · train " + fmt.pct(r.train_share)
      : "memory " + fmt.gib(r.memory_bytes) + " of " + fmt.gib(r.memory_capacity_bytes) + (r.fits ? "" : " — does NOT fit");
    setOut("pt-describe", r.describe, r.describe);
    $("pt-status").textContent = k === "rl" ? "one " + r.spec.algorithm.toUpperCase() + " step on " + fmt.num(r.chips, 0) + " chips"
      : r.method + " on " + fmt.num(r.chips, 0) + " chips";
    GT.charts.postSteps("chart-posttrain-step", r);
    $("pt-notes").replaceChildren(...(r.notes || []).map((n) => el("li", n)));
  }

  function init() {
    for (const b of document.querySelectorAll("nav.tabs button")) b.addEventListener("click", () => showTab(b));
    for (const ev of ["input", "change"]) {
      $("serving-inputs").addEventListener(ev, () => debounce("serving", runServing, 250));
      $("posttrain-inputs").addEventListener(ev, () => debounce("posttrain", runPosttrain, 250));
    }
  }
  document.addEventListener("DOMContentLoaded", init);
})();
