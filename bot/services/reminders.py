"""Appointment reminders: the day before a visit, a message on the person's own channel (and by SMS to a
resident who booked by phone or at the kiosk, or asked for texts, see bot/services/sms_notices.py).

The gateway runs `send_due` every minute; `python -m bot.cli reminders` runs it
by hand. A reminder goes out within the 24 hours before the slot, in the
daytime, once per appointment, and not right after booking (the confirmation
has just said it all).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from bot import texts
from bot.db.models import Appointment, utcnow
from bot.db.session import unit_of_work
from bot.services import appointments, conversations, sms_notices
from bot.services.answers import payload
from bot.knowledge.catalogue import get_catalogue

LEAD = dt.timedelta(hours=24)
# People are not messaged at night.
SEND_FROM, SEND_UNTIL = dt.time(8, 0), dt.time(20, 0)
# A booking this fresh needs no reminder yet.
QUIET_AFTER_BOOKING = dt.timedelta(hours=3)


def send_due(now: dt.datetime | None = None) -> list[str]:
    """Pushes every reminder that is due at the local time `now`; returns the appointments' codes."""
    now = now or appointments.local_now()
    if not SEND_FROM <= now.time() < SEND_UNTIL:
        return []
    booked_before = appointments.to_utc(now) - QUIET_AFTER_BOOKING
    with unit_of_work() as session:
        rows = session.scalars(select(Appointment).where(
            Appointment.status == "booked", Appointment.reminded_at.is_(None),
            Appointment.slot_start > now, Appointment.slot_start <= now + LEAD,
            Appointment.created_at <= booked_before,
        ).order_by(Appointment.slot_start)).all()
        due = [(row.id, row.conversation_id, row.reference) for row in rows]
    sent = []
    for appointment_id, conversation_id, reference in due:
        with unit_of_work() as session:
            # Conditional, so two gateways (or the command and a gateway) never remind twice.
            claimed = session.execute(update(Appointment).where(Appointment.id == appointment_id,
                                                                Appointment.reminded_at.is_(None))
                                      .values(reminded_at=utcnow())).rowcount  # type: ignore[attr-defined]  # a CursorResult
        if claimed:
            conversations.push(conversation_id, "assistant", reminder_text(reference, now.date()),
                               [change_button(reference)])
            if sms_notices.wanted(conversation_id):
                view = _view(reference)
                sms_notices.appointment_reminder(appointment_id, appointments.slot_label(view.start, view.end, now.date()),
                                                 view.centre_name, view.service_name, view.reference)
            sent.append(reference)
    return sent


def _view(reference: str) -> appointments.AppointmentView:
    view = appointments.find(reference)
    assert view is not None  # reminders go out for booked appointments, which are never deleted
    return view


def change_button(reference: str) -> dict[str, str]:
    """A button that opens cancelling or moving this appointment."""
    return {"title": texts.text("utter_button_change_appointment"),
            "payload": payload("cancel_appointment", appointment_code=reference)}


def reminder_text(reference: str, today: dt.date) -> str:
    """The reminder of one appointment in plain words."""
    view = _view(reference)
    centre = get_catalogue().centres.get(view.centre_id)
    return texts.text(
        "utter_appointment_reminder", when=appointments.slot_label(view.start, view.end, today),
        centre=view.centre_name, address=centre.address if centre else "", service=view.service_name,
        reference=view.reference,
    )
