"""The queue of people waiting for a staff member, shared by the actions, the gateway and the staff console.

A handoff is `waiting` until a staff member accepts it (`active`) and `closed`
when they finish, when the person chooses an appointment or a call-back
instead, or when nobody accepted it in time; the person is never left waiting
in silence. Everything shown to staff is masked (ID and phone numbers, names).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, overload

from sqlalchemy import bindparam, case, func, inspect, select, text, update
from sqlalchemy.orm import Session

from bot import texts
from bot.db.models import Handoff, HandoffMessage, utcnow
from bot.db.session import get_engine, unit_of_work
from bot.errors import Conflict, Forbidden, InvalidRequest, NotFound
from bot.privacy import mask_name, mask_phone, redact_text
from bot.ratelimit import get_limiter
from bot.services import appointments, chat_replies, conversations, feedback, sms_notices, staff
from bot.services.vault import Vault
from bot.settings import get_settings

OPEN_STATUSES = ("waiting", "active")
STATUSES = ("waiting", "active", "closed")
# Minutes a staff member needs per person, for the expected wait told to the person.
MINUTES_PER_PERSON = 4
# Longer than this and the person is offered an appointment or a call-back straight away.
MAX_WAIT_MINUTES = 20
TRANSCRIPT_LIMIT = 60
# The action that queues a person adds this payload to its replies: the gateway then knows that the
# turn started a handoff, and reads the status after a turn only when it can have changed.
QUEUED_SIGNAL = {"handoff": "queued"}
# "Not closed" rather than IN (waiting, active): an IN list is expanded anew at every execution.
STATUS_QUERY = (select(Handoff.status)
                .where(Handoff.conversation_id == bindparam("conversation_id"), Handoff.status != "closed")
                .order_by(Handoff.id.desc()).limit(1))
# The token's hash comes with it: a web turn proves its conversation without a query of its own.
ARRIVAL_QUERY = select(conversations.KNOWN_QUERY.exists(), conversations.TOKEN_HASH_QUERY.scalar_subquery(),
                       STATUS_QUERY.scalar_subquery())
# Slots that say who the person is; staff see them only masked.
NAME_SLOTS = ("full_name", "appointment_name")
PHONE_SLOTS = ("phone", "appointment_phone", "callback_phone")


@dataclass(frozen=True)
class QueuePlace:
    """A handoff's id, its place in the queue (1 = next), the expected wait, and who is there to answer."""

    handoff_id: int
    position: int
    wait_minutes: int
    already_open: bool
    on_duty: int = 1
    desk_open: bool = True

    @property
    def busy(self) -> bool:
        """Staff are there, but the wait is too long to ask anyone to sit through it."""
        return self.on_duty > 0 and self.desk_open and self.wait_minutes > MAX_WAIT_MINUTES

    @property
    def staffed(self) -> bool:
        """A staff member should answer soon."""
        return self.on_duty > 0 and self.desk_open and not self.busy


@dataclass(frozen=True)
class HandoffView:
    """A handoff as the staff queue lists it."""

    id: int
    conversation_id: str
    channel: str
    service: str | None
    reason: str
    status: str
    created_at: dt.datetime
    staff_username: str | None = None
    accepted_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    resolution_note: str | None = None


@dataclass(frozen=True)
class TranscriptLine:
    """One message of the conversation as staff read it (masked)."""

    sender: str  # person, assistant, staff
    text: str
    at: dt.datetime | None


@dataclass(frozen=True)
class HandoffDetail:
    """What a staff member sees of one conversation: who (masked), the form's progress, what was said."""

    handoff: HandoffView
    person: dict[str, str]
    form: dict[str, Any] | None
    transcript: list[TranscriptLine] = field(default_factory=list)


# --- the person's side ----------------------------------------------------------------------------------------

def availability(now: dt.datetime | None = None) -> tuple[int, bool]:
    """How many staff are on duty, and whether the desk is open (it keeps the service centres' hours)."""
    now = now or utcnow()
    local = now.astimezone(appointments.city_timezone()).replace(tzinfo=None)
    return staff.on_duty_count(now), appointments.any_centre_open(local)


def request(conversation_id: str, channel: str, service: str | None, reason: str,
            context: dict[str, Any] | None = None, now: dt.datetime | None = None) -> QueuePlace:
    """Puts the conversation in the staff queue (once: an open handoff is reused); emergencies go first."""
    with unit_of_work() as session:
        handoff = session.scalars(
            select(Handoff).where(Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN_STATUSES))
        ).first()
        already_open = handoff is not None
        if handoff is None:
            # Each new handoff takes a staff member's time: one conversation may open only so many a day.
            get_limiter().hit("handoffs_per_conversation", conversation_id)
            handoff = Handoff(conversation_id=conversation_id, channel=channel, service=service, reason=reason,
                              status="waiting", context=context or {}, created_at=utcnow())
            session.add(handoff)
            session.flush()
        elif reason == "emergency" and handoff.reason != "emergency":
            handoff.reason = "emergency"
        position = _position(session, handoff)
    on_duty, desk_open = availability(now)
    wait = math.ceil(position * MINUTES_PER_PERSON / max(on_duty, 1))
    return QueuePlace(handoff.id, position, wait, already_open, on_duty, desk_open)


def _position(session: Session, handoff: Handoff) -> int:
    if handoff.status != "waiting":
        return 0
    emergency = Handoff.reason == "emergency"
    ahead = select(func.count()).select_from(Handoff).where(Handoff.status == "waiting", Handoff.id != handoff.id)
    if handoff.reason == "emergency":
        ahead = ahead.where(emergency, Handoff.id < handoff.id)
    else:
        ahead = ahead.where(emergency | (Handoff.id < handoff.id))
    return (session.scalar(ahead) or 0) + 1


def arrival(conversation_id: str) -> tuple[bool, str | None, str]:
    """Whether the conversation is recorded, its token's hash and its handoff status: one read, as each turn starts."""
    with get_engine().connect() as connection:
        known, token_hash, status = connection.execute(ARRIVAL_QUERY, {"conversation_id": conversation_id}).one()
    return bool(known), token_hash, status or "none"


def status_of(conversation_id: str) -> str:
    """'none', 'waiting' or 'active' for the conversation's newest handoff."""
    # Read twice in every turn: a plain connection costs a fraction of an ORM session here.
    with get_engine().connect() as connection:
        status = connection.scalar(STATUS_QUERY, {"conversation_id": conversation_id})
    return status or "none"


def add_person_message(conversation_id: str, text: str, message_id: str | None = None) -> None:
    """Keeps what the person says while a staff member serves them, for the staff console.

    With the client's message id, a retry of a message already kept adds nothing: the message never reaches
    the dialogue engine, whose record answers the retries of other turns (MessageIdReused for another text).
    """
    with unit_of_work() as session:
        if message_id and not chat_replies.claim(session, conversation_id, message_id, text):
            return
        handoff_id = session.scalar(
            select(Handoff.id).where(Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN_STATUSES))
            .order_by(Handoff.id.desc()).limit(1)
        )
        if handoff_id is not None:
            session.add(HandoffMessage(handoff_id=handoff_id, sender="person", text=text))


def withdraw(conversation_id: str, outcome: str) -> bool:
    """Takes a waiting person out of the queue (they chose an appointment or a call-back); True if they were in it."""
    with unit_of_work() as session:
        rows = session.scalars(select(Handoff).where(Handoff.conversation_id == conversation_id,
                                                     Handoff.status == "waiting")).all()
        for row in rows:
            row.status, row.closed_at = "closed", utcnow()
            row.context = {**(row.context or {}), "closed_by": outcome}
        return bool(rows)


def alternatives_message() -> tuple[str, list[dict[str, str]]]:
    """The offer of an appointment at a centre or a call-back, when no staff member can answer."""
    return texts.text("utter_handoff_no_answer"), texts.buttons("utter_handoff_no_answer")


def expire_unaccepted(now: dt.datetime | None = None) -> list[int]:
    """Turns handoffs nobody accepted in time into the offer of an appointment or a call-back; their ids."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=get_settings().handoff_accept_timeout_seconds)
    expired = []
    with unit_of_work() as session:
        candidates = session.execute(select(Handoff.id, Handoff.conversation_id).where(
            Handoff.status == "waiting", Handoff.created_at < cutoff)).all()
    for handoff_id, conversation_id in candidates:
        with unit_of_work() as session:
            # Conditional, so a staff member accepting at this very moment wins and nothing is sent twice.
            changed = session.execute(
                update(Handoff).where(Handoff.id == handoff_id, Handoff.status == "waiting")
                .values(status="closed", closed_at=now, context=_context_with(session, handoff_id, "timeout"))
            ).rowcount  # type: ignore[attr-defined]  # an UPDATE answers with a CursorResult
        if changed:
            message, buttons = alternatives_message()
            conversations.push(conversation_id, "assistant", message, buttons)
            expired.append(handoff_id)
    return expired


def _context_with(session: Session, handoff_id: int, closed_by: str) -> dict[str, Any]:
    context = session.scalar(select(Handoff.context).where(Handoff.id == handoff_id)) or {}
    return {**context, "closed_by": closed_by}


# --- the staff side -------------------------------------------------------------------------------------------

def queue(status: str = "waiting", staff_username: str | None = None, limit: int = 200) -> list[HandoffView]:
    """Handoffs with a status: waiting ones in serving order, the others newest first."""
    if status not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}", code="invalid_status")
    with unit_of_work() as session:
        query = select(Handoff).where(Handoff.status == status)
        if staff_username:
            query = query.where(Handoff.staff_username == staff_username)
        if status == "waiting":
            query = query.order_by(case((Handoff.reason == "emergency", 0), else_=1), Handoff.id)
        else:
            query = query.order_by(Handoff.id.desc())
        return [_view(r) for r in session.scalars(query.limit(limit)).all()]


def get(handoff_id: int) -> HandoffView:
    """One handoff; NotFound when there is none."""
    with unit_of_work() as session:
        row = session.get(Handoff, handoff_id)
        if row is None:
            raise NotFound(f"no handoff {handoff_id}")
        return _view(row)


def accept(handoff_id: int, staff_username: str) -> HandoffView:
    """A staff member takes a waiting person; the person is told so. Conflict when someone else was faster."""
    now = utcnow()
    with unit_of_work() as session:
        changed = session.execute(
            update(Handoff).where(Handoff.id == handoff_id, Handoff.status == "waiting")
            .values(status="active", staff_username=staff_username, accepted_at=now)
        ).rowcount  # type: ignore[attr-defined]  # an UPDATE answers with a CursorResult
        row = session.get(Handoff, handoff_id)
        if row is None:
            raise NotFound(f"no handoff {handoff_id}")
        if not changed:
            if row.status == "active" and row.staff_username == staff_username:
                return _view(row)
            raise Conflict(f"handoff {handoff_id} is already {row.status}", code=f"handoff_{row.status}")
        view = _view(row)
    conversations.push(view.conversation_id, "assistant", texts.text("utter_handoff_accepted"))
    return view


def can_read(identity: staff.StaffIdentity, view: HandoffView) -> bool:
    """Staff read only the conversations they handle; supervisors and admins read all of them."""
    return identity.is_supervisor or view.staff_username == identity.username


def _handled_by(handoff_id: int, identity: staff.StaffIdentity) -> HandoffView:
    view = get(handoff_id)
    if view.status != "active":
        raise Conflict(f"handoff {handoff_id} is {view.status}, not active", code=f"handoff_{view.status}")
    if view.staff_username != identity.username and not identity.is_supervisor:
        raise Forbidden("another staff member is serving this person")
    return view


def send_staff_message(handoff_id: int, identity: staff.StaffIdentity, message: str) -> conversations.PushedMessage:
    """A staff member's answer: kept with the handoff and delivered on the person's own channel."""
    view = _handled_by(handoff_id, identity)
    with unit_of_work() as session:
        session.add(HandoffMessage(handoff_id=handoff_id, sender="staff", text=message))
    pushed = conversations.push(view.conversation_id, "staff", message)
    if sms_notices.wanted(view.conversation_id):
        # By SMS too, should the person have hung up or left the kiosk before it reached them.
        sms_notices.staff_reply(handoff_id, view.conversation_id, pushed.id, message)
    return pushed


def close(handoff_id: int, identity: staff.StaffIdentity, resolution_note: str | None = None) -> HandoffView:
    """Ends the staff conversation: the assistant takes over again and asks the person for a rating."""
    view = _handled_by(handoff_id, identity)
    with unit_of_work() as session:
        changed = session.execute(
            update(Handoff).where(Handoff.id == handoff_id, Handoff.status == "active")
            .values(status="closed", closed_at=utcnow(), resolution_note=(resolution_note or None))
        ).rowcount  # type: ignore[attr-defined]  # an UPDATE answers with a CursorResult
        if not changed:
            raise Conflict(f"handoff {handoff_id} is no longer active", code="handoff_closed")
        row = session.get_one(Handoff, handoff_id)
        row.context = {**(row.context or {}), "closed_by": identity.username}
        view = _view(row)
    conversations.push(view.conversation_id, "assistant", texts.text("utter_handoff_closed"))
    question, buttons = feedback.rating_question(view.conversation_id, f"handoff:{handoff_id}")
    conversations.push(view.conversation_id, "assistant", question, buttons)
    return view


def detail(handoff_id: int, unmask: bool = False) -> HandoffDetail:
    """Who the person is, how far a form got, and what was said, for the staff console.

    Numbers, names and addresses are masked unless `unmask` (which the console audits).
    """
    view = get(handoff_id)
    events = tracker_events(view.conversation_id)
    held = Vault.of(view.conversation_id)
    show = held.reveal if unmask else held.masked
    person: dict[str, str] = {}
    form: dict[str, Any] | None = None
    filled: list[str] = []
    lines: list[TranscriptLine] = []
    for event in events:
        kind = event.get("event")
        at = _timestamp(event.get("timestamp"))
        if kind == "user" and event.get("text"):
            lines.append(TranscriptLine("person", _readable(event, show), at))
        elif kind == "bot" and event.get("text"):
            lines.append(TranscriptLine("assistant", show(event["text"]), at))
        elif kind == "slot" and event.get("value") not in (None, ""):
            name, value = str(event.get("name")), held.reveal(str(event.get("value")))
            if name in NAME_SLOTS:
                person["name"] = value if unmask else mask_name(value)
            elif name in PHONE_SLOTS:
                person["phone"] = value if unmask else mask_phone(value)
            if form and name not in ("requested_slot",) and name not in filled:
                filled.append(name)
            if form and name == "requested_slot":
                form["requested_slot"] = value
        elif kind == "active_loop":
            if event.get("name"):
                form, filled = {"name": event["name"], "requested_slot": None, "filled": []}, []
            elif form:
                form["finished"] = True
        if form is not None:
            form["filled"] = list(filled)
    with unit_of_work() as session:
        for message in session.scalars(select(HandoffMessage).where(HandoffMessage.handoff_id == handoff_id)
                                       .order_by(HandoffMessage.id)).all():
            lines.append(TranscriptLine(message.sender, show(message.text), _aware(message.created_at)))
    lines.sort(key=lambda line: line.at or dt.datetime.min.replace(tzinfo=dt.timezone.utc))
    return HandoffDetail(view, person, form, lines[-TRANSCRIPT_LIMIT:])


def _readable(event: dict[str, Any], show: Callable[[str], str] = redact_text) -> str:
    """A button press shows as the intent's words rather than its payload."""
    raw = event.get("text") or ""
    if raw.startswith("/"):
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or raw[1:]
        return f"[{intent}]"
    return show(raw)


def tracker_events(conversation_id: str) -> list[dict[str, Any]]:
    """The conversation's events from the dialogue engine's tracker table (empty when it has none yet)."""
    engine = get_engine()
    if not inspect(engine).has_table("events"):
        return []
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT data FROM events WHERE sender_id = :sender ORDER BY id"), {"sender": conversation_id}
        ).all()
    events = []
    for (data,) in rows:
        try:
            events.append(json.loads(data))
        except (TypeError, ValueError):
            continue
    return events


def _timestamp(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
    except (TypeError, ValueError, OverflowError):
        return None


@overload
def _aware(value: dt.datetime) -> dt.datetime: ...


@overload
def _aware(value: None) -> None: ...


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands timestamps back without a zone; every stored time is UTC.
    return value.replace(tzinfo=dt.timezone.utc) if value is not None and value.tzinfo is None else value


def _view(row: Handoff) -> HandoffView:
    return HandoffView(
        id=row.id, conversation_id=row.conversation_id, channel=row.channel, service=row.service,
        reason=row.reason, status=row.status, created_at=_aware(row.created_at),
        staff_username=row.staff_username, accepted_at=_aware(row.accepted_at), closed_at=_aware(row.closed_at),
        resolution_note=row.resolution_note,
    )
