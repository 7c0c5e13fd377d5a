"""Serves the large-font kiosk (GET /kiosk and its few static files) and records staff-assisted consent."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bot.gateway.deps import CurrentStaff
from bot.gateway.routes.chat import CONVERSATION_ID
from bot.services import audit

KIOSK_DIR = Path(__file__).resolve().parent
# Only these files are served: the folder also holds this module, which is nobody's business.
ASSETS = {
    "kiosk.css": "text/css; charset=utf-8",
    "print.css": "text/css; charset=utf-8",
    "kiosk.js": "text/javascript; charset=utf-8",
}

router = APIRouter(tags=["kiosk"])


class ConsentIn(BaseModel):
    """The resident agreed, on the kiosk, that the logged-in staff member fills in for them."""

    model_config = ConfigDict(extra="ignore", strict=True)

    conversation_id: str = Field(pattern=CONVERSATION_ID)


@router.get("/kiosk", include_in_schema=False)
async def kiosk_page() -> FileResponse:
    """The kiosk's one page; every screen is drawn by kiosk.js."""
    return FileResponse(KIOSK_DIR / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-store"})


@router.get("/kiosk/assets/{name}", include_in_schema=False)
async def kiosk_asset(name: str) -> FileResponse:
    """kiosk.css, print.css and kiosk.js."""
    if name not in ASSETS:
        raise HTTPException(status_code=404, detail="no such kiosk file")
    return FileResponse(KIOSK_DIR / name, media_type=ASSETS[name])


@router.post("/kiosk/api/assisted-consent", status_code=204)
async def assisted_consent(body: ConsentIn, identity: CurrentStaff) -> None:
    """Audits that a staff member is filling in on a resident's behalf, with their consent, in this conversation."""
    await run_in_threadpool(audit.record, identity.username, "kiosk_assisted_consent",
                            f"conversation:{body.conversation_id}", "居民本人同意由工作人员代为填写")
