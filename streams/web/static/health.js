// One district's or department's health report as a printable page (like Qingdao's per-trade reports):
// volume, top problems, resolution, on-time and reopen rates, weekly trend and hot spots; CSV/JSON export.

import { api, el, fmt, setTimeZone, svg } from "./api.js";

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(window.location.search);

function trendChart(trend) {
  const w = 640, h = 160, pad = 24;
  const max = Math.max(1, ...trend.map((t) => Math.max(t.opened, t.resolved)));
  const step = (w - pad) / Math.max(1, trend.length);
  const chart = svg("svg", { viewBox: `0 0 ${w} ${h}`, class: "trend", role: "img", "aria-label": "weekly trend" });
  trend.forEach((t, i) => {
    const x = pad + i * step;
    for (const [key, dx, cls] of [["opened", 0, "bar-opened"], ["resolved", step * 0.4, "bar-resolved"]]) {
      const bh = ((h - pad) * t[key]) / max;
      const bar = svg("rect", { x: x + dx, y: h - pad - bh, width: step * 0.38, height: bh, class: cls });
      bar.append(svg("title"));
      bar.firstChild.textContent = `${key}: ${t[key]}`;
      chart.append(bar);
    }
    const label = svg("text", { x: x + step * 0.4, y: h - 6, "text-anchor": "middle", class: "axis" });
    label.textContent = new Date(t.week_start * 1000).toLocaleDateString(undefined, { month: "short", day: "numeric" });
    chart.append(label);
  });
  return el("div", {}, chart, el("div", { class: "muted" },
    el("span", { class: "key-opened" }, "■"), " opened  ", el("span", { class: "key-resolved" }, "■"), " resolved"));
}

function csv(report) {
  const s = report.summary;
  const lines = [["metric", "value"], ["name", report.name], ["volume", s.volume], ["open", s.open], ["overdue", s.overdue],
    ["resolution_rate", s.resolution_rate], ["on_time_rate", s.on_time_rate], ["reopen_rate", s.reopen_rate],
    ["repeat_rate", s.repeat_rate], ["median_hours_to_resolve", s.median_hours_to_resolve],
    ...s.top_problems.map((p) => [`problem:${p.label}`, p.cases]),
    ...report.trend.map((t) => [`week:${new Date(t.week_start * 1000).toISOString().slice(0, 10)}`, `${t.opened}/${t.resolved}`]),
    ...report.hot_spots.map((h) => [`hot_spot:${h.lat},${h.lon}`, `${h.cases} ${h.top_category_label}`])];
  return lines.map((r) => r.map((v) => `"${String(v ?? "").replaceAll('"', '""')}"`).join(",")).join("\n");
}

async function render() {
  const days = $("#health-days").value;
  const report = await api(`/api/health/${encodeURIComponent(params.get("group") || "district")}/${encodeURIComponent(params.get("id") || "")}?days=${days}`);
  setTimeZone(report.timezone);
  const s = report.summary;
  document.title = `${report.name} · health report`;
  $("#health-title").textContent = `${report.name}: health report`;
  $("#health-window").textContent = `${report.group} · ${days === "0" ? "all time" : `last ${days} days`} · generated ${fmt.time(report.generated_at)}`;
  $("#health-cards").replaceChildren(...[["Cases", s.volume], ["Open", s.open], ["Overdue", s.overdue],
    ["Resolved", fmt.pct(s.resolution_rate)], ["On time", fmt.pct(s.on_time_rate)], ["Reopened", fmt.pct(s.reopen_rate)],
    ["Repeat reports", fmt.pct(s.repeat_rate)], ["Median hours to fix", fmt.num(s.median_hours_to_resolve)]]
    .map(([title, value]) => el("div", { class: "card" }, el("b", {}, value), title)));
  $("#health-trend").replaceChildren(trendChart(report.trend));
  $("#health-problems").replaceChildren(el("thead", {}, el("tr", {}, el("th", {}, "Problem"), el("th", {}, "Cases"))),
    el("tbody", {}, s.top_problems.map((p) => el("tr", {}, el("td", {}, p.label), el("td", {}, p.cases)))));
  $("#health-spots").replaceChildren(
    el("thead", {}, el("tr", {}, ["#", "Where (lat, lon)", "Cases", "Open", "Mostly"].map((t) => el("th", {}, t)))),
    el("tbody", {}, report.hot_spots.map((h, i) => el("tr", {}, el("td", {}, i + 1), el("td", {}, `${h.lat}, ${h.lon}`),
      el("td", {}, h.cases), el("td", {}, h.open), el("td", {}, h.top_category_label)))));
  $("#health-csv").href = URL.createObjectURL(new Blob([csv(report)], { type: "text/csv" }));
  $("#health-json").href = URL.createObjectURL(new Blob([JSON.stringify(report, null, 2)], { type: "application/json" }));
  document.body.dataset.ready = "true";
}

window.addEventListener("DOMContentLoaded", () => {
  $("#health-print").addEventListener("click", () => window.print());
  $("#health-days").addEventListener("change", () => render().catch((err) => { $("#health-error").textContent = err.message; }));
  render().catch((err) => { $("#health-error").textContent = err.message; });
});
