// The operators' console: sign-in, live alerts (server-sent events), the case map with filters,
// case detail with evidence, and the triage, task-board and report pages.

import { api, AuthError, el, fmt, STATUS_COLORS } from "./api.js";
import { renderBoard, renderTriage } from "./boards.js";
import { CaseMap } from "./map.js";
import { renderReports } from "./reports.js";

const $ = (sel) => document.querySelector(sel);
const REFRESH_MS = 30000;

const state = {
  meta: null,
  me: null,
  map: null,
  labels: {},
  districts: {},
  alertIds: new Set(),
  selected: null,
  events: null,
  label(id) { return this.labels[id] || id || "—"; },
  districtName(id) { return this.districts[id] || id || "—"; },
  openCase(id) { showView("map"); openCase(id); },
};

function filters() {
  const params = new URLSearchParams();
  for (const select of document.querySelectorAll("#filters select[data-filter]")) {
    if (select.value) params.set(select.dataset.filter, select.value);
  }
  return params;
}

function fillSelect(select, items, all = "all") {
  select.replaceChildren(el("option", { value: "" }, all), ...items.map(([value, text]) => el("option", { value }, text)));
}

function setupFilters(meta) {
  fillSelect($("#f-category"), meta.categories.map((c) => [c.id, c.label]));
  fillSelect($("#f-kind"), meta.kinds.map((k) => [k.id, k.label]));
  fillSelect($("#f-district"), meta.districts.map((d) => [d.id, d.name]));
  fillSelect($("#f-status"), meta.statuses.map((s) => [s, s]));
  fillSelect($("#f-source"), meta.sources.map((s) => [s, s]));
  fillSelect($("#f-department"), meta.departments.map((d) => [d.id, d.name]));
  for (const select of document.querySelectorAll("#filters select")) select.addEventListener("change", refreshCases);
  $("#f-heat").addEventListener("change", refreshHeat);
  $("#legend").replaceChildren(...Object.entries(STATUS_COLORS).map(([status, color]) => {
    const dot = el("i");
    dot.style.background = color; // CSSOM, not a style attribute: the CSP forbids inline styles
    return el("div", {}, dot, status);
  }));
}

async function refreshCases() {
  const data = await api(`/api/cases?${filters()}`);
  state.map.setCases(data.cases);
  state.truncated = data.truncated;
  showCount();
}

function showCount() {
  const n = state.map.points.size;
  $("#case-count").textContent = `${n} case${n === 1 ? "" : "s"} on the map${state.truncated ? " (newest)" : ""}`;
}

async function refreshHeat() {
  const visible = $("#f-heat").checked && state.me.role !== "field_crew";
  const heat = visible ? await api("/api/reports/heat?days=30") : { cells: [] };
  state.map.setHeat(heat.cells, visible);
}

function alertItem(alert, fresh) {
  return el("li", {
    class: `${alert.severity}${fresh ? " new" : ""}`,
    dataset: { alertId: alert.alert_id, caseId: alert.case_id },
    onclick: () => openCase(alert.case_id),
  },
  el("div", {}, el("b", {}, alert.title)),
  el("div", { class: "meta" },
    `${fmt.clock(alert.at)} · ${state.label(alert.kind)} · ${state.districtName(alert.district)} · ${alert.case_id}`));
}

async function onAlert(alert, fresh) {
  if (state.alertIds.has(alert.alert_id)) return;
  state.alertIds.add(alert.alert_id);
  const list = $("#alerts");
  list.prepend(alertItem(alert, fresh));
  while (list.children.length > 100) list.lastChild.remove();
  try {
    const doc = await api(`/api/cases/${encodeURIComponent(alert.case_id)}`);
    state.map.upsertCase(doc, fresh);
    showCount();
    if (state.selected === alert.case_id) renderCase(doc);
  } catch (err) {
    state.map.upsertCase({ ...alert, status: alert.status || "new" }, fresh);
  }
}

function connectAlerts() {
  if (state.events) state.events.close();
  const source = new EventSource("/api/alerts/stream");
  state.events = source;
  let replaying = true;
  source.addEventListener("open", () => { $("#live").textContent = "live"; $("#live").className = "pill on"; });
  source.addEventListener("error", () => { $("#live").textContent = "reconnecting"; $("#live").className = "pill off"; });
  source.addEventListener("alert", (ev) => onAlert(JSON.parse(ev.data), !replaying));
  // Alerts replayed on connect arrive in one burst; anything after it is live.
  setTimeout(() => { replaying = false; }, 1500);
}

function row(label, value) {
  return [el("dt", {}, label), el("dd", {}, value === undefined || value === null || value === "" ? "—" : String(value))];
}

function renderCase(doc) {
  const box = $("#case-detail");
  box.hidden = false;
  const observations = (doc.observations || []).map((o) => el("div", { class: "obs" },
    el("div", {}, el("b", {}, o.source || "report"), ` · ${fmt.time(Number(o.at) || o.observed_at)}`,
      o.confidence ? ` · confidence ${Number(o.confidence).toFixed(2)}` : ""),
    o.text ? el("div", {}, o.text) : null,
    o.source === "camera" || o.evidence
      ? el("img", { src: `/api/evidence/${encodeURIComponent(o.observation_id)}`, alt: `evidence ${o.observation_id}`, loading: "lazy" })
      : null));
  const timeline = (doc.timeline || []).slice().reverse().map((t) => el("div", { class: "tl" },
    `${fmt.time(t.at)} · ${t.type} → ${t.status}${t.department ? ` · ${state.label(t.department)}` : ""}`,
    t.detail && (t.detail.note || t.detail.why) ? el("div", { class: "muted" }, t.detail.note || t.detail.why) : null));
  box.replaceChildren(
    el("h2", {}, `Case ${doc.case_id}`),
    el("dl", {},
      row("Status", doc.status), row("Category", state.label(doc.category)), row("Reason", state.label(doc.reason)),
      row("Kind", state.label(doc.kind)), row("District", state.districtName(doc.district)),
      row("Department", state.label(doc.department)), row("Priority", doc.priority), row("Reports", doc.reports),
      row("Route", doc.route_source ? `${doc.route_source} (${fmt.pct(doc.route_confidence)})` : ""),
      row("Opened", fmt.time(doc.opened_at)), row("Deadline", fmt.time(doc.sla_deadline)),
      row("Location", `${Number(doc.lat).toFixed(5)}, ${Number(doc.lon).toFixed(5)}`)),
    el("h3", {}, `Evidence and reports (${(doc.observations || []).length})`), ...observations,
    el("h3", {}, "Timeline"), ...timeline);
}

async function openCase(caseId) {
  state.selected = caseId;
  state.map.select(caseId);
  try {
    renderCase(await api(`/api/cases/${encodeURIComponent(caseId)}`));
  } catch (err) {
    $("#case-detail").hidden = false;
    $("#case-detail").replaceChildren(el("p", { class: "error" }, `${caseId}: ${err.message}`));
  }
}

function allowed(button) {
  const needs = button.dataset.needs;
  if (needs === "city-wide") return ["admin", "operator"].includes(state.me.role);
  if (needs === "reports") return state.me.role !== "field_crew";
  return true;
}

function showView(name) {
  for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.view === name);
  for (const view of document.querySelectorAll(".view")) view.classList.toggle("active", view.id === `view-${name}`);
  const render = {
    map: () => state.map.applyView(),
    triage: () => renderTriage(state),
    tasks: () => renderBoard(state, $("#board-department").value),
    reports: () => renderReports(),
  }[name];
  Promise.resolve(render()).catch((err) => console.error(err));
}

async function start() {
  const meta = await api("/api/meta");
  state.meta = meta;
  state.me = meta.me;
  Object.assign(state.labels, meta.labels);
  for (const item of meta.kinds) state.labels[item.id] = item.label;
  for (const d of meta.departments) state.labels[d.id] = d.name;
  for (const d of meta.districts) state.districts[d.id] = d.name;
  $("#login").hidden = true;
  $("#views").hidden = false;
  $("#sign-out").hidden = false;
  $("#city-name").textContent = `CityOps · ${meta.city.name}`;
  $("#me").textContent = `${meta.me.name} (${meta.me.role}${meta.me.department ? ` · ${state.label(meta.me.department)}` : ""})`;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.hidden = !allowed(button);
    button.addEventListener("click", () => showView(button.dataset.view));
  }
  const boards = meta.me.department ? [[meta.me.department, state.label(meta.me.department)]]
    : meta.departments.map((d) => [d.id, d.name]).concat([[meta.triage_department, "triage"]]);
  fillSelect($("#board-department"), boards, "choose a department");
  $("#board-department").value = boards.length === 1 ? boards[0][0] : "";
  $("#board-department").addEventListener("change", () => showView("tasks"));
  $("#report-days").addEventListener("change", () => renderReports());
  state.map = new CaseMap($("#map"));
  state.map.onSelect = openCase;
  state.map.setDistricts(meta.districts, meta.city.center);
  setupFilters(meta);
  await refreshCases();
  refreshHeat().catch((err) => console.error(err));
  connectAlerts();
  setInterval(() => refreshCases().catch((err) => console.error(err)), REFRESH_MS);
  document.body.dataset.ready = "true";
}

async function signIn(ev) {
  ev.preventDefault();
  $("#login-error").textContent = "";
  try {
    await api("/api/session", { method: "POST", body: { token: $("#token").value.trim() } });
    $("#token").value = "";
    await start();
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
}

async function signOut() {
  await api("/api/session", { method: "DELETE" });
  window.location.reload();
}

window.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  start().catch((err) => {
    $("#login").hidden = false;
    if (!(err instanceof AuthError)) $("#login-error").textContent = err.message;
  });
});
