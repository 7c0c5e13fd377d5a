"""Tables of the assistant. Rasa's tracker store keeps its own `events` table in the same database.

Personal fields (ID number, phone, address) are stored only encrypted, in columns
ending in `_encrypted`, with a keyed fingerprint where a lookup is needed; free text
that may hold them (handoff messages, the outbox, the vault) in `EncryptedText` columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    """The current time in UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)


class EncryptedText(TypeDecorator[str]):
    """Text encrypted with the field key on the way in and decrypted on the way out, so services see plain text."""

    impl = Text
    cache_ok = True
    holds_encrypted = True  # found by `make rotate-keys`

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else _cipher().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else _cipher().decrypt(value)


def _cipher():  # noqa: ANN202 - a FieldCipher; imported late, the keys need the settings
    from bot.keys import field_cipher
    from bot.settings import get_settings

    return field_cipher(get_settings())


class Base(DeclarativeBase):
    """Declarative base; the type map keeps JSON columns portable between SQLite and PostgreSQL."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Conversation(Base):
    """A conversation on one channel; the id is the client's conversation_id (or e.g. telegram:<id>)."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), default="web")
    locale: Mapped[str] = mapped_column(String(16), default="zh-CN")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # SHA-256 of the web client's conversation token; None for channels bound to their own identity.
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class VaultEntry(Base):
    """A personal value held back from the dialogue engine: the engine sees only its reference.

    A reference means something only within its conversation, so one person's reference can
    never reveal another's value.
    """

    __tablename__ = "vault_entries"
    __table_args__ = (UniqueConstraint("conversation_id", "reference"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    reference: Mapped[str] = mapped_column(String(24))
    kind: Mapped[str] = mapped_column(String(16))  # id_number, phone, card, full_name, address
    value: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class OutboxMessage(Base):
    """A message that reached a conversation outside a request (staff reply, reminder, status change)."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    sender: Mapped[str] = mapped_column(String(16))  # "assistant" or "staff"
    text: Mapped[str] = mapped_column(EncryptedText)
    buttons: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UnansweredQuestion(Base):
    """A question the assistant could not answer, kept (with personal numbers masked) for staff to review."""

    __tablename__ = "unanswered_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(32), default="web")
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(64), nullable=True)
    confidence: Mapped[float | None] = mapped_column(nullable=True)
    reason: Mapped[str] = mapped_column(String(32))  # "low_confidence", "unknown_service", "out_of_scope"
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Handoff(Base):
    """A request to be served by a staff member; one open handoff per conversation at a time."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    service: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(String(32))  # "requested", "not_understood", "validation", "emergency"
    status: Mapped[str] = mapped_column(String(16), index=True, default="waiting")  # waiting, active, closed
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)  # masked summary for staff
    staff_username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class HandoffMessage(Base):
    """A message exchanged while a staff member serves the person: from the person or from staff."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"), index=True)
    sender: Mapped[str] = mapped_column(String(16))  # "person" or "staff"
    text: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Application(Base):
    """An application for one service: a draft while it is being filled in, then a submission with a reference.

    Name, ID number, phone and address are stored only encrypted; the keyed
    fingerprints let a person find their draft again from another channel.
    """

    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("conversation_id", "turn_key", name="uq_applications_turn"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str | None] = mapped_column(String(16), unique=True, nullable=True)
    service_id: Mapped[str] = mapped_column(String(64), index=True)
    # draft, submitted, under_review, more_materials_needed, approved, rejected, ready_for_collection
    status: Mapped[str] = mapped_column(String(32), index=True, default="draft")
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(32), default="web")
    full_name_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    id_number_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    phone_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    address_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    id_fingerprint: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    phone_fingerprint: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the service's own, non-identifying fields
    requested_slot: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Every conversation that worked on it (a draft may move between channels), for redaction.
    conversation_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The message of the person that submitted it: the same message run again finds this submission.
    turn_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # When the conversations' stored events were rewritten without the personal values.
    redacted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ApplicationStatusChange(Base):
    """One step of an application's status history, with the staff member who made it."""

    __tablename__ = "application_status_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    changed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Person(Base):
    """What a person already told us (encrypted), so a later application does not ask for it again."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id_fingerprint: Mapped[str] = mapped_column(String(128), unique=True)
    full_name_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    id_number_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    phone_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    address_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class PersonConversation(Base):
    """Links a conversation (on any channel) to the person who identified in it."""

    __tablename__ = "person_conversations"

    conversation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    linked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# Staff, appointments, call-backs, ratings and the audit log (imports kept here so this block stays self-contained).
from sqlalchemy import Boolean, Index, UniqueConstraint  # noqa: E402 - the block keeps its own imports


class StaffAccount(Base):
    """A staff member who logs in to the console; the password is stored only as an argon2 hash."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # staff, supervisor, admin
    # The service centre (knowledge_base/centres.yml) whose appointments a staff member sees; none: no appointments.
    centre_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class StaffSession(Base):
    """A console login; only a hash of the token is kept, so a database copy cannot be used to log in."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditEntry(Base):
    """Who looked at or changed a person's data, what and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    staff_username: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(160), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Appointment(Base):
    """A booked visit to a service centre; `seat` (1..capacity) is unique per slot, so a slot never overbooks.

    Slot times are the centre's local wall-clock time. A cancelled appointment
    gives its seat back (seat NULL), which the unique index does not count.
    """

    __tablename__ = "appointments"
    __table_args__ = (
        UniqueConstraint("centre_id", "slot_start", "seat", name="uq_appointments_seat"),
        UniqueConstraint("conversation_id", "turn_key", name="uq_appointments_turn"),
        Index("ix_appointments_centre_slot", "centre_id", "slot_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    centre_id: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(String(64))
    slot_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=False))
    slot_end: Mapped[dt.datetime] = mapped_column(DateTime(timezone=False))
    seat: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="booked")  # booked, checked_in, cancelled
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(32), default="web")
    full_name_encrypted: Mapped[str] = mapped_column(Text)
    phone_encrypted: Mapped[str] = mapped_column(Text)
    phone_fingerprint: Mapped[str | None] = mapped_column(String(128), index=True, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    checked_in_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The message of the person that booked it: the same message run again finds this booking.
    turn_key: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Rating(Base):
    """A 政务服务好差评 rating (1 非常不满意 … 5 非常满意) of a handoff, an appointment or an application."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("conversation_id", "subject", name="uq_ratings_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(32), default="web")
    subject: Mapped[str] = mapped_column(String(64))  # e.g. "handoff:12", "appointment:YY-7K3Q9P"
    level: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)  # personal numbers masked
    staff_username: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class StaffTask(Base):
    """Work for staff outside a live conversation: a call-back, a low rating or a complaint to follow up."""

    __tablename__ = "staff_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # callback, low_rating, complaint
    audience: Mapped[str] = mapped_column(String(16))  # staff (every role) or supervisor
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(32), default="web")
    service: Mapped[str | None] = mapped_column(String(64), nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")  # personal numbers masked
    phone_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    time_window: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rating_id: Mapped[int | None] = mapped_column(ForeignKey("ratings.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="open")  # open, done
    done_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    done_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# Proofs of identity and one-time codes: who has shown they hold the phone on file, or was checked by staff.

class IdentityProof(Base):
    """A conversation proved it belongs to a person: it holds their phone, or staff checked their ID card."""

    __tablename__ = "identity_proofs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "phone" or "id_number"
    fingerprint: Mapped[str] = mapped_column(String(128))  # keyed fingerprint, never the number itself
    method: Mapped[str] = mapped_column(String(32))  # sms_code, caller_id, telegram_contact, staff_id_check
    proven_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the staff member who checked
    proven_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OneTimeCode(Base):
    """The one code a conversation is waiting for: sent by SMS, kept only as a keyed hash, a few tries."""

    __tablename__ = "one_time_codes"

    conversation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    phone_fingerprint: Mapped[str] = mapped_column(String(128))
    code_hash: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(128))  # what the proof is for, e.g. resume:<service>
    id_fingerprint: Mapped[str | None] = mapped_column(String(128), nullable=True)  # whose ID number, for limits
    tries_left: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GuessCounter(Base):
    """Failed verifications and lookups of one conversation or one ID number, counted in one statement each."""

    __tablename__ = "guess_counters"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)  # conversation:<id> or id:<fingerprint>
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    paused_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SeenMessage(Base):
    """A message a channel has already taken in (by the platform's message id): a retry is not a second turn.

    Shared by every gateway replica, so a retry that reaches another replica is recognised too.
    """

    __tablename__ = "seen_messages"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class ChatReply(Base):
    """A web or kiosk client's message id the dialogue engine cannot answer a retry of (bot/services/chat_replies.py).

    The message that created a conversation (its token) and a message given to staff. Shared by the gateway
    replicas (a retry often reaches another one); a few per conversation, for a day.
    """

    __tablename__ = "chat_replies"

    conversation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The keyed digest of the message's text: the same id sent with another text is another message, refused.
    text_digest: Mapped[str] = mapped_column(String(64))
    # Only for the message that created the conversation: its token, for a retry whose first answer was lost.
    conversation_token: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class OfferedChoices(Base):
    """The choices last offered as numbered lines on a channel without buttons (WeChat): "1" means the first."""

    __tablename__ = "offered_choices"

    conversation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    payloads: Mapped[list[Any]] = mapped_column(default=list)
    offered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChannelPreference(Base):
    """A person's choice on a channel (Telegram's /voice on), kept for every gateway replica and across restarts."""

    __tablename__ = "channel_preferences"

    conversation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    voice_answers: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CallbackKey(Base):
    """A short key standing for a button payload too long for Telegram's callback data (64 bytes).

    Shared by the replicas: the gateway that receives the press is often not the one that drew the button.
    """

    __tablename__ = "callback_keys"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class ChannelCredential(Base):
    """A short-lived credential a channel fetches from its platform (WeChat's access token), one for all replicas."""

    __tablename__ = "channel_credentials"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value_encrypted: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class DeliveryCursor(Base):
    """How far a push channel has delivered a conversation's outbox, and which replica holds it for now.

    Kept in the database, so a message pushed while every gateway was down is delivered when one is back,
    and a lease, so two replicas never send the same conversation's messages at once.
    """

    __tablename__ = "delivery_cursors"

    conversation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    delivered_id: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# The analytics: indexes for the period queries, the clarifying questions asked, the supervisors' review of
# unanswered questions, and the daily roll-up of the dialogue engine's messages.
from sqlalchemy import Date  # noqa: E402 - the block keeps its own imports

Index("ix_conversations_created_channel", Conversation.created_at, Conversation.channel)
Index("ix_handoffs_created_at", Handoff.created_at)
Index("ix_ratings_created_at", Rating.created_at)
Index("ix_applications_created_at", Application.created_at)
Index("ix_appointments_slot_start", Appointment.slot_start)
Index("ix_unanswered_questions_created_at", UnansweredQuestion.created_at)
Index("ix_staff_tasks_created_at", StaffTask.created_at)


class ClarifyingQuestion(Base):
    """A time the assistant asked which service was meant, rather than guess."""

    __tablename__ = "clarifying_questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32), default="web")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class UnansweredReview(Base):
    """A supervisor's decision on an unanswered question: a new alias of a service, an FAQ answer, or dismissed."""

    __tablename__ = "unanswered_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(String(500), unique=True)  # as stored: personal numbers masked
    outcome: Mapped[str] = mapped_column(String(16))  # alias, faq, dismissed
    service_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    staff_username: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class AnalyticsDay(Base):
    """A settled day's conversations and messages per channel (a roll-up; channel "*" marks the day as done)."""

    __tablename__ = "analytics_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversations: Mapped[int] = mapped_column(Integer, default=0)
    handed_off: Mapped[int] = mapped_column(Integer, default=0)  # of those conversations, how many reached a person
    messages: Mapped[int] = mapped_column(Integer, default=0)
    below_threshold: Mapped[int] = mapped_column(Integer, default=0)


class HandoffDay(Base):
    """A settled day's handoffs per channel and service, with their waits in whole seconds (a roll-up)."""

    __tablename__ = "analytics_handoff_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    service: Mapped[str] = mapped_column(String(64), primary_key=True)  # "" when none was named
    handoffs: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    abandoned: Mapped[int] = mapped_column(Integer, default=0)
    served: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    waits: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"seconds": how many accepted after that wait}


class SmsNotice(Base):
    """A text message for a resident without a push channel (a reminder, a status change, a staff reply).

    One row per event (`event` is unique), so a restart or a second replica never texts the same thing twice;
    the number is kept encrypted, the text holds no personal number. Staff see waiting and failed sends.
    """

    __tablename__ = "sms_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event: Mapped[str] = mapped_column(String(160), unique=True)  # e.g. reminder:12, status:40, staff_reply:311
    conversation_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # opt_in (the resident asked for texts), reminder, status, staff_reply
    reference: Mapped[str | None] = mapped_column(String(32), nullable=True)  # what staff look it up by
    phone_encrypted: Mapped[str] = mapped_column(Text)
    phone_fingerprint: Mapped[str] = mapped_column(String(128), index=True)
    text: Mapped[str] = mapped_column(Text)
    # waiting, sent, failed (attempts used up), opted_out, not_needed (the person read it in time)
    status: Mapped[str] = mapped_column(String(16), index=True, default="waiting")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    outbox_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the pushed message it tells of
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SmsOptOut(Base):
    """A number that answered with the opt-out word: no notifications go to it (one-time codes still do)."""

    __tablename__ = "sms_opt_outs"

    phone_fingerprint: Mapped[str] = mapped_column(String(128), primary_key=True)
    phone_encrypted: Mapped[str] = mapped_column(Text)  # so a key rotation can compute the fingerprint anew
    word: Mapped[str] = mapped_column(String(16))
    opted_out_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
