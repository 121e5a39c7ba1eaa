// The chart: every sequence a band, every prompt a row (and a row per retry), every play a bar
// on one time axis. SVG built with the DOM; texts only through textContent.

import { attempts, isLive, state } from "./model.js";
import { clock, codes, fileName, secs, shortId } from "./words.js";

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs, parent, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function tickStep(span, slots) {
  for (const s of [0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600]) {
    if (span / s <= slots) return s;
  }
  return 7200;
}

const tickLabel = (t) => t >= 60 ? `${Math.floor(t / 60)}:${String(Math.round(t % 60)).padStart(2, "0")}`
                                 : `${+t.toFixed(2)} s`;

function pill(g, x, y, status, id) {
  const w = status.length * 6.4 + 16;
  el("rect", { x, y: y - 9, width: w, height: 18, rx: 9, class: `pill-bg ${status}` }, g);
  el("text", { x: x + w / 2, y: y + 4, "text-anchor": "middle", class: `pill-text ${status}`,
               "data-seq": id, "data-status": status }, g, status);
  return w;
}

// Draws everything again from the model: cheap at a call's scale, and never out of step with it.
export function draw(chart) {
  if (state.entries === 0) return;
  const serverNow = Date.now() / 1000 - (Number.isFinite(state.skew) ? state.skew : 0);
  const running = isLive();
  const t0 = state.t0;
  const tEnd = Math.max(state.tLast, running ? serverNow : state.tLast, t0 + 1);
  const W = Math.max(chart.clientWidth, 640);
  const G = 250, PAD = 28, AXIS = 30, SEQ = 34, ROW = 30;
  const span = (tEnd - t0) * 1.04;
  const x = (t) => G + ((t - t0) / span) * (W - G - PAD);

  let rows = 0;
  for (const s of state.seqs.values()) {
    rows += 1 + Math.max([...s.steps.values()].reduce((n, st) => n + attempts(st).length, 0), 1);
  }
  const H = AXIS + state.seqs.size * SEQ + (rows - state.seqs.size) * ROW + 12;
  const svg = el("svg", { width: W, height: H, role: "img", "aria-label": "prompts on a time axis" });
  const defs = el("defs", {}, svg);
  const hatch = el("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
                                patternTransform: "rotate(45)" }, defs);
  el("rect", { width: 6, height: 6, fill: "#ced4da" }, hatch);
  el("rect", { width: 3, height: 6, fill: "#868e96" }, hatch);

  // Axis: seconds since the first entry, with grid lines down the whole chart.
  const axis = el("g", { class: "axis" }, svg);
  const stepS = tickStep(span, Math.max(2, Math.floor((W - G - PAD) / 90)));
  for (let t = 0; t <= span + 1e-9; t += stepS) {
    const xt = x(t0 + t);
    el("line", { x1: xt, x2: xt, y1: AXIS - 6, y2: H - 4 }, axis);
    el("text", { x: xt, y: AXIS - 12, "text-anchor": "middle" }, axis, tickLabel(t));
  }
  el("text", { x: 8, y: AXIS - 12 }, axis, `started ${clock(t0)}`);

  let y = AXIS;
  for (const s of state.seqs.values()) {
    const top = y;
    const g = el("g", { class: "seq", "data-seq": s.id }, svg);
    el("rect", { class: "seq-band", x: 0, y: top, width: W, height: SEQ }, g);
    el("text", { class: "seq-label", x: 8, y: top + 21 }, g, shortId(s.id)).appendChild(el("title", {}, null, s.id));
    const pw = pill(g, 8 + 104, top + 17, s.status, s.id);
    // The sequence's life, from creation to its end, as a thin rule under its header.
    const end = s.endedAt ?? (running ? serverNow : state.tLast);
    el("line", { class: "seq-span", x1: x(s.createdAt), x2: Math.max(x(end), x(s.createdAt) + 2),
                 y1: top + SEQ - 3, y2: top + SEQ - 3 }, g);
    if (s.reason && s.reason !== s.status) el("text", { class: "seq-reason", x: 8 + 104 + pw + 10, y: top + 21 }, g,
                     s.reason.length > 90 ? s.reason.slice(0, 89) + "…" : s.reason)
                     .appendChild(el("title", {}, null, s.reason));
    y += SEQ;
    const steps = [...s.steps.values()].sort((a, b) => a.index - b.index);
    for (const st of steps) {
      for (const [i, attempt] of attempts(st).entries()) {
        drawRow(g, st, attempt, i === 0, y, ROW, x, serverNow);
        y += ROW;
      }
    }
    if (!steps.length) {
      el("text", { class: "seq-reason", x: 20, y: y + ROW / 2 + 4 }, g,
         s.status === "queued" ? "queued behind the call's running sequence" : "nothing played");
      y += ROW;
    }
    if (s.cancelAt !== null) {
      const c = el("g", { class: "cancel" }, g);
      el("line", { x1: x(s.cancelAt), x2: x(s.cancelAt), y1: top + 4, y2: y - 2 }, c);
      el("text", { x: x(s.cancelAt) + 4, y: top + 12 }, c, "cancel");
    }
  }
  if (state.gone !== null) {
    const c = el("g", { class: "gone" }, svg);
    el("line", { x1: x(state.gone), x2: x(state.gone), y1: AXIS - 4, y2: H - 4 }, c);
    el("text", { x: x(state.gone) + 4, y: AXIS + 10 }, c, "call ended");
  }
  if (running) {
    const n = el("g", { class: "now" }, svg);
    el("line", { x1: x(serverNow), x2: x(serverNow), y1: AXIS - 4, y2: H - 4 }, n);
  }
  chart.replaceChildren(svg);
}
function drawRow(parent, st, attempt, first, y, ROW, x, serverNow) {
  const mid = y + ROW / 2;
  if (first) {
    const label = el("text", { class: "step-label", x: 20, y: mid + 4 }, parent);
    el("tspan", { class: "step-index" }, label, `${st.index + 1}  `);
    const name = fileName(st.uri);
    el("tspan", {}, label, name.length > 28 ? name.slice(0, 27) + "…" : name);
    label.appendChild(el("title", {}, null, st.uri));
  }
  if (attempt > 1) el("text", { class: "retry-label", x: 34, y: mid + 4 }, parent, `↻ try ${attempt}`);
  for (const op of st.ops.filter((o) => o.attempt === attempt)) {
    const g = el("g", { class: "op", "data-op": op.ctx, "data-status": op.status, "data-attempt": op.attempt,
                        "data-code": codes(op) || null }, parent);
    const begin = op.acceptedAt ?? op.requestedAt;
    const stop = op.endedAt ?? serverNow;
    // The wait before the request: a pause after the previous play, or a retry's backoff.
    const waitEnd = op.requestedAt ?? op.endedAt ?? serverNow;
    if (waitEnd - op.scheduledAt > 0.02) {
      el("line", { class: "wait", x1: x(op.scheduledAt), x2: x(waitEnd), y1: mid, y2: mid }, g);
      const planned = op.dueAt - op.scheduledAt;
      const wx = x(op.scheduledAt), ww = x(waitEnd) - wx;
      if (planned >= 0.05 && ww > 52) {
        el("text", { class: "wait-label", x: wx + ww / 2, y: mid - 5, "text-anchor": "middle" }, g,
           `${op.attempt > 1 ? "backoff" : "pause"} ${secs(planned)}`);
      }
    }
    if (op.requestedAt !== null && op.acceptedAt !== null && op.acceptedAt - op.requestedAt > 0) {
      el("rect", { class: "req", x: x(op.requestedAt), y: mid - 5, height: 10,
                   width: Math.max(x(op.acceptedAt) - x(op.requestedAt), 1) }, g);
    }
    if (begin !== null) {
      const bx = x(begin), bw = Math.max(x(stop) - bx, 3);
      const cls = op.status === "requested" && op.acceptedAt === null ? "requested" : op.status;
      const bar = el("rect", { class: `play ${cls}`, x: bx, y: mid - 9, width: bw, height: 18, rx: 3 }, g);
      bar.appendChild(el("title", {}, null,
        [`prompt ${op.step + 1} · play ${op.repeat + 1} · try ${op.attempt}: ${op.status}`, codes(op),
         op.reason, op.endedAt !== null ? secs(op.endedAt - begin) : "playing"].filter(Boolean).join("\n")));
      const code = codes(op);
      if (op.status === "failed" || op.status === "timedOut") {
        const text = code || op.status;
        if (bw > text.length * 6.5 + 8) el("text", { class: "bar-text", x: bx + 5, y: mid + 4 }, g, text);
        else el("text", { class: "code-text", x: bx + bw + 4, y: mid + 4 }, g, text);
      } else if (bw > 30 && op.repeat > 0) {
        el("text", { class: "bar-text", x: bx + 5, y: mid + 4 }, g, `×${op.repeat + 1}`);
      }
    }
    for (const late of op.late) {
      const lx = x(late.at);
      el("line", { class: "late", x1: lx, x2: lx, y1: mid - 7, y2: mid + 7 }, g)
        .appendChild(el("title", {}, null, `late ${late.outcome} ${codes(late)}: recorded, changed nothing`));
    }
  }
}
