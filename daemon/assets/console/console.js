// The operator console: nodes, notification subscriptions (GET /admin/v1/webhooks), live charts from GET /admin/v1/history (one point a
// second), every throttle knob from GET /admin/v1/throttle changed with PATCH (audited
// with the operator's name), pause and resume, the recent changes, and a "what if" that
// replays the observed arrivals with the proposed settings (POST …/throttle/simulate)
// before anything is applied.
"use strict";
(function () {
  const { t, apply, toggle } = window.EDL_I18N;
  const api = window.EDL_API;
  const charts = window.EDL_CHARTS;
  const $ = (id) => document.getElementById(id);
  const MODES = ["off", "shadow", "enforce"];
  let values = {};
  let timer = null;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  const time = (at) => new Date(at * 1000).toLocaleTimeString();

  async function refreshHistory() {
    const reply = await api.call("GET", "/admin/v1/history?seconds=600");
    if (reply.status === 401) return showSignIn();
    if (!reply.ok) return;
    const h = reply.data;
    const p = h.points;
    const x = p.map((q) => q.at);
    const col = (f) => p.map(f);
    charts.set("chart-arrivals", ["arrivals", "admitted"].concat(h.limits.map((l) => "refused " + l)), x,
      [col((q) => q.arrivals), col((q) => q.admitted)].concat(h.limits.map((_, i) => col((q) => q.refused[i]))));
    charts.set("chart-drain", ["target", "achieved"], x, [col((q) => q.drain_target), col((q) => q.drain_achieved)]);
    charts.set("chart-depth", h.lanes, x, h.lanes.map((_, i) => col((q) => q.depth[i])));
    charts.set("chart-oldest", h.lanes, x, h.lanes.map((_, i) => col((q) => q.oldest_age[i])));
    charts.set("chart-waits", ["quoted", "actual"], x, [col((q) => q.wait_quoted), col((q) => q.wait_actual)]);
    charts.set("chart-latency", ["live status", "audit-log commit", "store commit"], x,
      [col((q) => q.live_status_ms), col((q) => q.audit_commit_ms), col((q) => q.commit_ms)]);
    const last = p[p.length - 1];
    if (last) $("target-now").textContent = `${last.drain_target} /s`;
    const rows = $("changes");
    rows.replaceChildren();
    for (const c of h.changes) {
      const tr = el("tr");
      const what = c.moved.length > 0
        ? c.moved.map(([name, old, now]) => `${name}: ${old} → ${now}`).join("; ")
        : `${c.action} ${c.detail || ""}`;
      tr.append(el("td", time(c.at)), el("td", c.client), el("td", what));
      rows.append(tr);
    }
  }

  function nodeState(n) {
    if (n.state === "silent") return t("state_silent").replace("{s}", Math.round(n.silent_for));
    return t("state_" + n.state);
  }

  async function refreshNodes() {
    const reply = await api.call("GET", "/admin/v1/nodes");
    if (!reply.ok) return;
    const rows = $("nodes");
    rows.replaceChildren();
    $("nodes-partial").classList.toggle("hidden", reply.data.complete);
    for (const n of reply.data.nodes) {
      const tr = el("tr");
      if (n.state !== "live") tr.className = "gone";
      const known = (v) => (v === undefined || v === null ? "—" : String(v));
      const measured = typeof n.drain_rate_measured === "number" ? n.drain_rate_measured.toFixed(1) : "—";
      const started = typeof n.started_at === "number" ? new Date(n.started_at * 1000).toLocaleString() : "—";
      tr.append(el("td", n.name + (n.this ? " ★" : "")), el("td", nodeState(n)),
        el("td", n.healthy === undefined ? "—" : (n.healthy ? "✓" : "✗")),
        el("td", known(n.queue_depth)), el("td", `${known(n.drain_rate_target)} / ${measured}`),
        el("td", started));
      rows.append(tr);
      if (n.this) $("paused-state").textContent = t(n.paused ? "paused" : "running");
    }
  }

  async function refreshHooks() {
    const reply = await api.call("GET", "/admin/v1/webhooks");
    if (!reply.ok) return;
    const rows = $("hooks");
    rows.replaceChildren();
    const subs = reply.data.subscriptions;
    $("hooks-none").classList.toggle("hidden", subs.length > 0);
    const now = Date.now() / 1000;
    for (const s of subs) {
      const tr = el("tr");
      const oldest = typeof s.oldest_pending_at === "number" ? `${Math.max(0, Math.round(now - s.oldest_pending_at))} s` : "—";
      const dead = el("td", String(s.dead ?? 0));
      if (s.dead > 0) dead.className = "error";
      tr.append(el("td", s.url), el("td", s.client || "*"), el("td", String(s.written ?? 0)),
        el("td", String(s.pending ?? 0)), dead, el("td", oldest));
      tr.title = `${s.id}: ${s.events.join(", ")}`;
      rows.append(tr);
    }
  }

  async function loadKnobs() {
    const reply = await api.call("GET", "/admin/v1/throttle");
    if (!reply.ok) return;
    values = reply.data.values;
    const box = $("knobs");
    box.replaceChildren();
    for (const [name, value] of Object.entries(values)) {
      if (name === "paused") continue;
      const wrap = el("div");
      const id = "knob-" + name.replace(/[^a-z0-9]/gi, "-");
      const label = el("label", name);
      label.htmlFor = id;
      let input;
      if (name.endsWith(".mode")) {
        input = el("select");
        for (const mode of MODES) { const o = el("option", mode); o.value = mode; input.append(o); }
      } else {
        input = el("input");
        input.type = "text";
        input.inputMode = "decimal";
      }
      input.id = id;
      input.name = name;
      input.value = value === null ? "" : String(value);
      input.addEventListener("input", () => wrap.classList.toggle("changed", input.value !== String(values[name] ?? "")));
      input.addEventListener("change", () => wrap.classList.toggle("changed", input.value !== String(values[name] ?? "")));
      wrap.append(label, input);
      box.append(wrap);
    }
  }

  function proposed() {
    const changes = {};
    for (const input of $("knobs").querySelectorAll("input, select")) {
      const before = values[input.name] === null ? "" : String(values[input.name]);
      if (input.value !== before) changes[input.name] = input.value === "" ? null : input.value;
    }
    return changes;
  }

  async function whatIf() {
    const reply = await api.call("POST", "/admin/v1/throttle/simulate", proposed());
    if (!reply.ok) { $("knobs-status").textContent = reply.data ? reply.data.detail : String(reply.status); return; }
    const w = reply.data;
    if (w.current.t.length === 0) { $("whatif-summary").textContent = t("whatif_none"); return; }
    $("whatif-summary").textContent =
      `${w.arrivals} · ${t("current")}: ${t("peak")} ${w.current.peak_depth}, ${t("refused_total")} ${w.current.refused_total}` +
      ` · ${t("proposed")}: ${t("peak")} ${w.proposed.peak_depth}, ${t("refused_total")} ${w.proposed.refused_total}`;
    charts.set("chart-whatif",
      [`${t("current")} depth`, `${t("proposed")} depth`, `${t("current")} refused`, `${t("proposed")} refused`],
      w.current.t, [w.current.depth, w.proposed.depth, w.current.refused, w.proposed.refused]);
  }

  async function change(method, path, body) {
    const reply = await api.call(method, path, body);
    $("knobs-status").textContent = reply.ok ? t("applied") : (reply.data ? reply.data.detail : String(reply.status));
    if (reply.ok) { await loadKnobs(); refreshHistory(); refreshNodes(); }
  }

  function showSignIn() {
    if (timer) clearInterval(timer);
    timer = null;
    $("signin").classList.remove("hidden");
    $("console").classList.add("hidden");
    $("signout").classList.add("hidden");
    $("who").textContent = "";
    $("api-key").focus();
  }

  async function signedIn(session) {
    api.setCsrf(session.csrf_token);
    $("who").textContent = session.client;
    $("signin").classList.add("hidden");
    $("console").classList.remove("hidden");
    $("signout").classList.remove("hidden");
    await loadKnobs();
    await refreshNodes();
    await refreshHooks();
    await refreshHistory();
    let tick = 0;
    timer = setInterval(() => {
      refreshHistory(); refreshNodes();
      if (++tick % 5 === 0) refreshHooks();
    }, 1000);
  }

  async function start() {
    apply();
    $("lang").addEventListener("click", () => { toggle(); refreshNodes(); });
    $("signin").addEventListener("submit", async (event) => {
      event.preventDefault();
      const reply = await api.call("POST", "/admin/v1/sessions", { api_key: $("api-key").value });
      $("api-key").value = "";
      if (reply.status === 201) { $("signin-error").classList.add("hidden"); signedIn(reply.data); }
      else $("signin-error").classList.remove("hidden");
    });
    $("signout").addEventListener("click", async () => {
      await api.call("DELETE", "/admin/v1/sessions/current");
      api.setCsrf(null);
      showSignIn();
    });
    $("preview").addEventListener("click", whatIf);
    $("knobs-form").addEventListener("submit", (event) => { event.preventDefault(); change("PATCH", "/admin/v1/throttle", proposed()); });
    $("pause").addEventListener("click", () => change("POST", "/admin/v1/throttle/pause"));
    $("resume").addEventListener("click", () => change("POST", "/admin/v1/throttle/resume"));
    const session = await api.call("GET", "/admin/v1/sessions/current");
    if (session.ok && session.data.signed_in) signedIn(session.data);
    else showSignIn();
  }

  start();
})();
