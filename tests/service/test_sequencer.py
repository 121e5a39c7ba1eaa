"""Transitions on in-memory documents: replace, enqueue, cancel, late events, deadlines.

The property test drives a call with random actions (callbacks, worker steps, new sequences,
cancels, deadlines) and checks after every step that callcue never has two plays in flight on
the call, never sends a play for an ended sequence, and that every sequence ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings, strategies as st

from service import sequencer
from service.documents import CallDoc, Change, SequenceDoc
from service.model import OpStatus, Outcome, OutcomeKind, Plan, Prompt, RetryPolicy, SeqStatus

K = OutcomeKind
URI = "https://a.example/x.wav"


@dataclass
class Call:
    """A call's documents as the store would hold them, with the outbox as a set."""

    doc: CallDoc = field(default_factory=lambda: CallDoc(id="c1"))
    seqs: dict[str, SequenceDoc] = field(default_factory=dict)
    outbox: set[str] = field(default_factory=set)
    sent: list[str] = field(default_factory=list)  # play entries a worker sent
    now: float = 1000.0

    def apply(self, change: Change | None) -> None:
        if change is None:
            return
        for seq in change.sequences:
            self.seqs[seq.id] = seq
        if change.call is not None:
            self.doc = change.call
        self.outbox |= {entry for entry, _ in change.outbox}

    def related(self) -> list[SequenceDoc]:
        ids = ([self.doc.active] if self.doc.active else []) + self.doc.queue
        return [self.seqs[i] for i in ids if i in self.seqs]

    def start(self, sid: str, plan: Plan) -> None:
        _, change = sequencer.create(self.doc, self.related(), self.doc.id, sid, plan, self.now)
        self.apply(change)

    def work(self) -> None:
        """A worker takes every outbox entry: a play is sent only if its ledger entry can be claimed."""
        for entry in sorted(self.outbox):
            self.outbox.discard(entry)
            if not entry.startswith("play:"):
                continue
            sid, _, index = entry.removeprefix("play:").rpartition(".")
            change = sequencer.on_request_started(
                self.seqs[sid], int(index), self.now, timeout=1, max_play=5, grace=1, expected=None
            )
            if change is not None:
                self.sent.append(entry)
                self.apply(change)
                self.apply(
                    sequencer.on_request_accepted(self.seqs[sid], int(index), self.now, "acs-op", max_play=5, grace=1)
                )

    def outcome(self, sid: str, index: int, outcome: Outcome) -> None:
        self.apply(sequencer.on_outcome(self.seqs[sid], self.doc, self.related(), index, outcome, self.now, 0.5))

    def in_flight(self) -> list[str]:
        return [
            f"{s.id}.{op.index}"
            for s in self.seqs.values()
            for op in s.ops
            if op.requested_at is not None and not op.status.terminal
        ]


def simple(*repeats: int, mode: str = "replace", attempts: int = 2, deadline: int | None = None) -> Plan:
    prompts = tuple(Prompt(URI, repeat=r) for r in repeats)
    return Plan(prompts=prompts, retry=RetryPolicy(attempts, 0, 0), mode=mode, deadline_seconds=deadline)


def test_a_sequence_plays_each_repeat_once_and_completes() -> None:
    call = Call()
    call.start("sq_a", simple(2, 1))
    for _ in range(3):
        call.work()
        sid, index = call.sent[-1].removeprefix("play:").rsplit(".", 1)
        call.outcome(sid, int(index), Outcome(K.COMPLETED, 200, 0))
    call.work()
    assert call.sent == ["play:sq_a.0", "play:sq_a.1", "play:sq_a.2"]
    assert call.seqs["sq_a"].status is SeqStatus.COMPLETED and call.doc.active is None


def test_enqueue_waits_for_the_active_sequence() -> None:
    call = Call()
    call.start("sq_a", simple(1))
    call.work()
    call.start("sq_b", simple(1, mode="enqueue"))
    assert call.seqs["sq_b"].status is SeqStatus.QUEUED and call.doc.queue == ["sq_b"]
    call.work()
    assert call.sent == ["play:sq_a.0"]
    call.outcome("sq_a", 0, Outcome(K.COMPLETED, 200, 0))
    call.work()
    assert call.sent == ["play:sq_a.0", "play:sq_b.0"] and call.doc.active == "sq_b"


def test_replace_cancels_the_active_one_and_its_late_events_change_nothing() -> None:
    call = Call()
    call.start("sq_a", simple(3))
    call.work()
    call.start("sq_b", simple(1))
    a, b = call.seqs["sq_a"], call.seqs["sq_b"]
    assert a.status is SeqStatus.CANCELED and a.ops[0].status is OpStatus.CANCELED
    assert b.ops[0].cancel_first  # the new play cancels what ACS is playing, in the same job
    call.outcome("sq_a", 0, Outcome(K.COMPLETED, 200, 0))  # a late callback of the old play
    call.work()
    assert call.sent == ["play:sq_a.0", "play:sq_b.0"] and len(a.ops) == 1


def test_cancel_sends_cancel_media_only_for_a_play_that_was_sent() -> None:
    call = Call()
    call.start("sq_a", simple(1))
    change = sequencer.cancel(call.seqs["sq_a"], call.doc, call.related(), call.now)
    call.apply(change)
    assert not any(e.startswith("cancel:") for e in call.outbox)  # never sent: nothing to cancel at ACS
    call.work()
    assert call.sent == []  # and the scheduled play is never sent
    call.start("sq_b", simple(1))
    call.work()
    call.apply(sequencer.cancel(call.seqs["sq_b"], call.doc, call.related(), call.now))
    assert "cancel:sq_b" in call.outbox


def test_deadline_cancels_a_looped_prompt() -> None:
    call = Call()
    plan = Plan(prompts=(Prompt(URI, loop=True),), deadline_seconds=30)
    call.start("sq_a", plan)
    call.work()
    change = sequencer.on_deadline(call.seqs["sq_a"], call.doc, call.related(), call.now + 30)
    call.apply(change)
    assert call.seqs["sq_a"].status is SeqStatus.TIMED_OUT and "cancel:sq_a" in call.outbox


actions = st.lists(
    st.tuples(
        st.sampled_from(["work", "complete", "fail", "fatal", "timeout", "start", "cancel", "deadline", "late"]),
        st.integers(0, 3),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(steps=actions)
def test_random_streams_keep_one_play_in_flight_and_never_play_after_the_end(steps: list[tuple[str, int]]) -> None:
    call = Call()
    created = 0

    def new(mode: str) -> None:
        nonlocal created
        created += 1
        call.start(f"sq_{created}", simple(2, 1, mode=mode, deadline=120))

    new("replace")
    outcome_for = {
        "complete": Outcome(K.COMPLETED, 200, 0),
        "fail": Outcome(K.FAILED, 400, 8536),
        "fatal": Outcome(K.FAILED, 400, 8535),
        "timeout": Outcome(K.TIMED_OUT),
    }
    for action, n in steps:
        call.now += 1
        ended_before = {s.id for s in call.seqs.values() if s.status.terminal}
        sent_before = len(call.sent)
        if action == "work":
            call.work()
        elif action in outcome_for:
            flying = call.in_flight()
            if flying:
                sid, index = flying[0].rsplit(".", 1)
                call.outcome(sid, int(index), outcome_for[action])
        elif action == "late":
            # Any operation ever sent gets a callback again (duplicate, reordered or stale).
            if call.sent:
                sid, index = call.sent[n % len(call.sent)].removeprefix("play:").rsplit(".", 1)
                call.outcome(sid, int(index), Outcome(K.COMPLETED, 200, 0))
        elif action == "start":
            new("enqueue" if n % 2 else "replace")
        elif action == "cancel":
            live = [s for s in call.seqs.values() if not s.status.terminal]
            if live:
                call.apply(sequencer.cancel(live[n % len(live)], call.doc, call.related(), call.now))
        elif action == "deadline":
            for seq in list(call.seqs.values()):
                call.apply(sequencer.on_deadline(seq, call.doc, call.related(), call.now))
        assert len(call.in_flight()) <= 1, call.in_flight()
        for entry in call.sent[sent_before:]:
            assert entry.removeprefix("play:").rsplit(".", 1)[0] not in ended_before
    # Drain: answer every play with success; every sequence must end.
    for _ in range(100):
        call.work()
        flying = call.in_flight()
        if not flying:
            break
        sid, index = flying[0].rsplit(".", 1)
        call.outcome(sid, int(index), Outcome(K.COMPLETED, 200, 0))
    assert all(s.status.terminal for s in call.seqs.values()), {s.id: s.status for s in call.seqs.values()}
