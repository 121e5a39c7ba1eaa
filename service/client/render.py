"""How the client shows the API's JSON to a person: aligned tables, one line per timeline entry.

Everything takes the API's dicts as they come and returns text; printing is the caller's job, so
that the shapes can be checked without a terminal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

DASH = "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip()
             for row in (headers, *rows)]  # fmt: skip
    return "\n".join(lines)


def clock(ts: float | None) -> str:
    """Local wall-clock time with milliseconds: the resolution at which prompt gaps matter."""
    if ts is None:
        return DASH
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def file_name(uri: str | None) -> str:
    """The last path segment of a prompt URL: what a person recognises a prompt by."""
    if not uri:
        return DASH
    path = urlsplit(uri).path
    return path.rsplit("/", 1)[-1] or uri


def codes(item: dict[str, Any]) -> str:
    """``400/8535`` from an operation's resultInfo or a timeline entry's code/subcode; else its HTTP status."""
    info = item.get("resultInfo", item)
    if info.get("code") is not None:
        return "/".join(str(info[k]) for k in ("code", "subcode") if info.get(k) is not None)
    if item.get("httpStatus") is not None:
        return f"HTTP {item['httpStatus']}"
    return ""


def position(item: dict[str, Any]) -> str:
    """Where a play stands in its sequence, counted from 1 as a person counts."""
    return f"prompt {item['step'] + 1} play {item['repeat'] + 1} try {item['attempt']}"


def _operation_row(step: dict[str, Any], op: dict[str, Any]) -> list[str]:
    begun = op.get("acceptedAt") or op.get("requestedAt")
    ended = op.get("endedAt")
    length = duration(ended - begun) if begun is not None and ended is not None else DASH
    return [str(step["step"] + 1), file_name(step["audioFileUri"]), str(op["repeat"] + 1), str(op["attempt"]),
            op["status"], codes(op) or DASH, clock(op.get("requestedAt")), length, op.get("reason") or ""]  # fmt: skip


def sequence_view(seq: dict[str, Any]) -> str:
    """``callcue status``: the sequence's facts, then one row per operation (a pending step gets one row too)."""
    status = seq["status"] + (f" ({seq['reason']})" if seq.get("reason") else "")
    facts = [("sequence", seq["sequenceId"]), ("call", seq["callConnectionId"]), ("status", status),
             ("created", clock(seq.get("createdAt")))]  # fmt: skip
    if seq.get("endedAt") is not None:
        facts.append(("ended", f"{clock(seq['endedAt'])} (after {duration(seq['endedAt'] - seq['createdAt'])})"))
    if seq.get("deadlineAt") is not None:
        facts.append(("deadline", clock(seq["deadlineAt"])))
    if seq.get("current"):
        facts.append(("now", f"{position(seq['current'])}: {seq['current']['status']}"))
    rows: list[list[str]] = []
    for step in seq.get("steps", []):
        for op in step["operations"]:
            rows.append(_operation_row(step, op))
        if not step["operations"]:
            rows.append([str(step["step"] + 1), file_name(step["audioFileUri"]), DASH, DASH, step["status"],
                         DASH, DASH, DASH, ""])  # fmt: skip
    head = "\n".join(f"{k:<9} {v}" for k, v in facts)
    ops = table(["STEP", "PROMPT", "PLAY", "TRY", "STATUS", "RESULT", "REQUESTED", "PLAYED", "REASON"], rows)
    return f"{head}\n\n{ops}"


def progress(seq: dict[str, Any], elapsed: float) -> str:
    """The one-line status ``play --wait`` keeps rewriting while a sequence runs."""
    parts = [seq["sequenceId"], seq["status"]]
    current = seq.get("current")
    if current:
        total = len(seq.get("steps", [])) or "?"
        parts.append(f"prompt {current['step'] + 1}/{total} play {current['repeat'] + 1} try {current['attempt']}")
        parts.append(current["status"])
    parts.append(duration(elapsed))
    return "  ".join(parts)


def _describe(entry: dict[str, Any]) -> str:
    kind = entry.get("kind", "?")
    if kind == "sequenceCreated":
        return f"sequence created: {entry.get('prompts', '?')} prompt(s), mode {entry.get('mode', '?')}"
    if kind == "playScheduled":
        wait = (entry.get("dueAt") or entry["at"]) - entry["at"]
        return f"scheduled {file_name(entry.get('audioFileUri'))}" + (f" in {duration(wait)}" if wait >= 0.001 else "")
    if kind == "playRequested":
        return f"requested {file_name(entry.get('audioFileUri'))}"
    if kind == "playAccepted":
        return "accepted by ACS"
    if kind == "outcome":
        outcome = entry.get("outcome", "?")
        text = " ".join(filter(None, [outcome, codes(entry)]))
        return text + (f": {entry['reason']}" if entry.get("reason") not in (None, "", outcome) else "")
    if kind == "cancelRequested":
        return "cancel requested"
    if kind == "sequenceEnded":
        return f"sequence {entry.get('status', '?')}" + (f": {entry['reason']}" if entry.get("reason") else "")
    if kind == "callDisconnected":
        return "call disconnected"
    # A kind this client does not know yet (a newer server): show it whole rather than drop it.
    rest = {k: v for k, v in entry.items() if k not in ("at", "kind", "sequenceId")}
    return f"{kind} {json.dumps(rest, separators=(',', ':'))}"


def timeline_line(entry: dict[str, Any], t0: float) -> str:
    """``callcue tail``: wall clock, seconds since the first entry shown, sequence, position, what happened."""
    at = entry.get("at", t0)
    where = position(entry) if "step" in entry else ""
    since = f"+{at - t0:.3f}s"
    return f"{clock(at)}  {since:>10}  {entry.get('sequenceId', DASH):<23}  {where:<24}  {_describe(entry)}".rstrip()
