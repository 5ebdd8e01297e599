// The case map on Leaflet (served from the xstatic-leaflet PyPI packages, nothing remote): district outlines with
// labels that keep their size and hide where they would overlap, cases clustered per status, a heat layer
// built from the same filters as the cases, camera positions, and an optional street basemap.

import { STATUS_COLORS } from "./api.js";

const L = window.L;

function statusIcon(status, selected) {
  return L.divIcon({ className: `case-dot status-${status}${selected ? " selected" : ""}`, iconSize: [14, 14] });
}

function clusterIcon(status) {
  return (cluster) => L.divIcon({
    className: `case-cluster status-${status}`,
    html: `<span>${cluster.getChildCount()}</span>`,
    iconSize: [34, 34],
  });
}

function heatColor(strength) {
  return `hsl(${Math.round(40 - 40 * strength)}, 95%, 50%)`;
}

export class CaseMap {
  constructor(root, meta, label) {
    this.label = label;
    this.onSelect = () => {};
    this.markers = new Map();
    this.selected = null;
    this.map = L.map(root, { zoomControl: true, attributionControl: true, maxZoom: (meta.basemap && meta.basemap.max_zoom) || 19 });
    const base = meta.basemap || { type: "none" };
    if (base.type !== "none") {
      L.tileLayer(base.url, { maxZoom: base.max_zoom, attribution: base.attribution || "" }).addTo(this.map);
    }
    // District names sit above the outlines and the heat but below the cases, so they never hide one.
    this.map.createPane("labels").style.zIndex = 450;
    // Camera pins sit under the cases too: a camera's own detection is drawn right on top of it.
    this.map.createPane("cameras").style.zIndex = 550;
    this.districts = L.layerGroup().addTo(this.map);
    this.heat = L.layerGroup().addTo(this.map);
    this.cameras = L.layerGroup().addTo(this.map);
    this.clusters = {};
    const overlays = { "Heat (filtered cases)": this.heat, Cameras: this.cameras };
    for (const status of meta.statuses) {
      this.clusters[status] = L.markerClusterGroup({
        iconCreateFunction: clusterIcon(status), showCoverageOnHover: false, maxClusterRadius: 40,
      }).addTo(this.map);
      overlays[`Cases: ${status.replace("_", " ")}`] = this.clusters[status];
    }
    this.layers = L.control.layers(null, overlays, { collapsed: true }).addTo(this.map);
    this.drawDistricts(meta.districts, meta.city.center);
    this.drawCameras(meta.cameras || []);
    this.map.on("zoomend moveend", () => this.declutterLabels());
    this.fitted = false;
  }

  get points() { return this.markers; }

  drawDistricts(districts, center) {
    const bounds = [];
    for (const d of districts) {
      if (d.polygon.length) {
        const poly = L.polygon(d.polygon, { className: "district", weight: 1, fillOpacity: 0.15, interactive: false });
        poly.addTo(this.districts);
        bounds.push(...d.polygon);
      }
      // A permanent tooltip keeps its pixel size at every zoom; overlapping ones are hidden (declutterLabels).
      L.tooltip({ permanent: true, direction: "center", className: "district-label", interactive: false, pane: "labels" })
        .setLatLng([d.center.lat, d.center.lon]).setContent(d.name).addTo(this.districts);
    }
    if (bounds.length) this.map.fitBounds(bounds, { padding: [10, 10] });
    else this.map.setView([center.lat, center.lon], 11);
  }

  drawCameras(cameras) {
    for (const cam of cameras) {
      L.marker([cam.lat, cam.lon], {
        icon: L.divIcon({ className: "camera-pin", iconSize: [12, 12] }), title: cam.name, keyboard: false, pane: "cameras",
      }).bindTooltip(cam.name).addTo(this.cameras);
    }
  }

  declutterLabels() {
    const shown = [];
    for (const node of document.querySelectorAll(".leaflet-tooltip.district-label")) {
      node.classList.remove("hidden-label");
      const box = node.getBoundingClientRect();
      const clash = shown.some((b) => box.left < b.right && box.right > b.left && box.top < b.bottom && box.bottom > b.top);
      if (clash) node.classList.add("hidden-label");
      else shown.push(box);
    }
  }

  applyView() {
    this.map.invalidateSize();
    this.declutterLabels();
  }

  setCases(cases) {
    const keep = new Set(cases.map((c) => c.case_id));
    for (const id of [...this.markers.keys()]) if (!keep.has(id)) this.removeCase(id);
    for (const c of cases) this.upsertCase(c, false);
    // The first time there are cases, show where they are rather than the whole city's outline.
    const points = cases.filter((c) => c.lat !== null && c.lat !== undefined).map((c) => [c.lat, c.lon]);
    if (!this.fitted && points.length) {
      this.fitted = true;
      this.map.fitBounds(points, { padding: [60, 60], maxZoom: 13, animate: false });
    }
    requestAnimationFrame(() => this.declutterLabels());
  }

  removeCase(caseId) {
    const entry = this.markers.get(caseId);
    if (!entry) return;
    this.clusters[entry.status]?.removeLayer(entry.marker);
    this.markers.delete(caseId);
  }

  upsertCase(c, fresh) {
    if (c.lat === null || c.lat === undefined) return;
    const status = this.clusters[c.status] ? c.status : "new";
    let entry = this.markers.get(c.case_id);
    if (entry && entry.status !== status) { this.removeCase(c.case_id); entry = null; }
    if (!entry) {
      const marker = L.marker([c.lat, c.lon], { icon: statusIcon(status, c.case_id === this.selected), keyboard: false });
      marker.on("click", () => this.onSelect(c.case_id));
      this.clusters[status].addLayer(marker);
      entry = { marker, status };
      this.markers.set(c.case_id, entry);
    } else {
      entry.marker.setLatLng([c.lat, c.lon]);
    }
    entry.data = c;
    entry.marker.options.title = c.case_id;
    entry.marker.unbindTooltip().bindTooltip(
      `${this.label(c.category || c.kind)} · ${this.label(c.district)} · ${status.replace("_", " ")}`);
    const el = entry.marker.getElement();
    if (el) {
      el.dataset.caseId = c.case_id;
      el.dataset.status = status;
      if (fresh) el.classList.add("fresh");
    }
  }

  // The marker's element exists only while its cluster is expanded: bring it into view first.
  reveal(caseId) {
    const entry = this.markers.get(caseId);
    if (!entry) return null;
    this.clusters[entry.status].zoomToShowLayer(entry.marker, () => {});
    return entry.marker;
  }

  select(caseId) {
    const before = this.markers.get(this.selected);
    this.selected = caseId;
    if (before) before.marker.setIcon(statusIcon(before.status, false));
    const now = this.markers.get(caseId);
    if (now) now.marker.setIcon(statusIcon(now.status, true));
  }

  setHeat(cells, visible) {
    this.heat.clearLayers();
    if (!visible || !cells.length) return;
    const max = Math.max(...cells.map((c) => c.cases));
    for (const cell of cells) {
      const strength = Math.log1p(cell.cases) / Math.log1p(max);
      L.polygon(cell.boundary, {
        className: "heat", stroke: false, fillColor: heatColor(strength), fillOpacity: 0.2 + 0.5 * strength,
        interactive: false,
      }).addTo(this.heat);
    }
  }
}

export function legend() {
  return Object.entries(STATUS_COLORS);
}
