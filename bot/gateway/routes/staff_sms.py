"""Staff routes for text-message notifications: the ones waiting or failed, with their attempts, and a retry.

A notification that could not be sent (the SMSC down, the number unreachable) is retried with back-off by
the supervisor; once its attempts are used up it stays `failed` here until a staff member sends it again.
Numbers are shown masked, conversations by the audit log's label.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from bot.errors import Conflict
from bot.gateway.deps import CurrentStaff
from bot.services import audit, sms_notices
from bot.services.staff import StaffIdentity

router = APIRouter(prefix="/api/staff/sms", tags=["staff"])

NoticeId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class SmsNoticeOut(BaseModel):
    """A text message to a resident (number masked) and how sending it went."""

    id: int
    kind: Literal["opt_in", "reminder", "status", "staff_reply"]
    # The conversation as the audit log names it: a keyed label, since an id would be a way into it.
    conversation: str
    reference: str | None
    phone: str
    # A staff reply's text only for supervisors: staff read only the conversations they serve.
    text: str | None
    status: Literal["waiting", "sent", "failed", "opted_out", "not_needed"]
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    sent_at: dt.datetime | None


@router.get("", response_model=list[SmsNoticeOut])
async def list_notices(identity: CurrentStaff,
                       status: Annotated[Literal["waiting", "sent", "failed", "opted_out", "not_needed"] | None,
                                         Query()] = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[SmsNoticeOut]:
    """Text messages newest first; without `status`, the ones that need an eye (waiting or failed)."""
    found = await run_in_threadpool(sms_notices.staff_list, status, limit)
    return [_shown(view, identity) for view in found]


def _shown(view: sms_notices.NoticeView, identity: StaffIdentity) -> SmsNoticeOut:
    fields = {name: value for name, value in view.__dict__.items() if name not in ("conversation_id", "text")}
    return SmsNoticeOut(**fields, conversation=audit.conversation_label(view.conversation_id),
                        text=_readable_text(view, identity))


def _readable_text(view: sms_notices.NoticeView, identity: StaffIdentity) -> str | None:
    return view.text if view.kind != "staff_reply" or identity.is_supervisor else None


@router.post("/{notice_id}/retry", status_code=204)
async def retry_notice(notice_id: NoticeId, identity: CurrentStaff) -> None:
    """Sends a failed text message again at the next round (its attempts start over); audited."""
    if not await run_in_threadpool(sms_notices.retry, notice_id):
        raise Conflict(f"SMS notice {notice_id} is not failed", code="sms_notice_not_failed")
    await run_in_threadpool(audit.record, identity.username, "retry_sms", f"sms:{notice_id}", "")
