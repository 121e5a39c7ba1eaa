"""A call's timeline entries: the compact form kept in Redis, and the form every reader shows.

A finished call keeps its timeline for the retention period and every play adds four entries, so
the stored form leaves out what can be derived: keys are one letter, the operation is its index
(its operationContext is ``<sequenceId>.<index>``), the prompt's ``audioFileUri`` is not repeated
(the sequence's plan holds it) and times are kept to the millisecond. ``expand`` gives back the
shape the status API, the live page and the CLI show; ``service.sequencer`` builds entries in that
shape, and ``service.store`` compacts them as it writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.documents import SequenceDoc, millis, operation_context

_SHORT = {"at": "t", "kind": "k", "sequenceId": "s", "step": "p", "repeat": "r", "attempt": "a"}
_LONG = {short: long for long, short in _SHORT.items()}
_TIMES = frozenset({"at", "dueAt"})
# The entries that name the prompt's file; the plan of their sequence gives it back.
_WITH_URI = frozenset({"playScheduled", "playRequested"})


def compact(entry: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "operationContext":
            out["i"] = int(value.rpartition(".")[2])
        elif key == "audioFileUri":
            continue
        else:
            out[_SHORT.get(key, key)] = millis(value) if key in _TIMES else value
    return out


def expand(stored: Mapping[str, Any], sequences: Mapping[str, SequenceDoc]) -> dict[str, Any]:
    """The entry as shown; ``sequences`` (by id) give back the prompt's file where one is named."""
    if "k" not in stored:  # a reader's own shape already
        return dict(stored)
    out: dict[str, Any] = {_LONG.get(key, key): value for key, value in stored.items() if key != "i"}
    index = stored.get("i")
    sid = stored.get("s")
    if index is None or not isinstance(sid, str):
        return out
    out["operationContext"] = operation_context(sid, index)
    seq = sequences.get(sid)
    step = stored.get("p")
    if out["kind"] in _WITH_URI and seq is not None and isinstance(step, int) and 0 <= step < len(seq.plan.prompts):
        out["audioFileUri"] = seq.plan.prompts[step].audio_file_uri
    return out


def expand_all(stored: list[dict[str, Any]], sequences: list[SequenceDoc]) -> list[dict[str, Any]]:
    by_id = {seq.id: seq for seq in sequences}
    return [expand(entry, by_id) for entry in stored]


def sequence_ids(stored: list[dict[str, Any]]) -> set[str]:
    """The sequences whose plans ``expand`` needs for these entries."""
    return {e["s"] for e in stored if e.get("k") in _WITH_URI and isinstance(e.get("s"), str)}
