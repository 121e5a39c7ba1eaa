"""Live calls and the media they play: queueing, timing, cancel and hang-up.

Every callConnectionId is a live call from its first request until it is hung up; afterwards the
call is gone and every request for it is a 404. Plays on one call queue behind each other, like
ACS media actions: a play starts when the previous one ended. A play downloads its audio, then
lasts the audio's real duration divided by ``speed``, measured with an asyncio timer (no task
sleeps per call, so a thousand calls cost a thousand timer handles). A looping play lasts until it
is canceled or the call is hung up, and has no completion.

Cancel ends the current and every queued play with 8508. Hang-up ends them silently; only a GA
hang-up then sends ``CallDisconnected``, the last event of a call.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field

from emulator import events
from emulator.api_versions import Dialect
from emulator.config import EmulatorConfig
from emulator.delivery import Callback, CallbackSender
from emulator.media import MediaLibrary
from emulator.timeline import Timeline

logger = logging.getLogger("emulator.calls")


class CallGone(Exception):
    """The call was hung up."""


@dataclass(frozen=True, slots=True)
class AudioSource:
    uri: str
    cache_id: str | None = None


@dataclass(eq=False, slots=True)
class Call:
    ids: events.CallIds
    queue: deque[Play] = field(default_factory=deque)
    current: Play | None = None
    # The callback URI of the call's last request: the emulator's stand-in for the URI a real call
    # gets at createCall/answerCall, used when a GA play names no operationCallbackUri.
    callback_uri: str | None = None
    hung_up: bool = False

    @property
    def id(self) -> str:
        return self.ids.call_connection_id


@dataclass(eq=False, slots=True)
class Play:
    call: Call
    dialect: Dialect
    sources: tuple[AudioSource, ...]
    loop: bool
    operation_context: str | None
    callback_uri: str
    operation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Set once the play's result callback was delivered (or given up, or will never come).
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    started: bool = False
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None

    def stop(self) -> None:
        if self.task is not None and not self.task.done() and self.task is not asyncio.current_task():
            self.task.cancel()
        if self.timer is not None:
            self.timer.cancel()
        self.timer = None


def _new_ids(call_connection_id: str) -> events.CallIds:
    locator = f"https://callcue-emulator.invalid/conv/{uuid.uuid4()}"
    return events.CallIds(
        call_connection_id=call_connection_id,
        server_call_id=base64.b64encode(locator.encode()).decode("ascii"),
        correlation_id=str(uuid.uuid4()),
    )


class Switchboard:
    def __init__(
        self,
        config: EmulatorConfig,
        *,
        media: MediaLibrary,
        sender: CallbackSender,
        timeline: Timeline,
    ) -> None:
        self._speed = config.speed
        self._media = media
        self._sender = sender
        self._timeline = timeline
        self._calls: dict[str, Call] = {}

    def live(self, call_connection_id: str) -> Call:
        """The call, created on first use; CallGone once it was hung up."""
        call = self._calls.get(call_connection_id)
        if call is None:
            call = self._calls[call_connection_id] = Call(_new_ids(call_connection_id))
        if call.hung_up:
            raise CallGone(call_connection_id)
        return call

    def calls(self) -> list[Call]:
        return list(self._calls.values())

    def play(self, play: Play, *, interrupt: bool = False) -> None:
        call = play.call
        if interrupt:
            self.cancel_all(call)
        call.queue.append(play)
        self._start_next(call)

    def hang_up(self, call: Call, dialect: Dialect) -> None:
        call.hung_up = True
        for play in self._take_plays(call):
            play.stop()
            if play.started:
                self._timeline.record(call.id, "playEnded", operationContext=play.operation_context, reason="hangup")
            play.settled.set()  # no result callback will ever come
        if dialect is Dialect.GA and call.callback_uri is not None:
            result = events.DISCONNECTED
            callback = Callback(
                call_connection_id=call.id,
                url=call.callback_uri,
                event=events.ga_event(call.ids, events.CALL_DISCONNECTED, None, result),
                dialect=dialect,
                operation_context=None,
                code=result.code,
                subcode=result.subcode,
            )
            self._sender.submit(callback)

    def reset(self) -> None:
        for call in self._calls.values():
            for play in self._take_plays(call):
                play.stop()
                play.settled.set()
        self._calls.clear()

    @staticmethod
    def _take_plays(call: Call) -> list[Play]:
        plays = ([call.current] if call.current is not None else []) + list(call.queue)
        call.current = None
        call.queue.clear()
        return plays

    def cancel_all(self, call: Call) -> None:
        for play in self._take_plays(call):
            play.stop()
            if play.started:
                self._timeline.record(call.id, "playEnded", operationContext=play.operation_context, reason="canceled")
            self._emit(play, events.CANCELED)

    def _start_next(self, call: Call) -> None:
        if call.current is not None or not call.queue or call.hung_up:
            return
        play = call.current = call.queue.popleft()
        play.task = asyncio.create_task(self._run(play), name=f"emulator-play-{play.operation_id}")

    async def _run(self, play: Play) -> None:
        duration = 0.0
        for index, source in enumerate(play.sources):
            try:
                audio = await self._media.load(source.uri, source.cache_id)
            except Exception:  # a bug here must not leave the call's queue stuck behind this play
                logger.exception("loading %s failed unexpectedly", source.uri)
                self._end(play, events.DOWNLOAD_FAILED, failed_index=index, detail="internal error")
                return
            if audio.failure is not None:
                self._end(play, audio.failure, failed_index=index, detail=audio.detail)
                return
            duration += audio.duration
        if play.call.current is not play:
            return
        play.started = True
        self._timeline.record(play.call.id, "playStarted", operationContext=play.operation_context)
        if play.dialect is Dialect.GA:
            self._emit(play, events.STARTED)
        if not play.loop:
            loop = asyncio.get_running_loop()
            play.timer = loop.call_later(duration / self._speed, self._end, play, events.COMPLETED)

    def _end(self, play: Play, result: events.Result, failed_index: int | None = None, detail: str = "") -> None:
        call = play.call
        if call.current is not play:
            return  # canceled or hung up meanwhile
        play.timer = None
        call.current = None
        if play.started:
            self._timeline.record(call.id, "playEnded", operationContext=play.operation_context, reason="completed")
        self._emit(play, result, failed_index=failed_index, detail=detail)
        self._start_next(call)

    def _emit(
        self,
        play: Play,
        result: events.Result,
        *,
        failed_index: int | None = None,
        detail: str = "",
    ) -> None:
        call = play.call
        terminal = result is not events.STARTED
        if play.dialect is Dialect.PREVIEW:
            if not terminal:
                return  # the 2021 API reports a play's result only
            event = events.preview_play_result(call.id, play.operation_context, result)
            status: str | None = events.preview_status(result)
        else:
            event_type = events.ga_type_for(result) if terminal else events.PLAY_STARTED
            index = failed_index if event_type == events.PLAY_FAILED else None
            event = events.ga_event(call.ids, event_type, play.operation_context, result, index)
            status = None
        callback = Callback(
            call_connection_id=call.id,
            url=play.callback_uri,
            event=event,
            dialect=play.dialect,
            operation_context=play.operation_context,
            code=result.code,
            subcode=result.subcode,
            status=status,
            on_settled=play.settled.set if terminal else None,
        )
        if detail:
            self._timeline.record(call.id, "playFailed", operationContext=play.operation_context, detail=detail)
        self._sender.submit(callback)
