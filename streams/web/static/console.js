// The console: sign-in, live alerts (server-sent events), the Leaflet case map with filters, the case panel,
// and the triage, camera-review, task-board and report pages. Crews and departments start on their board.

import { api, AuthError, el, fmt, setTimeZone, STATUS_COLORS } from "./api.js";
import { renderBoard, renderTriage } from "./boards.js";
import { renderCase } from "./case.js";
import { CaseMap } from "./map.js";
import { renderReports } from "./reports.js";
import { renderReview } from "./review.js";

const $ = (sel) => document.querySelector(sel);
const REFRESH_MS = 30000;
const HEAT_EVERY = 10;

const state = {
  meta: null,
  me: null,
  map: null,
  labels: {},
  alertIds: new Set(),
  selected: null,
  events: null,
  view: "map",
  label(id) { return (id && this.labels[id]) || id || "—"; },
  openCase(id) { openCase(id); },
  closeCase() { state.selected = null; $("#case-panel").hidden = true; state.map?.select(null); },
  toast(text) {
    const box = $("#toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(state.toastTimer);
    state.toastTimer = setTimeout(() => { box.hidden = true; }, 4000);
  },
  fail(err) { state.toast(`Error: ${err.message}`); },
  // The worker applies an action through the log; re-read the case and the current page a moment later.
  refreshSoon(caseId) {
    for (const ms of [800, 2500]) {
      setTimeout(() => {
        if (caseId && state.selected === caseId) openCase(caseId);
        renderView(state.view);
      }, ms);
    }
  },
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
  fillSelect($("#f-status"), meta.statuses.map((s) => [s, s.replace("_", " ")]));
  fillSelect($("#f-source"), meta.sources.map((s) => [s, s]));
  fillSelect($("#f-department"), meta.departments.map((d) => [d.id, d.name]));
  for (const select of document.querySelectorAll("#filters select")) {
    select.addEventListener("change", () => refreshCases().catch(state.fail));
  }
  $("#f-heat").addEventListener("change", () => refreshHeat().catch(state.fail));
  $("#legend").replaceChildren(...Object.keys(STATUS_COLORS).map((status) =>
    el("div", {}, el("i", { class: `case-dot status-${status}` }), status.replace("_", " "))));
}

async function refreshCases(withHeat = true) {
  const data = await api(`/api/cases?${filters()}`);
  state.map.setCases(data.cases);
  state.truncated = data.truncated;
  showCount();
  if (withHeat) await refreshHeat();
}

function showCount() {
  const n = state.map.points.size;
  $("#case-count").textContent = `${n} case${n === 1 ? "" : "s"} on the map${state.truncated ? " (newest)" : ""}`;
}

async function refreshHeat() {
  const visible = $("#f-heat").checked;
  const heat = visible ? await api(`/api/map/heat?${filters()}`) : { cells: [] };
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
    `${fmt.clock(alert.at)} · ${state.label(alert.kind)} · ${state.label(alert.district)}`));
}

async function onAlert(alert, fresh) {
  if (state.alertIds.has(alert.alert_id)) return;
  state.alertIds.add(alert.alert_id);
  const list = $("#alerts");
  list.prepend(alertItem(alert, fresh));
  while (list.children.length > 100) list.lastChild.remove();
  // A department's rejected case is on its way to another department: drop it rather than ask for it (404).
  if (!["admin", "operator"].includes(state.me.role) && alert.type === "rejected") {
    state.map.removeCase(alert.case_id);
    showCount();
    return;
  }
  // Replayed alerts are history: the map already holds what is still this caller's (from /api/cases).
  if (!fresh) return;
  try {
    const doc = await api(`/api/cases/${encodeURIComponent(alert.case_id)}`);
    state.map.upsertCase(doc, fresh);
    showCount();
    if (state.selected === alert.case_id) renderCase(state, doc);
  } catch (err) {
    // Re-routed to another department (or gone): it is no longer this caller's case to show.
    state.map.removeCase(alert.case_id);
    showCount();
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

async function openCase(caseId) {
  state.selected = caseId;
  state.map?.select(caseId);
  try {
    renderCase(state, await api(`/api/cases/${encodeURIComponent(caseId)}`));
  } catch (err) {
    state.map?.removeCase(caseId);
    $("#case-panel").hidden = false;
    $("#case-panel").replaceChildren(
      el("div", { class: "panel-head" }, el("h2", {}, "Case"),
        el("button", { class: "close", "aria-label": "close case", onclick: () => state.closeCase() }, "×")),
      el("p", { class: "error" }, `${caseId}: ${err.message}`));
  }
}

function allowed(button) {
  const needs = button.dataset.needs;
  if (needs === "city-wide") return ["admin", "operator"].includes(state.me.role);
  if (needs === "reports") return state.me.role !== "field_crew";
  return true;
}

function renderView(name) {
  const render = {
    map: () => state.map.applyView(),
    triage: () => renderTriage(state),
    review: () => renderReview(state),
    tasks: () => renderBoard(state, $("#board-department").value),
    reports: () => renderReports((id) => state.label(id)),
  }[name];
  return Promise.resolve(render()).catch(state.fail);
}

function showView(name) {
  state.view = name;
  for (const button of document.querySelectorAll("#tabs button")) button.classList.toggle("active", button.dataset.view === name);
  for (const view of document.querySelectorAll(".view")) view.classList.toggle("active", view.id === `view-${name}`);
  document.body.dataset.view = name;
  return renderView(name);
}

async function start() {
  const meta = await api("/api/meta");
  state.meta = meta;
  state.me = meta.me;
  setTimeZone(meta.city.timezone);
  Object.assign(state.labels, meta.labels);
  $("#login").hidden = true;
  $("#views").hidden = false;
  $("#sign-out").hidden = false;
  $("#city-name").textContent = meta.city.name;
  $("#me").textContent = `${meta.me.name} · ${meta.me.role.replace("_", " ")}${meta.me.department ? ` · ${state.label(meta.me.department)}` : ""}`;
  document.body.dataset.role = meta.me.role;
  for (const button of document.querySelectorAll("#tabs button")) {
    button.hidden = !allowed(button);
    button.addEventListener("click", () => showView(button.dataset.view));
  }
  const boards = meta.me.department ? [[meta.me.department, state.label(meta.me.department)]]
    : meta.departments.map((d) => [d.id, d.name]).concat([[meta.triage_department, "Triage queue"]]);
  fillSelect($("#board-department"), boards, "choose a department");
  $("#board-department").value = boards.length === 1 ? boards[0][0] : "";
  $("#board-department").addEventListener("change", () => showView("tasks"));
  $("#report-days").addEventListener("change", () => renderView("reports"));
  state.map = new CaseMap($("#map"), meta, (id) => state.label(id));
  state.map.onSelect = openCase;
  setupFilters(meta);
  await refreshCases();
  connectAlerts();
  // Cases every 30 s; the heat (every case's facts) when the filters change and every few minutes.
  let ticks = 0;
  setInterval(() => refreshCases(++ticks % HEAT_EVERY === 0).catch((err) => console.warn(err)), REFRESH_MS);
  if (["department", "field_crew"].includes(meta.me.role)) await showView("tasks");
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
    if (!(err instanceof AuthError)) {
      $("#login-error").textContent = `the console could not start: ${err.message || err}`;
      console.error(err);
    }
  });
});
