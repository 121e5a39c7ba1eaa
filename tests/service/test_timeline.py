"""The timeline's stored form gives back, entry for entry, what the sequencer wrote."""

from __future__ import annotations

import time
from typing import Any

import orjson

from service import sequencer, timeline
from service.documents import CallDoc, SequenceDoc, millis
from service.model import Outcome, OutcomeKind, Plan, Prompt


def _sequence_with_history() -> tuple[SequenceDoc, list[dict[str, Any]]]:
    """A sequence of two prompts played to its end: every kind of entry a play writes."""
    plan = Plan(prompts=(Prompt("https://cdn.example/a.wav", repeat=2), Prompt("https://cdn.example/b.wav")))
    now = time.time()
    call = CallDoc(id="call-1")
    seq, change = sequencer.create(call, [], "call-1", "sq_0123456789abcdef0123", plan, now)
    entries = list(change.timeline)
    while seq.current is not None:
        index = seq.current
        now += 0.123456789
        for step in (
            sequencer.on_request_started(seq, index, now, timeout=5, max_play=60, grace=2, expected=1.0),
            sequencer.on_request_accepted(seq, index, now, "acs-op", max_play=60, grace=2),
            sequencer.on_outcome(seq, call, [], index, Outcome(OutcomeKind.COMPLETED, code=200, subcode=0), now, 0.5),
        ):
            assert step is not None
            entries += step.timeline
    return seq, entries


def test_every_entry_comes_back_as_written() -> None:
    seq, entries = _sequence_with_history()
    kinds = {e["kind"] for e in entries}
    assert {"sequenceCreated", "playScheduled", "playRequested", "playAccepted", "outcome", "sequenceEnded"} <= kinds
    for entry in entries:
        stored = orjson.loads(orjson.dumps(timeline.compact(entry)))  # through JSON, as Redis holds it
        shown = timeline.expand(stored, {seq.id: seq})
        expected = {k: millis(v) if k in ("at", "dueAt") else v for k, v in entry.items()}
        assert shown == expected


def test_the_stored_form_repeats_neither_the_operation_context_nor_the_file() -> None:
    _, entries = _sequence_with_history()
    for entry in entries:
        stored = timeline.compact(entry)
        assert "operationContext" not in stored and "audioFileUri" not in stored
        assert "cdn.example" not in orjson.dumps(stored).decode()


def test_without_the_sequence_an_entry_loses_only_its_file() -> None:
    seq, entries = _sequence_with_history()
    scheduled = next(e for e in entries if e["kind"] == "playScheduled")
    shown = timeline.expand(timeline.compact(scheduled), {})
    assert "audioFileUri" not in shown
    assert shown["operationContext"] == scheduled["operationContext"]
    assert timeline.sequence_ids([timeline.compact(scheduled)]) == {seq.id}


def test_an_entry_already_in_the_shown_form_passes_through() -> None:
    entry = {"at": 1.5, "kind": "callDisconnected"}
    assert timeline.expand(entry, {}) == entry
