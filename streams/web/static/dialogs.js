// Choosing a department by name (model suggestions first, then a search over all of them), and the
// resolve and reject dialogs of a task. No prompt(): nobody types an internal id.

import { el } from "./api.js";

let pickerSeq = 0;

// Radio buttons for the model's suggestions (the first preselected) and a searchable list of every department.
export function departmentPicker(state, suggestions, exclude = "") {
  const name = `dept-${++pickerSeq}`;
  const all = (state.meta.all_departments || state.meta.departments).filter((d) => d.id !== exclude);
  const radios = suggestions.filter((s) => s.department !== exclude).map((s, i) =>
    el("label", { class: "suggestion" },
      el("input", { type: "radio", name, value: s.department, checked: i === 0 }),
      ` ${s.name} `, el("span", { class: "muted" }, `${Math.round(s.confidence * 100)} %`)));
  const search = el("input", { type: "search", class: "dept-search", placeholder: "search departments by name",
    "aria-label": "search departments" });
  const select = el("select", { class: "dept-select", "aria-label": "department", size: 1 });
  const fill = () => {
    const q = search.value.trim().toLowerCase();
    const hits = all.filter((d) => !q || d.name.toLowerCase().includes(q));
    select.replaceChildren(el("option", { value: "" }, radios.length ? "— or pick another —" : "— pick a department —"),
      ...hits.map((d) => el("option", { value: d.id }, d.name)));
    if (q && hits.length) select.value = hits[0].id;
  };
  search.addEventListener("input", fill);
  fill();
  const node = el("div", { class: "picker" }, radios, el("div", { class: "picker-other" }, search, select));
  return {
    node,
    value() {
      if (select.value) return select.value;
      const checked = node.querySelector(`input[name="${name}"]:checked`);
      return checked ? checked.value : "";
    },
  };
}

function modal(title, body, okText) {
  return new Promise((resolve) => {
    const dialog = el("dialog", { class: "modal" });
    const done = (value) => { dialog.close(); dialog.remove(); resolve(value); };
    const form = el("form", { method: "dialog" },
      el("h3", {}, title), body.node,
      el("p", { class: "error dialog-error" }),
      el("div", { class: "dialog-buttons" },
        el("button", { type: "button", class: "cancel", onclick: () => done(null) }, "Cancel"),
        el("button", { type: "submit", class: "ok" }, okText)));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        done(await body.value());
      } catch (err) {
        form.querySelector(".dialog-error").textContent = err.message;
      }
    });
    dialog.append(form);
    document.body.append(dialog);
    dialog.showModal();
  });
}

// Any picture the phone gives becomes a JPEG of at most 1600 px: what the API accepts, and small to upload.
function jpegOf(file) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => {
      const scale = Math.min(1, 1600 / Math.max(img.width, img.height));
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(img.width * scale);
      canvas.height = Math.round(img.height * scale);
      canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
      URL.revokeObjectURL(url);
      resolve(canvas.toDataURL("image/jpeg", 0.85).split(",", 2)[1]);
    };
    img.onerror = () => { URL.revokeObjectURL(url); reject(new Error("that file is not a picture")); };
    img.src = url;
  });
}

export function resolveDialog() {
  const note = el("textarea", { name: "note", rows: 3, placeholder: "What was done?", required: true });
  const photo = el("input", { type: "file", name: "photo", accept: "image/*", capture: "environment" });
  return modal("Resolve task", {
    node: el("div", {}, el("label", {}, "Note", note), el("label", {}, "Photo of the result", photo)),
    async value() {
      const body = { note: note.value.trim() };
      if (photo.files.length) body.photo_b64 = await jpegOf(photo.files[0]);
      return body;
    },
  }, "Resolve");
}

export function rejectDialog(state, own) {
  const picker = departmentPicker(state, [], own);
  const note = el("textarea", { name: "why", rows: 2, placeholder: "Why is this not yours?" });
  return modal("Not our department", {
    node: el("div", {}, el("label", {}, "Which department should act instead?"), picker.node,
      el("label", {}, "Why", note)),
    async value() {
      const body = { suggested_department: picker.value(), note: note.value.trim() };
      if (!body.suggested_department && !body.note) throw new Error("name a department or say why");
      return body;
    },
  }, "Send back");
}
