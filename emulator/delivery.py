"""Callback delivery: ordered per call, retried, fault-injected, recorded.

Each callback is POSTed as a JSON array holding its one CloudEvent. Callbacks of one call leave in
the order they were produced (a call's *lane* sends one at a time, retries included), so any
reordering a receiver sees was asked for with a ``reorder`` fault. Across calls, a small fixed pool
of sender tasks shares one keep-alive client (``emulator.http_post``); a lane waiting on a retry's
backoff holds no sender.

A non-2xx answer or a connection error is retried up to ``callback_retries`` times with a short
exponential backoff. Every attempt is recorded on the call's timeline with its send time and the
HTTP status received (or the error).

Callback faults, applied when a callback is submitted: ``drop`` (never sent), ``duplicate`` (sent
``copies`` times, same CloudEvent id), ``delay`` (the lane waits ``delayMs`` before sending it, so
order is kept), ``reorder`` (held back until the call's next callback has been delivered, or
``holdMs`` passed), and the ``jwt*`` faults (GA only: the token is made to fail verification).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.api_versions import Dialect
from emulator.config import EmulatorConfig
from emulator.faults import CALLBACK_KINDS, JWT_KINDS, FaultBook, FaultRule
from emulator.http_post import PostClient, PostError
from emulator.jwt_keys import KeyRing
from emulator.timeline import Timeline

_BACKOFF_MAX = 2.0
_PREVIEW_FAULT_KINDS = CALLBACK_KINDS - JWT_KINDS  # preview callbacks carry no token to spoil

logger = logging.getLogger("emulator.delivery")


@dataclass(eq=False, slots=True)
class Callback:
    """One event for one callback URI; ``on_settled`` runs once, when it was delivered or given up."""

    call_connection_id: str
    url: str
    event: dict[str, Any]
    dialect: Dialect
    operation_context: str | None
    code: int
    subcode: int
    status: str | None = None
    on_settled: Callable[[], None] | None = None

    def settle(self) -> None:
        if self.on_settled is not None:
            on_settled, self.on_settled = self.on_settled, None
            on_settled()


@dataclass(eq=False, slots=True)
class _Delivery:
    callback: Callback
    body: bytes
    generation: int
    copies: int = 1
    delay: float = 0.0
    hold: float | None = None
    jwt_fault: str | None = None
    copy: int = 1
    attempt: int = 0


@dataclass(eq=False, slots=True)
class _Lane:
    pending: deque[_Delivery] = field(default_factory=deque)
    held: deque[_Delivery] = field(default_factory=deque)
    busy: bool = False
    hold_timer: asyncio.TimerHandle | None = None

    def idle(self) -> bool:
        return not (self.busy or self.pending or self.held)


class CallbackSender:
    def __init__(
        self,
        config: EmulatorConfig,
        client: PostClient,
        *,
        faults: FaultBook,
        keys: KeyRing,
        timeline: Timeline,
    ) -> None:
        self._config = config
        self._client = client
        self._faults = faults
        self._keys = keys
        self._timeline = timeline
        self._queue: asyncio.Queue[_Delivery] = asyncio.Queue()
        self._lanes: dict[str, _Lane] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._generation = 0

    def start(self) -> None:
        self._workers = [
            asyncio.create_task(self._work(), name=f"emulator-callback-sender-{n}")
            for n in range(self._config.callback_senders)
        ]

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        self.reset()

    def pending(self) -> int:
        return self._queue.qsize() + sum(len(lane.pending) + len(lane.held) for lane in self._lanes.values())

    def reset(self) -> None:
        """Forget everything not yet sent (deliveries already scheduled are recognised as stale)."""
        self._generation += 1
        for lane in self._lanes.values():
            if lane.hold_timer is not None:
                lane.hold_timer.cancel()
            for delivery in (*lane.pending, *lane.held):
                delivery.callback.settle()
        self._lanes.clear()

    def submit(self, callback: Callback) -> None:
        kinds = CALLBACK_KINDS if callback.dialect is Dialect.GA else _PREVIEW_FAULT_KINDS
        fired = self._faults.take(
            kinds,
            callback.call_connection_id,
            event_type=str(callback.event["type"]),
            operation_context=callback.operation_context,
        )
        if any(rule.kind == "drop" for rule in fired):
            self._record(callback, "callbackDropped", time.time(), fault="drop")
            callback.settle()
            return
        delivery = _Delivery(
            callback=callback,
            body=json.dumps([callback.event], separators=(",", ":")).encode(),
            generation=self._generation,
        )
        self._apply(delivery, fired)
        lane = self._lanes.setdefault(callback.call_connection_id, _Lane())
        lane.pending.append(delivery)
        self._pump(lane)

    @staticmethod
    def _apply(delivery: _Delivery, fired: list[FaultRule]) -> None:
        for rule in fired:
            if rule.kind == "duplicate":
                delivery.copies = max(delivery.copies, rule.copies)
            elif rule.kind == "delay":
                delivery.delay += rule.delay_ms / 1000
            elif rule.kind == "reorder":
                delivery.hold = rule.hold_ms / 1000
            elif rule.kind in JWT_KINDS and delivery.jwt_fault is None:
                delivery.jwt_fault = rule.kind

    def _pump(self, lane: _Lane) -> None:
        loop = asyncio.get_running_loop()
        while not lane.busy and lane.pending:
            delivery = lane.pending.popleft()
            if delivery.hold is not None:
                lane.held.append(delivery)
                if lane.hold_timer is None:
                    lane.hold_timer = loop.call_later(delivery.hold, self._release_held, lane)
                delivery.hold = None  # once released it goes out like any other
                continue
            lane.busy = True
            if delivery.delay > 0:
                loop.call_later(delivery.delay, self._queue.put_nowait, delivery)
                delivery.delay = 0.0
            else:
                self._queue.put_nowait(delivery)

    def _release_held(self, lane: _Lane) -> None:
        if lane.hold_timer is not None:
            lane.hold_timer.cancel()
            lane.hold_timer = None
        lane.pending.extendleft(reversed(lane.held))
        lane.held.clear()
        self._pump(lane)

    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            if delivery.generation != self._generation:
                delivery.callback.settle()  # forgotten by a reset: release anyone waiting on it
                continue
            try:
                await self._attempt(delivery)
            except Exception:  # a sender must survive anything one delivery does
                logger.exception("callback delivery failed unexpectedly")
                self._finish(delivery)

    async def _attempt(self, delivery: _Delivery) -> None:
        callback = delivery.callback
        delivery.attempt += 1
        headers = {"Content-Type": "application/json"}
        if callback.dialect is Dialect.GA:
            headers["Authorization"] = "Bearer " + self._keys.mint(delivery.jwt_fault)
        sent_at = time.time()
        status: int | None = None
        error: str | None = None
        try:
            status = await self._client.post(callback.url, delivery.body, headers)
        except PostError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if delivery.generation != self._generation:
            callback.settle()
            return
        self._record(
            callback,
            "callback",
            sent_at,
            httpStatus=status,
            error=error,
            attempt=delivery.attempt,
            copy=delivery.copy if delivery.copies > 1 else None,
            jwtFault=delivery.jwt_fault,
        )
        if (status is None or not 200 <= status < 300) and delivery.attempt <= self._config.callback_retries:
            backoff = min(self._config.callback_backoff * 2 ** (delivery.attempt - 1), _BACKOFF_MAX)
            asyncio.get_running_loop().call_later(backoff, self._queue.put_nowait, delivery)
            return
        if delivery.copy < delivery.copies:
            delivery.copy += 1
            delivery.attempt = 0
            self._queue.put_nowait(delivery)
            return
        self._finish(delivery)

    def _finish(self, delivery: _Delivery) -> None:
        delivery.callback.settle()
        lane = self._lanes.get(delivery.callback.call_connection_id)
        if lane is None:
            return
        lane.busy = False
        if lane.held:
            # The call's next callback is out: now the held one may follow it.
            self._release_held(lane)
        else:
            self._pump(lane)
        if lane.idle():
            del self._lanes[delivery.callback.call_connection_id]

    def _record(self, callback: Callback, kind: str, at: float, **fields: Any) -> None:
        self._timeline.record(
            callback.call_connection_id,
            kind,
            at=at,
            operationContext=callback.operation_context,
            eventType=callback.event["type"],
            eventId=callback.event["id"],
            status=callback.status,
            code=callback.code,
            subcode=callback.subcode,
            callbackUri=callback.url,
            **fields,
        )
