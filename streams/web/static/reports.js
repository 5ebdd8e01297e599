// The reports page: city summary, districts and departments rated and ranked, hot spots, exports.

import { api, el, fmt } from "./api.js";

const GROUP_COLUMNS = [
  ["rank", "#"], ["name", "Name"], ["volume", "Cases"], ["open", "Open"], ["overdue", "Overdue"],
  ["resolution_rate", "Resolved", fmt.pct], ["on_time_rate", "On time", fmt.pct],
  ["repeat_rate", "Repeat", fmt.pct], ["reopen_rate", "Reopened", fmt.pct],
  ["median_hours_to_resolve", "Median h", fmt.num], ["rating", "Rating", fmt.num],
];

function problems(row) {
  return (row.top_problems || []).slice(0, 3).map((p) => `${p.label || p.category} (${p.cases})`).join("; ");
}

// Each name opens that unit's printable health report.
function cell(group, row, key, f) {
  const id = row[group];
  if (key === "name" && id && id !== "unassigned") {
    return el("td", {}, el("a", { href: `/console/health.html?group=${group}&id=${encodeURIComponent(id)}`,
      target: "_blank", class: "health-link" }, row.name));
  }
  return el("td", {}, (f || fmt.num)(row[key]));
}

function groupTable(table, rows, group) {
  const head = el("tr", {}, GROUP_COLUMNS.map(([, title]) => el("th", {}, title)), el("th", {}, "Top problems"));
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, rows.map((row) =>
    el("tr", {}, GROUP_COLUMNS.map(([key, , f]) => cell(group, row, key, f)),
      el("td", {}, problems(row))))));
}

export async function renderReports(label = (id) => id) {
  const days = document.querySelector("#report-days").value;
  const q = `days=${days}`;
  const report = await api(`/api/reports?${q}`);
  document.querySelector("#report-took").textContent = `${report.cases} cases, built in ${report.took_s} s`;
  const c = report.city;
  document.querySelector("#report-summary").replaceChildren(
    ...[["Cases", c.volume], ["Open", c.open], ["Overdue", c.overdue], ["Resolved", fmt.pct(c.resolution_rate)],
      ["On time", fmt.pct(c.on_time_rate)], ["Repeat", fmt.pct(c.repeat_rate)],
      ["Median hours", fmt.num(c.median_hours_to_resolve)]]
      .map(([title, value]) => el("div", { class: "card" }, el("b", {}, value), title)));
  groupTable(document.querySelector("#report-districts"), report.districts, "district");
  groupTable(document.querySelector("#report-departments"), report.departments, "department");
  const spots = document.querySelector("#report-hotspots");
  spots.replaceChildren(
    el("thead", {}, el("tr", {}, ["#", "Where (lat, lon)", "Cases", "Open", "Mostly", "Districts"].map((t) => el("th", {}, t)))),
    el("tbody", {}, report.hot_spots.map((s, i) => el("tr", {},
      el("td", {}, i + 1), el("td", {}, `${s.lat}, ${s.lon}`), el("td", {}, s.cases), el("td", {}, s.open),
      el("td", {}, s.top_category_label || s.top_category), el("td", {}, s.districts.map(label).join(", "))))));
  const links = {
    "#x-districts": "/api/reports/districts.csv", "#x-departments": "/api/reports/departments.csv",
    "#x-cases": "/api/reports/cases.csv", "#x-cases-geo": "/api/reports/cases.geojson",
    "#x-hotspots": "/api/reports/hotspots.geojson", "#x-heatmap": "/api/reports/heatmap.png",
  };
  for (const [sel, path] of Object.entries(links)) document.querySelector(sel).href = `${path}?${q}`;
  document.querySelector("#report-heatmap").src = `/api/reports/heatmap.png?${q}&t=${Date.now()}`;
}
