"""After an application is submitted, the stored conversation no longer holds its personal values in plain text.

Rasa keeps every event of a conversation (what the person typed, the slots,
what the assistant said) as JSON in its `events` table, and saves the turn
that submitted only after the submitting action has returned. So the gateway
calls `after_turn` once Rasa has answered: it rewrites the events of every
conversation that worked on the application, replacing the ID number, phone,
address and name (however the person typed them) and any other ID- or
phone-like number with masked forms (not in message ids: a client's own
random ids, by which a retried message is found). On SQLite the rewrite zeroes freed space
(secure_delete) and the write-ahead log is truncated, so the old values do not
linger in free pages or in the -wal file.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, Engine, inspect, select, text
from sqlalchemy.orm import Session, load_only

from bot.db.models import Application, Appointment
from bot.db.session import get_engine
from bot.privacy import mask_address, mask_id_number, mask_name, mask_phone, replace_numbers
from bot.services import applications
from bot.services.people import cipher
from bot.services.vault import is_reference

log = logging.getLogger(__name__)

EVENTS_TABLE = "events"
CHECKPOINT_ATTEMPTS = 5
# How long one checkpoint attempt waits for a writer or reader to finish before the next try.
CHECKPOINT_BUSY_MS = 50

# Keys of a stored event whose values are ids a client chose, not anything a person wrote: left as they are, so
# the engine still finds a retried message by its id (a random hex id often holds a run of digits shaped like
# a phone number).
IDENTIFIERS = frozenset({"message_id"})

# How people write each digit: Arabic, full-width, Chinese, and the spoken forms used on the phone.
_DIGIT_FORMS = {
    "0": "0０零〇洞", "1": "1１一幺壹", "2": "2２二两贰", "3": "3３三叁", "4": "4４四肆",
    "5": "5５五伍", "6": "6６六陆", "7": "7７七拐柒", "8": "8８八捌", "9": "9９九勾玖", "X": "XxＸｘ",
}
# At most three separators between two digits, as redact_text allows: a bounded window keeps matching linear.
_SEPARATORS = r"[\s\-－—·./／]{0,3}"
_TO_DIGIT = {form: digit for digit, forms in _DIGIT_FORMS.items() for form in forms}
_ANY_DIGIT = re.escape("".join(_TO_DIGIT))
# A stretch of digits in any form, standing alone (no digit right before or after it).
_DIGIT_RUN = re.compile(rf"(?<![{_ANY_DIGIT}])[{_ANY_DIGIT}](?:{_SEPARATORS}[{_ANY_DIGIT}])*(?![{_ANY_DIGIT}])")
# A piece this long of a known number is masked wherever it stands alone, e.g. a number sent in two messages.
FRAGMENT_DIGITS = 4


def _spelled(number: str) -> str:
    """A pattern matching `number` however it was typed: with spaces or dashes, in Chinese digits."""
    parts = [f"[{re.escape(_DIGIT_FORMS.get(ch.upper(), ch))}]" for ch in number]
    return _SEPARATORS.join(parts)


def replacer(values: dict[str, str]) -> Callable[[str], str]:
    """A function that masks the given personal values (and any ID/phone-like number) in a text, in one pass each."""
    rules: list[tuple[str, str]] = []
    if values.get("id_number"):
        rules.append((_spelled(values["id_number"]), mask_id_number(values["id_number"])))
    if values.get("phone"):
        rules.append((_spelled(values["phone"]), mask_phone(values["phone"])))
    if values.get("address") and len(values["address"]) >= 4:
        rules.append((re.escape(values["address"]), mask_address(values["address"])))
    if values.get("full_name") and len(values["full_name"]) >= 2:
        rules.append((re.escape(values["full_name"]), mask_name(values["full_name"])))
    if not rules:
        return _redact_but_references
    # One alternation, one scan of the text: group i is rule i.
    combined = re.compile("|".join(f"({pattern})" for pattern, _ in rules))
    masks = [masked for _, masked in rules]
    numbers = [values[key].upper() for key in ("id_number", "phone") if values.get(key)]

    def replace(text: str) -> str:
        text = _mask_fragments(text, numbers)
        return _redact_but_references(combined.sub(lambda m: masks[(m.lastindex or 1) - 1], text))

    return replace


def _mask_fragments(text: str, numbers: list[str]) -> str:
    """Masks every stand-alone piece of a known number (a number split across messages); whole ones are left."""
    if not numbers:
        return text

    def mask(match: re.Match[str]) -> str:
        digits = "".join(_TO_DIGIT.get(ch, "") for ch in match.group(0))
        if text[match.start() - 1:match.start()] == "*" and any(n.endswith(digits) for n in numbers):
            # The last four a mask shows ("138****5678"): an event redacted again keeps them, as the mask meant.
            return match.group(0)
        if len(digits) >= FRAGMENT_DIGITS and any(digits in n and digits != n for n in numbers):
            return "*" * len(digits)
        return match.group(0)

    return _DIGIT_RUN.sub(mask, text)


def _redact_but_references(text: str) -> str:
    """redact_text, leaving the vault's references (digits of no real number) as they are, so they still resolve."""
    return replace_numbers(text, lambda span: text[span.start:span.end] if is_reference(span.digits) else span.masked)


def _walk(data: Any, replace: Callable[[str], str]) -> Any:
    if isinstance(data, str):
        return replace(data)
    if isinstance(data, list):
        return [_walk(item, replace) for item in data]
    if isinstance(data, dict):
        return {key: value if key in IDENTIFIERS else _walk(value, replace) for key, value in data.items()}
    return data


def redact_events(engine: Engine, conversation_ids: Iterable[str], values: dict[str, str]) -> int:
    """Rewrites the stored events of the conversations without the values; returns how many events changed."""
    if not inspect(engine).has_table(EVENTS_TABLE):
        return 0
    with engine.begin() as connection:
        return redact_events_on(connection, conversation_ids, values)


def redact_events_on(connection: Connection, conversation_ids: Iterable[str], values: dict[str, str]) -> int:
    """`redact_events` within a transaction already open (a migration's)."""
    replace = replacer(values)
    sqlite = connection.dialect.name == "sqlite"
    changed = 0
    if sqlite:
        # Overwritten record bytes are zeroed instead of left in the page's free space.
        connection.exec_driver_sql("PRAGMA secure_delete=ON")
    for conversation_id in conversation_ids:
        rows = connection.execute(text(f"SELECT id, data FROM {EVENTS_TABLE} WHERE sender_id = :sender"),
                                  {"sender": conversation_id}).all()
        for event_id, data in rows:
            if not data:
                continue
            redacted = json.dumps(_walk(json.loads(data), replace))
            if redacted != data:
                changed += 1
                connection.execute(text(f"UPDATE {EVENTS_TABLE} SET data = :data WHERE id = :id"),
                                   {"data": redacted, "id": event_id})
    return changed


def purge_plain_values(connection: Connection) -> int:
    """Masks, in every stored conversation, the personal values it was given before the vault held them back.

    The values known per conversation (applications and drafts, bookings) are masked however they
    were typed; any other ID, mobile or card number anywhere is masked as well. Returns events changed.
    """
    if not inspect(connection).has_table(EVENTS_TABLE):
        return 0
    session = Session(bind=connection)
    changed = 0
    # Only the columns read here: the 0007 migration runs this on tables without the columns added later.
    application_columns = load_only(Application.conversation_id, Application.conversation_ids, Application.details,
                                    *(getattr(Application, f"{name}_encrypted") for name in applications.PERSONAL_FIELDS))
    for row in session.scalars(select(Application).options(application_columns)).all():
        values = {k: v for k, v in applications.values_of(row).items() if k in applications.PERSONAL_FIELDS and v}
        changed += redact_events_on(connection, {row.conversation_id, *(row.conversation_ids or [])}, values)
    c = cipher()
    booking_columns = load_only(Appointment.conversation_id, Appointment.full_name_encrypted,
                                Appointment.phone_encrypted)
    for booking in session.scalars(select(Appointment).options(booking_columns)).all():
        changed += redact_events_on(connection, [booking.conversation_id],
                                    {"full_name": c.decrypt(booking.full_name_encrypted),
                                     "phone": c.decrypt(booking.phone_encrypted)})
    everyone = [r[0] for r in connection.execute(text(f"SELECT DISTINCT sender_id FROM {EVENTS_TABLE}")).all()]
    return changed + redact_events_on(connection, everyone, {})


def truncate_wal(engine: Engine) -> bool:
    """Copies the write-ahead log into the database and empties it, so old page versions are gone."""
    if engine.dialect.name != "sqlite":
        return True
    for attempt in range(CHECKPOINT_ATTEMPTS):
        with engine.connect() as connection:
            # A reader holding an old snapshot would keep the checkpoint in the connection's busy wait (15 s)
            # on every attempt, and the person who just submitted waits for this: here the loop does the waiting.
            waiting = connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
            connection.exec_driver_sql(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_MS}")
            try:
                busy, _log_frames, _done = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            finally:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={int(waiting)}")
        if not busy:
            return True
        # Another process is reading an older snapshot; it finishes within moments.
        time.sleep(0.1 * (attempt + 1))
    log.warning("the write-ahead log could not be truncated yet; it will be at the next redaction")
    return False


def after_turn(conversation_id: str) -> None:
    """Redacts the conversations of applications submitted in this conversation's latest turn."""
    jobs = applications.awaiting_redaction(conversation_id)
    if not jobs:
        return
    engine = get_engine()
    for job in jobs:
        changed = redact_events(engine, job.conversation_ids, job.values)
        applications.mark_redacted(job.application_id)
        log.info("application %s: %d stored events redacted", job.application_id, changed)
    truncate_wal(engine)


def after_turn_safely(conversation_id: str) -> None:
    """`after_turn` for the gateway: a failure is logged and retried on the next turn, never shown to the person."""
    try:
        after_turn(conversation_id)
    except Exception as err:  # noqa: BLE001 - the person's answer must not depend on the clean-up
        log.error("redaction after the turn failed (%s); it is retried on the next turn", type(err).__name__)
