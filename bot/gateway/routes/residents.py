"""A resident's requests under 个人信息保护法, handled by a supervisor at the console: see what is kept, erase it.

The resident proves who they are at the desk; the supervisor types the ID number and
phone (both must match, as for a status lookup). Every use is audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bot.errors import InvalidRequest
from bot.gateway.deps import SupervisorStaff
from bot.privacy import mask_id_number
from bot.services import audit, retention
from bot.validators import Valid, parse_id_number, parse_mobile

router = APIRouter(prefix="/api/staff/residents", tags=["staff"])


class ResidentRequest(BaseModel):
    """Who the request is about: the ID number and the phone number the resident gave us."""

    model_config = ConfigDict(extra="forbid")

    id_number: str = Field(min_length=15, max_length=40)
    phone: str = Field(min_length=11, max_length=30)


class ResidentDataOut(BaseModel):
    """What is kept (access) or what was deleted (erasure), personal values masked."""

    conversations: int
    applications: list[dict[str, Any]]
    appointments: list[dict[str, Any]]


def _checked(body: ResidentRequest) -> tuple[str, str]:
    id_number, phone = parse_id_number(body.id_number), parse_mobile(body.phone)
    if not isinstance(id_number, Valid) or not isinstance(phone, Valid):
        raise InvalidRequest("a valid ID number and mobile number are needed", code="invalid_person")
    return id_number.value, phone.value


def _out(found: retention.PersonData) -> ResidentDataOut:
    return ResidentDataOut(conversations=len(found.conversations), applications=found.applications,
                           appointments=found.appointments)


@router.post("/access", response_model=ResidentDataOut)
async def access(body: ResidentRequest, identity: SupervisorStaff) -> ResidentDataOut:
    """What the assistant keeps about a resident (their access request); audited."""
    id_number, phone = _checked(body)
    found = await run_in_threadpool(retention.access, id_number, phone)
    await run_in_threadpool(audit.record, identity.username, "access_person", f"person:{mask_id_number(id_number)}",
                            f"{len(found.conversations)} conversations, {len(found.applications)} applications")
    return _out(found)


@router.post("/erase", response_model=ResidentDataOut)
async def erase(body: ResidentRequest, identity: SupervisorStaff) -> ResidentDataOut:
    """Deletes everything the assistant keeps about a resident (their erasure request); audited."""
    id_number, phone = _checked(body)
    return _out(await run_in_threadpool(retention.erase, id_number, phone, identity.username))
