// Talking to the worker's JSON API, and small DOM helpers. No third-party code.

export class AuthError extends Error {}

// The session's CSRF token: the worker sends it with every signed-in answer, writes send it back.
let csrf = "";

export async function api(path, options = {}) {
  const init = { credentials: "same-origin", ...options };
  if (init.body && typeof init.body !== "string") {
    init.body = JSON.stringify(init.body);
    init.headers = { "Content-Type": "application/json", ...(init.headers || {}) };
  }
  if (csrf && !["GET", "HEAD"].includes((init.method || "GET").toUpperCase())) {
    init.headers = { "X-CSRF-Token": csrf, ...(init.headers || {}) };
  }
  const res = await fetch(path, init);
  csrf = res.headers.get("X-CSRF-Token") || csrf;
  const type = res.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await res.json() : await res.text();
  if (res.status === 401) throw new AuthError((body && body.error) || "sign in");
  if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}

// Build an element; children may be strings (set as text, never parsed as HTML) or nodes.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

// Times read in the city's own time zone (its config), wherever the operator's browser is.
let timeZone;
export function setTimeZone(zone) { timeZone = zone || undefined; }

export const fmt = {
  time(ts) { return ts ? new Date(ts * 1000).toLocaleString(undefined, { timeZone }) : "—"; },
  clock(ts) { return ts ? new Date(ts * 1000).toLocaleTimeString(undefined, { timeZone }) : "—"; },
  ago(ts) {
    if (!ts) return "—";
    const s = Math.max(0, Date.now() / 1000 - ts);
    if (s < 90) return `${Math.round(s)} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${Math.round(s / 3600)} h`;
    return `${Math.round(s / 86400)} d`;
  },
  pct(x) { return x === null || x === undefined ? "—" : `${(x * 100).toFixed(0)} %`; },
  num(x) { return x === null || x === undefined ? "—" : String(x); },
};

export const STATUS_COLORS = {
  new: "#64748b", triage: "#f59e0b", dispatched: "#2563eb", acknowledged: "#7c3aed",
  in_progress: "#0d9488", resolved: "#16a34a", verified: "#166534", closed: "#9ca3af",
  rejected: "#dc2626", reopened: "#ea580c",
};
