// stockmesh dashboard: plain JavaScript, no framework, no network beyond this server.
"use strict";

const state = { token: sessionStorage.getItem("stockmesh-token") || "", me: null };

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  if (options.body) headers["Content-Type"] = "application/json";
  let response = await fetch(path, { ...options, headers });
  // A read refused by the server's concurrency limits (429/503 with Retry-After) is tried again, twice.
  for (let tries = 0; tries < 2 && [429, 503].includes(response.status) && (!options.method || options.method === "GET"); tries++) {
    const wait = Math.min(Number(response.headers.get("retry-after")) || 1, 5);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    response = await fetch(path, { ...options, headers });
  }
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function view(html) {
  const el = document.getElementById("view");
  el.innerHTML = html;
  return el;
}

function table(columns, rows, attrs = "") {
  const head = columns.map((c) => `<th>${esc(c[0])}</th>`).join("");
  const body = rows.map((r) => `<tr>${columns.map((c) => `<td${c[2] ? ` class="${c[2]}"` : ""}>${c[1](r)}</td>`).join("")}</tr>`).join("");
  return `<table ${attrs}><thead><tr>${head}</tr></thead><tbody>${body || `<tr><td colspan="${columns.length}" class="muted">nothing here</td></tr>`}</tbody></table>`;
}

const badge = (s) => `<span class="badge ${esc(s)}">${esc(s)}</span>`;
const num = (v, d = 0) => (v === null || v === undefined ? "–" : Number(v).toLocaleString(undefined, { maximumFractionDigits: d }));

// --- posture ---------------------------------------------------------------------------------------
function coverClass(days) {
  if (days === null || days === undefined) return "cover-none";
  if (days < 7) return "cover-bad";
  if (days < 14) return "cover-warn";
  return "cover-good";
}

async function showPosture() {
  const [posture, kpis] = await Promise.all([api("/api/network/posture"), api("/api/kpis")]);
  const cell = {};
  posture.cells.forEach((c) => { cell[`${c.site}|${c.sku_class}`] = c; });
  const head = posture.classes.map((k) => `<th>class ${esc(k)}</th>`).join("");
  const rows = posture.sites.map((site) => `<tr><th>${esc(site)}</th>${posture.classes.map((k) => {
    const c = cell[`${site}|${k}`];
    if (!c) return `<td class="muted">–</td>`;
    return `<td class="cell ${coverClass(c.days_of_cover)}" title="${c.skus} SKUs, ${c.available} available, ${c.daily_demand}/day">${c.days_of_cover === null ? "no demand" : `${num(c.days_of_cover, 1)} d`}</td>`;
  }).join("")}</tr>`).join("");
  view(`<h2>Network stock posture</h2>
    <p class="legend"><span><i class="swatch cover-bad"></i>&lt; 7 days of cover</span><span><i class="swatch cover-warn"></i>7–14</span>
    <span><i class="swatch cover-good"></i>&ge; 14</span><span><i class="swatch cover-none"></i>no demand</span></p>
    <table id="posture"><thead><tr><th>site</th>${head}</tr></thead><tbody>${rows}</tbody></table>
    <h3>Service and governance</h3>
    <p>Service level: <b>${kpis.service_level === null ? "–" : (kpis.service_level * 100).toFixed(1) + " %"}</b> ·
       approval queue: <b id="queue-size">${kpis.approval_queue}</b> ·
       auto-approval rate: ${kpis.auto_approval_rate === null ? "–" : (kpis.auto_approval_rate * 100).toFixed(0) + " %"} ·
       kill switch: <b>${kpis.kill_switch ? "ENGAGED" : "off"}</b></p>
    ${table([["site", (r) => esc(r.site)], ["service level", (r) => r.service_level === null ? "–" : (r.service_level * 100).toFixed(1) + " %", "num"],
             ["data age (h)", (r) => num(r.data_age_hours, 1), "num"], ["spend this month", (r) => num(r.spend_this_month, 2), "num"],
             ["kill switch", (r) => (r.kill_switch ? "on" : "off")]], kpis.sites)}`);
}

// --- SKU x site ------------------------------------------------------------------------------------
function chart(series, width = 760, height = 240) {
  // series: [{points: [[x, y]...], color, dash, fill: [[x, ylow, yhigh]...]}]; x are indices.
  const all = series.flatMap((s) => (s.points || []).map((p) => p[1]).concat((s.fill || []).flatMap((f) => [f[1], f[2]])));
  const maxX = Math.max(1, ...series.flatMap((s) => (s.points || []).map((p) => p[0]).concat((s.fill || []).map((f) => f[0]))));
  const minY = Math.min(0, ...all), maxY = Math.max(1, ...all);
  const x = (v) => 40 + (v / maxX) * (width - 50);
  const y = (v) => height - 20 - ((v - minY) / (maxY - minY || 1)) * (height - 30);
  let out = `<svg width="${width}" height="${height}" role="img">`;
  out += `<line x1="40" y1="${y(0)}" x2="${width - 10}" y2="${y(0)}" stroke="#ccc"/>`;
  out += `<text x="4" y="${y(maxY) + 4}" font-size="10">${num(maxY)}</text><text x="4" y="${y(minY)}" font-size="10">${num(minY)}</text>`;
  series.forEach((s) => {
    if (s.fill && s.fill.length) {
      const top = s.fill.map((f) => `${x(f[0])},${y(f[2])}`).join(" ");
      const bottom = s.fill.slice().reverse().map((f) => `${x(f[0])},${y(f[1])}`).join(" ");
      out += `<polygon points="${top} ${bottom}" fill="${s.color}" opacity="0.2"/>`;
    }
    if (s.points && s.points.length) {
      out += `<polyline fill="none" stroke="${s.color}" stroke-width="2" ${s.dash ? 'stroke-dasharray="5,4"' : ""} points="${s.points.map((p) => `${x(p[0])},${y(p[1])}`).join(" ")}"/>`;
    }
  });
  return out + "</svg>";
}

async function showStock(sku, site) {
  if (!sku || !site) {
    const positions = await api("/api/positions?limit=500");
    view(`<h2>SKU x site</h2><p>Pick a position.</p>${table([
      ["SKU", (r) => `<a href="#stock/${encodeURIComponent(r.sku)}/${encodeURIComponent(r.site)}">${esc(r.sku)}</a>`],
      ["site", (r) => esc(r.site)], ["on hand", (r) => num(r.on_hand), "num"], ["available", (r) => num(r.available), "num"],
      ["on order", (r) => num(r.on_order), "num"], ["in transit", (r) => num(r.in_transit), "num"],
      ["inventory position", (r) => num(r.inventory_position), "num"]], positions.items, 'id="positions"')}`);
    return;
  }
  const d = await api(`/api/stock/${encodeURIComponent(sku)}/${encodeURIComponent(site)}`);
  const hist = d.history.map((h, i) => [i, h.on_hand]);
  const offset = hist.length;
  const start = d.position ? d.position.available : 0;
  const fan = d.forecast_fan.map((f, i) => [offset + i, d.projected[i].available - (f.p90 - f.p50), d.projected[i].available + (f.p50 - f.p10)]);
  const projected = [[offset - 1, start]].concat(d.projected.map((p, i) => [offset + i, p.available]));
  view(`<h2>${esc(sku)} at ${esc(site)}</h2>
    <p>Daily demand ${num(d.daily_demand, 2)} (sd ${num(d.daily_sd, 2)}) · available ${num(start)} · on order ${num(d.position?.on_order)}</p>
    ${chart([{ points: hist, color: "#2f5bd3" }, { fill: fan, color: "#d9a400" }, { points: projected, color: "#2e8b57", dash: true }])}
    <p class="legend"><span><i class="swatch" style="background:#2f5bd3"></i>on hand (history)</span>
    <span><i class="swatch" style="background:#d9a400"></i>forecast fan p10–p90 of stock</span>
    <span><i class="swatch" style="background:#2e8b57"></i>projected available</span></p>
    <h3>Open orders</h3>${table([["document", (o) => esc(o.doc_id)], ["kind", (o) => esc(o.kind)], ["qty", (o) => num(o.qty), "num"],
      ["done", (o) => num(o.done), "num"], ["counterparty", (o) => esc(o.counterparty)], ["expected", (o) => esc(o.expected_at)]], d.open_orders)}`);
}

// --- decisions and approvals --------------------------------------------------------------------------
function proposalRow(p) {
  return `${esc(p.action)} ${num(p.qty)} × ${esc(p.sku)} at ${esc(p.site)}`;
}

async function explain(id, target) {
  const story = await api(`/api/proposals/${encodeURIComponent(id)}/explanation`);
  target.innerHTML = `<h4>Why</h4><ul>${story.reasons.map((r) => `<li>${esc(r)}</li>`).join("")}</ul>
    <h4>History</h4>${table([["#", (h) => h.position, "num"], ["event", (h) => esc(h.type)], ["by", (h) => esc(h.data.by || h.metadata.actor || "")],
      ["policy", (h) => esc(h.data.policy_version || "")], ["details", (h) => esc((h.data.reasons || [h.data.reason || h.data.error || ""]).join("; "))]], story.history)}
    <h4>Provenance</h4><pre>${esc(JSON.stringify(story.provenance, null, 2))}</pre>`;
}

async function showDecisions() {
  const feed = await api("/api/proposals?limit=200");
  view(`<h2>Decision feed</h2>${table([
    ["when", (p) => esc(p.updated_at.slice(0, 19))], ["proposal", proposalRow], ["value", (p) => num(p.value, 2), "num"],
    ["risk", (p) => num(p.risk_score), "num"], ["status", (p) => badge(p.status)], ["policy", (p) => esc(p.policy_version)],
    ["by", (p) => esc(p.decided_by || "")], ["", (p) => `<button data-explain="${esc(p.proposal_id)}">explain</button>`]], feed.items, 'id="feed"')}
    <div id="explanation"></div>`);
  document.querySelectorAll("[data-explain]").forEach((b) => b.addEventListener("click", () => explain(b.dataset.explain, document.getElementById("explanation"))));
}

async function decide(id, verb) {
  const input = document.querySelector(`[data-reason="${CSS.escape(id)}"]`);
  const reason = (input && input.value.trim()) || (verb === "approve" ? "approved in the dashboard" : "rejected in the dashboard");
  const out = document.getElementById("decision-result");
  try {
    const result = await api(`/api/proposals/${encodeURIComponent(id)}/${verb}`, { method: "POST", body: JSON.stringify({ reason }) });
    out.textContent = `${id}: ${result.status}`;
    out.className = "";
  } catch (error) {
    out.textContent = String(error.message);
    out.className = "error";
  }
  await showApprovals(true);
}

async function showApprovals(keepMessage = false) {
  const queue = await api("/api/proposals?status=queued&limit=200");
  const canApprove = state.me.permissions.includes("approve");
  const message = keepMessage ? document.getElementById("decision-result")?.outerHTML || "" : "";
  view(`<h2>Approval queue</h2>${canApprove ? "" : '<p class="muted">Your role can see the queue but not approve.</p>'}
    ${message || '<p id="decision-result"></p>'}
    ${table([["proposal", proposalRow], ["value", (p) => num(p.value, 2), "num"], ["risk", (p) => num(p.risk_score), "num"],
      ["why it waits", (p) => `<ul>${p.decision_reasons.map((r) => `<li>${esc(r)}</li>`).join("")}</ul>`],
      ["requested by", (p) => esc(p.requested_by)], ["expires", (p) => esc((p.expires_at || "").slice(0, 16))],
      ["decide", (p) => canApprove ? `<input data-reason="${esc(p.proposal_id)}" placeholder="reason" size="18">
        <button class="approve" data-approve="${esc(p.proposal_id)}">Approve</button>
        <button class="reject" data-reject="${esc(p.proposal_id)}">Reject</button>` : ""]], queue.items, 'id="queue"')}`);
  document.querySelectorAll("[data-approve]").forEach((b) => b.addEventListener("click", () => decide(b.dataset.approve, "approve")));
  document.querySelectorAll("[data-reject]").forEach((b) => b.addEventListener("click", () => decide(b.dataset.reject, "reject")));
}

// --- policies and audit ------------------------------------------------------------------------------
async function showPolicies() {
  const policies = await api("/api/policies");
  view(`<h2>Policy versions</h2>${policies.map((p) => `<h3>${esc(p.name)}</h3>
    <p>active <b>${esc(p.active || "–")}</b>${p.canary ? ` · canary <b>${esc(p.canary.version)}</b> on ${(p.canary.share * 100).toFixed(0)} %` : ""}${p.shadow ? ` · shadow <b>${esc(p.shadow.version)}</b>` : ""}</p>
    ${table([["version", (v) => esc(v.version)], ["state", (v) => v.version === p.active ? badge("active") : p.canary && p.canary.version === v.version ? badge("canary") : p.shadow && p.shadow.version === v.version ? badge("shadow") : ""],
      ["published", (v) => esc(v.at.slice(0, 19))], ["by", (v) => esc(v.by)], ["digest", (v) => `<code>${esc(v.digest.slice(0, 12))}</code>`]], p.versions)}
    <h4>Rollout history</h4>${table([["#", (h) => h.position, "num"], ["event", (h) => esc(h.type)], ["version", (h) => esc(h.version || h.to_version || "")],
      ["by", (h) => esc(h.by || h.source || "")], ["reason", (h) => esc(h.reason || "")]], p.history.slice().reverse())}`).join("") || "<p>No policy published yet.</p>"}`);
}

async function showAudit() {
  const [events, chain] = await Promise.all([api("/api/audit/events?newest_first=true&limit=200"), api("/api/audit/verify")]);
  view(`<h2>Audit trail</h2><p>Hash chain: <b id="chain">${!chain.ok ? "BROKEN at " + chain.first_bad_position : chain.complete === false ? "intact so far" : "intact"}</b> (${chain.events} of ${chain.head_position} events checked by this server; the whole walk: <code>stockmesh audit verify</code>)</p>
    ${table([["#", (e) => e.position, "num"], ["recorded", (e) => esc(e.recorded_at.slice(0, 19))], ["stream", (e) => esc(e.stream_id)],
      ["event", (e) => esc(e.type)], ["actor", (e) => esc(e.metadata.actor || e.data.by || "")],
      ["data", (e) => `<code>${esc(JSON.stringify(e.data).slice(0, 160))}</code>`]], events.items, 'id="audit"')}`);
}

// --- routing -----------------------------------------------------------------------------------------
async function route() {
  if (!state.me) return;
  const [page, ...args] = (location.hash.slice(1) || "posture").split("/").map(decodeURIComponent);
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.getAttribute("href") === `#${page}`));
  const pages = { posture: showPosture, stock: () => showStock(args[0], args[1]), decisions: showDecisions,
                  approvals: () => showApprovals(), policies: showPolicies, audit: showAudit };
  try {
    await (pages[page] || showPosture)();
  } catch (error) {
    view(`<p class="error">${esc(error.message)}</p>`);
  }
}

async function signIn(token) {
  state.token = token;
  try {
    state.me = await api("/api/me");
  } catch (error) {
    document.getElementById("login-error").textContent = error.message;
    return;
  }
  sessionStorage.setItem("stockmesh-token", token);
  document.getElementById("login").hidden = true;
  document.getElementById("view").hidden = false;
  document.getElementById("nav").hidden = false;
  document.getElementById("who").textContent = `${state.me.user_id} · ${state.me.role} · sites ${state.me.sites.join(", ")}`;
  document.body.dataset.role = state.me.role;
  await route();
}

document.getElementById("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn(document.getElementById("token").value.trim());
});
window.addEventListener("hashchange", route);
if (state.token) signIn(state.token);
