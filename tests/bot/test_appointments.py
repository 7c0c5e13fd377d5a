"""Offline appointments: the slots a centre offers, booking by code, capacity, changes, check-in, reminders."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from bot.db.models import Appointment
from bot.db.session import unit_of_work
from bot.errors import Conflict, InvalidRequest
from bot.services import appointments, conversations, reminders
from bot.knowledge.catalogue import get_catalogue

SUNDAY = dt.datetime(2026, 11, 22, 15, 0)


def book(centre_id: str, start: dt.datetime, conversation_id: str = "appt-1", service: str = "social_security_card",
         name: str = "张建国", phone: str = "13812345678", now: dt.datetime = SUNDAY) -> appointments.AppointmentView:
    conversations.ensure(conversation_id, "web", "zh-CN")
    return appointments.book(conversation_id, "web", service, centre_id, start, name, phone, now=now)


def test_a_weekday_has_morning_and_afternoon_slots_around_lunch():
    centre = get_catalogue().centres["city_centre"]
    slots = appointments.day_slots(centre, dt.date(2026, 11, 23))
    starts = [f"{s:%H:%M}" for s, _ in slots]
    assert starts[0] == "09:00" and starts[-1] == "16:30"
    assert "11:30" in starts and "12:00" not in starts and "13:00" not in starts and "13:30" in starts
    assert len(slots) == 6 + 7


def test_no_slots_on_sundays_holidays_or_saturdays_of_weekday_only_centres():
    catalogue = get_catalogue()
    assert appointments.day_slots(catalogue.centres["city_centre"], dt.date(2026, 11, 22)) == []
    assert appointments.day_slots(catalogue.centres["city_centre"], dt.date(2027, 1, 1)) == []
    assert len(appointments.day_slots(catalogue.centres["city_centre"], dt.date(2026, 11, 28))) == 6
    assert appointments.day_slots(catalogue.centres["west_centre"], dt.date(2026, 11, 28)) == []


def test_free_slots_start_the_next_open_day():
    saturday_morning = dt.datetime(2026, 11, 28, 10, 0)
    options = appointments.free_slots("west_centre", now=saturday_morning, limit=3)
    assert [o.start for o in options] == [dt.datetime(2026, 11, 30, 9, 0), dt.datetime(2026, 11, 30, 9, 30),
                                          dt.datetime(2026, 11, 30, 10, 0)]
    assert options[0].key == "west_centre@2026-11-30T09:00"


def test_slots_read_in_plain_words():
    start = dt.datetime(2026, 11, 23, 9, 0)
    assert appointments.slot_label(start, start + dt.timedelta(minutes=30), today=dt.date(2026, 11, 22)) \
        == "明天（11月23日 星期一）上午 9:00-9:30"
    afternoon = dt.datetime(2026, 11, 26, 14, 0)
    assert appointments.slot_label(afternoon, afternoon + dt.timedelta(minutes=30), today=dt.date(2026, 11, 22)) \
        == "11月26日（星期四）下午 14:00-14:30"


def test_the_nearest_centre_is_in_the_persons_district():
    centres = appointments.centres_for("disability_certificate", "西城区")
    assert centres[0].district == "西城区"
    assert appointments.match_district("我住东城那边") == "东城区"
    assert appointments.match_district("火星") is None


def test_a_booking_gets_a_short_code_and_keeps_name_and_phone_only_encrypted():
    booked = book("east_centre", dt.datetime(2026, 12, 1, 9, 0))
    assert appointments.find_reference(f"我的预约码是 {booked.reference.lower().replace('-', ' ')}") == booked.reference
    assert booked.name_masked == "张**" and booked.phone_masked != "13812345678"
    with unit_of_work() as session:
        row = session.scalar(select(Appointment).where(Appointment.reference == booked.reference))
        assert "13812345678" not in row.phone_encrypted and "张建国" not in row.full_name_encrypted
    assert appointments.contact(booked.id) == ("张建国", "13812345678")


def test_a_slot_never_takes_more_bookings_than_its_capacity_and_cancelling_frees_a_seat():
    start = dt.datetime(2026, 12, 1, 10, 0)
    capacity = get_catalogue().centres["xinhua_street_centre"].capacity_per_slot
    booked = [book("xinhua_street_centre", start, conversation_id=f"cap-{i}") for i in range(capacity)]
    with pytest.raises(appointments.SlotFull):
        book("xinhua_street_centre", start, conversation_id="cap-late")
    assert start not in [o.start for o in appointments.free_slots("xinhua_street_centre", now=SUNDAY, limit=200)]
    appointments.cancel(booked[0].reference)
    assert book("xinhua_street_centre", start, conversation_id="cap-late").status == "booked"


def test_times_a_centre_does_not_offer_cannot_be_booked():
    with pytest.raises(InvalidRequest):
        book("east_centre", dt.datetime(2026, 12, 1, 12, 30))  # lunch
    with pytest.raises(InvalidRequest):
        book("east_centre", dt.datetime(2026, 11, 22, 16, 0))  # today, already begun
    with pytest.raises(InvalidRequest):
        book("housing_fund_centre", dt.datetime(2026, 12, 1, 9, 0))  # does not handle social security cards


def test_rescheduling_keeps_the_code_and_frees_the_old_seat():
    old, new = dt.datetime(2026, 12, 2, 9, 0), dt.datetime(2026, 12, 2, 14, 0)
    booked = book("north_centre", old)
    moved = appointments.reschedule(booked.reference, new, now=SUNDAY)
    assert (moved.reference, moved.start) == (booked.reference, new)
    free_old = next(o.free for o in appointments.free_slots("north_centre", now=SUNDAY, limit=200) if o.start == old)
    assert free_old == get_catalogue().centres["north_centre"].capacity_per_slot


def test_cancelling_twice_is_refused():
    booked = book("east_centre", dt.datetime(2026, 12, 3, 9, 0))
    appointments.cancel(booked.reference)
    with pytest.raises(Conflict):
        appointments.cancel(booked.reference)


def test_staff_see_the_days_appointments_and_check_people_in():
    day = dt.date(2026, 12, 4)
    booked = book("west_centre", dt.datetime.combine(day, dt.time(9, 30)), name="李秀英")
    listed = appointments.for_day(day, "west_centre")
    assert [a.reference for a in listed] == [booked.reference] and listed[0].name_masked == "李**"
    assert appointments.check_in(booked.id, "li").status == "checked_in"


def booked_at(reference: str, local: dt.datetime) -> None:
    with unit_of_work() as session:
        session.execute(update(Appointment).where(Appointment.reference == reference)
                        .values(created_at=appointments.to_utc(local)))


def test_a_reminder_reaches_the_persons_channel_the_day_before_once():
    start = dt.datetime(2030, 3, 5, 9, 0)  # a Tuesday
    booked = book("east_centre", start, conversation_id="remind-1", now=dt.datetime(2030, 3, 1, 10, 0))
    booked_at(booked.reference, dt.datetime(2030, 3, 1, 10, 0))
    assert booked.reference not in reminders.send_due(now=start - dt.timedelta(hours=30))
    assert booked.reference in reminders.send_due(now=start - dt.timedelta(hours=20))
    assert booked.reference not in reminders.send_due(now=start - dt.timedelta(hours=19))
    pushed = conversations.messages_after("remind-1", None)
    assert len(pushed) == 1 and booked.reference in pushed[0].text and "明天" in pushed[0].text
    assert pushed[0].buttons and pushed[0].buttons[0]["payload"].startswith("/cancel_appointment")


def test_no_reminder_at_night_right_after_booking_or_for_a_cancelled_visit():
    start = dt.datetime(2030, 3, 6, 15, 0)
    fresh = book("east_centre", start, conversation_id="remind-2", now=dt.datetime(2030, 3, 1, 10, 0))
    cancelled = book("east_centre", start, conversation_id="remind-3", now=dt.datetime(2030, 3, 1, 10, 0))
    booked_at(fresh.reference, dt.datetime(2030, 3, 5, 15, 0))
    booked_at(cancelled.reference, dt.datetime(2030, 3, 1, 10, 0))
    appointments.cancel(cancelled.reference)
    assert reminders.send_due(now=dt.datetime(2030, 3, 5, 22, 0)) == []
    sent = reminders.send_due(now=dt.datetime(2030, 3, 5, 16, 0))
    assert fresh.reference not in sent and cancelled.reference not in sent


def test_the_reminder_command_sends_what_is_due(capsys):
    from bot.cli import main

    start = dt.datetime(2030, 3, 12, 10, 0)
    booked = book("east_centre", start, conversation_id="remind-cli", now=dt.datetime(2030, 3, 1, 10, 0))
    booked_at(booked.reference, dt.datetime(2030, 3, 1, 10, 0))
    assert main(["reminders", "--now", "2030-03-11T17:00"]) == 0
    assert "1 reminder(s) sent" in capsys.readouterr().out
    assert booked.reference in conversations.messages_after("remind-cli", None)[0].text


def test_the_same_turn_run_again_gets_its_booking_not_a_second_one():
    centre = "west_centre"
    start = appointments.free_slots(centre, now=SUNDAY, limit=1)[0].start
    conversations.ensure("appt-turn", "web", "zh-CN")
    first = appointments.book("appt-turn", "web", "social_security_card", centre, start, "张建国", "13812345678",
                              now=SUNDAY, turn_key="m-1")
    again = appointments.book("appt-turn", "web", "social_security_card", centre, start, "张建国", "13812345678",
                              now=SUNDAY, turn_key="m-1")
    other_turn = appointments.book("appt-turn", "web", "social_security_card", centre, start, "张建国",
                                   "13812345678", now=SUNDAY, turn_key="m-2")
    assert again.reference == first.reference and other_turn.reference != first.reference
    with unit_of_work() as session:
        assert len(session.scalars(select(Appointment).where(Appointment.conversation_id == "appt-turn")).all()) == 2
