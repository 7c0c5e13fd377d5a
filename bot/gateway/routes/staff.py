"""Staff routes of the contract: logging in, the handoff queue, answering a person and closing.

A staff member reads only the conversations they handle (supervisors and admins
read all); every conversation view is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bot.errors import Forbidden, InvalidRequest
from bot.gateway.deps import CurrentStaff, SettingsDep
from bot.services import audit, handoff, staff
from bot.knowledge.catalogue import get_catalogue

router = APIRouter(prefix="/api/staff", tags=["staff"])

HandoffId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_NOTE_LENGTH = 1000


class LoginRequest(BaseModel):
    """A staff member's username and password."""

    model_config = ConfigDict(extra="ignore", strict=True)

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(BaseModel):
    """The bearer token and who it belongs to."""

    token: str
    username: str
    role: str
    expires_at: dt.datetime


class MeOut(BaseModel):
    """The logged-in staff member and their service centre (whose appointments they see; null: none)."""

    username: str
    role: str
    expires_at: dt.datetime
    on_duty: int
    centre_id: str | None


class HandoffOut(BaseModel):
    """A handoff in the queue: the contract's fields first, then what the console also shows."""

    id: int
    conversation_id: str
    channel: str
    service: str | None
    reason: str
    status: str
    created_at: dt.datetime
    service_name: str | None
    staff_username: str | None
    accepted_at: dt.datetime | None
    closed_at: dt.datetime | None
    resolution_note: str | None


class TranscriptLineOut(BaseModel):
    """One message of the conversation, masked."""

    # "from" is a Python keyword; the JSON name matches the chat API's messages.
    from_: str = Field(serialization_alias="from")
    text: str
    at: dt.datetime | None


class HandoffDetailOut(BaseModel):
    """One conversation as the console shows it."""

    handoff: HandoffOut
    person: dict[str, str]
    form: dict[str, Any] | None
    transcript: list[TranscriptLineOut]


class StaffMessageIn(BaseModel):
    """A staff member's answer to the person."""

    model_config = ConfigDict(extra="ignore", strict=True)

    text: str = Field(min_length=1)


class StaffMessageOut(BaseModel):
    """The answer as delivered to the person's channel."""

    id: str
    from_: str = Field(serialization_alias="from")
    text: str


class CloseIn(BaseModel):
    """An optional note of how the case was resolved."""

    model_config = ConfigDict(extra="ignore", strict=True)

    resolution_note: str | None = Field(None, max_length=MAX_NOTE_LENGTH)


def handoff_out(view: handoff.HandoffView) -> HandoffOut:
    """The API shape of a handoff."""
    service = get_catalogue().services.get(view.service or "")
    return HandoffOut(id=view.id, conversation_id=view.conversation_id, channel=view.channel, service=view.service,
                      reason=view.reason, status=view.status, created_at=view.created_at,
                      service_name=service.short_name if service else None, staff_username=view.staff_username,
                      accepted_at=view.accepted_at, closed_at=view.closed_at, resolution_note=view.resolution_note)


@router.post("/login", response_model=LoginResponse)
async def login(body: LoginRequest, request: Request) -> LoginResponse:
    """Exchanges a username and password for a bearer token (the same 401 for every failure)."""
    client = request.client.host if request.client else "unknown"
    token = await run_in_threadpool(staff.login, body.username, body.password, None, client)
    identity = await run_in_threadpool(staff.identity_for_token, token)
    assert identity is not None  # the token was issued a moment ago
    await run_in_threadpool(audit.record, identity.username, "login", f"staff:{identity.username}", "")
    return LoginResponse(token=token, username=identity.username, role=identity.role, expires_at=identity.expires_at)


@router.post("/logout", status_code=204)
async def logout(request: Request, me: CurrentStaff) -> Response:
    """Ends the login of this token."""
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    await run_in_threadpool(staff.logout, token)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
async def me(identity: CurrentStaff) -> MeOut:
    """Who is logged in, until when, and how many colleagues are on duty."""
    on_duty = await run_in_threadpool(staff.on_duty_count)
    return MeOut(username=identity.username, role=identity.role, expires_at=identity.expires_at, on_duty=on_duty,
                 centre_id=identity.centre_id)


@router.get("/handoffs", response_model=list[HandoffOut])
async def list_handoffs(identity: CurrentStaff,
                        status: Annotated[Literal["waiting", "active", "closed"], Query()] = "waiting",
                        mine: Annotated[bool, Query()] = False) -> list[HandoffOut]:
    """The queue (waiting, emergencies first), or the active or closed handoffs: a staff member's own, a supervisor's all."""
    # Anyone on duty may take a waiting person; who else is being served is a supervisor's business.
    own = mine or (status != "waiting" and not identity.is_supervisor)
    found = await run_in_threadpool(handoff.queue, status, identity.username if own else None)
    return [handoff_out(v) for v in found]


@router.get("/handoffs/{handoff_id}", response_model=HandoffDetailOut, response_model_by_alias=True)
async def handoff_detail(handoff_id: HandoffId, identity: CurrentStaff, unmask: bool = False) -> HandoffDetailOut:
    """Who the person is (masked), the form's progress and what was said; audited, `?unmask=true` audited apart."""
    view = await run_in_threadpool(handoff.get, handoff_id)
    if not handoff.can_read(identity, view):
        raise Forbidden("only the staff member serving this person (or a supervisor) may read the conversation")
    found = await run_in_threadpool(handoff.detail, handoff_id, unmask)
    await run_in_threadpool(audit.record, identity.username, "unmask_conversation" if unmask else "view_conversation",
                            f"handoff:{handoff_id}", view.channel)
    return HandoffDetailOut(
        handoff=handoff_out(found.handoff), person=found.person, form=found.form,
        transcript=[TranscriptLineOut(from_=line.sender, text=line.text, at=line.at) for line in found.transcript],
    )


@router.post("/handoffs/{handoff_id}/accept", response_model=HandoffOut)
async def accept(handoff_id: HandoffId, identity: CurrentStaff) -> HandoffOut:
    """Takes a waiting person; from now on their messages come to this staff member (409 if taken)."""
    view = await run_in_threadpool(handoff.accept, handoff_id, identity.username)
    await run_in_threadpool(audit.record, identity.username, "accept_handoff", f"handoff:{handoff_id}", "")
    return handoff_out(view)


@router.post("/handoffs/{handoff_id}/messages", response_model=StaffMessageOut, response_model_by_alias=True)
async def send_message(handoff_id: HandoffId, body: StaffMessageIn, identity: CurrentStaff,
                       settings: SettingsDep) -> StaffMessageOut:
    """Answers the person; the text reaches them on their own channel (422 over the length limit)."""
    text = body.text.strip()
    if not text:
        raise InvalidRequest("text is empty", code="text_empty")
    if len(text) > settings.max_text_length:
        raise InvalidRequest(f"text is longer than {settings.max_text_length} characters", code="text_too_long")
    pushed = await run_in_threadpool(handoff.send_staff_message, handoff_id, identity, text)
    return StaffMessageOut(id=str(pushed.id), from_=pushed.sender, text=pushed.text)


@router.post("/handoffs/{handoff_id}/close", response_model=HandoffOut)
async def close(handoff_id: HandoffId, identity: CurrentStaff, body: CloseIn | None = None) -> HandoffOut:
    """Ends the staff conversation with an optional resolution note; the assistant asks the person for a rating."""
    note = (body.resolution_note or "").strip() if body else ""
    view = await run_in_threadpool(handoff.close, handoff_id, identity, note or None)
    await run_in_threadpool(audit.record, identity.username, "close_handoff", f"handoff:{handoff_id}", note)
    return handoff_out(view)
