"""Staff routes beside the live queue: call-back and follow-up tasks, the day's appointments, the audit log.

Lists show names and phone numbers masked; the clear values are a separate
request, and each one is written to the audit log (who, what, when). A staff
member sees the appointments of their own centre only (none without one),
supervisors and admins every centre's. The audit log names a conversation by
a short keyed label, never by its id: the console shows no conversation id.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bot.errors import Forbidden, InvalidRequest, NotFound
from bot.gateway.deps import AdminStaff, CurrentStaff, SupervisorStaff
from bot.services import appointments, audit, callbacks, staff
from bot.knowledge.catalogue import get_catalogue

router = APIRouter(prefix="/api/staff", tags=["staff"])

ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class TaskOut(BaseModel):
    """A task on the staff list (phone masked)."""

    id: int
    kind: str
    conversation_id: str
    channel: str
    service: str | None
    service_name: str | None
    summary: str
    phone: str | None
    time_window: str | None
    status: str
    created_at: dt.datetime
    done_by: str | None
    done_note: str | None


class DoneIn(BaseModel):
    """What was done."""

    model_config = ConfigDict(extra="ignore", strict=True)

    note: str | None = Field(None, max_length=1000)


class PhoneOut(BaseModel):
    """A call-back number in clear."""

    phone: str


class CentreOut(BaseModel):
    """A service centre."""

    id: str
    name: str
    district: str


class AppointmentOut(BaseModel):
    """An appointment as the desk sees it (name and phone masked)."""

    id: int
    reference: str
    centre_id: str
    centre_name: str
    service: str
    service_name: str
    start: dt.datetime
    end: dt.datetime
    status: str
    channel: str
    full_name: str
    phone: str
    checked_in_at: dt.datetime | None


class ContactOut(BaseModel):
    """A person's name and phone in clear."""

    full_name: str
    phone: str


class AuditOut(BaseModel):
    """One line of the audit log."""

    id: int
    staff_username: str
    action: str
    subject: str
    detail: str
    created_at: dt.datetime


class AccountOut(BaseModel):
    """A staff account (never its password hash)."""

    username: str
    role: str
    active: bool
    locked: bool
    centre_id: str | None


class CentreIn(BaseModel):
    """The centre an account belongs to; null for none (the account then sees no appointments)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    centre_id: str | None = Field(max_length=64)


def _service_name(service_id: str | None) -> str | None:
    service = get_catalogue().services.get(service_id or "")
    return service.short_name if service else None


def _task_out(task: callbacks.TaskView) -> TaskOut:
    return TaskOut(id=task.id, kind=task.kind, conversation_id=task.conversation_id, channel=task.channel,
                   service=task.service, service_name=_service_name(task.service), summary=task.summary,
                   phone=task.phone_masked, time_window=task.time_window, status=task.status,
                   created_at=task.created_at, done_by=task.done_by, done_note=task.done_note)


def _appointment_out(view: appointments.AppointmentView) -> AppointmentOut:
    return AppointmentOut(id=view.id, reference=view.reference, centre_id=view.centre_id, centre_name=view.centre_name,
                          service=view.service_id, service_name=view.service_name, start=view.start, end=view.end,
                          status=view.status, channel=view.channel, full_name=view.name_masked,
                          phone=view.phone_masked, checked_in_at=view.checked_in_at)


@router.get("/tasks", response_model=list[TaskOut])
async def list_tasks(identity: CurrentStaff,
                     status: Annotated[Literal["open", "done"], Query()] = "open",
                     kind: Annotated[Literal["callback", "low_rating", "complaint"] | None, Query()] = None
                     ) -> list[TaskOut]:
    """Call-backs for everyone; low ratings and complaints for supervisors and admins."""
    found = await run_in_threadpool(callbacks.tasks, identity, status, kind)
    return [_task_out(t) for t in found]


@router.post("/tasks/{task_id}/done", response_model=TaskOut)
async def complete_task(task_id: ItemId, identity: CurrentStaff, body: DoneIn | None = None) -> TaskOut:
    """Marks a task done with a note of what was done."""
    task = await run_in_threadpool(callbacks.complete, task_id, identity, body.note if body else None)
    await run_in_threadpool(audit.record, identity.username, "complete_task", f"task:{task_id}", task.kind)
    return _task_out(task)


@router.post("/tasks/{task_id}/phone", response_model=PhoneOut)
async def reveal_task_phone(task_id: ItemId, identity: CurrentStaff) -> PhoneOut:
    """The call-back number in clear, to dial it; audited."""
    phone = await run_in_threadpool(callbacks.contact, task_id, identity)
    await run_in_threadpool(audit.record, identity.username, "reveal_phone", f"task:{task_id}", "call-back number")
    return PhoneOut(phone=phone)


@router.get("/centres", response_model=list[CentreOut])
async def list_centres(identity: CurrentStaff) -> list[CentreOut]:
    """The service centres, for choosing whose appointments to see."""
    return [CentreOut(id=c.id, name=c.name, district=c.district) for c in get_catalogue().centres.values()]


@router.get("/appointments", response_model=list[AppointmentOut])
async def list_appointments(identity: CurrentStaff,
                            date: Annotated[dt.date | None, Query()] = None,
                            centre: Annotated[str | None, Query(max_length=64)] = None) -> list[AppointmentOut]:
    """A day's appointments (today by default), optionally of one centre, with names and phones masked.

    A staff member gets their own centre's only (403 for another one asked for by name); supervisors every centre's.
    """
    if centre and not identity.sees_centre(centre):
        await run_in_threadpool(audit.record, identity.username, "appointments_refused", f"centre:{centre}",
                                "another centre's appointments")
        raise Forbidden("a staff member sees the appointments of their own centre only", code="other_centre")
    day = date or appointments.local_now().date()
    found = await run_in_threadpool(appointments.for_day, day, centre, identity.sees_centre)
    return [_appointment_out(v) for v in found]


@router.post("/appointments/{appointment_id}/check-in", response_model=AppointmentOut)
async def check_in(appointment_id: ItemId, identity: CurrentStaff) -> AppointmentOut:
    """Marks that the person has arrived (404 for another centre's appointment, as for none)."""
    view = await run_in_threadpool(appointments.check_in, appointment_id, identity.username, identity.sees_centre)
    await run_in_threadpool(audit.record, identity.username, "check_in", f"appointment:{view.reference}", "")
    return _appointment_out(view)


@router.post("/appointments/{appointment_id}/contact", response_model=ContactOut)
async def reveal_appointment_contact(appointment_id: ItemId, identity: CurrentStaff) -> ContactOut:
    """The person's full name and phone in clear (e.g. to check an ID at the desk); audited; own centre only."""
    try:
        full_name, phone = await run_in_threadpool(appointments.contact, appointment_id, identity.sees_centre)
    except NotFound:
        await run_in_threadpool(audit.record, identity.username, "reveal_contact_refused",
                                f"appointment:{appointment_id}", "unknown or another centre's appointment")
        raise
    await run_in_threadpool(audit.record, identity.username, "reveal_contact", f"appointment:{appointment_id}",
                            "full name and phone")
    return ContactOut(full_name=full_name, phone=phone)


@router.get("/audit", response_model=list[AuditOut])
async def audit_log(identity: SupervisorStaff,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                    staff_username: Annotated[str | None, Query(max_length=64)] = None,
                    subject: Annotated[str | None, Query(max_length=160)] = None) -> list[AuditOut]:
    """Who looked at or changed what, newest first (supervisors and admins)."""
    found = await run_in_threadpool(audit.recent, limit, staff_username, subject)
    return [AuditOut(**audit.as_shown(entry).__dict__) for entry in found]


@router.get("/accounts", response_model=list[AccountOut])
async def list_accounts(identity: AdminStaff) -> list[AccountOut]:
    """Every staff account (admins only); accounts are created with `make staff`."""
    found = await run_in_threadpool(staff.list_accounts)
    return [AccountOut(**a.__dict__) for a in found]


@router.post("/accounts/{username}/centre", response_model=AccountOut)
async def set_account_centre(username: Annotated[str, Path(min_length=2, max_length=64)], body: CentreIn,
                             identity: AdminStaff) -> AccountOut:
    """Moves an account to a service centre, or to none (admins only; audited), as `make staff ... CENTRE=` does."""
    if not await run_in_threadpool(staff.set_centre, username, body.centre_id):
        raise NotFound("no such staff account", code="unknown_account")
    await run_in_threadpool(audit.record, identity.username, "set_account_centre", f"staff:{username}",
                            body.centre_id or "none")
    found = await run_in_threadpool(staff.list_accounts)
    return next(AccountOut(**a.__dict__) for a in found if a.username == username)


@router.post("/accounts/{username}/deactivate", status_code=204)
async def deactivate_account(username: Annotated[str, Path(min_length=2, max_length=64)],
                             identity: AdminStaff) -> None:
    """Switches an account off and ends its logins at once (admins only; audited), as `make staff ACTIVE=no` does."""
    if username == identity.username:
        raise InvalidRequest("an admin cannot switch off their own account", code="own_account")
    if not await run_in_threadpool(staff.deactivate, username):
        raise NotFound("no such staff account", code="unknown_account")
    await run_in_threadpool(audit.record, identity.username, "deactivate_account", f"staff:{username}", "")
