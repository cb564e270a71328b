// Dispatcher admin dashboard. Self-contained: no library, no CDN. Every
// value from the API is put in the page as text (textContent, attribute
// setters), never as HTML, so nothing it shows can inject markup.
"use strict";
(function () {
  const TOKEN_KEY = "dispatcher-admin-token";
  const REFRESH_MS = 30000;
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  // el builds an element: props are properties or attributes (on* are not
  // accepted), children are nodes or strings (text).
  function el(tag, props, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) throw new Error("no inline handlers");
      if (k === "class") n.className = v;
      else if (k === "text") n.textContent = String(v);
      else if (k === "style") n.style.cssText = String(v); // CSSOM: allowed by the CSP, unlike a style attribute
      else n.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return n;
  }
  function svg(tag, attrs, ...children) {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
    for (const c of children) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return n;
  }
  const clear = (n) => { n.replaceChildren(); return n; };
  const empty = (cols, text) => el("tr", {}, el("td", { class: "empty", colspan: cols }, text));

  // safeURL returns an http(s) URL or null (run links come from GitHub, but
  // a javascript: URL must never become a link).
  function safeURL(u) {
    try {
      const p = new URL(u);
      return p.protocol === "https:" || p.protocol === "http:" ? p.href : null;
    } catch (_) { return null; }
  }

  // ---- state held in the URL ----
  const defaults = { range: "5", status: "", repo: "", delivery: "", refresh: "on" };
  let state = readState();
  function readState() {
    const q = new URLSearchParams(location.search);
    const s = { ...defaults };
    for (const k of Object.keys(defaults)) if (q.has(k)) s[k] = q.get(k);
    if (!["5", "15", "60"].includes(s.range)) s.range = "5";
    if (!["", "success", "failed", "partial", "in_progress", "no_dispatch"].includes(s.status)) s.status = "";
    return s;
  }
  function writeState() {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(state)) if (v !== defaults[k]) q.set(k, v);
    const qs = q.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
  }
  function setState(patch) {
    state = { ...state, ...patch };
    writeState();
    syncControls();
  }

  // ---- formatting ----
  const nf = new Intl.NumberFormat();
  const num = (v) => nf.format(v || 0);
  function ago(iso) {
    if (!iso) return "never";
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }
  function when(iso) {
    return el("time", { datetime: iso, title: iso }, ago(iso));
  }
  function secs(v) {
    if (v === undefined || v === null) return "–";
    if (v < 60) return (Math.round(v * 10) / 10) + "s";
    const m = Math.floor(v / 60);
    return m + "m " + Math.round(v - m * 60) + "s";
  }
  const pct = (r) => (r === undefined || r === null) ? "–" : Math.round(r * 100) + "%";
  const cap = (s) => s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
  const shortType = (t) => (t || "").replace(/^dispatch\./, "");
  const badge = (status, text) => el("span", { class: "pill st-" + String(status).replace(/[^a-z_]/g, "") }, text || String(status).replace("_", " "));
  function rateClass(r) { return r === null || r === undefined ? "" : r >= 0.95 ? "ok" : r >= 0.8 ? "warn" : "bad"; }

  // ---- API ----
  class AuthError extends Error {}
  async function api(path) {
    const headers = { Accept: "application/json" };
    const tok = sessionStorage.getItem(TOKEN_KEY);
    if (tok) headers.Authorization = "Bearer " + tok;
    const r = await fetch(path, { headers, cache: "no-store", credentials: "same-origin" });
    if (r.status === 401) throw new AuthError(tok ? "The token was refused." : "");
    if (r.status === 404) return null;
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try { const b = await r.json(); if (b && b.error) msg = b.error + (b.detail ? ": " + b.detail : ""); } catch (_) {}
      throw new Error(path + ": " + msg);
    }
    return r.json();
  }

  // ---- rendering ----
  let data = null;

  function renderHeader(v, p) {
    $("version").textContent = v ? (v.app_version || v.version) : "…";
    $("version").title = v ? "APP_VERSION " + (v.app_version || "-") + " · build " + v.version + " " + v.commit + " " + v.date : "";
    let sha = (v && v.image_sha) || "";
    if (sha.startsWith("sha256:")) sha = sha.length > 19 ? sha.slice(0, 19) + "…" : sha;
    else if (sha.length > 20) sha = sha.slice(0, 20) + "…";
    $("image-sha").textContent = sha;
    $("image-sha").hidden = !sha;
    $("total-events").textContent = num(p.summary.total_events) + " events";
    clear($("last-event")).append("last ", when(p.summary.last_event_at));
  }

  function renderBanner(h) {
    const b = $("banner");
    b.className = "banner " + h.status;
    b.dataset.status = h.status;
    $("banner-status").textContent = "System: " + cap(h.status);
    $("banner-reasons").textContent = (h.reasons || []).join(" · ");
    $("banner-extra").textContent = "Success rate " + pct(h.success_rate) + " · last event " + (h.last_event_at ? ago(h.last_event_at) : "never");
  }

  function renderCards(p, h) {
    const s = p.summary;
    const items = [
      ["requests", "Requests accepted", num(s.request_accepted)],
      ["plans", "Plans created", num(s.plan_created)],
      ["queued", "Targets queued", num(s.target_queued)],
      ["denied", "Targets denied", num(s.target_denied)],
      ["succeeded", "Triggers succeeded", num(s.trigger_succeeded)],
      ["failed", "Triggers failed", num(s.trigger_failed)],
    ];
    const outcomes = s.trigger_succeeded + s.trigger_failed;
    const rate = outcomes ? s.trigger_succeeded / outcomes : null;
    const dead = (h.queues || []).reduce((a, q) => a + q.dead_letters, 0);
    const cards = items.map(([id, k, v]) => el("div", { class: "card", "data-card": id }, el("span", { class: "v" }, v), el("span", { class: "k" }, k)));
    cards.push(el("div", { class: "card " + rateClass(rate), "data-card": "rate" }, el("span", { class: "v" }, pct(rate)), el("span", { class: "k" }, "Success rate (all time)")));
    cards.push(el("div", { class: "card " + (dead ? "bad" : "ok"), "data-card": "dlq" }, el("span", { class: "v" }, num(dead)), el("span", { class: "k" }, "Dead letters")));
    clear($("cards")).append(...cards);
  }

  function renderFunnel(s) {
    const steps = [["Requests", s.request_accepted], ["Plans", s.plan_created], ["Queued", s.target_queued],
      ["Succeeded", s.trigger_succeeded], ["Failed", s.trigger_failed]];
    const top = Math.max(1, ...steps.map((x) => x[1]));
    clear($("funnel")).append(...steps.map(([k, v]) => el("div", { class: "row" },
      el("span", {}, k),
      el("div", { class: "bar", style: "width:" + Math.round((v / top) * 100) + "%", role: "presentation" }),
      el("span", { class: "n" }, num(v)))));
  }

  function renderLatency(l, hours) {
    const items = [["Sample size", num(l.count)], ["P50", secs(l.p50_seconds)], ["P95", secs(l.p95_seconds)], ["Average", secs(l.avg_seconds)]];
    clear($("latency")).append(...items.map(([k, v]) => el("div", { class: "card", "data-latency": k }, el("span", { class: "v" }, v), el("span", { class: "k" }, k))));
    $("latency").append(el("p", { class: "empty" }, "Request accepted to first successful trigger, deliveries of the last " + hours + " h" + (l.estimated ? "; percentiles are histogram bucket bounds." : ".")));
  }

  function renderTrend(hours) {
    const W = 720, H = 200, P = { l: 34, r: 8, t: 10, b: 26 };
    const max = Math.max(1, ...hours.map((h) => h.total_events));
    const bw = (W - P.l - P.r) / hours.length;
    const y = (v) => H - P.b - (v / max) * (H - P.t - P.b);
    const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "trend-title", id: "trend-svg" },
      svg("title", { id: "trend-title" }, "Facts per hour over the last 24 hours: total, triggers succeeded and failed"));
    for (const f of [0, 0.5, 1]) {
      const v = Math.round(max * f);
      g.append(svg("line", { class: "grid", x1: P.l, x2: W - P.r, y1: y(v), y2: y(v) }),
        svg("text", { class: "axis", x: P.l - 4, y: y(v) + 3, "text-anchor": "end" }, String(v)));
    }
    hours.forEach((h, i) => {
      const x = P.l + i * bw;
      const label = new Date(h.hour).toISOString().slice(11, 13) + ":00 UTC";
      const tip = `${label}: ${h.total_events} facts, ${h.trigger_succeeded} succeeded, ${h.trigger_failed} failed`;
      const grp = svg("g", { class: "hour", "data-hour": h.hour }, svg("title", {}, tip));
      grp.append(svg("rect", { class: "total", x: x + 1, width: Math.max(1, bw * 0.5 - 1), y: y(h.total_events), height: H - P.b - y(h.total_events) }));
      grp.append(svg("rect", { class: "ok", x: x + bw * 0.5, width: Math.max(1, bw * 0.25), y: y(h.trigger_succeeded), height: H - P.b - y(h.trigger_succeeded) }));
      grp.append(svg("rect", { class: "fail", x: x + bw * 0.75, width: Math.max(1, bw * 0.25 - 1), y: y(h.trigger_failed), height: H - P.b - y(h.trigger_failed) }));
      g.append(grp);
      if (i % 6 === 0 || i === hours.length - 1) g.append(svg("text", { class: "axis", x: x + bw / 2, y: H - 8, "text-anchor": "middle" }, label.slice(0, 5)));
    });
    clear($("trend")).append(g, el("div", { class: "legend" },
      el("span", {}, el("i", { class: "total" }), "all facts"), el("span", {}, el("i", { class: "ok" }), "triggers succeeded"),
      el("span", {}, el("i", { class: "fail" }), "triggers failed")));
  }

  function renderChecks(h) {
    const tb = clear($("checks").tBodies[0]);
    for (const c of h.checks) {
      tb.append(el("tr", { "data-check": c.id }, el("td", {}, c.label), el("td", {}, badge(c.status)),
        el("td", {}, c.nfr_ref ? el("span", { class: "badge" }, c.nfr_ref) : "–"), el("td", { class: "wrap" }, c.detail)));
    }
  }

  function renderQueues(h) {
    const tb = clear($("queues").tBodies[0]);
    let dead = 0;
    for (const q of h.queues || []) {
      dead += q.dead_letters;
      tb.append(el("tr", { "data-queue": q.name }, el("td", {}, q.name), el("td", { class: "num" }, num(q.visible)),
        el("td", { class: "num" }, num(q.in_flight)), el("td", { class: "num" }, num(q.dead_letters)),
        el("td", {}, q.oldest_visible_at ? when(q.oldest_visible_at) : "–")));
    }
    if (!tb.rows.length) tb.append(empty(5, "No queue information from this runtime."));
    const hint = clear($("dlq-hint"));
    hint.append(el("p", {}, "Fold lag: " + num(h.fold_lag.pending) + " facts, oldest " + secs(h.fold_lag.oldest_seconds) + "."));
    if (dead > 0) {
      hint.append(el("p", {}, dead + " dead-lettered messages wait for an operator. List them, then redrive once the cause is fixed:"),
        el("pre", { class: "cmd" }, el("code", {}, "dispatcher replay-dlq\ndispatcher replay-dlq --yes")));
    }
  }

  const repoOK = (r) => !state.repo || r === state.repo;
  function repoButton(repo) {
    return el("button", { type: "button", class: "link", "data-filter-repo": repo, title: "Show only " + repo }, repo);
  }
  function deliveryButton(id) {
    return el("button", { type: "button", class: "link", "data-open": id, title: "Open the journey of " + id }, id.length > 14 ? id.slice(0, 14) + "…" : id);
  }

  function renderFailures(p) {
    const tb = clear($("failures").tBodies[0]);
    for (const f of p.recent_failures.filter((f) => repoOK(f.source_repo))) {
      tb.append(el("tr", { "data-failure": f.event_id }, el("td", {}, when(f.time)), el("td", {}, repoButton(f.source_repo)),
        el("td", { class: "mono" }, (f.target_repo || "") + (f.target_workflow ? " · " + f.target_workflow : "")),
        el("td", { class: "wrap error-text" }, f.error || "–"), el("td", {}, f.delivery_id ? deliveryButton(f.delivery_id) : "–")));
    }
    if (!tb.rows.length) tb.append(empty(5, "No failed trigger."));
  }

  function renderDeliveries(p) {
    const tb = clear($("deliveries").tBodies[0]);
    const rows = p.recent_deliveries.filter((d) => repoOK(d.source_repo) && (!state.status || d.status === state.status));
    for (const d of rows) {
      tb.append(el("tr", { "data-delivery": d.delivery_id }, el("td", {}, deliveryButton(d.delivery_id)), el("td", {}, repoButton(d.source_repo)),
        el("td", {}, badge(d.status)), el("td", { class: "num" }, num(d.queued)), el("td", { class: "num" }, num(d.denied)),
        el("td", { class: "num" }, num(d.succeeded)), el("td", { class: "num" }, num(d.failed)),
        el("td", { class: "num" }, secs(d.latency_seconds)), el("td", {}, when(d.last_event_at))));
    }
    if (!tb.rows.length) tb.append(empty(9, "No delivery" + (state.repo || state.status ? " matches the filters." : " yet.")));
    clear($("journey-recent")).append(...p.recent_deliveries.slice(0, 12).map((d) =>
      el("button", { type: "button", class: "chip", "data-open": d.delivery_id, title: d.delivery_id }, d.delivery_id.length > 14 ? d.delivery_id.slice(0, 14) + "…" : d.delivery_id)));
  }

  function renderTop(p) {
    $("top-h").textContent = "Top source repositories (last " + p.top_repos.minutes + " min)";
    const tb = clear($("top").tBodies[0]);
    for (const r of p.top_repos.repos) tb.append(el("tr", {}, el("td", {}, repoButton(r.repo)), el("td", { class: "num" }, num(r.count))));
    if (!tb.rows.length) tb.append(empty(2, "No activity in this window."));
  }

  function renderRepos(repos) {
    const tb = clear($("repos").tBodies[0]);
    for (const r of repos.filter((r) => repoOK(r.repo)).slice(0, 15)) {
      const o = r.trigger_succeeded + r.trigger_failed;
      const rate = o ? r.trigger_succeeded / o : null;
      tb.append(el("tr", { "data-repo": r.repo }, el("td", {}, repoButton(r.repo)), el("td", { class: "num" }, num(r.request_accepted)),
        el("td", {}, el("span", { class: "pill " + (rate === null ? "st-unknown" : rate >= 0.95 ? "st-green" : rate >= 0.8 ? "st-amber" : "st-red") }, pct(rate))),
        el("td", {}, when(r.last_event_at))));
    }
    if (!tb.rows.length) tb.append(empty(4, "No repository yet."));
  }

  function eventWhat(e) {
    const d = e.data || {};
    return d.reason || d.error || (d.target_run_url ? "run " + d.target_run_id : "") || "";
  }
  function renderEvents(evs) {
    const tb = clear($("events").tBodies[0]);
    for (const e of evs.filter((e) => repoOK((e.data || {}).source_repo))) {
      const d = e.data || {};
      tb.append(el("tr", {}, el("td", {}, when(e.time)), el("td", {}, badge(typeStatus(e.type), shortType(e.type))),
        el("td", {}, d.source_repo ? repoButton(d.source_repo) : "–"), el("td", { class: "mono" }, d.target_repo || "–"),
        el("td", { class: "wrap" }, eventWhat(e) || "–"), el("td", {}, d.delivery_id ? deliveryButton(d.delivery_id) : "–")));
    }
    if (!tb.rows.length) tb.append(empty(6, "No event yet."));
  }
  function typeStatus(t) {
    if (t.endsWith("succeeded")) return "succeeded";
    if (t.endsWith("failed")) return "failed";
    if (t.endsWith("denied")) return "denied";
    if (t.endsWith("queued")) return "queued";
    return "unknown";
  }

  function renderChips() {
    const c = clear($("chips"));
    if (state.repo) {
      c.append(el("span", { class: "label" }, "Source"),
        el("button", { type: "button", class: "tab", "aria-pressed": "true", id: "clear-repo", title: "Remove this filter" }, state.repo + " ×"));
    }
    if (state.repo || state.status || state.range !== "5") c.append(el("button", { type: "button", id: "reset-filters" }, "Reset filters"));
  }

  function syncControls() {
    for (const b of document.querySelectorAll("[data-range]")) b.setAttribute("aria-pressed", String(b.dataset.range === state.range));
    for (const b of document.querySelectorAll("[data-status]")) b.setAttribute("aria-pressed", String(b.dataset.status === state.status));
    $("auto-refresh").checked = state.refresh !== "off";
    renderChips();
    if (data) renderData();
  }

  function renderData() {
    const { health, projections, repos, events, version } = data;
    renderHeader(version, projections);
    renderBanner(health);
    renderCards(projections, health);
    renderFunnel(projections.summary);
    renderLatency(projections.latency, projections.latency_window_hours);
    renderTrend(projections.hourly_trend);
    renderChecks(health);
    renderQueues(health);
    renderFailures(projections);
    renderDeliveries(projections);
    renderTop(projections);
    renderRepos(repos);
    renderEvents(events);
  }

  // ---- journey explorer ----
  let journeySeq = 0;
  async function openJourney(id) {
    id = (id || "").trim();
    setState({ delivery: id });
    $("journey-input").value = id;
    const box = $("journey");
    const seq = ++journeySeq;
    if (!id) { clear(box); box.dataset.state = "idle"; box.dataset.id = ""; return; }
    if (box.dataset.id !== id) { // a refresh of the same journey keeps it on screen
      clear(box).append(el("p", { class: "empty" }, "Loading " + id + "…"));
      box.dataset.state = "loading";
      box.dataset.id = id;
    }
    let d;
    try {
      d = await api("/admin/api/deliveries/" + encodeURIComponent(id));
      if (seq !== journeySeq) return; // a newer lookup started meanwhile
    } catch (e) {
      if (seq !== journeySeq) return;
      if (e instanceof AuthError) return askToken(e.message);
      clear(box).append(el("p", { class: "error" }, String(e.message)));
      box.dataset.state = "error";
      return;
    }
    clear(box);
    if (!d) {
      box.append(el("p", { class: "empty" }, "No fact recorded for delivery " + id + "."));
      box.dataset.state = "unknown";
      return;
    }
    const f = d.delivery;
    box.append(el("p", {}, el("strong", {}, id), " ", badge(f.status), " from ", el("span", { class: "mono" }, f.source_repo),
      f.source_workflow ? " · " + f.source_workflow : "", f.source_run_id ? " · run " + f.source_run_id : "",
      f.plan_reason ? el("span", {}, " · not eligible: ", el("code", {}, f.plan_reason)) : "",
      f.latency_seconds !== undefined ? " · latency " + secs(f.latency_seconds) : ""));
    if (d.targets.length) {
      const t = el("table", { id: "journey-targets" }, el("thead", {}, el("tr", {}, ...["Target", "Status", "Reason / error", "Run"].map((h) => el("th", { scope: "col" }, h)))));
      const tb = el("tbody");
      for (const x of d.targets) {
        const url = safeURL(x.run_url);
        tb.append(el("tr", { "data-target": x.repository }, el("td", { class: "mono" }, x.repository + " · " + x.workflow + (x.ref ? " @ " + x.ref : "")),
          el("td", {}, badge(x.status)),
          el("td", { class: "wrap" }, x.reason ? el("code", {}, x.reason) : "", x.detail ? " " + x.detail : "", x.error ? " " + x.error : "", x.attempts ? " (" + x.attempts + " attempts)" : ""),
          el("td", {}, url ? el("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, "run " + x.run_id) : "–")));
      }
      t.append(tb);
      box.append(el("div", { class: "scroll" }, t));
    }
    const ol = el("ol", { class: "timeline", id: "journey-timeline" });
    for (const e of d.journey) {
      const x = e.data || {};
      const url = safeURL(x.target_run_url);
      const parts = [];
      if (x.target_repo) parts.push(x.target_repo + (x.target_workflow ? " · " + x.target_workflow : ""));
      if (e.type.endsWith("plan.created")) parts.push((x.eligible ? "eligible" : "not eligible") + ", " + (x.allowed || 0) + " allowed, " + (x.denied || 0) + " denied");
      ol.append(el("li", { "data-type": e.type }, badge(typeStatus(e.type), shortType(e.type)), el("span", { class: "when" }, new Date(e.time).toISOString().replace("T", " ").replace("Z", " UTC")),
        el("span", { class: "what" }, parts.join(" · "), x.reason ? el("span", {}, " ", el("code", {}, x.reason)) : "", x.detail ? " " + x.detail : "",
          x.error ? el("span", { class: "error" }, " " + x.error) : "",
          url ? el("span", {}, " ", el("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, "target run " + x.target_run_id)) : "")));
    }
    box.append(ol);
    box.dataset.state = "loaded";
  }

  // ---- token ----
  function askToken(msg) {
    $("token-form").hidden = false;
    $("token-error").textContent = msg || "";
    $("main").hidden = true;
    $("token-input").focus();
  }

  // ---- loading ----
  let timer = null;
  let version = null;
  let loadSeq = 0;
  async function load() {
    clearTimeout(timer);
    try {
      if (!version) version = await api("/admin/api/version");
      const seq = ++loadSeq;
      const [health, projections, repos, events] = await Promise.all([
        api("/admin/api/health"), api("/admin/projections?minutes=" + state.range), api("/admin/api/repos"), api("/admin/api/recent-events"),
      ]);
      if (seq !== loadSeq) return; // a newer load (e.g. another range) won
      data = { health, projections, repos, events, version };
      $("load-error").hidden = true;
      renderData();
      $("updated").textContent = "Updated " + new Date().toLocaleTimeString();
      document.body.dataset.loaded = "true";
    } catch (e) {
      if (e instanceof AuthError) { version = null; return askToken(e.message); }
      $("load-error").hidden = false;
      $("load-error").textContent = "Could not load: " + e.message;
    }
    if (state.refresh !== "off") timer = setTimeout(() => { load(); if (state.delivery) openJourney(state.delivery); }, REFRESH_MS);
  }

  function init() {
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = $("token-input").value.trim();
      if (!v) return;
      sessionStorage.setItem(TOKEN_KEY, v);
      $("token-input").value = "";
      $("token-form").hidden = true;
      $("main").hidden = false;
      load();
      if (state.delivery) openJourney(state.delivery);
    });
    $("refresh").addEventListener("click", () => { load(); if (state.delivery) openJourney(state.delivery); });
    $("auto-refresh").addEventListener("change", (ev) => {
      setState({ refresh: ev.target.checked ? "on" : "off" });
      if (ev.target.checked) load(); else clearTimeout(timer);
    });
    $("journey-form").addEventListener("submit", (ev) => { ev.preventDefault(); openJourney($("journey-input").value); });
    document.addEventListener("click", (ev) => {
      const t = ev.target.closest("button");
      if (!t) return;
      if (t.dataset.range) { setState({ range: t.dataset.range }); load(); }
      else if (t.dataset.status !== undefined && t.matches("[data-status]")) setState({ status: t.dataset.status });
      else if (t.dataset.filterRepo) setState({ repo: t.dataset.filterRepo === state.repo ? "" : t.dataset.filterRepo });
      else if (t.id === "clear-repo") setState({ repo: "" });
      else if (t.id === "reset-filters") { const r = state.range; setState({ repo: "", status: "", range: "5" }); if (r !== "5") load(); }
      else if (t.dataset.open) { openJourney(t.dataset.open); $("journey-section").scrollIntoView({ block: "start" }); }
    });
    window.addEventListener("popstate", () => { state = readState(); syncControls(); load(); openJourney(state.delivery); });
    syncControls();
    load();
    if (state.delivery) openJourney(state.delivery);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
