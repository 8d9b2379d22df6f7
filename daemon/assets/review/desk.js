// The reviewer desk: the waiting uploads oldest first, the current one's photo beside its
// licence record and pre-check findings, approve or reject with a reason, the next one at
// once. Every action is a call to the documented API (GET /v1/reviews, GET …/photo,
// POST …/approve, POST …/reject), made with the session cookie and its CSRF token.
"use strict";
(function () {
  const { t, apply, toggle } = window.EDL_I18N;
  const api = window.EDL_API;
  const $ = (id) => document.getElementById(id);
  const PROMISE_SECONDS = 24 * 3600; // one working day, as the authority promises
  const REASONS = ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"];
  let items = [];
  let index = 0;
  let busy = false;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function duration(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    return h > 0 ? `${h} h ${m} min` : `${m} min ${seconds % 60} s`;
  }

  function ageText(item) {
    const left = PROMISE_SECONDS - item.age_seconds;
    return left < 0
      ? `${duration(item.age_seconds)} (${t("overdue")})`
      : `${duration(item.age_seconds)} (${t("due_in")} ${duration(left)})`;
  }

  function ageClass(item) {
    const left = PROMISE_SECONDS - item.age_seconds;
    return left < 0 ? "age overdue" : left < 4 * 3600 ? "age due" : "age";
  }

  function fillReasons() {
    const select = $("reason");
    const chosen = select.value;
    select.replaceChildren();
    select.append(el("option", "—", ""));
    select.options[0].value = "";
    REASONS.forEach((key, i) => {
      const option = el("option", `${i + 1}. ${t(key)}`);
      option.value = key;
      select.append(option);
    });
    select.value = chosen;
  }

  function renderQueue() {
    const list = $("queue");
    list.replaceChildren();
    $("empty").classList.toggle("hidden", items.length > 0);
    items.forEach((item, i) => {
      const li = el("li");
      const button = el("button");
      button.type = "button";
      button.dataset.ticket = item.ticket;
      if (i === index) button.setAttribute("aria-current", "true");
      const name = item.licence ? item.licence.name : item.licence_number;
      button.append(el("strong", name), el("br"), el("span", ageText(item), ageClass(item)));
      button.addEventListener("click", () => { index = i; render(); });
      li.append(button);
      list.append(li);
    });
  }

  function renderCurrent() {
    const item = items[index];
    $("current").classList.toggle("hidden", !item);
    if (!item) return;
    $("photo").src = item.photo;
    $("age").textContent = ageText(item);
    const rows = $("licence");
    rows.replaceChildren();
    const licence = item.licence || { number: item.licence_number };
    const fields = [
      ["number", licence.number], ["name", licence.name],
      ["classes", (licence.classes || []).join(" ")],
      ["validity", licence.validity ? `${licence.validity.from || ""} – ${licence.validity.until || "∞"}` : ""],
      ["authority", licence.authority], ["state", licence.state], ["channel", item.channel]
    ];
    for (const [key, value] of fields) {
      const tr = el("tr");
      const th = el("th", t(key));
      th.scope = "row";
      tr.append(th, el("td", value === undefined || value === null ? "" : String(value)));
      rows.append(tr);
    }
    const findings = $("findings");
    findings.replaceChildren();
    const precheck = item.precheck;
    $("outcome").textContent = precheck ? t(precheck.outcome === "review" ? "review" : "pass") : t("no_findings");
    for (const f of precheck ? precheck.findings : []) {
      const tr = el("tr");
      tr.dataset.code = f.code;
      const message = f.message ? (window.EDL_I18N.lang() === "zh" ? f.message.zh : f.message.en) : "";
      const name = el("td", t("c_" + f.code));
      if (message) name.append(el("br"), el("span", message, "muted"));
      tr.append(name, el("td", t(f.verdict), "verdict-" + f.verdict),
        el("td", Number(f.measured).toFixed(2)), el("td", Number(f.threshold).toFixed(2)));
      findings.append(tr);
    }
    $("decide-error").classList.add("hidden");
    $("reason").value = "";
    $("other").value = "";
  }

  function render() {
    renderQueue();
    renderCurrent();
  }

  async function load() {
    const reply = await api.call("GET", "/v1/reviews?limit=200");
    if (reply.status === 401) return showSignIn();
    items = reply.ok ? reply.data.reviews : [];
    index = Math.min(index, Math.max(items.length - 1, 0));
    render();
  }

  async function decide(approve) {
    const item = items[index];
    if (!item || busy) return;
    let reason = "";
    if (!approve) {
      const written = $("other").value.trim();
      const chosen = $("reason").value;
      reason = written || (chosen ? t(chosen) : "");
      if (!reason) {
        const error = $("decide-error");
        error.textContent = t("choose_reason");
        error.classList.remove("hidden");
        $("reason").focus();
        return;
      }
    }
    busy = true;
    const path = `/v1/applications/${item.ticket}/${approve ? "approve" : "reject"}`;
    const reply = await api.call("POST", path, approve ? undefined : { reason });
    busy = false;
    if (!reply.ok) {
      const error = $("decide-error");
      error.textContent = reply.data && reply.data.detail ? reply.data.detail : String(reply.status);
      error.classList.remove("hidden");
      return;
    }
    $("status").textContent = `${t(approve ? "approved" : "rejected")}: ${item.licence_number}`;
    items.splice(index, 1);
    index = Math.min(index, Math.max(items.length - 1, 0));
    render();
    document.body.focus();
    load();
  }

  function onKey(event) {
    if ($("desk").classList.contains("hidden") || event.ctrlKey || event.metaKey || event.altKey) return;
    const typing = event.target === $("other");
    const inReject = event.target === $("reason") || typing;
    if (event.key === "Enter" && inReject) { event.preventDefault(); decide(false); return; }
    if (event.key === "Escape" && inReject) { event.target.blur(); return; }
    if (typing) return;
    const key = event.key.toLowerCase();
    if (inReject && /^[1-8]$/.test(key)) { event.preventDefault(); $("reason").value = REASONS[Number(key) - 1]; return; }
    if (key === "a") { event.preventDefault(); decide(true); }
    else if (key === "r") { event.preventDefault(); $("reason").focus(); }
    else if (key === "j" && index < items.length - 1) { index += 1; render(); }
    else if (key === "k" && index > 0) { index -= 1; render(); }
  }

  function showSignIn() {
    $("signin").classList.remove("hidden");
    $("desk").classList.add("hidden");
    $("signout").classList.add("hidden");
    $("who").textContent = "";
    $("api-key").focus();
  }

  function signedIn(session) {
    api.setCsrf(session.csrf_token);
    $("who").textContent = session.client;
    $("signin").classList.add("hidden");
    $("desk").classList.remove("hidden");
    $("signout").classList.remove("hidden");
    load();
  }

  async function start() {
    apply();
    fillReasons();
    $("lang").addEventListener("click", () => { toggle(); fillReasons(); render(); });
    $("signin").addEventListener("submit", async (event) => {
      event.preventDefault();
      const reply = await api.call("POST", "/v1/sessions", { api_key: $("api-key").value });
      $("api-key").value = "";
      if (reply.status === 201) { $("signin-error").classList.add("hidden"); signedIn(reply.data); }
      else $("signin-error").classList.remove("hidden");
    });
    $("signout").addEventListener("click", async () => {
      await api.call("DELETE", "/v1/sessions/current");
      api.setCsrf(null);
      showSignIn();
    });
    $("approve").addEventListener("click", () => decide(true));
    $("decide").addEventListener("submit", (event) => { event.preventDefault(); decide(false); });
    document.addEventListener("keydown", onKey);
    setInterval(() => { if (!$("desk").classList.contains("hidden")) load(); }, 30000);
    const session = await api.call("GET", "/v1/sessions/current");
    if (session.ok && session.data.signed_in) signedIn(session.data);
    else showSignIn();
  }

  start();
})();
