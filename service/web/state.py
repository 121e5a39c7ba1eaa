"""What the web app holds for its lifetime, created and closed by its lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import redis.asyncio
from starlette.requests import Request

from service.express import Express
from service.settings import Settings
from service.store import AsyncStore
from service.web.jwt_auth import JwtVerifier


@dataclass
class AppState:
    settings: Settings
    redis: redis.asyncio.Redis
    store: AsyncStore
    express: Express  # the common completion, in one script (service.express)
    http: httpx.AsyncClient
    jwt: JwtVerifier | None  # set when callbacks must carry an ACS JWT (GA dialect)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.callcue
    return state
