"""The Starlette application: routes, error mapping, and resources owned by the lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from service import redis_health
from service.connections import async_redis
from service.express import Express
from service.settings import Settings
from service.store import AsyncStore
from service.ui import ui_routes
from service.web import api, callbacks
from service.web.jwt_auth import JwtVerifier
from service.web.openapi import openapi
from service.web.problems import HANDLERS
from service.web.state import AppState


def routes() -> list[Route]:
    return [
        # A POST here is answered by CallcueApp before the router (callbacks.endpoint, the same
        # handler); the route stays so that every other method gets the router's 405.
        Route(CALLBACK_PATH, callbacks.handle, methods=["POST"]),
        Route("/v1/calls/{call_id}/sequences", api.start_sequence, methods=["POST"]),
        Route("/v1/calls/{call_id}", api.get_call, methods=["GET"]),
        Route("/v1/sequences/{sequence_id}", api.get_sequence, methods=["GET"]),
        Route("/v1/sequences/{sequence_id}/cancel", api.cancel_sequence, methods=["POST"]),
        Route("/v1/operations/{operation_context}", api.get_operation, methods=["GET"]),
        Route("/v1/unmatched-events", api.unmatched_events, methods=["GET"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/readyz", api.readyz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", api.metrics, methods=["GET"]),
        *ui_routes(),
    ]


CALLBACK_PATH = "/callbacks/acs"


class CallcueApp(Starlette):
    """Starlette, with callbacks (almost every request) sent straight to their endpoint."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and _route_path(scope) == CALLBACK_PATH:
            scope["app"] = self
            await callbacks.endpoint(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _route_path(scope: Scope) -> str:
    # As Starlette's router sees it: the path below the root path the app is mounted at.
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def create_app(settings: Settings | None = None) -> CallcueApp:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        client = async_redis(settings)
        if settings.production:
            # Refuse to serve on a Redis that would lose acknowledged callbacks.
            redis_health.refuse(await redis_health.persistence(client), production=True)
        http = httpx.AsyncClient()
        verifier = None
        if settings.jwt_required:
            verifier = JwtVerifier(
                jwks_url=settings.acs_jwks_url,
                issuer=settings.acs_jwt_issuer,
                audience=settings.acs_resource_id,
                http=http,
            )
        store = AsyncStore(client, settings.retention_seconds)
        app.state.callcue = AppState(
            settings=settings, redis=client, store=store, express=Express(store), http=http, jwt=verifier
        )
        try:
            yield
        finally:
            await http.aclose()
            await store.aclose()
            await client.aclose()

    return CallcueApp(routes=routes(), exception_handlers=HANDLERS, lifespan=lifespan)
