"""Identity by possession, never by knowledge: what a conversation has proved about whose it is.

An ID number and a phone number are known to relatives, employers and
fraudsters, so typing them proves nothing. A conversation proves it belongs to
a person by holding the phone on file: a one-time code sent to it by SMS, the
caller's own number on the phone line, or a number Telegram vouches for; or a
staff member at the kiosk checked the person's ID card. Until then a resident
hears only that an unfinished application exists and how to continue it.
Only keyed fingerprints of the numbers are stored, never the numbers.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update

from bot import texts
from bot.db.models import IdentityProof, OneTimeCode, utcnow
from bot.db.session import unit_of_work
from bot.errors import BianminError
from bot.notify.sms import SmsSender, sms_sender
from bot.services import audit, guessing, people
from bot.settings import get_settings

CODE_DIGITS = 6
CODE_MINUTES = 5
CODE_TRIES = 5
METHODS = ("sms_code", "caller_id", "telegram_contact", "staff_id_check")
# Who the audit log names when a resident, not a staff member, did something.
RESIDENT = "resident"


class LookupsPaused(BianminError):
    """Too many failed codes or lookups for this conversation or ID number: a pause, with a person offered."""

    code = "lookups_paused"
    status = 429


@dataclass(frozen=True)
class CodeSent:
    """A code is on its way (or a recent one still is: resending is throttled)."""

    phone_tail: str
    throttled: bool = False


@dataclass(frozen=True)
class CodeChecked:
    """The outcome of a typed code: `proven` with its purpose, or how many tries are left (0: start again)."""

    proven: bool
    purpose: str | None = None
    tries_left: int = 0
    phone_fingerprint: str | None = None
    paused: bool = False  # too many failures: no more tries for a while


@functools.lru_cache(maxsize=1)
def _default_sender() -> SmsSender:
    return sms_sender(get_settings())


def fingerprint(value: str) -> str:
    """The keyed fingerprint of a number, as proofs and purposes store it."""
    return _fingerprint(value)


def _fingerprint(value: str) -> str:
    return people.cipher().fingerprint(value)


def _code_hash(conversation_id: str, code: str) -> str:
    # Keyed and bound to the conversation: a leaked table gives neither the codes nor a code for another conversation.
    return _fingerprint(f"one-time-code:{conversation_id}:{code}")


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def mainland_mobile(number: str) -> str | None:
    """The 11-digit mainland mobile in a number as a channel gives it (+86 138…, 86138…), or None."""
    digits = "".join(c for c in (number or "") if c.isdigit())
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if len(digits) == 11 and digits.startswith("1") else None


# ---- proofs --------------------------------------------------------------------------------------------------

def record_proof(conversation_id: str, method: str, *, phone: str | None = None, id_number: str | None = None,
                 staff_username: str | None = None) -> None:
    """Notes that the conversation holds `phone` (or that staff checked the card of `id_number`); audited."""
    if method not in METHODS or not (phone or id_number):
        raise ValueError(f"a proof needs a known method and a number, got {method!r}")
    kind, value = ("phone", phone) if phone else ("id_number", id_number)
    with unit_of_work() as session:
        session.add(IdentityProof(conversation_id=conversation_id, kind=kind, fingerprint=_fingerprint(str(value)),
                                  method=method, proven_by=staff_username))
    audit.record(staff_username or RESIDENT, "identity_proven", f"conversation:{conversation_id}", method)


def holds_phone(conversation_id: str, phone: str) -> bool:
    """Whether the conversation has proved it holds this phone."""
    return _proven(conversation_id, "phone", phone)


def id_checked(conversation_id: str, id_number: str) -> bool:
    """Whether a staff member checked the ID card of this number in the conversation."""
    return _proven(conversation_id, "id_number", id_number)


def proven_for(conversation_id: str, id_number: str, phone_on_file: str | None) -> bool:
    """Whether the conversation may act as the person with this ID number and phone on file."""
    return id_checked(conversation_id, id_number) or (phone_on_file is not None
                                                     and holds_phone(conversation_id, phone_on_file))


def proven_phone_fingerprints(conversation_id: str) -> list[str]:
    """The keyed fingerprints of every phone the conversation has proved it holds."""
    with unit_of_work() as session:
        return list(session.scalars(select(IdentityProof.fingerprint).distinct().where(
            IdentityProof.conversation_id == conversation_id, IdentityProof.kind == "phone")))


def holds_fingerprint(conversation_id: str, phone_fingerprint: str) -> bool:
    """Whether the conversation has proved it holds the phone with this fingerprint."""
    with unit_of_work() as session:
        return session.scalar(select(IdentityProof.id).where(
            IdentityProof.conversation_id == conversation_id, IdentityProof.kind == "phone",
            IdentityProof.fingerprint == phone_fingerprint).limit(1)) is not None


def _proven(conversation_id: str, kind: str, value: str) -> bool:
    with unit_of_work() as session:
        return session.scalar(select(IdentityProof.id).where(
            IdentityProof.conversation_id == conversation_id, IdentityProof.kind == kind,
            IdentityProof.fingerprint == _fingerprint(value)).limit(1)) is not None


# ---- one-time codes ------------------------------------------------------------------------------------------

def send_code(conversation_id: str, phone: str, purpose: str, sender: SmsSender | None = None,
              now: dt.datetime | None = None, id_number: str | None = None) -> CodeSent:
    """Sends a fresh 6-digit code to `phone` for this conversation; a recent one is not sent again.

    Raises SmsUnavailable when no text message can be sent (the caller offers the other ways),
    LookupsPaused after too many failures of this conversation or ID number.
    """
    now = now or utcnow()
    id_fingerprint = _fingerprint(id_number) if id_number else None
    if guessing.paused(guessing.keys(conversation_id, id_fingerprint), now):
        audit.record(RESIDENT, "identity_code_refused", f"conversation:{conversation_id}", "paused: too many failures")
        raise LookupsPaused("too many failed codes or lookups; try again later")
    resend_after = dt.timedelta(seconds=get_settings().sms_resend_seconds)
    with unit_of_work() as session:
        pending = session.get(OneTimeCode, conversation_id)
        if pending is not None and _aware(pending.sent_at) + resend_after > now \
                and pending.phone_fingerprint == _fingerprint(phone):
            return CodeSent(phone[-4:], throttled=True)
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    (sender or _default_sender()).send(phone, texts.text("utter_sms_one_time_code", code=code, minutes=CODE_MINUTES))
    with unit_of_work() as session:
        session.execute(delete(OneTimeCode).where(OneTimeCode.conversation_id == conversation_id))
        session.add(OneTimeCode(conversation_id=conversation_id, phone_fingerprint=_fingerprint(phone),
                                code_hash=_code_hash(conversation_id, code), purpose=purpose,
                                id_fingerprint=id_fingerprint, tries_left=CODE_TRIES,
                                expires_at=now + dt.timedelta(minutes=CODE_MINUTES), sent_at=now))
    return CodeSent(phone[-4:])


def code_pending(conversation_id: str, now: dt.datetime | None = None) -> str | None:
    """The purpose of the code this conversation is waiting for, or None."""
    with unit_of_work() as session:
        pending = session.get(OneTimeCode, conversation_id)
        if pending is None or _aware(pending.expires_at) <= (now or utcnow()) or pending.tries_left <= 0:
            return None
        return pending.purpose


def forget_code(conversation_id: str) -> None:
    """Drops a pending code that is no longer needed (the phone was proven another way)."""
    with unit_of_work() as session:
        session.execute(delete(OneTimeCode).where(OneTimeCode.conversation_id == conversation_id))


def looks_like_code(text: str) -> bool:
    """Whether a message is just a code (6 digits, spaces allowed)."""
    digits = "".join(text.split())
    return len(digits) == CODE_DIGITS and digits.isascii() and digits.isdigit()


def check_code(conversation_id: str, code: str, now: dt.datetime | None = None) -> CodeChecked:
    """Checks a typed code; each try is counted atomically, so parallel guesses share the 5 tries."""
    now = now or utcnow()
    code = "".join(code.split())
    if guessing.paused(guessing.keys(conversation_id), now):
        audit.record(RESIDENT, "identity_code_refused", f"conversation:{conversation_id}", "paused: too many failures")
        return CodeChecked(False, paused=True)
    with unit_of_work() as session:
        # One statement takes a try: two guesses at once can never both see the same count.
        taken = session.execute(
            update(OneTimeCode)
            .where(OneTimeCode.conversation_id == conversation_id, OneTimeCode.tries_left > 0,
                   OneTimeCode.expires_at > now)
            .values(tries_left=OneTimeCode.tries_left - 1)
            .returning(OneTimeCode.code_hash, OneTimeCode.purpose, OneTimeCode.phone_fingerprint,
                       OneTimeCode.tries_left, OneTimeCode.id_fingerprint)
        ).first()
        if taken is None:
            return CodeChecked(False)
        code_hash, purpose, phone_fingerprint, tries_left, id_fingerprint = taken
        if not secrets.compare_digest(code_hash, _code_hash(conversation_id, code)):
            if tries_left <= 0:
                session.execute(delete(OneTimeCode).where(OneTimeCode.conversation_id == conversation_id))
            refused = CodeChecked(False, purpose, tries_left)
        else:
            session.execute(delete(OneTimeCode).where(OneTimeCode.conversation_id == conversation_id))
            session.add(IdentityProof(conversation_id=conversation_id, kind="phone", fingerprint=phone_fingerprint,
                                      method="sms_code"))
            refused = None
    if refused is not None:
        audit.record(RESIDENT, "identity_code_refused", f"conversation:{conversation_id}",
                     f"{refused.tries_left} tries left")
        if guessing.count_failure(guessing.keys(conversation_id, id_fingerprint), now):
            return CodeChecked(False, purpose, 0, paused=True)
        return refused
    audit.record(RESIDENT, "identity_proven", f"conversation:{conversation_id}", "sms_code")
    return CodeChecked(True, purpose, phone_fingerprint=phone_fingerprint)




def link_person(conversation_id: str, id_number: str) -> people.Known | None:
    """Links the conversation to the person on file once it has proved it holds their phone; None until then.

    Only the phone on file counts: a phone typed into this form proves nothing about the person on file.
    """
    on_file = people.phone_on_file(id_number)
    if on_file is None or not proven_for(conversation_id, id_number, on_file):
        return None
    return people.identify(conversation_id, id_number, on_file)
