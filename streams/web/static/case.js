// Case detail: every report with its own time, source, text and photo; a camera case's camera and frames;
// the crews' photos; the timeline; and the actions the signed-in role may take on it.

import { api, el, fmt } from "./api.js";
import { departmentPicker, resolveDialog, rejectDialog } from "./dialogs.js";

const $ = (sel) => document.querySelector(sel);
const TASK_VERBS = {
  dispatched: ["ack", "start", "resolve", "reject"],
  reopened: ["ack", "start", "resolve", "reject"],
  acknowledged: ["start", "resolve", "reject"],
  in_progress: ["resolve"],
};
const VERB_NAMES = { ack: "Acknowledge", start: "Start work", resolve: "Resolve…", reject: "Not ours…" };

function row(label, value) {
  return [el("dt", {}, label), el("dd", {}, value === undefined || value === null || value === "" ? "—" : String(value))];
}

function report(state, o) {
  const source = o.source === "camera" ? `camera · ${o.camera_name || o.camera_id}` : (o.source || "report");
  return el("div", { class: "obs", dataset: { observationId: o.observation_id } },
    el("div", {}, el("b", {}, source), " · ", el("time", { class: "reported-at", datetime: o.reported_at ? new Date(o.reported_at * 1000).toISOString() : null },
      fmt.time(o.reported_at)),
      o.confidence && o.source === "camera" ? ` · detector ${Number(o.confidence).toFixed(2)}` : ""),
    o.address ? el("div", { class: "muted" }, o.address) : null,
    o.text ? el("div", { class: "obs-text" }, o.text) : null,
    o.evidence && !o.evidence_kept ? el("div", { class: "muted" }, "frame expired") : null,
    o.evidence && o.evidence_kept ? el("img", { class: "frame", src: `/api/evidence/${encodeURIComponent(o.evidence)}`,
      alt: `frame from ${o.camera_name || "camera"}`, loading: "lazy" }) : null);
}

function crewPhotos(doc) {
  return (doc.field_photos || []).map((p) => el("figure", { class: "crew-photo", dataset: { updateId: p.update_id } },
    el("img", { src: `/api/cases/${encodeURIComponent(doc.case_id)}/photos/${encodeURIComponent(p.update_id)}`,
      alt: `photo by ${p.crew_id} (${p.action})` }),
    el("figcaption", {}, `${p.action} · ${p.crew_id} · ${fmt.time(p.at)}${p.note ? ` · “${p.note}”` : ""}`)));
}

function timeline(state, doc) {
  return (doc.timeline || []).slice().reverse().map((t) => {
    const d = t.detail || {};
    const extra = d.note || (d.why || "").replaceAll("_", " ") || (d.suggested_department ? `suggests ${state.label(d.suggested_department)}` : "");
    return el("div", { class: "tl" },
      `${fmt.time(t.at)} · ${t.type.replace("_", " ")} → ${t.status.replace("_", " ")}`,
      t.department ? ` · ${state.label(t.department)}` : "",
      extra ? el("div", { class: "muted" }, extra) : null);
  });
}

async function taskAction(state, doc, verb) {
  const taskId = `${doc.case_id}/${doc.dispatch_no}`;
  let body = {};
  if (verb === "resolve") body = await resolveDialog();
  if (verb === "reject") body = await rejectDialog(state, doc.department);
  if (body === null) return;
  await api(`/api/tasks/${taskId}/${verb}`, { method: "POST", body });
  state.toast(`${VERB_NAMES[verb].replace("…", "")}: sent`);
  if (verb === "reject") {
    // The case goes to another department: it is no longer ours to show, on the panel or the map.
    state.closeCase();
    state.map?.removeCase(doc.case_id);
    state.refreshSoon(null);
    return;
  }
  state.refreshSoon(doc.case_id);
}

function actions(state, doc) {
  const me = state.me;
  const out = [];
  if (["department", "field_crew", "admin"].includes(me.role) && doc.dispatch_no
      && (me.role === "admin" || doc.department === me.department)) {
    for (const verb of TASK_VERBS[doc.status] || []) {
      out.push(el("button", { class: `act act-${verb}`, onclick: () => taskAction(state, doc, verb).catch(state.fail) },
        VERB_NAMES[verb]));
    }
  }
  if (["operator", "admin"].includes(me.role)) {
    const camera = (doc.observations || []).some((o) => o.evidence);
    if (camera && !["closed", "verified"].includes(doc.status) && !doc.review) {
      out.push(el("button", { class: "act act-confirm", onclick: () => review(state, doc, "confirmed").catch(state.fail) },
        "Confirm detection"));
      out.push(el("button", { class: "act act-dismiss danger",
        onclick: () => review(state, doc, "false_positive").catch(state.fail) }, "Dismiss: false positive"));
    }
    if (!["resolved", "verified", "closed"].includes(doc.status)) {
      const picker = departmentPicker(state, doc.suggestions || [], doc.department);
      out.push(el("div", { class: "assign" }, picker.node,
        el("button", { class: "act act-assign", onclick: async () => {
          const department = picker.value();
          if (!department) return;
          await api(`/api/cases/${encodeURIComponent(doc.case_id)}/assign`, { method: "POST", body: { department } })
            .catch(state.fail);
          state.toast(`Sent to ${state.label(department)}`);
          state.refreshSoon(doc.case_id);
        } }, "Send to department")));
    }
  }
  return out;
}

async function review(state, doc, verdict) {
  await api(`/api/cases/${encodeURIComponent(doc.case_id)}/review`, { method: "POST", body: { verdict } });
  state.toast(verdict === "false_positive" ? "Dismissed as a false positive; the frame is kept for training"
    : "Detection confirmed; the frame is kept for training");
  state.refreshSoon(doc.case_id);
}

export function renderCase(state, doc) {
  const box = $("#case-panel");
  box.hidden = false;
  box.dataset.caseId = doc.case_id;
  box.dataset.status = doc.status;
  const observations = doc.observations || [];
  const cameras = doc.camera_names || [];
  box.replaceChildren(...[
    el("div", { class: "panel-head" },
      el("h2", {}, `${state.label(doc.category || doc.kind)}`),
      el("button", { class: "close", "aria-label": "close case", onclick: () => state.closeCase() }, "×")),
    el("div", { class: "case-id muted" }, `Case ${doc.case_id}`),
    el("div", { class: `status-pill status-${doc.status}` }, doc.status.replace("_", " "),
      doc.close_reason ? ` · ${doc.close_reason.replace("_", " ")}` : ""),
    doc.text ? el("p", { class: "case-text" }, doc.text) : null,
    el("dl", {},
      row("Address", doc.address), row("District", state.label(doc.district)),
      row("Department", state.label(doc.department)), row("Kind", state.label(doc.kind)),
      row("Reason", doc.reason ? state.label(doc.reason) : ""), row("Priority", doc.priority),
      row("Reports", doc.reports), cameras.length ? row("Cameras", cameras.join(", ")) : [],
      row("Routed by", doc.route_source ? `${doc.route_source} (${fmt.pct(doc.route_confidence)})` : ""),
      row("First seen", fmt.time(doc.first_observed_at)), row("Deadline", fmt.time(doc.sla_deadline))),
    el("div", { class: "actions" }, actions(state, doc)),
    doc.field_photos && doc.field_photos.length ? el("h3", {}, "Crew photos") : null,
    ...crewPhotos(doc),
    el("h3", {}, `Reports (${observations.length})`), ...observations.map((o) => report(state, o)),
    el("h3", {}, "Timeline"), ...timeline(state, doc),
  ].filter((node) => node !== null));
}
