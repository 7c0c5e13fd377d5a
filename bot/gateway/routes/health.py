"""GET /healthz: 200 when the dialogue engine, the action server and the database answer, 503 otherwise.

GET /livez: 200 while this process serves requests (what a balancer checks: a gateway whose database is away
still answers residents politely, and must stay in rotation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from bot import tls
from bot.db.session import get_engine
from bot.gateway.deps import RasaDep, SettingsDep

router = APIRouter(tags=["health"])


def _database_ok() -> bool:
    with get_engine().connect() as connection:
        connection.execute(text("SELECT 1"))
    return True


async def _actions_ok(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2.0, verify=tls.client_context()) as client:
        response = await client.get(f"{url}/health")
        return response.status_code == 200


async def _run(check: Awaitable[bool]) -> str:
    try:
        return "ok" if await check else "down"
    except Exception:  # noqa: BLE001 - any failure of a component means it is down
        return "down"


@router.get("/healthz")
async def healthz(settings: SettingsDep, rasa: RasaDep) -> JSONResponse:
    """Reports each component; 503 names the one that is down."""
    rasa_status, actions_status, database_status = await asyncio.gather(
        _run(rasa.healthy()), _run(_actions_ok(settings.action_url)), _run(run_in_threadpool(_database_ok)),
    )
    components = {"rasa": rasa_status, "actions": actions_status, "database": database_status}
    healthy = all(v == "ok" for v in components.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", "components": components},
                        status_code=200 if healthy else 503)


@router.get("/livez")
async def livez() -> JSONResponse:
    """200 while the process serves requests, whatever its dependencies do."""
    return JSONResponse({"status": "ok"})
