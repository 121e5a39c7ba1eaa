"""The emulator's own control surface under ``/emulator``: timelines, faults, keys, reset.

Unauthenticated on purpose: the emulator listens on loopback for dev, tests and benchmarks.

    GET    /emulator/healthz                     -> 200 {"status": "ok", "calls": n, "pendingCallbacks": n}
    GET    /emulator/calls                       -> 200 {"calls": [{"callConnectionId", "state", "playing", "queued"}]}
    GET    /emulator/calls/{id}/timeline         -> 200 {"callConnectionId", "entries": [...]} | 404
    POST   /emulator/reset                       -> 204 (forget calls, timelines, faults, cached audio)
    POST   /emulator/faults                      -> 201 the rule (with its "id") | 400
    GET    /emulator/faults                      -> 200 {"faults": [...]}
    DELETE /emulator/faults                      -> 204
    DELETE /emulator/faults/{ruleId}             -> 204 | 404
    POST   /emulator/keys/rotate {"dropOld"?}    -> 200 {"kid": <new signing kid>, "kids": [...published]}
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator.errors import AcsError
from emulator.faults import FaultSpecError
from emulator.runtime import Emulator


async def _optional_json(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError as exc:
        raise AcsError(400, "request body is not valid JSON") from exc


class ControlApi:
    def __init__(self, emulator: Emulator) -> None:
        self._emu = emulator

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/emulator/healthz", self.healthz, methods=["GET"]),
            Route("/emulator/calls", self.calls, methods=["GET"]),
            Route("/emulator/calls/{call_id}/timeline", self.timeline, methods=["GET"]),
            Route("/emulator/reset", self.reset, methods=["POST"]),
            Route("/emulator/faults", self.add_fault, methods=["POST"]),
            Route("/emulator/faults", self.list_faults, methods=["GET"]),
            Route("/emulator/faults", self.clear_faults, methods=["DELETE"]),
            Route("/emulator/faults/{rule_id}", self.remove_fault, methods=["DELETE"]),
            Route("/emulator/keys/rotate", self.rotate_keys, methods=["POST"]),
        ]

    async def healthz(self, request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "calls": len(self._emu.switchboard.calls()),
                "pendingCallbacks": self._emu.sender.pending(),
            }
        )

    async def calls(self, request: Request) -> Response:
        listing = [
            {
                "callConnectionId": call.id,
                "state": "disconnected" if call.hung_up else "connected",
                "playing": call.current.operation_context if call.current is not None else None,
                "queued": len(call.queue),
            }
            for call in self._emu.switchboard.calls()
        ]
        return JSONResponse({"calls": listing})

    async def timeline(self, request: Request) -> Response:
        call_id: str = request.path_params["call_id"]
        entries = self._emu.timeline.entries(call_id)
        if entries is None:
            known = any(call.id == call_id for call in self._emu.switchboard.calls())
            if not known:
                raise AcsError(404, f"no call {call_id} is known to the emulator")
            entries = []
        return JSONResponse({"callConnectionId": call_id, "entries": entries})

    async def reset(self, request: Request) -> Response:
        self._emu.reset()
        return Response(status_code=204)

    async def add_fault(self, request: Request) -> Response:
        payload = await _optional_json(request)
        try:
            rule = self._emu.faults.add(payload)
        except FaultSpecError as exc:
            raise AcsError(400, str(exc)) from exc
        return JSONResponse(rule.to_json(), status_code=201)

    async def list_faults(self, request: Request) -> Response:
        return JSONResponse({"faults": [rule.to_json() for rule in self._emu.faults.rules()]})

    async def clear_faults(self, request: Request) -> Response:
        self._emu.faults.clear()
        return Response(status_code=204)

    async def remove_fault(self, request: Request) -> Response:
        if not self._emu.faults.remove(request.path_params["rule_id"]):
            raise AcsError(404, "no such fault rule")
        return Response(status_code=204)

    async def rotate_keys(self, request: Request) -> Response:
        payload = await _optional_json(request)
        if not isinstance(payload, dict) or not isinstance(payload.get("dropOld", False), bool):
            raise AcsError(400, 'body must be {"dropOld": true|false} or empty')
        kid = self._emu.keys.rotate(drop_old=bool(payload.get("dropOld", False)))
        return JSONResponse({"kid": kid, "kids": self._emu.keys.kids()})
