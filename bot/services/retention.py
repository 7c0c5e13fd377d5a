"""How long residents' data is kept, and a resident's right to see and erase it (个人信息保护法 arts. 45, 47).

Conversations (the engine's events, held-back values, messages, handoffs, ratings,
tasks) go once they have been quiet for RETENTION_CONVERSATION_DAYS; unfinished
applications once untouched for RETENTION_DRAFT_DAYS; the audit log is kept
longer (RETENTION_AUDIT_DAYS), since it is what shows who saw a resident's data.
Submitted applications are case records and stay. The supervisor runs the clean-up
daily; afterwards the database is vacuumed so deleted rows leave no trace in free
pages, and SQLite's write-ahead log is truncated.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, inspect, select, text
from sqlalchemy.orm import Session

from bot.db.models import (Application, Appointment, AuditEntry, Conversation, DeliveryCursor, Handoff, OfferedChoices,
                           OutboxMessage, Person, PersonConversation, Rating, SmsNotice, StaffTask, UnansweredQuestion,
                           VaultEntry, utcnow)
from bot.db.session import get_engine
from bot.privacy import mask_id_number, mask_phone
from bot.services import audit
from bot.services.people import cipher
from bot.services.redaction import EVENTS_TABLE, truncate_wal
from bot.settings import get_settings

log = logging.getLogger(__name__)

DRAFT = "draft"
# Tables whose rows belong to one conversation, by their conversation_id column.
CONVERSATION_TABLES = (VaultEntry, OutboxMessage, UnansweredQuestion, Handoff, Rating, StaffTask, PersonConversation,
                       Appointment, OfferedChoices, DeliveryCursor, SmsNotice)


@dataclass
class RetentionReport:
    """What one clean-up deleted."""

    conversations: int = 0
    drafts: int = 0
    audit_entries: int = 0


@dataclass
class PersonData:
    """What is kept about one resident, for an access request (values masked) or after an erasure (counts)."""

    conversations: list[str] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)
    appointments: list[dict[str, Any]] = field(default_factory=list)


def _has_events(connection: Connection) -> bool:
    return inspect(connection).has_table(EVENTS_TABLE)


def quiet_conversations(connection: Connection, cutoff: dt.datetime) -> list[str]:
    """Conversations with nothing said since the cutoff (by the engine's events, else by when they started)."""
    recent: set[str] = set()
    old: set[str] = set()
    if _has_events(connection):
        for sender, last in connection.execute(text(
                f"SELECT sender_id, MAX(timestamp) FROM {EVENTS_TABLE} GROUP BY sender_id")).all():
            (recent if last is not None and last >= cutoff.timestamp() else old).add(sender)
    started = connection.execute(select(Conversation.id).where(Conversation.created_at < cutoff)).scalars()
    return sorted((old | set(started)) - recent)


def delete_conversations(connection: Connection, conversation_ids: list[str]) -> None:
    """Deletes the conversations and everything that belongs to them (the engine's events included)."""
    for start in range(0, len(conversation_ids), 500):
        batch = conversation_ids[start:start + 500]
        for table in CONVERSATION_TABLES:
            connection.execute(delete(table).where(table.conversation_id.in_(batch)))
        connection.execute(delete(Conversation).where(Conversation.id.in_(batch)))
        if _has_events(connection):
            for conversation_id in batch:
                connection.execute(text(f"DELETE FROM {EVENTS_TABLE} WHERE sender_id = :s"), {"s": conversation_id})


def vacuum() -> None:
    """Rebuilds the database file so deleted rows are gone from its free pages (and empties SQLite's log)."""
    engine = get_engine()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM")
    truncate_wal(engine)


def purge_expired(now: dt.datetime | None = None) -> RetentionReport:
    """Deletes what is past its retention period, then vacuums; the supervisor calls this daily."""
    settings = get_settings()
    now = now or utcnow()
    report = RetentionReport()
    with get_engine().begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA secure_delete=ON")
        quiet = quiet_conversations(connection, now - dt.timedelta(days=settings.retention_conversation_days))
        delete_conversations(connection, quiet)
        report.conversations = len(quiet)
        report.drafts = connection.execute(delete(Application).where(
            Application.status == DRAFT,
            Application.updated_at < now - dt.timedelta(days=settings.retention_draft_days))).rowcount
        report.audit_entries = connection.execute(delete(AuditEntry).where(
            AuditEntry.created_at < now - dt.timedelta(days=settings.retention_audit_days))).rowcount
    vacuum()
    log.info("retention: %d conversations, %d unfinished applications, %d audit entries deleted",
             report.conversations, report.drafts, report.audit_entries)
    return report


def _find(connection: Connection, id_number: str, phone: str) -> tuple[list[Person], list[Application],
                                                                      list[Appointment], list[str]]:
    c = cipher()
    ids, phones = c.lookup_fingerprints(id_number), c.lookup_fingerprints(phone)
    session = Session(bind=connection)
    people = list(session.scalars(select(Person).where(Person.id_fingerprint.in_(ids))))
    # The phone must match too: knowing someone's ID number alone is not enough.
    people = [p for p in people if p.phone_encrypted and c.decrypt(p.phone_encrypted) == phone]
    applications = list(session.scalars(select(Application).where(Application.id_fingerprint.in_(ids))))
    owned = [a for a in applications if a.phone_fingerprint in phones]
    if not people and not owned:
        return [], [], [], []  # the phone proves nothing: knowing an ID number alone reveals or erases nothing
    # A draft may not have its phone yet; it belongs to the owner of the ID number the phone proved.
    applications = [a for a in applications if a.phone_fingerprint in phones or a.phone_fingerprint is None]
    bookings = list(session.scalars(select(Appointment).where(Appointment.phone_fingerprint.in_(phones))))
    conversations = {row.conversation_id for row in applications} | {row.conversation_id for row in bookings}
    for row in applications:
        conversations.update(row.conversation_ids or [])
    if people:
        conversations.update(session.scalars(select(PersonConversation.conversation_id).where(
            PersonConversation.person_id.in_([p.id for p in people]))))
    return people, applications, bookings, sorted(conversations)


def access(id_number: str, phone: str) -> PersonData:
    """What is kept about the resident with this ID number and phone (an access request), values masked."""
    with get_engine().connect() as connection:
        _, applications, bookings, conversations = _find(connection, id_number, phone)
    return PersonData(
        conversations,
        [{"reference": a.reference, "service_id": a.service_id, "status": a.status,
          "id_number": mask_id_number(id_number)} for a in applications],
        [{"reference": b.reference, "centre_id": b.centre_id, "slot_start": b.slot_start.isoformat(),
          "phone": mask_phone(phone)} for b in bookings])


def erase(id_number: str, phone: str, staff_username: str) -> PersonData:
    """Deletes everything kept about the resident (an erasure request), audited; returns what was deleted."""
    with get_engine().begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA secure_delete=ON")
        people, applications, bookings, conversations = _find(connection, id_number, phone)
        found = PersonData(conversations, [{"reference": a.reference} for a in applications],
                           [{"reference": b.reference} for b in bookings])
        delete_conversations(connection, conversations)
        connection.execute(delete(Application).where(Application.id.in_([a.id for a in applications])))
        connection.execute(delete(Appointment).where(Appointment.id.in_([b.id for b in bookings])))
        connection.execute(delete(Person).where(Person.id.in_([p.id for p in people])))
    audit.record(staff_username, "erase_person", f"person:{mask_id_number(id_number)}",
                 f"{len(conversations)} conversations, {len(applications)} applications, "
                 f"{len(bookings)} appointments deleted on the resident's request")
    vacuum()
    return found
