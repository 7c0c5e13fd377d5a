"""The audit log: every time staff see a person's data or change a case, who did what to what and when.

Entries name a conversation as `conversation:<id>`; staff are shown a short keyed
label in its place (`as_shown`), the same for every entry of one conversation,
so the log can be followed without a raw conversation id on a staff screen.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select

from bot.db.models import AuditEntry
from bot.db.session import unit_of_work
from bot.services.people import cipher

MAX_DETAIL_LENGTH = 1000


@dataclass(frozen=True)
class AuditView:
    """One line of the audit log."""

    id: int
    staff_username: str
    action: str
    subject: str
    detail: str
    created_at: dt.datetime


def record(staff_username: str, action: str, subject: str, detail: str = "") -> None:
    """Writes one entry, e.g. record("li", "view_conversation", "handoff:12", "web")."""
    with unit_of_work() as session:
        session.add(AuditEntry(staff_username=staff_username, action=action, subject=subject,
                               detail=(detail or "")[:MAX_DETAIL_LENGTH]))


def recent(limit: int = 200, staff_username: str | None = None, subject: str | None = None) -> list[AuditView]:
    """The newest entries first, optionally of one staff member or one subject."""
    with unit_of_work() as session:
        query = select(AuditEntry)
        if staff_username:
            query = query.where(AuditEntry.staff_username == staff_username)
        if subject:
            query = query.where(AuditEntry.subject == subject)
        rows = session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)).all()
        return [AuditView(r.id, r.staff_username, r.action, r.subject, r.detail, _aware(r.created_at)) for r in rows]


_CONVERSATION = re.compile(r"conversation:([^\s,;()]+)")
LABEL_LENGTH = 10


def conversation_label(conversation_id: str) -> str:
    """A conversation as staff see it in the log: a short keyed label that cannot be turned back into its id."""
    return "会话" + cipher().fingerprint(f"audit-label|{conversation_id}")[:LABEL_LENGTH]


def as_shown(entry: AuditView) -> AuditView:
    """The entry with every conversation id in its subject and detail replaced by the conversation's label."""
    def label(text: str) -> str:
        return _CONVERSATION.sub(lambda m: f"conversation:{conversation_label(m.group(1))}", text)

    return dataclasses.replace(entry, subject=label(entry.subject), detail=label(entry.detail))


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands timestamps back without a zone; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
