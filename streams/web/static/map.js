// The case map: district outlines from the city config, case points and an H3 heat layer,
// drawn as SVG in an equirectangular lat/lon frame (longitude scaled by cos(latitude)). No tiles.

import { STATUS_COLORS, svg } from "./api.js";

const SCALE = 1000; // SVG units per projected degree

export class CaseMap {
  constructor(root) {
    this.root = root;
    this.layers = {
      districts: root.querySelector("#layer-districts"),
      heat: root.querySelector("#layer-heat"),
      cases: root.querySelector("#layer-cases"),
    };
    this.points = new Map();
    this.onSelect = () => {};
    this.cosLat = 1;
    this.origin = [0, 0];
    this.view = { x: 0, y: 0, w: 100, h: 100 };
    this.enablePanZoom();
  }

  project(lat, lon) {
    return [(lon - this.origin[1]) * this.cosLat * SCALE, -(lat - this.origin[0]) * SCALE];
  }

  setDistricts(districts, center) {
    this.origin = [center.lat, center.lon];
    this.cosLat = Math.cos((center.lat * Math.PI) / 180);
    this.layers.districts.replaceChildren();
    let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const d of districts) {
      const ring = d.polygon.length ? d.polygon : [[d.center.lat, d.center.lon]];
      const pts = ring.map(([lat, lon]) => this.project(lat, lon));
      for (const [x, y] of pts) {
        minX = Math.min(minX, x); minY = Math.min(minY, y); maxX = Math.max(maxX, x); maxY = Math.max(maxY, y);
      }
      if (d.polygon.length) {
        const poly = svg("polygon", { class: "district", points: pts.map((p) => p.join(",")).join(" ") });
        poly.dataset.district = d.id;
        poly.append(svg("title"));
        poly.firstChild.textContent = d.name;
        this.layers.districts.append(poly);
      }
      const [cx, cy] = this.project(d.center.lat, d.center.lon);
      const label = svg("text", { class: "district-label", x: cx, y: cy, "text-anchor": "middle" });
      label.textContent = d.name;
      this.layers.districts.append(label);
    }
    if (!Number.isFinite(minX)) [minX, minY, maxX, maxY] = [-50, -50, 50, 50];
    const pad = 0.04 * Math.max(maxX - minX, maxY - minY);
    this.view = { x: minX - pad, y: minY - pad, w: maxX - minX + 2 * pad, h: maxY - minY + 2 * pad };
    this.applyView();
  }

  unitsPerPixel() {
    const box = this.root.getBoundingClientRect();
    return Math.max(this.view.w / Math.max(1, box.width), this.view.h / Math.max(1, box.height));
  }

  applyView() {
    const { x, y, w, h } = this.view;
    this.root.setAttribute("viewBox", `${x} ${y} ${w} ${h}`);
    const r = 5 * this.unitsPerPixel();
    for (const circle of this.points.values()) circle.setAttribute("r", r);
  }

  setCases(cases) {
    const keep = new Set(cases.map((c) => c.case_id));
    for (const [id, circle] of this.points) {
      if (!keep.has(id)) { circle.remove(); this.points.delete(id); }
    }
    for (const c of cases) this.upsertCase(c, false);
  }

  upsertCase(c, fresh) {
    if (c.lat === null || c.lat === undefined) return;
    const [x, y] = this.project(c.lat, c.lon);
    let circle = this.points.get(c.case_id);
    if (!circle) {
      circle = svg("circle", { class: "case" });
      circle.dataset.caseId = c.case_id;
      circle.append(svg("title"));
      circle.addEventListener("click", (ev) => { ev.stopPropagation(); this.onSelect(c.case_id); });
      this.layers.cases.append(circle);
      this.points.set(c.case_id, circle);
    }
    circle.setAttribute("cx", x);
    circle.setAttribute("cy", y);
    circle.setAttribute("r", 5 * this.unitsPerPixel());
    circle.setAttribute("fill", STATUS_COLORS[c.status] || "#334155");
    circle.dataset.status = c.status;
    circle.dataset.department = c.department || "";
    circle.firstChild.textContent = `${c.case_id} · ${c.category || c.kind} · ${c.status}`;
    if (fresh) {
      circle.classList.remove("fresh");
      void circle.getBBox();
      circle.classList.add("fresh");
    }
  }

  select(caseId) {
    for (const [id, circle] of this.points) circle.classList.toggle("selected", id === caseId);
  }

  setHeat(cells, visible) {
    this.layers.heat.replaceChildren();
    if (!visible || !cells.length) return;
    const max = Math.max(...cells.map((c) => c.cases));
    for (const cell of cells) {
      const pts = cell.boundary.map(([lat, lon]) => this.project(lat, lon).join(",")).join(" ");
      const strength = Math.log1p(cell.cases) / Math.log1p(max);
      const hex = svg("polygon", {
        class: "heat", points: pts, fill: `hsl(${40 - 40 * strength}, 95%, 50%)`,
        "fill-opacity": (0.2 + 0.55 * strength).toFixed(2),
      });
      hex.dataset.cases = cell.cases;
      this.layers.heat.append(hex);
    }
  }

  enablePanZoom() {
    let drag = null;
    this.root.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const box = this.root.getBoundingClientRect();
      const fx = (ev.clientX - box.left) / box.width;
      const fy = (ev.clientY - box.top) / box.height;
      const k = ev.deltaY > 0 ? 1.2 : 1 / 1.2;
      const { x, y, w, h } = this.view;
      this.view = { x: x + fx * w * (1 - k), y: y + fy * h * (1 - k), w: w * k, h: h * k };
      this.applyView();
    }, { passive: false });
    this.root.addEventListener("pointerdown", (ev) => {
      drag = { x: ev.clientX, y: ev.clientY, view: { ...this.view } };
    });
    window.addEventListener("pointerup", () => { drag = null; });
    this.root.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      const upp = this.unitsPerPixel();
      this.view = { ...drag.view, x: drag.view.x - (ev.clientX - drag.x) * upp, y: drag.view.y - (ev.clientY - drag.y) * upp };
      this.applyView();
    });
    window.addEventListener("resize", () => this.applyView());
  }
}
