"""The ACS Call Automation REST surface, in both dialects.

Preview (2021 Server Calling, ``?api-version=2021-..-..-preview``)::

    POST   /calling/callConnections/{id}/:playAudio                -> 202 PlayAudioResult
    POST   /calling/callConnections/{id}/:cancelAllMediaOperations -> 200 CancelAllMediaOperationsResult
    POST   /calling/callConnections/{id}/:hangup                   -> 202

GA (Call Automation, e.g. ``?api-version=2024-09-15``)::

    POST   /calling/callConnections/{id}:play                      -> 202, empty
    POST   /calling/callConnections/{id}:cancelAllMediaOperations  -> 202, empty
    POST   /calling/callConnections/{id}:terminate                 -> 204
    DELETE /calling/callConnections/{id}                           -> 204
    GET    /calling/callConnections/{id}                           -> 200 call properties

Every request is HMAC-verified first (401), then its api-version is checked (400 when unknown or of
the other dialect), then the injected ``httpStatus`` fault, then the call (404 once hung up).
Callback URI: the request's own (``callbackUri`` / ``operationCallbackUri``), else the last one
used on that call; a first play without one is a 400, as the emulator has no createCall/answerCall
to learn it from.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator import events, hmac_auth
from emulator.api_versions import Dialect, dialect_of
from emulator.calls import AudioSource, Call, CallGone, Play
from emulator.errors import AcsError
from emulator.runtime import Emulator

_BASE = "/calling/callConnections/{call_id}"


@dataclass(frozen=True, slots=True)
class _Incoming:
    arrived: float
    call_id: str
    api_version: str
    body: bytes


def _json_object(body: bytes, *, allow_empty: bool = False) -> dict[str, Any]:
    if allow_empty and not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise AcsError(400, "request body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise AcsError(400, "request body must be a JSON object")
    return payload


def _opt_str(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is not None and not isinstance(value, str):
        raise AcsError(400, f"{name} must be a string")
    return value


def _opt_bool(payload: dict[str, Any], name: str) -> bool:
    value = payload.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise AcsError(400, f"{name} must be a boolean")
    return value


def _raw_path(request: Request) -> bytes:
    # The path as it was on the request line; servers without raw_path give the decoded one.
    raw: bytes | None = request.scope.get("raw_path")
    return raw if raw else request.scope["path"].encode("utf-8")


def _retry_after_headers(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    # Retry-After takes whole seconds; Azure clients also honour the finer retry-after-ms.
    return {"Retry-After": str(math.ceil(seconds)), "retry-after-ms": str(round(seconds * 1000))}


def _check_callback_uri(uri: str) -> None:
    if not uri.lower().startswith(("http://", "https://")):
        raise AcsError(400, "The field CallbackUri is invalid: it must be an absolute http(s) URI")


class AcsApi:
    def __init__(self, emulator: Emulator) -> None:
        self._emu = emulator

    def routes(self) -> list[BaseRoute]:
        return [
            Route(_BASE + "/:playAudio", self.preview_play, methods=["POST"]),
            Route(_BASE + "/:cancelAllMediaOperations", self.preview_cancel, methods=["POST"]),
            Route(_BASE + "/:hangup", self.preview_hangup, methods=["POST"]),
            Route(_BASE + ":play", self.ga_play, methods=["POST"]),
            Route(_BASE + ":cancelAllMediaOperations", self.ga_cancel, methods=["POST"]),
            Route(_BASE + ":terminate", self.ga_hangup, methods=["POST"]),
            Route(_BASE, self.ga_hangup, methods=["DELETE"]),
            Route(_BASE, self.ga_get_call, methods=["GET"]),
        ]

    # -- common steps -------------------------------------------------------------------------

    async def _accept(self, request: Request, dialect: Dialect) -> _Incoming:
        arrived = time.time()
        call_id: str = request.path_params["call_id"]
        body = await request.body()
        try:
            hmac_auth.verify(
                key=self._emu.key,
                method=request.method,
                target=hmac_auth.request_target(_raw_path(request), request.scope["query_string"]),
                headers=request.headers,
                body=body,
            )
        except hmac_auth.AuthenticationError as exc:
            raise AcsError(401, f"Denied by the emulator: {exc}") from exc
        api_version = request.query_params.get("api-version")
        found = dialect_of(api_version)
        if api_version is None or found is None:
            raise AcsError(400, f"The api-version {api_version!r} is not supported")
        if found is not dialect:
            raise AcsError(400, f"The api-version {api_version!r} does not serve this route ({dialect.value} API)")
        if ":" in call_id:
            raise AcsError(404, "No HTTP resource was found that matches the request URI")
        return _Incoming(arrived, call_id, api_version, body)

    def _call(self, call_id: str) -> Call:
        try:
            return self._emu.switchboard.live(call_id)
        except CallGone as exc:
            raise AcsError(404, f"Call {call_id} is not found (it was hung up)") from exc

    async def _play(
        self,
        incoming: _Incoming,
        dialect: Dialect,
        *,
        sources: tuple[AudioSource, ...],
        loop: bool,
        operation_context: str | None,
        callback_uri: str | None,
        interrupt: bool = False,
    ) -> Play:
        emu = self._emu
        for rule in emu.faults.take({"httpStatus"}, incoming.call_id, operation_context=operation_context):
            emu.timeline.record(
                incoming.call_id,
                "playRejected",
                at=incoming.arrived,
                operationContext=operation_context,
                httpStatus=rule.status,
                fault=rule.kind,
            )
            raise AcsError(
                rule.status, "Injected fault: the play was not performed", _retry_after_headers(rule.retry_after)
            )
        call = self._call(incoming.call_id)
        uri = callback_uri or call.callback_uri
        if uri is None:
            raise AcsError(400, "No callback URI: set it on the request (the emulator has no createCall/answerCall)")
        _check_callback_uri(uri)
        call.callback_uri = uri
        play = Play(call, dialect, sources, loop, operation_context, uri)
        emu.timeline.record(
            call.id,
            "playRequest",
            at=incoming.arrived,
            operationContext=operation_context,
            operationId=play.operation_id,
            audioFileUri=sources[0].uri,
            callbackUri=uri,
            loop=loop,
            apiVersion=incoming.api_version,
        )
        emu.switchboard.play(play, interrupt=interrupt)
        # The play is under way; these faults only change when (and after what) the answer leaves.
        for rule in emu.faults.take({"earlyCallback", "slowResponse"}, call.id, operation_context=operation_context):
            if rule.kind == "earlyCallback":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(play.settled.wait(), rule.max_wait_ms / 1000)
            else:
                await asyncio.sleep(rule.delay_ms / 1000)
        return play

    def _cancel(self, incoming: _Incoming, operation_context: str | None) -> None:
        call = self._call(incoming.call_id)
        self._emu.timeline.record(call.id, "cancel", at=incoming.arrived, operationContext=operation_context)
        self._emu.switchboard.cancel_all(call)

    def _hang_up(self, incoming: _Incoming, dialect: Dialect) -> None:
        call = self._call(incoming.call_id)
        self._emu.timeline.record(call.id, "hangup", at=incoming.arrived)
        self._emu.switchboard.hang_up(call, dialect)

    # -- preview ------------------------------------------------------------------------------

    async def preview_play(self, request: Request) -> Response:
        incoming = await self._accept(request, Dialect.PREVIEW)
        payload = _json_object(incoming.body)
        uri = _opt_str(payload, "audioFileUri")
        if not uri:
            raise AcsError(400, "audioFileUri is required")
        operation_context = _opt_str(payload, "operationContext")
        play = await self._play(
            incoming,
            Dialect.PREVIEW,
            sources=(AudioSource(uri, _opt_str(payload, "audioFileId")),),
            loop=_opt_bool(payload, "loop"),
            operation_context=operation_context,
            callback_uri=_opt_str(payload, "callbackUri"),
        )
        accepted = events.ACCEPTED
        return JSONResponse(
            {
                "operationId": play.operation_id,
                "status": "running",
                "operationContext": operation_context,
                "resultInfo": {"code": accepted.code, "subcode": accepted.subcode, "message": accepted.message},
            },
            status_code=202,
        )

    async def preview_cancel(self, request: Request) -> Response:
        incoming = await self._accept(request, Dialect.PREVIEW)
        operation_context = _opt_str(_json_object(incoming.body, allow_empty=True), "operationContext")
        self._cancel(incoming, operation_context)
        done = events.CANCEL_ACCEPTED
        return JSONResponse(
            {
                "operationId": str(uuid.uuid4()),
                "status": "completed",
                "operationContext": operation_context,
                "resultInfo": {"code": done.code, "subcode": done.subcode, "message": done.message},
            },
            status_code=200,
        )

    async def preview_hangup(self, request: Request) -> Response:
        incoming = await self._accept(request, Dialect.PREVIEW)
        self._hang_up(incoming, Dialect.PREVIEW)
        return Response(status_code=202)

    # -- GA -----------------------------------------------------------------------------------

    async def ga_play(self, request: Request) -> Response:
        incoming = await self._accept(request, Dialect.GA)
        payload = _json_object(incoming.body)
        raw_sources = payload.get("playSources")
        if not isinstance(raw_sources, list) or not raw_sources:
            raise AcsError(400, "playSources is required and must be a non-empty array")
        sources: list[AudioSource] = []
        for raw in raw_sources:
            if not isinstance(raw, dict) or str(raw.get("kind", "")).lower() != "file":
                raise AcsError(400, "the emulator plays file sources only (kind: file)")
            file = raw.get("file")
            uri = file.get("uri") if isinstance(file, dict) else None
            if not isinstance(uri, str) or not uri:
                raise AcsError(400, "a file play source needs file.uri")
            sources.append(AudioSource(uri, _opt_str(raw, "playSourceCacheId")))
        options = payload.get("playOptions")
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise AcsError(400, "playOptions must be an object")
        await self._play(
            incoming,
            Dialect.GA,
            sources=tuple(sources),
            loop=_opt_bool(options, "loop"),
            operation_context=_opt_str(payload, "operationContext"),
            callback_uri=_opt_str(payload, "operationCallbackUri"),
            interrupt=_opt_bool(payload, "interruptCallMediaOperation"),
        )
        return Response(status_code=202)

    async def ga_cancel(self, request: Request) -> Response:
        incoming = await self._accept(request, Dialect.GA)
        payload = _json_object(incoming.body, allow_empty=True)
        self._cancel(incoming, _opt_str(payload, "operationContext"))
        return Response(status_code=202)

    async def ga_hangup(self, request: Request) -> Response:
        incoming = await self._accept(request, Dialect.GA)
        self._hang_up(incoming, Dialect.GA)
        return Response(status_code=204)

    async def ga_get_call(self, request: Request) -> Response:
        incoming = await self._accept(request, Dialect.GA)
        call = self._call(incoming.call_id)
        return JSONResponse(
            {
                "callConnectionId": call.id,
                "serverCallId": call.ids.server_call_id,
                "correlationId": call.ids.correlation_id,
                "callConnectionState": "connected",
                "callbackUri": call.callback_uri,
            }
        )
