"""Offline appointments at the service centres: free slots, booking, cancelling, rescheduling, check-in.

Opening hours, lunch breaks, holidays and the seats per slot come from
knowledge_base/centres.yml. Each booking takes a numbered seat of its slot and
(centre, slot, seat) is unique in the database, so two people booking the last
seat at the same moment can never both get it, on SQLite as on PostgreSQL.
Slot times are the centres' local wall-clock time.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import random
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from bot import texts
from bot.db.models import Appointment, utcnow
from bot.db.session import unit_of_work
from bot.errors import Conflict, InvalidRequest, NotFound
from bot.privacy import mask_name, mask_phone
from bot.ratelimit import get_limiter
from bot.services.people import cipher
from bot.settings import get_settings
from bot.knowledge.catalogue import get_catalogue
from bot.knowledge.schema import Centre

DEFAULT_TIMEZONE = "Asia/Shanghai"
# Booking starts with the next day: centres plan their staff the day before.
FIRST_DAY_OFFSET = 1
DAYS_AHEAD = 30
REFERENCE_PREFIX = "YY"
# No 0/O, 1/I/L: codes are read aloud on the phone and typed by older people.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 6
REFERENCE_IN_TEXT = re.compile(rf"(?:{REFERENCE_PREFIX}[\s\-－]*)?([{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}})(?![A-Z0-9])")
# Two bookings of one seat at the same moment: the loser looks again, a few times, then reports the slot full.
BOOKING_ATTEMPTS = 12
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SlotFull(Conflict):
    """Every seat of the chosen slot is taken."""

    code = "slot_full"


@dataclass(frozen=True)
class SlotOption:
    """A bookable slot at a centre and how many seats are still free."""

    centre_id: str
    start: dt.datetime
    end: dt.datetime
    free: int

    @property
    def key(self) -> str:
        """The slot as a short text used in button payloads: centre_id@2026-11-23T09:00."""
        return slot_key(self.centre_id, self.start)


@dataclass(frozen=True)
class AppointmentView:
    """An appointment as the person and staff see it (name and phone masked)."""

    id: int
    reference: str
    centre_id: str
    centre_name: str
    service_id: str
    service_name: str
    start: dt.datetime
    end: dt.datetime
    status: str
    conversation_id: str
    channel: str
    name_masked: str
    phone_masked: str
    checked_in_at: dt.datetime | None


def city_timezone() -> ZoneInfo:
    """The centres' time zone (a `timezone` setting when present, China Standard Time otherwise)."""
    return ZoneInfo(getattr(get_settings(), "timezone", None) or DEFAULT_TIMEZONE)


def local_now() -> dt.datetime:
    """The centres' wall-clock time now, without a zone (as slot times are stored)."""
    return dt.datetime.now(city_timezone()).replace(tzinfo=None)


def to_utc(local: dt.datetime) -> dt.datetime:
    """A centre wall-clock time as an aware UTC time."""
    return local.replace(tzinfo=city_timezone()).astimezone(dt.timezone.utc)


def slot_key(centre_id: str, start: dt.datetime) -> str:
    """centre_id@2026-11-23T09:00."""
    return f"{centre_id}@{start:%Y-%m-%dT%H:%M}"


def parse_slot_key(key: str) -> tuple[str, dt.datetime] | None:
    """The centre and start of a slot key, or None when it is not one."""
    centre_id, sep, when = (key or "").strip().partition("@")
    if not sep:
        return None
    try:
        return centre_id, dt.datetime.strptime(when, "%Y-%m-%dT%H:%M")
    except ValueError:
        return None


# --- centres and opening hours -------------------------------------------------------------------------------

def districts() -> list[str]:
    """The districts that have a service centre, in catalogue order."""
    seen: list[str] = []
    for centre in get_catalogue().centres.values():
        if centre.district not in seen:
            seen.append(centre.district)
    return seen


def match_district(text: str) -> str | None:
    """The district named in a text ("东城", "我住南湖区那边"), or None."""
    text = (text or "").strip()
    for district in districts():
        short = district.removesuffix("区")
        if district in text or (len(short) >= 2 and short in text):
            return district
    return None


def centres_for(service_id: str, district: str | None = None) -> list[Centre]:
    """Centres that handle a service, those in the person's district first (nearest first)."""
    centres = get_catalogue().centres_of(service_id)
    if district:
        centres = sorted(centres, key=lambda c: c.district != district)
    return centres


def day_slots(centre: Centre, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The slots of one day at a centre: inside the opening hours, outside lunch, none on closed dates."""
    if day in centre.closed_dates:
        return []
    weekday = WEEKDAYS[day.weekday()]
    step = dt.timedelta(minutes=centre.slot_minutes)
    slots = []
    for hours in centre.hours:
        if weekday not in hours.days:
            continue
        start = dt.datetime.combine(day, hours.open)
        close = dt.datetime.combine(day, hours.close)
        lunch = ((dt.datetime.combine(day, hours.lunch_start), dt.datetime.combine(day, hours.lunch_end))
                 if hours.lunch_start and hours.lunch_end else None)
        while start + step <= close:
            end = start + step
            if lunch and start < lunch[1] and end > lunch[0]:
                start = max(end, lunch[1]) if start < lunch[0] else lunch[1]
                continue
            slots.append((start, end))
            start = end
    return sorted(set(slots))


def is_open(centre: Centre, local: dt.datetime) -> bool:
    """True when a centre is open (and not at lunch) at a local time."""
    return any(start <= local < end for start, end in day_slots(centre, local.date()))


def any_centre_open(local: dt.datetime) -> bool:
    """True when at least one centre is open: the staff desk keeps the centres' hours."""
    return any(is_open(c, local) for c in get_catalogue().centres.values())


def _slot_end(centre: Centre, start: dt.datetime) -> dt.datetime | None:
    return next((end for s, end in day_slots(centre, start.date()) if s == start), None)


def free_slots(centre_id: str, now: dt.datetime | None = None, limit: int = 6,
               days_ahead: int = DAYS_AHEAD) -> list[SlotOption]:
    """The earliest slots with a free seat at a centre, from the next day on."""
    centre = get_catalogue().centres.get(centre_id)
    if centre is None:
        return []
    now = now or local_now()
    first = now.date() + dt.timedelta(days=FIRST_DAY_OFFSET)
    candidates = [s for d in range(days_ahead) for s in day_slots(centre, first + dt.timedelta(days=d))]
    if not candidates:
        return []
    with unit_of_work() as session:
        taken = dict(session.execute(
            select(Appointment.slot_start, func.count()).where(
                Appointment.centre_id == centre_id, Appointment.seat.is_not(None),
                Appointment.slot_start >= candidates[0][0], Appointment.slot_start <= candidates[-1][0])
            .group_by(Appointment.slot_start)
        ).all())
    options = []
    for start, end in candidates:
        free = centre.capacity_per_slot - taken.get(start, 0)
        if free > 0:
            options.append(SlotOption(centre_id, start, end, free))
            if len(options) >= limit:
                break
    return options


def nearest_with_free_slots(service_id: str, district: str | None, now: dt.datetime | None = None,
                            limit: int = 6) -> tuple[Centre | None, list[SlotOption]]:
    """The nearest centre for a service that still has free slots, with its earliest slots."""
    for centre in centres_for(service_id, district):
        options = free_slots(centre.id, now, limit)
        if options:
            return centre, options
    return None, []


# --- words ----------------------------------------------------------------------------------------------------

def slot_label(start: dt.datetime, end: dt.datetime, today: dt.date | None = None) -> str:
    """A slot in plain words, e.g. 明天（11月23日 星期一）上午 9:00-9:30."""
    today = today or local_now().date()
    relative = {0: "utter_day_today", 1: "utter_day_tomorrow", 2: "utter_day_after_tomorrow"}.get(
        (start.date() - today).days)
    values = {
        "month": start.month, "day": start.day, "weekday": texts.text(f"utter_weekday_long_{WEEKDAYS[start.weekday()]}"),
        "period": texts.text("utter_period_morning" if start.hour < 12 else "utter_period_afternoon"),
        "start": f"{start.hour}:{start.minute:02d}", "end": f"{end.hour}:{end.minute:02d}",
    }
    if relative:
        return texts.text("utter_slot_label_relative", relative=texts.text(relative), **values)
    return texts.text("utter_slot_label", **values)


# --- references -----------------------------------------------------------------------------------------------

def new_reference() -> str:
    """A fresh confirmation code such as YY-7K3Q9P."""
    return f"{REFERENCE_PREFIX}-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def find_reference(text: str) -> str | None:
    """The confirmation code in what a person typed ("yy 7k3q9p", "YY-7K3Q9P"), canonical; None if absent."""
    match = REFERENCE_IN_TEXT.search((text or "").upper())
    return f"{REFERENCE_PREFIX}-{match.group(1)}" if match else None


# --- booking --------------------------------------------------------------------------------------------------

def book(conversation_id: str, channel: str, service_id: str, centre_id: str, start: dt.datetime,
         full_name: str, phone: str, now: dt.datetime | None = None, turn_key: str | None = None) -> AppointmentView:
    """Books a seat of a slot; SlotFull when none is left, InvalidRequest for a slot the centre does not have.

    The same turn (`turn_key`: the person's message) run again, after a server died with it in hand, gets the
    booking it made the first time, not a second one.
    """
    if turn_key and (earlier := _booked_in_turn(conversation_id, turn_key)):
        return earlier
    centre = get_catalogue().centres.get(centre_id)
    if centre is None or service_id not in centre.services:
        raise InvalidRequest(f"centre {centre_id!r} does not handle {service_id!r}", code="wrong_centre")
    end = _bookable_end(centre, start, now)
    c = cipher()
    # One conversation, or one phone number, may book only so many visits: nobody takes every seat.
    limiter = get_limiter()
    limiter.hit("bookings_per_conversation", conversation_id)
    limiter.hit("bookings_per_phone", c.fingerprint(phone))
    fields = {"full_name_encrypted": c.encrypt(full_name), "phone_encrypted": c.encrypt(phone),
              "phone_fingerprint": c.fingerprint(phone)}

    def insert(session: Session) -> Appointment:
        row = Appointment(reference=new_reference(), centre_id=centre_id, service_id=service_id, slot_start=start,
                          slot_end=end, seat=_free_seat(session, centre, start), status="booked",
                          conversation_id=conversation_id, channel=channel, turn_key=turn_key, **fields)
        session.add(row)
        return row

    try:
        return _with_seat_retries(insert)
    except SlotFull:
        # The same turn running twice at once: the seat retries failed on the turn key, not on the seats.
        if turn_key and (earlier := _booked_in_turn(conversation_id, turn_key)):
            return earlier
        raise


def _booked_in_turn(conversation_id: str, turn_key: str) -> AppointmentView | None:
    with unit_of_work() as session:
        row = session.scalar(select(Appointment).where(Appointment.conversation_id == conversation_id,
                                                       Appointment.turn_key == turn_key))
        return _view(row) if row else None


def reschedule(reference: str, start: dt.datetime, now: dt.datetime | None = None) -> AppointmentView:
    """Moves a booked appointment to another slot of its centre, keeping its code; SlotFull when that is full."""
    found = find(reference)
    if found is None:
        raise NotFound(f"no appointment with code {reference}")
    centre = get_catalogue().centres[found.centre_id]
    end = _bookable_end(centre, start, now)

    def move(session: Session) -> Appointment:
        row = _booked(session, reference)
        if row.slot_start == start:
            return row
        # Off the old seat first: the seat query below flushes, and must not count this appointment.
        row.seat, row.slot_start, row.slot_end, row.reminded_at = None, start, end, None
        row.seat = _free_seat(session, centre, start)
        return row

    return _with_seat_retries(move)


def _bookable_end(centre: Centre, start: dt.datetime, now: dt.datetime | None) -> dt.datetime:
    now = now or local_now()
    end = _slot_end(centre, start)
    if end is None or start.date() < now.date() + dt.timedelta(days=FIRST_DAY_OFFSET):
        raise InvalidRequest("that time is not a bookable slot of the centre", code="not_a_slot")
    return end


def _free_seat(session: Session, centre: Centre, start: dt.datetime) -> int:
    taken = set(session.scalars(select(Appointment.seat).where(
        Appointment.centre_id == centre.id, Appointment.slot_start == start, Appointment.seat.is_not(None))))
    seat = next((s for s in range(1, centre.capacity_per_slot + 1) if s not in taken), None)
    if seat is None:
        raise SlotFull("this slot is fully booked")
    return seat


def _with_seat_retries(change: Callable[[Session], Appointment]) -> AppointmentView:
    for attempt in range(BOOKING_ATTEMPTS):
        try:
            with unit_of_work() as session:
                row = change(session)
                session.flush()
                return _view(row)
        except (IntegrityError, OperationalError) as err:
            # Someone took the same seat (or held SQLite's write lock) at the same moment: look again.
            if isinstance(err, OperationalError) and "locked" not in str(err).lower():
                raise
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    raise SlotFull("this slot is fully booked")


def find(reference: str) -> AppointmentView | None:
    """The appointment with this confirmation code, or None."""
    with unit_of_work() as session:
        row = session.scalar(select(Appointment).where(Appointment.reference == reference))
        return _view(row) if row else None


def held_by(reference: str, phone_tail: str) -> AppointmentView | None:
    """The booked appointment whose booking phone ends in `phone_tail`, or None for any failure alike.

    Unknown code, wrong digits, cancelled or already checked in all give None, so
    the answer never tells a guesser which codes exist.
    """
    found = None
    with unit_of_work() as session:
        row = session.scalar(select(Appointment).where(Appointment.reference == reference))
        tail = cipher().decrypt(row.phone_encrypted)[-4:] if row else "----"
        # Compared in constant time, and only when the input has the right shape.
        matches = hmac.compare_digest(tail.encode(), phone_tail.encode()) if len(phone_tail) == 4 else False
        if row is not None and matches and row.status == "booked":
            found = _view(row)
    return found


def latest_for_conversation(conversation_id: str) -> AppointmentView | None:
    """The newest booked appointment of a conversation (to change it without typing the code)."""
    with unit_of_work() as session:
        row = session.scalar(select(Appointment).where(Appointment.conversation_id == conversation_id,
                                                       Appointment.status == "booked")
                             .order_by(Appointment.id.desc()).limit(1))
        return _view(row) if row else None


def cancel(reference: str) -> AppointmentView:
    """Cancels a booked appointment and gives its seat back; NotFound / Conflict otherwise."""
    with unit_of_work() as session:
        row = _booked(session, reference)
        row.status, row.seat, row.cancelled_at = "cancelled", None, utcnow()
        return _view(row)


def _booked(session: Session, reference: str) -> Appointment:
    row = session.scalar(select(Appointment).where(Appointment.reference == reference))
    if row is None:
        raise NotFound(f"no appointment with code {reference}")
    if row.status != "booked":
        raise Conflict(f"appointment {reference} is {row.status}", code=f"appointment_{row.status}")
    return row


# --- staff ----------------------------------------------------------------------------------------------------

# Which centres' appointments a staff member may see (StaffIdentity.sees_centre): the core knows no staff roles.
CentreFilter = Callable[[str], bool]


def every_centre(centre_id: str) -> bool:
    """The filter of someone who sees every centre's appointments."""
    return True


def for_day(day: dt.date, centre_id: str | None = None, visible: CentreFilter = every_centre) -> list[AppointmentView]:
    """A day's appointments (booked, checked in and cancelled), by time, optionally of one centre, of the visible
    centres only."""
    start = dt.datetime.combine(day, dt.time())
    with unit_of_work() as session:
        query = select(Appointment).where(Appointment.slot_start >= start,
                                          Appointment.slot_start < start + dt.timedelta(days=1))
        if centre_id:
            query = query.where(Appointment.centre_id == centre_id)
        rows = session.scalars(query.order_by(Appointment.slot_start, Appointment.id)).all()
        # Filtered before the names and phones are decrypted for the view.
        return [_view(r) for r in rows if visible(r.centre_id)]


def _visible_row(session: Session, appointment_id: int, visible: CentreFilter) -> Appointment:
    # Another centre's appointment answers exactly like one that does not exist.
    row = session.get(Appointment, appointment_id)
    if row is None or not visible(row.centre_id):
        raise NotFound(f"no appointment {appointment_id}")
    return row


def check_in(appointment_id: int, staff_username: str, visible: CentreFilter = every_centre) -> AppointmentView:
    """Marks that the person has arrived at the centre."""
    with unit_of_work() as session:
        row = _visible_row(session, appointment_id, visible)
        if row.status == "cancelled":
            raise Conflict("a cancelled appointment cannot be checked in", code="appointment_cancelled")
        row.status, row.checked_in_at, row.checked_in_by = "checked_in", utcnow(), staff_username
        return _view(row)


def contact(appointment_id: int, visible: CentreFilter = every_centre) -> tuple[str, str]:
    """The person's full name and phone in clear, for a staff member who needs them (the caller audits)."""
    with unit_of_work() as session:
        row = _visible_row(session, appointment_id, visible)
        c = cipher()
        return c.decrypt(row.full_name_encrypted), c.decrypt(row.phone_encrypted)


@functools.lru_cache(maxsize=256)
def _service_name(service_id: str) -> str:
    service = get_catalogue().services.get(service_id)
    return service.short_name if service else service_id


def _view(row: Appointment) -> AppointmentView:
    catalogue = get_catalogue()
    centre = catalogue.centres.get(row.centre_id)
    c = cipher()
    return AppointmentView(
        id=row.id, reference=row.reference, centre_id=row.centre_id,
        centre_name=centre.name if centre else row.centre_id, service_id=row.service_id,
        service_name=_service_name(row.service_id), start=row.slot_start, end=row.slot_end, status=row.status,
        conversation_id=row.conversation_id, channel=row.channel,
        name_masked=mask_name(c.decrypt(row.full_name_encrypted)),
        phone_masked=mask_phone(c.decrypt(row.phone_encrypted)),
        # SQLite hands timestamps back without a zone; every stored moment is UTC (slot times are local on purpose).
        checked_in_at=row.checked_in_at.replace(tzinfo=row.checked_in_at.tzinfo or dt.timezone.utc)
        if row.checked_in_at else None,
    )
