"""Call-back requests and the staff task list (call-backs, low ratings and complaints to follow up).

The phone number of a call-back is stored encrypted; the task list shows it
masked, and revealing it is a separate step the staff route writes to the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import texts
from bot.db.models import StaffTask, utcnow
from bot.db.session import unit_of_work
from bot.errors import Conflict, Forbidden, NotFound
from bot.privacy import mask_phone
from bot.ratelimit import get_limiter
from bot.services.people import cipher
from bot.services.staff import StaffIdentity

TIME_WINDOWS = ("morning", "afternoon", "any")
KINDS = ("callback", "low_rating", "complaint")


@dataclass(frozen=True)
class TaskView:
    """A task as the console lists it."""

    id: int
    kind: str
    audience: str
    conversation_id: str
    channel: str
    service: str | None
    summary: str
    phone_masked: str | None
    time_window: str | None
    status: str
    created_at: dt.datetime
    done_by: str | None
    done_note: str | None


def window_name(window: str) -> str:
    """上午 / 下午 / 都可以, from the domain."""
    return texts.text(f"utter_callback_window_{window}")


def request_callback(conversation_id: str, channel: str, phone: str, window: str,
                     service: str | None = None) -> TaskView:
    """Stores a call-back request as a task for staff."""
    if window not in TIME_WINDOWS:
        window = "any"
    # One conversation, or one number, may ask for only so many calls: nobody floods staff with call-back tasks.
    limiter = get_limiter()
    limiter.hit("callbacks_per_conversation", conversation_id)
    limiter.hit("callbacks_per_phone", cipher().fingerprint(phone))
    with unit_of_work() as session:
        task = StaffTask(kind="callback", audience="staff", conversation_id=conversation_id, channel=channel,
                         service=service, summary="",
                         phone_encrypted=cipher().encrypt(phone), time_window=window, status="open")
        session.add(task)
        session.flush()
        return _view(task)


def visible_kinds(identity: StaffIdentity) -> tuple[str, ...]:
    """Staff see call-backs; supervisors and admins also ratings and complaints to follow up."""
    return KINDS if identity.is_supervisor else ("callback",)


def tasks(identity: StaffIdentity, status: str = "open", kind: str | None = None, limit: int = 200) -> list[TaskView]:
    """The tasks a staff member may see, oldest open first (done ones newest first)."""
    kinds = [k for k in visible_kinds(identity) if kind in (None, k)]
    with unit_of_work() as session:
        query = select(StaffTask).where(StaffTask.kind.in_(kinds), StaffTask.status == status)
        query = query.order_by(StaffTask.id if status == "open" else StaffTask.id.desc())
        return [_view(t) for t in session.scalars(query.limit(limit)).all()]


def _visible(session: Session, task_id: int, identity: StaffIdentity) -> StaffTask:
    task = session.get(StaffTask, task_id)
    if task is None:
        raise NotFound(f"no task {task_id}")
    if task.kind not in visible_kinds(identity):
        raise Forbidden("this task is for supervisors")
    return task


def complete(task_id: int, identity: StaffIdentity, note: str | None = None) -> TaskView:
    """Marks a task done, with what was done."""
    with unit_of_work() as session:
        task = _visible(session, task_id, identity)
        if task.status == "done":
            raise Conflict(f"task {task_id} is already done", code="task_done")
        task.status, task.done_by, task.done_note, task.done_at = "done", identity.username, note or None, utcnow()
        return _view(task)


def contact(task_id: int, identity: StaffIdentity) -> str:
    """The call-back number in clear (the route writes the view to the audit log)."""
    with unit_of_work() as session:
        task = _visible(session, task_id, identity)
        if not task.phone_encrypted:
            raise NotFound(f"task {task_id} has no phone number")
        return cipher().decrypt(task.phone_encrypted)


def _view(task: StaffTask) -> TaskView:
    phone = mask_phone(cipher().decrypt(task.phone_encrypted)) if task.phone_encrypted else None
    created = task.created_at if task.created_at.tzinfo else task.created_at.replace(tzinfo=dt.timezone.utc)
    return TaskView(task.id, task.kind, task.audience, task.conversation_id, task.channel, task.service,
                    task.summary, phone, task.time_window, task.status, created, task.done_by, task.done_note)
