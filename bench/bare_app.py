"""The baseline of bench.ingest: a bare Starlette endpoint that reads the body and answers 202.

Run exactly as ``callcue web`` runs (one uvicorn process, uvloop + httptools, no access log):

    python -m uvicorn bench.bare_app:app --host 127.0.0.1 --port P --no-access-log --log-level warning
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def bare(request: Request) -> Response:
    await request.body()
    return Response(status_code=202)


app = Starlette(routes=[Route("/callbacks/acs", bare, methods=["POST"])])
