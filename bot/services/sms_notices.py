"""Text messages for residents no channel can push to: reminders, status changes, staff replies.

A resident who came by phone or at the kiosk (SMS_NOTIFY_CHANNELS) cannot be reached once the call or the
session is over. Each event that would push a message to such a conversation also files a notice here,
once per event (the `event` key is unique, so a restart or a second replica files nothing twice). The
supervisor sends the waiting ones (`bot/notify/sms_outbox.py`), retrying with back-off; after
SMS_MAX_ATTEMPTS a notice is `failed` and staff see it in the console. A staff reply waits
SMS_STAFF_REPLY_GRACE_SECONDS first: if the person reads it meanwhile (the kiosk page or the call picks it
up), no text goes out. A number that answered with the opt-out word gets no more notices.

A resident on a channel that can push (web chat, Telegram, WeChat) may ask for texts too, once a booking or
an application left a mobile number. Anyone can type anyone's number into a booking, so the number must
first be shown to be theirs, as identity proofs are (bot/services/identity.py): a one-time code sent to it
and typed back in the conversation, or a number the conversation proved already (a Telegram contact, an
earlier code). The opt-in is then itself a notice (kind `opt_in`, one per conversation), a text that confirms
it and names the opt-out word, so the number learns at once who will write to it. From then on the
conversation is told by SMS like a kiosk resident, always at the number it confirmed, whatever number a
later booking or application gives.

The number is kept encrypted, looked up by its keyed fingerprint, and never written to a log.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from bot import texts
from bot.db.models import (Application, Appointment, Person, PersonConversation, SmsNotice, SmsOptOut, VaultEntry,
                           utcnow)
from bot.db.session import unit_of_work
from bot.privacy import mask_phone, redact_text
from bot.notify.sms import SmsSender, SmsUnavailable
from bot.services import conversations, identity, people
from bot.settings import get_settings
from bot.validators import parse_mobile

log = logging.getLogger(__name__)

WAITING, SENT, FAILED, OPTED_OUT, NOT_NEEDED = "waiting", "sent", "failed", "opted_out", "not_needed"
OPT_IN = "opt_in"
# The purpose of the one-time code that confirms the number texts will go to.
CODE_PURPOSE = "sms_opt_in"
# Where the gateway puts that code, typed back, in the message metadata for the opt-in action.
CODE_METADATA = "sms_code"
STATUSES = (WAITING, SENT, FAILED, OPTED_OUT, NOT_NEEDED)
# What a resident texts back to stop notifications (carriers' convention: TD, T, 退订).
OPT_OUT_WORDS = frozenset({"TD", "T", "退订", "退定", "取消订阅"})
LEASE = dt.timedelta(seconds=60)
MAX_BACKOFF = dt.timedelta(hours=1)
# A staff reply in a text message is cut here, so the text stays a few parts long at most.
REPLY_CHARS = 120


@dataclass(frozen=True)
class DueNotice:
    """A notice to send now, with its number in clear (for the sender only, never for a log)."""

    id: int
    phone: str
    text: str
    attempts: int


@dataclass(frozen=True)
class NoticeView:
    """A notice as staff see it: the number masked, the text as sent."""

    id: int
    kind: str
    conversation_id: str
    reference: str | None
    phone: str
    text: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    sent_at: dt.datetime | None


def hotline() -> str:
    """The city hotline, which every text names."""
    from bot.knowledge.catalogue import get_catalogue

    return get_catalogue().city.hotline


def _mobile(value: str | None) -> str | None:
    if not value:
        return None
    parsed = parse_mobile(value)
    return parsed.value if parsed.ok else None  # type: ignore[union-attr]  # Valid when ok


def phone_of(conversation_id: str) -> str | None:
    """The mobile number the conversation's resident gave or called from, or None when there is none."""
    cipher = people.cipher()
    with unit_of_work() as session:
        person = session.scalar(select(Person).join(PersonConversation, PersonConversation.person_id == Person.id)
                                .where(PersonConversation.conversation_id == conversation_id))
        found: list[str | None] = [person.phone_encrypted if person else None]
        found += session.scalars(select(Appointment.phone_encrypted).where(
            Appointment.conversation_id == conversation_id).order_by(Appointment.id.desc())).all()
        found += session.scalars(select(Application.phone_encrypted).where(
            Application.conversation_id == conversation_id).order_by(Application.id.desc())).all()
        for encrypted in found:
            if encrypted and (phone := _mobile(cipher.decrypt(encrypted))):
                return phone
        # A number said in the conversation (the phone line holds the caller's own number here too).
        held = session.scalars(select(VaultEntry.value).where(
            VaultEntry.conversation_id == conversation_id, VaultEntry.kind == "phone")
            .order_by(VaultEntry.id.desc())).all()
    return next((phone for value in held if (phone := _mobile(value))), None)


def by_channel(conversation_id: str) -> bool:
    """Whether the conversation's channel cannot push, so its resident is told by SMS without asking."""
    return conversations.channel_of(conversation_id) in get_settings().sms_notify_channels


def opted_in(conversation_id: str) -> bool:
    """Whether the conversation's resident asked for texts."""
    with unit_of_work() as session:
        return session.scalar(select(SmsNotice.id).where(SmsNotice.conversation_id == conversation_id,
                                                         SmsNotice.kind == OPT_IN)) is not None


def opted_in_phone(conversation_id: str) -> str | None:
    """The number the conversation's resident confirmed for texts, or None when they did not ask for texts."""
    with unit_of_work() as session:
        encrypted = session.scalar(select(SmsNotice.phone_encrypted).where(
            SmsNotice.conversation_id == conversation_id, SmsNotice.kind == OPT_IN))
    return people.cipher().decrypt(encrypted) if encrypted else None


def wanted(conversation_id: str) -> bool:
    """Whether the conversation's resident is told by SMS: their channel cannot push, or they asked for it."""
    return by_channel(conversation_id) or opted_in(conversation_id)


def offer_to(conversation_id: str) -> str | None:
    """The masked number texts could go to, when the conversation may be offered them (not yet getting any)."""
    if wanted(conversation_id) or (phone := phone_of(conversation_id)) is None or opted_out(phone):
        return None
    return mask_phone(phone)


@dataclass(frozen=True)
class OptIn:
    """How asking for texts went: `outcome` is on, already_on, by_channel, no_phone or opted_out; or, for a
    number not yet shown to be the resident's, code_sent, no_sms (no code can be sent) or paused (too many
    wrong codes)."""

    outcome: str
    phone: str | None = None  # masked


def opt_in(conversation_id: str, sender: SmsSender | None = None) -> OptIn:
    """Texts from now on to the number the conversation booked or applied with, once it has shown the number is
    its own, confirmed by a first text; until then a one-time code goes to the number.

    A number that answered with the opt-out word stays out: only the resident's own text can undo that.
    """
    if by_channel(conversation_id):
        return OptIn("by_channel")
    confirmed = opted_in_phone(conversation_id)
    phone = confirmed or phone_of(conversation_id)
    if phone is None:
        return OptIn("no_phone")
    if opted_out(phone):
        return OptIn("opted_out", mask_phone(phone))
    if confirmed:
        return OptIn("already_on", mask_phone(phone))
    if not identity.holds_phone(conversation_id, phone):
        try:
            identity.send_code(conversation_id, phone, CODE_PURPOSE, sender)
        except identity.LookupsPaused:
            return OptIn("paused", mask_phone(phone))
        except SmsUnavailable:
            return OptIn("no_sms", mask_phone(phone))
        return OptIn("code_sent", mask_phone(phone))
    text = texts.text("utter_sms_opted_in", hotline=hotline())
    filed = _file(conversation_id, OPT_IN, f"{OPT_IN}:{conversation_id}", text, phone)
    return OptIn("on" if filed else "already_on", mask_phone(phone))


def opted_out(phone: str) -> bool:
    """Whether this number answered with the opt-out word."""
    with unit_of_work() as session:
        return session.scalar(select(SmsOptOut.phone_fingerprint).where(
            SmsOptOut.phone_fingerprint.in_(people.cipher().lookup_fingerprints(phone)))) is not None


def file(conversation_id: str, kind: str, event: str, text: str, *, reference: str | None = None,
         phone: str | None = None, delay: dt.timedelta = dt.timedelta(0), outbox_id: int | None = None) -> bool:
    """Files one notice for an event unless it is filed already; True when a new one will go out.

    A resident who asked for texts gets them at the number they confirmed, never at another one a form was given.
    """
    if by_channel(conversation_id):
        phone = _mobile(phone) or phone_of(conversation_id)
    elif (phone := opted_in_phone(conversation_id)) is None:
        return False
    if phone is None:
        log.info("no SMS for %s of %s: the conversation left no mobile number", kind, conversation_id)
        return False
    return _file(conversation_id, kind, event, text, phone, reference=reference, delay=delay, outbox_id=outbox_id)


def _file(conversation_id: str, kind: str, event: str, text: str, phone: str, *, reference: str | None = None,
          delay: dt.timedelta = dt.timedelta(0), outbox_id: int | None = None) -> bool:
    cipher = people.cipher()
    status = OPTED_OUT if opted_out(phone) else WAITING
    try:
        with unit_of_work() as session:
            session.add(SmsNotice(event=event, conversation_id=conversation_id, kind=kind, reference=reference,
                                  phone_encrypted=cipher.encrypt(phone), phone_fingerprint=cipher.fingerprint(phone),
                                  text=text, status=status, next_attempt_at=utcnow() + delay, outbox_id=outbox_id))
    except IntegrityError:
        return False  # this event has its notice already
    return status == WAITING


def appointment_reminder(appointment_id: int, when: str, centre: str, service: str, reference: str) -> bool:
    """The reminder of one appointment by SMS, to the number it was booked with."""
    with unit_of_work() as session:
        row = session.get(Appointment, appointment_id)
        if row is None:
            return False
        conversation_id, phone = row.conversation_id, people.cipher().decrypt(row.phone_encrypted)
    text = texts.text("utter_sms_appointment_reminder", when=when, centre=centre, service=service,
                      reference=reference, hotline=hotline())
    return file(conversation_id, "reminder", f"reminder:{appointment_id}", text, reference=reference, phone=phone)


def status_change(change_id: int, conversation_id: str, phone: str | None, name: str, reference: str,
                  status: str) -> bool:
    """A status change of an application by SMS (no staff note: it may hold what a text should not)."""
    text = texts.text("utter_sms_application_status", name=name, reference=reference, status=status,
                      hotline=hotline())
    return file(conversation_id, "status", f"status:{change_id}", text, reference=reference, phone=phone)


def staff_reply(handoff_id: int, conversation_id: str, outbox_id: int, reply: str) -> bool:
    """A staff reply by SMS, unless the person reads it within the grace period or one is waiting already."""
    with unit_of_work() as session:
        if session.scalar(select(SmsNotice.id).where(SmsNotice.conversation_id == conversation_id,
                                                     SmsNotice.kind == "staff_reply", SmsNotice.status == WAITING)):
            return False  # one text tells of the replies not read yet
    shown = " ".join(redact_text(reply).split())
    if len(shown) > REPLY_CHARS:
        shown = shown[:REPLY_CHARS] + "……"
    text = texts.text("utter_sms_staff_reply", reply=shown, hotline=hotline())
    grace = dt.timedelta(seconds=get_settings().sms_staff_reply_grace_seconds)
    return file(conversation_id, "staff_reply", f"staff_reply:{outbox_id}", text, reference=f"handoff:{handoff_id}",
                delay=grace, outbox_id=outbox_id)


def read_up_to(conversation_id: str, message_id: int) -> int:
    """The person has the conversation's pushed messages up to `message_id`: their staff-reply texts are not needed."""
    with unit_of_work() as session:
        return session.execute(update(SmsNotice).where(
            SmsNotice.conversation_id == conversation_id, SmsNotice.kind == "staff_reply",
            SmsNotice.status == WAITING, SmsNotice.outbox_id <= message_id,
        ).values(status=NOT_NEEDED)).rowcount  # type: ignore[attr-defined]  # an UPDATE answers with a CursorResult


# ---- sending (the supervisor's SMS worker) -------------------------------------------------------------

def claim_due(owner: str, limit: int = 20, now: dt.datetime | None = None) -> list[DueNotice]:
    """Takes a short lease on waiting notices whose time has come; those another worker holds are left alone."""
    now = now or utcnow()
    with unit_of_work() as session:
        ids = session.scalars(select(SmsNotice.id).where(
            SmsNotice.status == WAITING, SmsNotice.next_attempt_at <= now,
            or_(SmsNotice.lease_owner.is_(None), SmsNotice.lease_until < now),
        ).order_by(SmsNotice.next_attempt_at).limit(limit)).all()
    cipher = people.cipher()
    due = []
    for notice_id in ids:
        with unit_of_work() as session:
            taken = session.execute(update(SmsNotice).where(
                SmsNotice.id == notice_id, SmsNotice.status == WAITING,
                or_(SmsNotice.lease_owner.is_(None), SmsNotice.lease_until < now),
            ).values(lease_owner=owner, lease_until=now + LEASE)).rowcount  # type: ignore[attr-defined]
            if taken:
                row = session.get_one(SmsNotice, notice_id)
                due.append(DueNotice(row.id, cipher.decrypt(row.phone_encrypted), row.text, row.attempts))
    return due


def mark_sent(notice_id: int, owner: str) -> None:
    """The SMSC took the message."""
    with unit_of_work() as session:
        session.execute(update(SmsNotice).where(SmsNotice.id == notice_id, SmsNotice.lease_owner == owner).values(
            status=SENT, sent_at=utcnow(), attempts=SmsNotice.attempts + 1, last_error=None,
            lease_owner=None, lease_until=None))


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after `attempts` failed tries: 30 s, doubling, at most an hour."""
    return min(MAX_BACKOFF, dt.timedelta(seconds=30 * 2 ** max(0, attempts - 1)))


def mark_failed(notice_id: int, owner: str, error: str, now: dt.datetime | None = None) -> str:
    """A try failed: the notice waits (back-off) or, with its attempts used up, is failed; returns its status."""
    now = now or utcnow()
    with unit_of_work() as session:
        row = session.get(SmsNotice, notice_id)
        if row is None or row.lease_owner != owner:
            return row.status if row else FAILED
        row.attempts += 1
        row.last_error = error[:300]
        row.lease_owner, row.lease_until = None, None
        if row.attempts >= get_settings().sms_max_attempts:
            row.status = FAILED
            log.error("SMS notice %s failed after %d attempts: %s", notice_id, row.attempts, row.last_error)
        else:
            row.next_attempt_at = now + backoff(row.attempts)
        return row.status


def opt_out(phone: str, word: str) -> bool:
    """Records that a number opted out, and holds back its waiting notices; False when it had already."""
    cipher = people.cipher()
    fingerprints = cipher.lookup_fingerprints(phone)
    with unit_of_work() as session:
        session.execute(update(SmsNotice).where(SmsNotice.phone_fingerprint.in_(fingerprints),
                                                SmsNotice.status == WAITING).values(status=OPTED_OUT))
        if session.scalar(select(SmsOptOut.phone_fingerprint).where(SmsOptOut.phone_fingerprint.in_(fingerprints))):
            return False
    try:
        with unit_of_work() as session:
            session.add(SmsOptOut(phone_fingerprint=cipher.fingerprint(phone), phone_encrypted=cipher.encrypt(phone),
                                  word=word[:16]))
    except IntegrityError:
        return False
    log.info("%s opted out of SMS notifications", mask_phone(phone))
    return True


def opt_out_word(text: str) -> str | None:
    """The opt-out word a reply is, if it is one ("td", " 退订。" count; a sentence that mentions it does not)."""
    word = re.sub(r"[\s\W_]+", "", text or "").upper()
    return word if word in OPT_OUT_WORDS else None


def opted_out_text() -> str:
    """The confirmation a number gets once after opting out."""
    return texts.text("utter_sms_opted_out", hotline=hotline())


# ---- what staff see ------------------------------------------------------------------------------------

def staff_list(status: str | None = None, limit: int = 200) -> list[NoticeView]:
    """Notices for the console, newest first; without a status, those that need an eye (waiting, failed)."""
    cipher = people.cipher()
    with unit_of_work() as session:
        query = select(SmsNotice)
        query = query.where(SmsNotice.status == status) if status else query.where(
            SmsNotice.status.in_((WAITING, FAILED)))
        rows = session.scalars(query.order_by(SmsNotice.id.desc()).limit(limit)).all()
        return [NoticeView(r.id, r.kind, r.conversation_id, r.reference, mask_phone(cipher.decrypt(r.phone_encrypted)),
                           r.text, r.status, r.attempts, r.last_error,
                           r.next_attempt_at if r.status == WAITING else None, r.created_at, r.sent_at) for r in rows]


def retry(notice_id: int) -> bool:
    """A staff member sends a failed notice again now (its attempts and error start over); False unless it had failed."""
    with unit_of_work() as session:
        return bool(session.execute(update(SmsNotice).where(SmsNotice.id == notice_id, SmsNotice.status == FAILED)
                                    .values(status=WAITING, attempts=0, last_error=None, next_attempt_at=utcnow()))
                    .rowcount)  # type: ignore[attr-defined]  # an UPDATE answers with a CursorResult
