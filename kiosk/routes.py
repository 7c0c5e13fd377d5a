"""Serves the large-font kiosk (GET /kiosk, its few static files, the slip's QR code) and its staff-assisted mode."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path as PathParam, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bot.channel import Capabilities, ChannelInfo
from bot.errors import InvalidRequest
from bot.gateway.deps import ConversationsDep, CurrentStaff, SettingsDep
from bot.validators import Valid, parse_id_number
from bot.services import appointments, audit, conversations, identity
# The kiosk is a browser client of web chat's API: its staff-assisted turn is a web chat turn plus an audit entry.
from channels.webchat.chat_api import CONVERSATION_ID, ChatRequest, ChatResponse, TokenHeader, chat
from kiosk.qr import qr_svg

KIOSK_DIR = Path(__file__).resolve().parent
# Only these files are served: the folder also holds the Python modules, which are nobody's business.
ASSETS = {
    "kiosk.css": "text/css; charset=utf-8",
    "print.css": "text/css; charset=utf-8",
    "kiosk.js": "text/javascript; charset=utf-8",
}

router = APIRouter(tags=["kiosk"])
# Large buttons and type for a standing person; the page polls for staff replies while someone waits for one.
KIOSK = ChannelInfo("kiosk", Capabilities(buttons=True, voice=True, large_text=True, push=True))


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


class IdentityCheckedIn(BaseModel):
    """A staff member at the kiosk checked the resident's ID card against this number."""

    model_config = ConfigDict(extra="ignore", strict=True)

    conversation_id: str = Field(pattern=CONVERSATION_ID)
    id_number: str = Field(min_length=15, max_length=32)


@router.post("/kiosk/api/assisted-identity", status_code=204)
async def assisted_identity(body: IdentityCheckedIn, identity_of_staff: CurrentStaff, token: TokenHeader = None) -> None:
    """The resident in front of the kiosk is the holder of this ID card, as the staff member saw: audited."""
    await run_in_threadpool(conversations.check_token, body.conversation_id, token)
    checked = parse_id_number(body.id_number)
    if not isinstance(checked, Valid):
        raise InvalidRequest("not a valid resident ID number", code="invalid_id_number")
    await run_in_threadpool(identity.record_proof, body.conversation_id, "staff_id_check",
                            id_number=checked.value, staff_username=identity_of_staff.username)


@router.get("/kiosk/api/qr/{reference}", include_in_schema=False)
async def slip_qr(reference: Annotated[str, PathParam(max_length=32)]) -> Response:
    """The QR code of an appointment's confirmation code (YY-7K3Q9P) as SVG, for the printed slip."""
    canonical = appointments.find_reference(reference)
    if canonical != reference:
        raise InvalidRequest("not an appointment confirmation code", code="invalid_reference")
    return Response(qr_svg(canonical), media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store"})


@router.post("/kiosk/api/assisted-chat", response_model=ChatResponse)
async def assisted_chat(body: ChatRequest, request: Request, identity: CurrentStaff, settings: SettingsDep,
                        service: ConversationsDep, token: TokenHeader = None) -> ChatResponse:
    """One kiosk turn typed by a logged-in staff member; an application it submits is written to the audit log."""
    # A staff token does not open a resident's conversation: chat() wants the kiosk's conversation token as well.
    before = await service.state(body.conversation_id) if body.conversation_id else None
    reply = await chat(body.model_copy(update={"channel": "kiosk"}), request, settings, service, token)
    submitted = reply.state.application_reference
    if submitted and (before is None or submitted != before.application_reference):
        await run_in_threadpool(audit.record, identity.username, "kiosk_assisted_submission",
                                f"application:{submitted}", f"conversation:{reply.conversation_id}")
    return reply
