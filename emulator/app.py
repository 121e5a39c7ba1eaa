"""The Starlette application: the ACS surface, key discovery and the emulator's control routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.acs_routes import AcsApi
from emulator.config import EmulatorConfig
from emulator.control_routes import ControlApi
from emulator.discovery_routes import DiscoveryApi
from emulator.errors import AcsError, error_response, handle_acs_error
from emulator.runtime import Emulator


async def _no_route(request: Request) -> Response:
    # Any other path: the ACS error body, so a client never has to parse a plain-text 404.
    return error_response(404, "No HTTP resource was found that matches the request URI")


def create_app(config: EmulatorConfig) -> Starlette:
    emulator = Emulator(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await emulator.start()
        try:
            yield
        finally:
            await emulator.stop()

    routes = [
        *DiscoveryApi(emulator).routes(),
        *AcsApi(emulator).routes(),
        *ControlApi(emulator).routes(),
        Route("/{path:path}", _no_route, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={AcsError: handle_acs_error})
    app.state.emulator = emulator
    return app
