// Department task boards (crews acknowledge, start, resolve, reject) and the triage queue.

import { api, el, fmt } from "./api.js";

const COLUMNS = ["open", "acknowledged", "in_progress", "resolved", "rejected"];
const ACTIONS = {
  open: ["ack", "start", "resolve", "reject"],
  acknowledged: ["start", "resolve", "reject"],
  in_progress: ["resolve"],
};

export async function renderBoard(state, department) {
  const board = document.querySelector("#board");
  if (!department) {
    board.replaceChildren(el("p", { class: "muted" }, "Choose a department to see its board."));
    return;
  }
  const data = await api(`/api/tasks?department=${encodeURIComponent(department)}`);
  const canAct = ["department", "field_crew", "admin"].includes(state.me.role);
  board.replaceChildren(...COLUMNS.map((status) => {
    const tasks = data.tasks.filter((t) => (t.status || "open") === status);
    return el("div", { class: "column", dataset: { status } },
      el("h3", {}, `${status.replace("_", " ")} (${tasks.length})`),
      tasks.map((t) => taskCard(state, t, canAct, department)));
  }));
}

function taskCard(state, task, canAct, department) {
  const actions = canAct ? (ACTIONS[task.status || "open"] || []) : [];
  return el("div", { class: "task", dataset: { taskId: task.task_id } },
    el("b", {}, task.task_id), " · ", task.priority,
    el("div", {}, state.label(task.category || task.kind), " · ", state.districtName(task.district)),
    el("div", { class: "muted" }, `due ${fmt.time(task.sla_deadline)}`),
    task.note ? el("div", {}, `“${task.note}”`) : null,
    el("div", { class: "actions" }, actions.map((verb) =>
      el("button", { onclick: () => act(state, task, verb, department) }, verb))));
}

async function act(state, task, verb, department) {
  const body = {};
  if (verb === "resolve") body.note = prompt("Resolution note (what was done)?") || "";
  if (verb === "reject") {
    body.suggested_department = prompt("Which department should act instead (id)?") || "";
    body.note = prompt("Why is this not yours?") || "";
  }
  try {
    await api(`/api/tasks/${task.task_id}/${verb}`, { method: "POST", body });
  } catch (err) {
    alert(err.message);
  }
  setTimeout(() => renderBoard(state, department), 800);
}

export async function renderTriage(state) {
  const body = document.querySelector("#triage-table tbody");
  const data = await api("/api/triage");
  body.replaceChildren(...data.cases.map((c) =>
    el("tr", { class: "clickable", onclick: () => state.openCase(c.case_id) },
      el("td", {}, c.case_id),
      el("td", {}, state.label(c.category || c.kind)),
      el("td", {}, state.districtName(c.district)),
      el("td", {}, fmt.num(c.reports)),
      el("td", {}, fmt.pct(c.route_confidence)),
      el("td", {}, fmt.ago(c.opened_at || c.updated_at)),
      el("td", { onclick: (e) => e.stopPropagation() }, assignControl(state, c)))));
  if (!data.cases.length) body.append(el("tr", {}, el("td", { colspan: 7 }, "Nothing waiting for triage.")));
}

// An operator picks the department a low-confidence case goes to; the choice is also a routing signal.
function assignControl(state, c) {
  const select = el("select", { "aria-label": `department for ${c.case_id}` },
    ...state.meta.departments.map((d) => el("option", { value: d.id }, d.name)));
  const button = el("button", {
    onclick: async () => {
      button.disabled = true;
      await api(`/api/cases/${encodeURIComponent(c.case_id)}/assign`, {
        method: "POST", body: JSON.stringify({ department: select.value }),
      });
      setTimeout(() => renderTriage(state), 800);
    },
  }, "Assign");
  return el("span", {}, select, button);
}
