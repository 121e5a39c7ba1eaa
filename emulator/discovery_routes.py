"""Where GA callback receivers find the keys that sign the emulator's callbacks.

ACS publishes ``/calling/.well-known/acsopenidconfiguration`` and ``/calling/keys``; the emulator
serves the same two documents about itself. ``issuer`` is the configured ``--issuer`` (the value
in every token), and ``jwks_uri`` points at this emulator, as the request reached it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator.runtime import Emulator


class DiscoveryApi:
    def __init__(self, emulator: Emulator) -> None:
        self._emu = emulator

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/calling/keys", self.jwks, methods=["GET"]),
            Route("/calling/.well-known/acsopenidconfiguration", self.openid_configuration, methods=["GET"]),
        ]

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self._emu.keys.jwks())

    async def openid_configuration(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "issuer": self._emu.keys.issuer,
                "jwks_uri": f"{base}/calling/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            }
        )
