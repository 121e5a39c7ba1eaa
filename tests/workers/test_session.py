"""The hand-over from a worker's pump to the RQ job running in the same process (real threads)."""

from __future__ import annotations

import threading
import time

from service.store import Loaded
from workers.session import Claimed, Session


def claimed(*entries: str) -> list[Claimed]:
    return [(entry, None) for entry in entries]


class Recorder:
    def __init__(self, fail: str = "", hold: float = 0.0) -> None:
        self.ran: list[str] = []
        self.threads: set[str] = set()
        self.fail = fail
        self.hold = hold
        self.lock = threading.Lock()

    def __call__(self, entry: str, loaded: Loaded | None) -> str:
        time.sleep(self.hold)
        with self.lock:
            self.ran.append(entry)
            self.threads.add(threading.current_thread().name)
        if entry == self.fail:
            raise RuntimeError("boom")
        return "ok"


def in_thread(
    session: Session, entries: list[str], runner: Recorder, seconds: float
) -> tuple[threading.Thread, list[int]]:
    counts: list[int] = []
    thread = threading.Thread(target=lambda: counts.append(session.run(entries, runner, seconds)))
    thread.start()
    return thread, counts


def wait_open(session: Session) -> None:
    deadline = time.monotonic() + 5
    while not session.offer([]):
        assert time.monotonic() < deadline, "the session never opened"
        time.sleep(0.005)


def test_without_a_running_job_nothing_is_taken() -> None:
    assert Session().offer(claimed("play:a.0")) is False


def test_a_job_takes_what_is_claimed_while_it_runs_then_ends() -> None:
    session, runner = Session(), Recorder()
    started = time.monotonic()
    thread, counts = in_thread(session, ["play:a.0"], runner, 0.5)
    wait_open(session)
    assert session.offer(claimed("play:b.0", "play:c.0"))
    thread.join(timeout=5)
    assert not thread.is_alive() and 0.5 <= time.monotonic() - started < 2.0
    assert sorted(runner.ran) == ["play:a.0", "play:b.0", "play:c.0"] and counts == [3]
    assert all(name.startswith("callcue-play") for name in runner.threads)
    assert session.offer(claimed("play:d.0")) is False  # ended: the pump enqueues a new job instead


def test_close_ends_a_waiting_job_soon_and_runs_what_it_holds() -> None:
    session, runner = Session(), Recorder(hold=0.3)
    thread, counts = in_thread(session, ["play:a.0"], runner, 30.0)
    wait_open(session)
    assert session.offer(claimed("play:b.0"))
    started = time.monotonic()
    session.close()
    thread.join(timeout=5)
    assert not thread.is_alive() and time.monotonic() - started < 1.5  # not the 30 s session
    assert sorted(runner.ran) == ["play:a.0", "play:b.0"] and counts == [2]
    assert session.offer(claimed("play:c.0")) is False
    assert session.run(["play:c.0"], runner, 30.0) == 1  # a closed process still runs a job's own batch


def test_a_failing_entry_does_not_stop_the_others() -> None:
    session, runner = Session(), Recorder(fail="play:b.0")
    assert session.run(["play:a.0", "play:b.0", "play:c.0"], runner, 0.0) == 3
    assert sorted(runner.ran) == ["play:a.0", "play:b.0", "play:c.0"]


def test_a_slow_entry_does_not_hold_up_the_next() -> None:
    slow_started = threading.Event()
    ran: list[tuple[str, float]] = []

    def runner(entry: str, loaded: Loaded | None) -> str:
        if entry == "play:slow.0":
            slow_started.set()
            time.sleep(1.0)
        ran.append((entry, time.monotonic()))
        return "ok"

    session = Session()
    counts: list[int] = []
    thread = threading.Thread(target=lambda: counts.append(session.run(["play:slow.0"], runner, 0.3)))
    thread.start()
    assert slow_started.wait(5)
    offered = time.monotonic()
    assert session.offer(claimed("play:fast.0"))
    thread.join(timeout=5)
    fast_at = dict(ran)["play:fast.0"]
    assert fast_at - offered < 0.5 and fast_at < dict(ran)["play:slow.0"] and counts == [2]


def test_a_full_session_has_no_room_until_its_entries_finish() -> None:
    release = threading.Event()

    def runner(entry: str, loaded: Loaded | None) -> str:
        release.wait(5)
        return "ok"

    session = Session(pool_size=2, hold_limit=3)
    assert session.room() is None  # no job: the pump enqueues one
    counts: list[int] = []
    thread = threading.Thread(target=lambda: counts.append(session.run(["play:a.0", "play:b.0"], runner, 30.0)))
    thread.start()
    wait_open(session)
    assert session.room() == 1 and session.offer(claimed("play:c.0"))
    assert session.room() == 0 and not session.offer(claimed("play:d.0"))  # the pump leaves it in the outbox
    waiter = threading.Thread(target=session.wait_for_room, args=(5.0,))
    waiter.start()
    time.sleep(0.05)
    assert waiter.is_alive()  # the pump waits: nothing finished yet
    release.set()
    waiter.join(timeout=5)
    assert not waiter.is_alive()
    deadline = time.monotonic() + 5
    while session.room() != 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert session.offer(claimed("play:e.0"))
    session.close()
    thread.join(timeout=5)
    assert counts == [4] and session.room() is None
