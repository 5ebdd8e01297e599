// A department's task board (overdue first; each card opens its case) and the triage queue (the complaint,
// the place and the model's suggested departments, the most likely one preselected).

import { api, el, fmt } from "./api.js";
import { departmentPicker } from "./dialogs.js";

const OPEN = ["open", "acknowledged", "in_progress"];

function due(task) {
  if (!task.sla_deadline) return "no deadline";
  const left = task.sla_deadline - Date.now() / 1000;
  return left < 0 ? `overdue by ${fmt.ago(task.sla_deadline)}` : `due in ${fmt.ago(Date.now() / 1000 - left)}`;
}

function thumb(photo, alt) {
  return photo ? el("img", { class: "thumb", src: `/api/evidence/${encodeURIComponent(photo)}`, alt, loading: "lazy" })
    : el("div", { class: "thumb none" }, "no photo");
}

function taskCard(state, task) {
  return el("article", {
    class: `task${task.overdue ? " overdue" : ""}`, tabindex: 0, role: "button",
    dataset: { taskId: task.task_id, caseId: task.case_id, status: task.status || "open" },
    onclick: () => state.openCase(task.case_id),
    onkeydown: (ev) => { if (ev.key === "Enter") state.openCase(task.case_id); },
  },
  thumb(task.photo, `photo of ${state.label(task.category || task.kind)}`),
  el("div", { class: "task-body" },
    el("div", { class: "task-head" }, el("b", {}, state.label(task.category || task.kind)),
      el("span", { class: `prio prio-${task.priority}` }, task.priority)),
    el("div", { class: "task-summary" }, task.summary || "—"),
    el("div", { class: "task-address" }, task.address || state.label(task.district)),
    el("div", { class: `task-due${task.overdue ? " late" : ""}` }, task.case_closed
      ? `case ${task.case_status}${task.close_reason ? ` (${task.close_reason.replace("_", " ")})` : ""}`
      : `${(task.status || "open").replace("_", " ")} · ${due(task)}`),
    task.note ? el("div", { class: "muted" }, `“${task.note}”`) : null));
}

export async function renderBoard(state, department) {
  const board = document.querySelector("#board");
  if (!department) {
    board.replaceChildren(el("p", { class: "muted" }, "Choose a department to see its board."));
    return;
  }
  const data = await api(`/api/tasks?department=${encodeURIComponent(department)}`);
  const todo = (t) => OPEN.includes(t.status || "open") && !t.case_closed;
  const open = data.tasks.filter(todo);
  const done = data.tasks.filter((t) => !todo(t));
  const overdue = open.filter((t) => t.overdue).length;
  board.replaceChildren(...[
    el("p", { class: "board-count" }, `${open.length} to do`, overdue ? el("b", { class: "late" }, ` · ${overdue} overdue`) : ""),
    el("div", { class: "cards-list" }, open.map((t) => taskCard(state, t))),
    done.length ? el("details", { class: "done" }, el("summary", {}, `Finished (${done.length})`),
      el("div", { class: "cards-list" }, done.slice(0, 50).map((t) => taskCard(state, t)))) : null,
  ].filter(Boolean));
}

function triageCard(state, c) {
  const picker = departmentPicker(state, c.suggestions || []);
  const assign = el("button", {
    class: "assign-button",
    onclick: async (ev) => {
      ev.stopPropagation();
      const department = picker.value();
      if (!department) { state.toast("Pick a department first"); return; }
      assign.disabled = true;
      try {
        await api(`/api/cases/${encodeURIComponent(c.case_id)}/assign`, { method: "POST", body: { department } });
        state.toast(`Sent to ${state.label(department)}`);
        card.classList.add("sent");
        setTimeout(() => renderTriage(state).catch(state.fail), 1500);
      } catch (err) {
        assign.disabled = false;
        state.fail(err);
      }
    },
  }, "Send");
  const card = el("article", { class: "triage-card", dataset: { caseId: c.case_id } },
    thumb(c.photo, "camera frame"),
    el("div", { class: "task-body" },
      el("div", { class: "task-head" },
        el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); state.openCase(c.case_id); } },
          c.category_label || state.label(c.category || c.kind)),
        el("span", { class: "muted" }, ` waiting ${fmt.ago(c.opened_at || c.updated_at)} · ${c.reports} report(s)`)),
      el("div", { class: "task-summary" }, c.text || "(no text: a camera detection)"),
      el("div", { class: "task-address" }, c.address || state.label(c.district)),
      el("div", { class: "picker-wrap", onclick: (ev) => ev.stopPropagation() }, picker.node, assign)));
  return card;
}

export async function renderTriage(state) {
  const list = document.querySelector("#triage-list");
  const data = await api("/api/triage");
  list.replaceChildren(...data.cases.map((c) => triageCard(state, c)));
  if (!data.cases.length) list.append(el("p", { class: "muted" }, "Nothing waiting for triage."));
}
