"""Applications: a draft while a form is being filled in, then a submission with a reference and a status history.

Name, ID number, phone and address are stored only encrypted (bot.privacy's
FieldCipher); drafts are found again from another channel by the keyed
fingerprints of ID number and phone. A staff member's status change is pushed
to the conversation the person applied from.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import texts
from bot.db.models import Application, ApplicationStatusChange, utcnow
from bot.db.session import unit_of_work
from bot.errors import Conflict, InvalidRequest, NotFound
from bot.privacy import mask_id_number, mask_phone
from bot.services import audit, conversations, identity, people, sms_notices

PERSONAL_FIELDS = ("full_name", "id_number", "phone", "address")
DRAFT = "draft"
STATUSES = ("submitted", "under_review", "more_materials_needed", "approved", "rejected", "ready_for_collection")
# What a clerk may do next; rejected and collected applications are finished.
TRANSITIONS = {
    "submitted": {"under_review", "more_materials_needed", "approved", "rejected"},
    "under_review": {"more_materials_needed", "approved", "rejected"},
    "more_materials_needed": {"under_review", "approved", "rejected"},
    "approved": {"ready_for_collection"},
    "rejected": set(),
    "ready_for_collection": set(),
}


# ---- reference numbers -------------------------------------------------------------------------
# Nine digits read aloud in three groups, the last a Damm check digit: digits only, so a caller can
# read one over the phone or type it on a keypad, and every single wrong digit and every swap of
# two neighbouring digits is caught before a lookup is even tried.

_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2), (7, 0, 9, 2, 1, 5, 4, 8, 6, 3), (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6), (6, 1, 2, 3, 0, 4, 5, 9, 7, 8), (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4), (8, 9, 4, 5, 3, 6, 2, 0, 1, 7), (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)
REFERENCE_LENGTH = 9
_REFERENCE_IN_TEXT = re.compile(r"(?<!\d)(\d{3})[\s\-－—]?(\d{3})[\s\-－—]?(\d{3})(?!\d)")


def check_digit(digits: str) -> int:
    """The Damm check digit of a string of digits (0 for a string that ends in its right check digit)."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return interim


def new_reference() -> str:
    """A fresh random reference in canonical form: nine digits, no leading zero."""
    body = str(secrets.randbelow(9 * 10 ** (REFERENCE_LENGTH - 2)) + 10 ** (REFERENCE_LENGTH - 2))
    return body + str(check_digit(body))


def reference_is_valid(canonical: str) -> bool:
    """True for nine digits whose check digit is right."""
    return len(canonical) == REFERENCE_LENGTH and canonical.isdigit() and check_digit(canonical) == 0


def display_reference(canonical: str) -> str:
    """The grouped form told to people and reported in the chat state, e.g. 384-122-905."""
    return f"{canonical[:3]}-{canonical[3:6]}-{canonical[6:]}"


def find_reference(text: str) -> str | None:
    """The canonical reference written in a text ("384-122-905", "384 122 905", "384122905"), or None."""
    for match in _REFERENCE_IN_TEXT.finditer(text or ""):
        candidate = "".join(match.groups())
        if reference_is_valid(candidate):
            return candidate
    return None


# ---- shapes handed out ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Draft:
    """An application being filled in: the answers given so far, by slot name."""

    service_id: str
    conversation_id: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Summary:
    """What a person is told about one of their applications."""

    service_id: str
    status: str
    reference: str | None
    note: str | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class StaffView:
    """An application as the staff list shows it, personal fields masked."""

    reference: str
    service_id: str
    status: str
    status_note: str | None
    full_name: str
    id_number: str
    phone: str
    channel: str
    submitted_at: dt.datetime | None
    updated_at: dt.datetime
    details: dict[str, Any] = field(default_factory=dict)


# ---- storing values ----------------------------------------------------------------------------

def _store_values(row: Application, values: dict[str, Any]) -> None:
    cipher = people.cipher()
    for name in PERSONAL_FIELDS:
        if name in values:
            value = values[name]
            setattr(row, f"{name}_encrypted", cipher.encrypt(str(value)) if value else None)
    if "id_number" in values:
        row.id_fingerprint = cipher.fingerprint(values["id_number"]) if values["id_number"] else None
    if "phone" in values:
        row.phone_fingerprint = cipher.fingerprint(values["phone"]) if values["phone"] else None
    row.details = {k: v for k, v in values.items() if k not in PERSONAL_FIELDS}


def values_of(row: Application) -> dict[str, Any]:
    """The application's values, personal ones decrypted (for the clean-up of stored conversations)."""
    return _values_of(row)


def _values_of(row: Application) -> dict[str, Any]:
    cipher = people.cipher()
    values: dict[str, Any] = dict(row.details or {})
    for name in PERSONAL_FIELDS:
        encrypted = getattr(row, f"{name}_encrypted")
        values[name] = cipher.decrypt(encrypted) if encrypted else None
    return values


def _remember_conversation(row: Application, conversation_id: str) -> None:
    if conversation_id not in (row.conversation_ids or []):
        row.conversation_ids = [*(row.conversation_ids or []), conversation_id]


def _draft_row(session: Session, conversation_id: str, service_id: str) -> Application | None:
    return session.scalars(
        select(Application).where(Application.conversation_id == conversation_id,
                                  Application.service_id == service_id, Application.status == DRAFT)
        .order_by(Application.id.desc()).limit(1)
    ).first()


# ---- drafts ------------------------------------------------------------------------------------

def save_draft(conversation_id: str, channel: str, service_id: str, values: dict[str, Any],
               requested_slot: str | None = None) -> None:
    """Keeps the answers given so far, so the person can stop and come back (also on another channel).

    `requested_slot` is the field being asked for: where a draft is left, the analytics see where people give up.
    """
    with unit_of_work() as session:
        row = _draft_row(session, conversation_id, service_id)
        if row is None:
            row = Application(service_id=service_id, status=DRAFT, conversation_id=conversation_id, channel=channel,
                              conversation_ids=[])
            session.add(row)
        row.channel = channel
        _remember_conversation(row, conversation_id)
        _store_values(row, values)
        if requested_slot:
            row.requested_slot = requested_slot


def draft_for(conversation_id: str, service_id: str) -> Draft | None:
    """The conversation's unfinished application for a service, if any."""
    with unit_of_work() as session:
        row = _draft_row(session, conversation_id, service_id)
        return Draft(service_id, conversation_id, _values_of(row)) if row else None


def _draft_elsewhere_query(conversation_id: str, service_id: str, id_number: str, phone: str) -> Any:
    cipher = people.cipher()
    return select(Application).where(
        Application.service_id == service_id, Application.status == DRAFT,
        Application.conversation_id != conversation_id,
        Application.id_fingerprint == cipher.fingerprint(id_number),
        Application.phone_fingerprint == cipher.fingerprint(phone),
    ).order_by(Application.updated_at.desc()).limit(1)


def draft_elsewhere_exists(conversation_id: str, service_id: str, id_number: str, phone: str) -> bool:
    """Whether this ID number and phone left a draft of the service in another conversation (says nothing more)."""
    with unit_of_work() as session:
        return session.scalars(_draft_elsewhere_query(conversation_id, service_id, id_number, phone)).first() is not None


def resume_elsewhere(conversation_id: str, service_id: str, id_number: str, phone: str) -> Draft | None:
    """Moves a draft started in another conversation by the same person (same ID number and phone) here.

    Only for a conversation that has proved it holds that phone (or whose ID card staff checked):
    knowing the numbers is not enough. Answers given here win over the older ones; the older draft
    row is merged into this conversation's.
    """
    if not identity.proven_for(conversation_id, id_number, phone):
        return None
    with unit_of_work() as session:
        other = session.scalars(_draft_elsewhere_query(conversation_id, service_id, id_number, phone)).first()
        return _move_here(session, other, conversation_id, service_id) if other is not None else None


def resume_by_proven_phone(conversation_id: str, service_id: str) -> Draft | None:
    """Moves here the one draft of the service left elsewhere with a phone this conversation has proved it holds.

    Holding the phone on file is the proof (the caller's number on the phone line, a contact Telegram
    vouches for), so nothing need be typed first. Two drafts on the same phone (relatives sharing one)
    are left where they are: the form then asks, and the ID number tells them apart.
    """
    phones = identity.proven_phone_fingerprints(conversation_id)
    if not phones:
        return None
    with unit_of_work() as session:
        found = session.scalars(select(Application).where(
            Application.service_id == service_id, Application.status == DRAFT,
            Application.conversation_id != conversation_id, Application.phone_fingerprint.in_(phones),
        ).order_by(Application.updated_at.desc()).limit(2)).all()
        return _move_here(session, found[0], conversation_id, service_id) if len(found) == 1 else None


def _move_here(session: Session, other: Application, conversation_id: str, service_id: str) -> Draft:
    # Answers given here win over the older ones; this conversation's own draft row is merged into the older one.
    merged = _values_of(other)
    here = _draft_row(session, conversation_id, service_id)
    if here is not None:
        merged.update({k: v for k, v in _values_of(here).items() if v is not None})
        for earlier in here.conversation_ids or []:
            _remember_conversation(other, earlier)
        session.delete(here)
    other.conversation_id = conversation_id
    _remember_conversation(other, conversation_id)
    _store_values(other, merged)
    return Draft(service_id, conversation_id, merged)


# ---- submissions -------------------------------------------------------------------------------

def submit(conversation_id: str, channel: str, service_id: str, values: dict[str, Any],
           turn_key: str | None = None) -> str:
    """Turns the conversation's draft into a submission and returns its reference (canonical form).

    The same turn (`turn_key`: the person's message) run again, after a server died with it in hand, gets the
    reference of the submission it made the first time, not a second submission.
    """
    if turn_key and (earlier := _submitted_in_turn(conversation_id, turn_key)):
        return earlier
    try:
        reference = _submit(conversation_id, channel, service_id, values, turn_key)
    except IntegrityError:
        earlier = _submitted_in_turn(conversation_id, turn_key) if turn_key else None
        if earlier is None:
            raise
        return earlier  # the same turn running twice at once: the other one submitted
    _remember_person(conversation_id, values, reference)
    return reference


def _submitted_in_turn(conversation_id: str, turn_key: str) -> str | None:
    with unit_of_work() as session:
        return session.scalar(select(Application.reference).where(Application.conversation_id == conversation_id,
                                                                  Application.turn_key == turn_key))


def _submit(conversation_id: str, channel: str, service_id: str, values: dict[str, Any],
            turn_key: str | None) -> str:
    with unit_of_work() as session:
        row = _draft_row(session, conversation_id, service_id)
        if row is None:
            row = Application(service_id=service_id, conversation_id=conversation_id, channel=channel,
                              conversation_ids=[])
            session.add(row)
        row.reference = _unused_reference(session)
        row.status = "submitted"
        row.channel = channel
        row.submitted_at = utcnow()
        row.redacted_at = None
        row.turn_key = turn_key
        _remember_conversation(row, conversation_id)
        _store_values(row, values)
        session.flush()
        session.add(ApplicationStatusChange(application_id=row.id, status="submitted"))
        return str(row.reference)


def _remember_person(conversation_id: str, values: dict[str, Any], reference: str) -> None:
    """Files the submitted person's details (or audits why they were left as they were)."""
    personal = {k: values.get(k) for k in PERSONAL_FIELDS}
    id_number = personal.get("id_number")
    on_file = people.phone_on_file(id_number) if id_number else None
    may_update = on_file is None or (id_number is not None and identity.proven_for(conversation_id, id_number, on_file))
    if not people.remember(conversation_id, personal, may_update=may_update):
        # The application keeps what was submitted; staff reconcile it with the person on file.
        audit.record(identity.RESIDENT, "unverified_submission", f"application:{display_reference(reference)}",
                     "the person on file was left as it was")


def _unused_reference(session: Session) -> str:
    while True:
        reference = new_reference()
        if session.scalar(select(Application.id).where(Application.reference == reference)) is None:
            return reference


def _summary(row: Application) -> Summary:
    return Summary(row.service_id, row.status, row.reference, row.status_note, row.updated_at)


def for_conversation(conversation_id: str, service_id: str | None = None) -> list[Summary]:
    """The applications of the person in this conversation (theirs on any channel once identified), newest first."""
    person = people.person_id_for(conversation_id)
    fingerprint = people.id_fingerprint_of(person) if person is not None else None
    with unit_of_work() as session:
        mine = Application.conversation_id == conversation_id
        query = select(Application).where(mine if fingerprint is None
                                          else (mine | ((Application.id_fingerprint == fingerprint)
                                                        & (Application.status != DRAFT))))
        if service_id:
            query = query.where(Application.service_id == service_id)
        rows = session.scalars(query.order_by(Application.updated_at.desc())).all()
        return [_summary(r) for r in rows]


def identify(conversation_id: str, phone: str, *, reference: str | None = None,
             id_number: str | None = None) -> list[Summary]:
    """Finds submitted applications by reference + phone (the status only) or, for a conversation that proved
    it holds the phone, by ID number + phone (the person's applications, and the conversation is linked to them).
    """
    cipher = people.cipher()
    if reference:
        with unit_of_work() as session:
            row = session.scalars(select(Application).where(
                Application.status != DRAFT, Application.reference == reference,
                Application.phone_fingerprint == cipher.fingerprint(phone))).first()
            # A reference answers with its status only: no names, no staff notes, no link to the person.
            return [Summary(row.service_id, row.status, row.reference, None, row.updated_at)] if row else []
    if not id_number or not identity.proven_for(conversation_id, id_number, phone):
        return []
    with unit_of_work() as session:
        query = select(Application).where(Application.status != DRAFT,
                                          Application.phone_fingerprint == cipher.fingerprint(phone),
                                          Application.id_fingerprint == cipher.fingerprint(id_number))
        rows = session.scalars(query.order_by(Application.updated_at.desc())).all()
        found = [_summary(r) for r in rows]
        newest = _values_of(rows[0]) if rows else None
    if newest and newest.get("id_number"):
        people.remember(conversation_id, {k: newest.get(k) for k in PERSONAL_FIELDS})
    return found


def proven_lookup(conversation_id: str, id_fingerprint: str, phone_fingerprint: str) -> list[Summary]:
    """The person's submitted applications, for a conversation that has just proved it holds the phone on them."""
    if not identity.holds_fingerprint(conversation_id, phone_fingerprint):
        return []
    with unit_of_work() as session:
        rows = session.scalars(select(Application).where(
            Application.status != DRAFT, Application.id_fingerprint == id_fingerprint,
            Application.phone_fingerprint == phone_fingerprint).order_by(Application.updated_at.desc())).all()
        return [_summary(r) for r in rows]


def change_status(reference: str, status: str, note: str | None, staff_username: str | None) -> StaffView:
    """A staff member moves an application on; the person is told on the channel they applied from."""
    if status not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}", code="invalid_status")
    canonical = find_reference(reference) or reference
    with unit_of_work() as session:
        row = session.scalars(select(Application).where(Application.reference == canonical)).first()
        if row is None:
            raise NotFound(f"no application with reference {reference}")
        if status not in TRANSITIONS[row.status]:
            raise Conflict(f"an application that is {row.status} cannot become {status}", code="invalid_transition")
        row.status = status
        row.status_note = note or None
        change = ApplicationStatusChange(application_id=row.id, status=status, note=note or None,
                                         changed_by=staff_username)
        session.add(change)
        session.flush()
        view = _staff_view(row)
        conversation_id, change_id = row.conversation_id, change.id
        phone = people.cipher().decrypt(row.phone_encrypted) if row.phone_encrypted else None
    conversations.push(conversation_id, "assistant", status_change_text(view.service_id, canonical, status, note))
    if sms_notices.wanted(conversation_id):
        sms_notices.status_change(change_id, conversation_id, phone, _service_name(view.service_id),
                                  display_reference(canonical), status_text(status))
    return view


def status_text(status: str) -> str:
    """A status in plain words."""
    return texts.text(f"utter_application_status_{status}")


def status_change_text(service_id: str, reference: str, status: str, note: str | None) -> str:
    """What the person is told when their application moves on."""
    note_text = texts.text("utter_application_status_note", note=note) if note else ""
    return texts.text("utter_application_status_changed", name=_service_name(service_id),
                      reference=display_reference(reference), status=status_text(status), note=note_text)


def _service_name(service_id: str) -> str:
    from bot.knowledge.catalogue import get_catalogue

    service = get_catalogue().services.get(service_id)
    return service.short_name if service else service_id


def _mask_name(name: str | None) -> str:
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1) if len(name) <= 2 else name[0] + "*" * (len(name) - 2) + name[-1]


def _staff_view(row: Application) -> StaffView:
    values = _values_of(row)
    return StaffView(
        reference=display_reference(row.reference or ""), service_id=row.service_id, status=row.status,
        status_note=row.status_note, full_name=_mask_name(values.get("full_name")),
        id_number=mask_id_number(values["id_number"]) if values.get("id_number") else "",
        phone=mask_phone(values["phone"]) if values.get("phone") else "", channel=row.channel,
        submitted_at=row.submitted_at, updated_at=row.updated_at, details=dict(row.details or {}),
    )


def staff_list(status: str | None = None, limit: int = 200) -> list[StaffView]:
    """Submitted applications for the staff console, newest first, personal fields masked."""
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}", code="invalid_status")
    with unit_of_work() as session:
        query = select(Application).where(Application.status != DRAFT)
        if status:
            query = query.where(Application.status == status)
        rows = session.scalars(query.order_by(Application.submitted_at.desc()).limit(limit)).all()
        return [_staff_view(r) for r in rows]


# ---- privacy after submission ------------------------------------------------------------------

@dataclass(frozen=True)
class RedactionJob:
    """A submitted application whose conversations still hold its personal values in plain text."""

    application_id: int
    conversation_ids: tuple[str, ...]
    values: dict[str, Any]


def awaiting_redaction(conversation_id: str) -> list[RedactionJob]:
    """Applications submitted from this conversation whose stored conversations are not yet redacted."""
    with unit_of_work() as session:
        rows = session.scalars(
            select(Application).where(Application.conversation_id == conversation_id,
                                      Application.status != DRAFT, Application.redacted_at.is_(None))
        ).all()
        return [RedactionJob(r.id, tuple(r.conversation_ids or [conversation_id]),
                             {k: v for k, v in _values_of(r).items() if k in PERSONAL_FIELDS and v}) for r in rows]


def mark_redacted(application_id: int) -> None:
    """Records that the application's conversations no longer hold its personal values."""
    with unit_of_work() as session:
        row = session.get(Application, application_id)
        if row is not None:
            row.redacted_at = utcnow()
