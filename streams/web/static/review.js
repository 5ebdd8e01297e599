// Camera review: open camera cases with their frames, confirmed or dismissed as false positives in one click,
// and the labelled examples those verdicts made (exported for the next detector training run).

import { api, el, fmt } from "./api.js";

async function verdict(state, caseId, value, card) {
  await api(`/api/cases/${encodeURIComponent(caseId)}/review`, { method: "POST", body: { verdict: value } });
  card.classList.add("reviewed");
  state.toast(value === "false_positive" ? "Dismissed: false positive" : "Confirmed");
  setTimeout(() => renderReview(state).catch(state.fail), 1500);
}

function pending(state, c) {
  const card = el("article", { class: "review-card", dataset: { caseId: c.case_id } });
  const frame = el("div", { class: "frame-wrap", onclick: () => state.openCase(c.case_id) },
    el("img", { class: "frame", src: `/api/evidence/${encodeURIComponent(c.photo)}`, alt: "camera frame", loading: "lazy" }));
  if ((c.bbox || []).length === 4) {
    // The detector's box over the frame (CSSOM, not a style attribute: the CSP forbids inline styles).
    const [x0, y0, x1, y1] = c.bbox;
    const box = el("div", { class: "box", title: state.label(c.category) });
    Object.assign(box.style, { left: `${x0 * 100}%`, top: `${y0 * 100}%`, width: `${(x1 - x0) * 100}%`, height: `${(y1 - y0) * 100}%` });
    frame.append(box);
  }
  card.append(
    frame,
    el("div", { class: "task-body" },
      el("b", {}, state.label(c.category || c.kind)),
      el("div", { class: "muted" }, `${c.address} · ${fmt.time(c.first_observed_at)} · ${c.status.replace("_", " ")}`),
      el("div", { class: "actions" },
        el("button", { class: "act act-confirm", onclick: () => verdict(state, c.case_id, "confirmed", card).catch(state.fail) },
          "Confirm"),
        el("button", { class: "act act-dismiss danger",
          onclick: () => verdict(state, c.case_id, "false_positive", card).catch(state.fail) }, "False positive"))));
  return card;
}

function example(state, e) {
  return el("tr", { class: `example clickable ${e.verdict}`, dataset: { caseId: e.case_id }, onclick: () => state.openCase(e.case_id) },
    el("td", {}, fmt.time(e.at)), el("td", {}, state.label(e.category)), el("td", {}, state.label(e.camera_id)),
    el("td", {}, e.verdict.replace("_", " ")), el("td", {}, e.bbox.length ? e.bbox.map((v) => v.toFixed(2)).join(", ") : "—"),
    el("td", {}, e.frame_kept ? "kept" : "expired"), el("td", {}, e.by));
}

// Per camera, as Frigate reviews: the operator picks one camera or sees them all.
function cameraFilter(state) {
  const select = document.querySelector("#review-camera");
  if (!select.options.length) {
    select.append(el("option", { value: "" }, "all cameras"),
      ...(state.meta.cameras || []).map((c) => el("option", { value: c.id }, c.name)));
    select.addEventListener("change", () => renderReview(state).catch(state.fail));
  }
  return select.value;
}

export async function renderReview(state) {
  const camera = cameraFilter(state);
  const [queue, examples] = await Promise.all([
    api("/api/review/queue"), api("/api/review/examples"),
  ]);
  const cases = queue.cases.filter((c) => !camera || c.camera_id === camera);
  document.querySelector("#review-queue").replaceChildren(...cases.map((c) => pending(state, c)));
  if (!cases.length) document.querySelector("#review-queue").append(el("p", { class: "muted" }, "No camera case waits for review."));
  document.querySelector("#review-examples").replaceChildren(
    el("thead", {}, el("tr", {}, ["Reviewed", "Problem", "Camera", "Verdict", "Box", "Frame", "By"].map((t) => el("th", {}, t)))),
    el("tbody", {}, examples.examples.filter((e) => !camera || e.camera_id === camera).map((e) => example(state, e))));
  document.querySelector("#review-count").textContent =
    Object.entries(examples.by_verdict).map(([k, n]) => `${n} ${k.replace("_", " ")}`).join(" · ") || "none yet";
}
