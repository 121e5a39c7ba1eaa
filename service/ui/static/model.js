// The call's timeline entries, rebuilt into sequences, prompts (steps) and plays (operations):
// what the chart draws. callcue's entries say what happened; this keeps what it amounts to.

export const TERMINAL = new Set(["completed", "failed", "canceled", "timedOut"]);
export const OUTCOME_STATUS = {
  completed: "completed", failed: "failed", canceled: "canceled", timedOut: "timedOut", disconnected: "failed",
};

export const state = {
  t0: null,          // server time of the first entry: the axis' zero
  tLast: null,       // server time of the newest entry
  skew: Infinity,    // browser clock minus server clock, at best (the smallest seen: delays only add)
  seqs: new Map(),   // sequenceId -> sequence, in the order they appeared
  ops: new Map(),    // operationContext -> play
  gone: null,        // when the call was disconnected
  entries: 0,
};

function sequence(id, at) {
  let s = state.seqs.get(id);
  if (!s) {
    s = { id, createdAt: at, status: "queued", reason: "", endedAt: null, cancelAt: null, steps: new Map() };
    state.seqs.set(id, s);
  }
  return s;
}

function step(s, index) {
  let st = s.steps.get(index);
  if (!st) {
    st = { index, uri: "", ops: [] };
    s.steps.set(index, st);
  }
  return st;
}

function play(e) {
  let op = state.ops.get(e.operationContext);
  if (!op) {
    op = { ctx: e.operationContext, sid: e.sequenceId, step: e.step, repeat: e.repeat, attempt: e.attempt,
           status: "scheduled", scheduledAt: e.at, dueAt: e.at, requestedAt: null, acceptedAt: null,
           endedAt: null, code: null, subcode: null, httpStatus: null, reason: "", late: [] };
    state.ops.set(op.ctx, op);
    step(sequence(e.sequenceId, e.at), e.step).ops.push(op);
  }
  return op;
}

// Returns a note for the timeline row when the entry changed nothing (a late callback).
export function apply(e) {
  state.t0 = state.t0 === null ? e.at : Math.min(state.t0, e.at);
  state.tLast = state.tLast === null ? e.at : Math.max(state.tLast, e.at);
  state.skew = Math.min(state.skew, Date.now() / 1000 - e.at);
  state.entries += 1;
  const s = e.sequenceId ? sequence(e.sequenceId, e.at) : null;
  switch (e.kind) {
    case "sequenceCreated":
      s.createdAt = e.at;
      break;
    case "playScheduled": {
      const op = play(e);
      op.scheduledAt = e.at;
      op.dueAt = e.dueAt ?? e.at;
      step(s, e.step).uri = e.audioFileUri || step(s, e.step).uri;
      if (s.status === "queued") s.status = "running";
      break;
    }
    case "playRequested": {
      const op = play(e);
      op.requestedAt = e.at;
      if (!TERMINAL.has(op.status)) op.status = "requested";
      break;
    }
    case "playAccepted": {
      const op = play(e);
      op.acceptedAt = e.at;
      if (!TERMINAL.has(op.status)) op.status = "running";
      break;
    }
    case "outcome": {
      const op = play(e);
      if (TERMINAL.has(op.status)) {
        op.late.push(e); // recorded by callcue, changed nothing (e.g. the 8508 of a canceled play)
        return "late: recorded, changed nothing";
      } else if (e.outcome === "started") {
        op.status = "running";
      } else {
        Object.assign(op, { endedAt: e.at, status: OUTCOME_STATUS[e.outcome] || "failed", code: e.code ?? null,
                            subcode: e.subcode ?? null, httpStatus: e.httpStatus ?? null, reason: e.reason || "" });
      }
      break;
    }
    case "cancelRequested":
      s.cancelAt = e.at;
      break;
    case "sequenceEnded":
      Object.assign(s, { status: e.status, reason: e.reason || "", endedAt: e.at });
      for (const st of s.steps.values()) {
        for (const op of st.ops) {
          if (!TERMINAL.has(op.status)) Object.assign(op, { status: "canceled", endedAt: e.at, reason: s.reason });
        }
      }
      break;
    case "callDisconnected":
      state.gone = e.at;
      break;
  }
  return "";
}

export function isLive() {
  for (const s of state.seqs.values()) if (!TERMINAL.has(s.status)) return true;
  return false;
}

// A prompt's retries get rows of their own under it (try 2, try 3...), so that a failed play's
// code and the retry that follows it never overlap, however short the backoff.
export const attempts = (st) => [...new Set(st.ops.map((op) => op.attempt))].sort((a, b) => a - b);
