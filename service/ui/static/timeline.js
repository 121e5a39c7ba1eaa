// The live call timeline page: entries arrive as server-sent events, the model takes them in,
// the chart, the summary and the timeline table show them. Plain ES modules, no framework, no build.

import { draw } from "./chart.js";
import { apply, isLive, state, TERMINAL } from "./model.js";
import { clock, describe, shortId, where } from "./words.js";

const app = document.getElementById("app");
const chart = document.getElementById("chart");
const logBody = document.querySelector("#log tbody");
const summary = document.getElementById("summary");
const live = document.getElementById("live");
const LOG_ROWS = 500; // the table keeps the newest rows; the chart keeps everything

// One row of the timeline table, newest on top; a row that just arrived flashes once.
function logRow(e, fresh, note) {
  const [described, cls] = describe(e);
  const text = note ? `${described} (${note})` : described;
  const tr = document.createElement("tr");
  if (cls) tr.classList.add(cls);
  if (fresh) tr.classList.add("fresh");
  tr.dataset.kind = e.kind;
  for (const cell of [clock(e.at), `+${(e.at - state.t0).toFixed(3)} s`, shortId(e.sequenceId), where(e), text]) {
    const td = document.createElement("td");
    td.textContent = cell;
    tr.appendChild(td);
  }
  if (e.sequenceId) tr.cells[2].title = e.sequenceId;
  logBody.insertBefore(tr, logBody.firstChild);
  while (logBody.rows.length > LOG_ROWS) logBody.deleteRow(-1);
}
// The figures above the chart, and what the call is doing now.
function drawSummary() {
  const ops = [...state.ops.values()];
  const requested = ops.filter((o) => o.requestedAt !== null);
  const count = (st) => ops.filter((o) => o.status === st).length;
  const active = [...state.seqs.values()].filter((s) => !TERMINAL.has(s.status));
  const last = [...state.seqs.values()].pop();
  const now = active.length ? `${shortId(active[0].id)} ${active[0].status}`
                            : state.gone !== null ? "call ended" : last ? `idle · last ${last.status}` : "idle";
  const stats = [["plays", requested.length, ""], ["completed", count("completed"), "completed"],
                 ["failed", count("failed") + count("timedOut"), "failed"],
                 ["retries", ops.filter((o) => o.attempt > 1).length, "retries"],
                 ["sequences", state.seqs.size, ""], ["state", now, "wide"]];
  summary.replaceChildren(...stats.map(([name, value, cls]) => {
    const div = document.createElement("div");
    div.className = `stat ${cls}`;
    div.dataset.stat = name;
    const b = document.createElement("b");
    b.textContent = String(value);
    const span = document.createElement("span");
    span.textContent = name;
    div.append(b, span);
    return div;
  }));
}

// ---- live updates -------------------------------------------------------------------------------------

let scheduled = false;
function redraw() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    draw(chart);
    drawSummary();
    app.dataset.entries = String(state.entries);
    app.dataset.live = isLive() ? "yes" : "no";
  });
}

function setLive(cls, text) {
  live.className = `live ${cls}`;
  live.textContent = text;
}

let lastId = -1;
const source = new EventSource(app.dataset.events);
source.addEventListener("open", () => setLive("open", "live"));
source.addEventListener("error", () => {
  // The browser reconnects by itself (sending Last-Event-ID) unless the server refused outright.
  if (source.readyState === EventSource.CLOSED) setLive("closed", "disconnected: reload the page");
  else setLive("reconnecting", "reconnecting");
});
source.addEventListener("unavailable", () => setLive("reconnecting", "store unavailable, retrying"));
source.addEventListener("entry", (msg) => {
  const id = Number(msg.lastEventId);
  if (id <= lastId) return; // already applied before a reconnect
  lastId = id;
  const e = JSON.parse(msg.data);
  const fresh = state.entries > 0 && Date.now() / 1000 - e.at < 5;
  if (state.entries === 0) chart.replaceChildren();
  logRow(e, fresh, apply(e));
  redraw();
});
// While something plays, its bar grows and the "now" line moves.
setInterval(() => { if (isLive()) redraw(); }, 250);
window.addEventListener("resize", redraw);
