"""Staff routes for applications: the list (personal fields masked) and moving one to its next status.

A status change is pushed to the person on the channel they applied from, and
every look at the list and every change is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bot.errors import Forbidden
from bot.gateway.deps import CurrentStaff
from bot.services import applications, audit

router = APIRouter(prefix="/api/staff/applications", tags=["staff"])

Status = Literal["submitted", "under_review", "more_materials_needed", "approved", "rejected", "ready_for_collection"]


class StatusChange(BaseModel):
    """The new status and an optional note the person will read."""

    model_config = ConfigDict(extra="forbid", strict=True)

    status: Status
    note: str | None = Field(None, max_length=500)


class ApplicationOut(BaseModel):
    """An application as staff see it: name, ID number and phone masked."""

    reference: str
    service: str
    status: str
    status_note: str | None
    full_name: str
    id_number: str
    phone: str
    channel: str
    submitted_at: dt.datetime | None
    updated_at: dt.datetime
    details: dict[str, Any]


def _out(view: applications.StaffView) -> ApplicationOut:
    return ApplicationOut(reference=view.reference, service=view.service_id, status=view.status,
                          status_note=view.status_note, full_name=view.full_name, id_number=view.id_number,
                          phone=view.phone, channel=view.channel, submitted_at=view.submitted_at,
                          updated_at=view.updated_at, details=view.details)


@router.get("", response_model=list[ApplicationOut])
async def list_applications(staff: CurrentStaff,
                            status: Annotated[Status | None, Query()] = None) -> list[ApplicationOut]:
    """Submitted applications, newest first, optionally of one status."""
    found = await run_in_threadpool(applications.staff_list, status)
    await run_in_threadpool(audit.record, staff.username, "list_applications", "applications", status or "all")
    return [_out(v) for v in found]


@router.post("/{reference}/status", response_model=ApplicationOut)
async def change_status(reference: Annotated[str, Path(max_length=20)], body: StatusChange,
                        staff: CurrentStaff) -> ApplicationOut:
    """Moves an application on (e.g. under_review → approved); the person is told on their channel.

    Approving is a supervisor's right: a clerk's approval is refused (403) and audited.
    """
    if body.status == "approved" and not staff.is_supervisor:
        await run_in_threadpool(audit.record, staff.username, "refused_approval", f"application:{reference}",
                                "approving needs a supervisor")
        raise Forbidden("approving an application is a supervisor's right", code="supervisor_only")
    view = await run_in_threadpool(applications.change_status, reference, body.status, body.note, staff.username)
    await run_in_threadpool(audit.record, staff.username, "change_application_status", f"application:{view.reference}",
                            body.status)
    return _out(view)
