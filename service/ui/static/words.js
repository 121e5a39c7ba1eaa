// How entries and plays read in words, on the chart and in the timeline table.

import { OUTCOME_STATUS } from "./model.js";

export function fileName(uri) {
  try {
    return new URL(uri).pathname.split("/").pop() || uri;
  } catch {
    return uri || "";
  }
}
export const codes = (x) => x.code != null ? [x.code, x.subcode].filter((v) => v != null).join("/")
                                    : x.httpStatus != null ? `HTTP ${x.httpStatus}` : "";
export const secs = (s) => s < 1 ? `${Math.round(s * 1000)} ms` : s < 120 ? `${s.toFixed(s < 10 ? 2 : 1)} s`
                                                        : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
export const clock = (t) => { const d = new Date(t * 1000);
  return d.toTimeString().slice(0, 8) + "." + String(d.getMilliseconds()).padStart(3, "0"); };
export const where = (e) => e.step == null ? "" : `prompt ${e.step + 1} · play ${e.repeat + 1} · try ${e.attempt}`;
export const shortId = (id) => id && id.length > 14 ? id.slice(0, 11) + "…" : id || "";

export function describe(e) {
  switch (e.kind) {
    case "sequenceCreated": return [`sequence created: ${e.prompts} prompt(s), mode ${e.mode}`, ""];
    case "playScheduled": {
      const wait = (e.dueAt ?? e.at) - e.at;
      return [`scheduled ${fileName(e.audioFileUri)}${wait >= 0.001 ? ` in ${secs(wait)}` : ""}`, ""];
    }
    case "playRequested": return [`requested ${fileName(e.audioFileUri)}`, ""];
    case "playAccepted": return ["accepted by ACS", ""];
    case "outcome": {
      const reason = e.reason && e.reason !== e.outcome ? `: ${e.reason}` : "";
      const text = [e.outcome, codes(e)].filter(Boolean).join(" ") + reason;
      return [text, OUTCOME_STATUS[e.outcome] || ""];
    }
    case "cancelRequested": return ["cancel requested", "cancel"];
    case "sequenceEnded": return [`sequence ${e.status}${e.reason ? `: ${e.reason}` : ""}`, e.status];
    case "callDisconnected": return ["call disconnected", "failed"];
    default: return [e.kind, ""];
  }
}
