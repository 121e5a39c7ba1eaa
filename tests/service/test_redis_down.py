"""Without Redis the web process stays up: /readyz and callbacks answer 503, /healthz 200."""

from __future__ import annotations

import httpx

from service.embedded_redis import free_port
from service.settings import Settings
from service.web.app import create_app


async def test_redis_away_is_503_not_500() -> None:
    settings = Settings.from_env({"CALLCUE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
            event = {
                "type": "Microsoft.Communication.PlayAudioResult",
                "data": {
                    "operationContext": "sq_1.0",
                    "resultInfo": {"code": 200, "subcode": 0},
                    "status": "completed",
                },
            }
            answer = await client.post("/callbacks/acs", json=[event])
            assert answer.status_code == 503 and answer.json()["code"] == "store_unavailable"
            started = await client.post(
                "/v1/calls/c1/sequences", json={"prompts": [{"audioFileUri": "http://a/b.wav"}]}
            )
            assert started.status_code == 503
