"""The supervisors' figures, computed on SQLite and PostgreSQL from rows written as the services write them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, inspect, text

from bot.db import session as db_session
from bot.db.models import (
    Application,
    Appointment,
    ClarifyingQuestion,
    Conversation,
    Handoff,
    Person,
    PersonConversation,
    Rating,
    StaffTask,
    UnansweredQuestion,
)
from bot.db.session import unit_of_work
from bot.errors import InvalidRequest
from bot.services import analytics, analytics_daily
from bot.services.analytics import Filters, Period, parse_period
from bot.services.analytics_export import to_csv

UTC = dt.UTC
# 2026-12-02 10:00 China time; the period is 1-3 December.
NOW = dt.datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
DEC1 = dt.datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 China time
DEC2 = dt.datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
PERIOD = Period(dt.date(2026, 12, 1), dt.date(2026, 12, 3))


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest) -> str:
    """A migrated database of this test alone, so the counts are this test's alone."""
    return request.getfixturevalue("own_sqlite" if request.param == "sqlite" else "postgres")


def at(base: dt.datetime, **delta: float) -> dt.datetime:
    return base + dt.timedelta(**delta)


def seed() -> None:
    """Four conversations on three channels; two handoffs (one fast, one slow), one abandoned wait, ratings 1 and 5."""
    with unit_of_work() as session:
        session.add_all([
            Conversation(id="web-1", channel="web", created_at=DEC1),
            Conversation(id="web-2", channel="web", created_at=DEC2),
            Conversation(id="phone-1", channel="phone", created_at=DEC2),
            Conversation(id="kiosk-1", channel="kiosk", created_at=at(DEC2, hours=1)),
            # Outside the period (30 November, China time): never counted.
            Conversation(id="web-old", channel="web", created_at=at(DEC1, hours=-10)),
        ])
        session.add_all([
            # Accepted after 20 s and closed: served and resolved.
            Handoff(conversation_id="web-1", channel="web", service="residence_permit", reason="requested",
                    status="closed", created_at=DEC1, accepted_at=at(DEC1, seconds=20), closed_at=at(DEC1, minutes=5)),
            # Accepted after 200 s (over the 60 s target), closed, but the person came back within a week.
            Handoff(conversation_id="phone-1", channel="phone", service="id_card", reason="requested",
                    status="closed", created_at=DEC2, accepted_at=at(DEC2, seconds=200), closed_at=at(DEC2, minutes=10)),
            Handoff(conversation_id="phone-1", channel="phone", service="id_card", reason="requested",
                    status="closed", created_at=at(DEC2, hours=3), closed_at=at(DEC2, hours=3, minutes=5)),
        ])
        session.add_all([
            Rating(conversation_id="web-1", channel="web", subject="handoff:1", level=5, created_at=at(DEC1, minutes=6)),
            Rating(conversation_id="phone-1", channel="phone", subject="handoff:2", level=1, created_at=at(DEC2, minutes=11)),
            StaffTask(kind="low_rating", audience="supervisor", conversation_id="phone-1", channel="phone",
                      summary="非常不满意", status="open", created_at=at(DEC2, minutes=11)),
        ])
        session.add_all([
            Application(service_id="residence_permit", status="submitted", conversation_id="web-1", channel="web",
                        created_at=DEC1, updated_at=at(DEC1, minutes=3), submitted_at=at(DEC1, minutes=3)),
            # Left at the phone number two days ago: abandoned there.
            Application(service_id="residence_permit", status="draft", conversation_id="web-2", channel="web",
                        requested_slot="phone", created_at=at(DEC1, hours=2), updated_at=at(DEC1, hours=2)),
            # Still being filled in: neither submitted nor abandoned.
            Application(service_id="senior_card", status="draft", conversation_id="kiosk-1", channel="kiosk",
                        requested_slot="id_number", created_at=at(NOW, minutes=-5), updated_at=at(NOW, minutes=-5)),
        ])
        slot = dt.datetime(2026, 12, 2, 9, 0)
        for seat, (reference, status, centre) in enumerate((
                ("A1", "checked_in", "district_centre"), ("A2", "booked", "district_centre"),
                ("A3", "cancelled", "district_centre"), ("A4", "booked", "other_centre")), start=1):
            later = status == "booked" and centre == "other_centre"
            start = dt.datetime(2026, 12, 3, 15, 0) if later else slot
            session.add(Appointment(reference=reference, centre_id=centre, service_id="id_card", slot_start=start,
                                    slot_end=start + dt.timedelta(minutes=30), seat=None if status == "cancelled" else seat,
                                    status=status, conversation_id="web-2", channel="web", full_name_encrypted="x",
                                    phone_encrypted="x", created_at=DEC1))
        for _ in range(3):
            session.add(UnansweredQuestion(conversation_id="web-2", channel="web", text="怎么办理游艇驾照",
                                           reason="unknown_service", created_at=DEC2))
        session.add(UnansweredQuestion(conversation_id="phone-1", channel="phone", text="电话138****5678打不通",
                                       reason="low_confidence", created_at=DEC2))
        session.add(ClarifyingQuestion(conversation_id="web-2", channel="web", created_at=DEC2))


def seed_engine_events() -> None:
    """The dialogue engine's own table, as its tracker store writes it: four messages, one below the threshold."""
    with unit_of_work() as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255), "
                             "type_name VARCHAR(255), timestamp FLOAT, intent_name VARCHAR(255), "
                             "action_name VARCHAR(255), data TEXT)"))
        for n, (sender, kind, when, intent) in enumerate((
            ("web-1", "user", DEC1, "ask_materials"), ("web-1", "bot", DEC1, None),
            ("web-2", "user", DEC2, "nlu_fallback"), ("phone-1", "user", DEC2, "request_human"),
            ("kiosk-1", "user", at(NOW, minutes=-1), "ask_fee"),  # today: counted live, not rolled up
        ), start=1):
            session.execute(text("INSERT INTO events (id, sender_id, type_name, timestamp, intent_name, data) "
                                 "VALUES (:id, :sender, :kind, :ts, :intent, '{}')"),
                            {"id": n, "sender": sender, "kind": kind, "ts": when.timestamp(), "intent": intent})


def test_every_figure_of_the_period_matches_what_happened(fresh_database):
    seed()
    seed_engine_events()

    figures = analytics.summary(PERIOD, now=NOW)

    assert figures["conversations"] == 4
    assert figures["by_channel"] == {"web": 2, "phone": 1, "kiosk": 1}
    assert [day["total"] for day in figures["by_day"]] == [1, 3, 0]
    assert figures["voice_kiosk_share"] == 0.5
    assert figures["contained_rate"] == 0.5  # web-1 and phone-1 asked for a person
    handoffs = figures["handoffs"]
    assert (handoffs["total"], handoffs["accepted"], handoffs["abandoned"], handoffs["waiting"]) == (3, 2, 1, 0)
    assert handoffs["median_wait_seconds"] == 110.0  # halfway between 20 s and 200 s
    assert handoffs["p90_wait_seconds"] == 182.0
    assert handoffs["response_rate"] == round(1 / 3, 4)  # only the 20 s one was within 60 s
    assert handoffs["resolution_rate"] == 0.5  # phone-1 asked again within a week
    assert figures["ratings"] == {"1": 1, "2": 0, "3": 0, "4": 0, "5": 1}
    assert figures["satisfaction_rate"] == 0.5
    assert figures["follow_ups"] == {"total": 1, "open": 1, "done": 0}
    applications = figures["applications"]
    assert (applications["started"], applications["submitted"], applications["abandoned"]) == (3, 1, 1)
    permit = next(f for f in applications["by_form"] if f["service"] == "residence_permit")
    assert permit["gave_up_at"] == {"phone": 1}
    appointments = figures["appointments"]
    assert {k: appointments[k] for k in ("booked", "checked_in", "cancelled", "no_show")} == {
        "booked": 4, "checked_in": 1, "cancelled": 1, "no_show": 1}
    assert [c["centre"] for c in appointments["by_centre"]] == ["district_centre", "other_centre"]
    assert figures["understanding"] == {"messages": 4, "below_threshold": 1, "below_threshold_share": 0.25,
                                        "clarifying_questions": 1}
    assert figures["unanswered"] == [{"text": "怎么办理游艇驾照", "count": 3}, {"text": "电话138****5678打不通", "count": 1}]


def test_filters_narrow_the_figures_that_carry_them(fresh_database):
    seed()

    phone = analytics.summary(PERIOD, Filters(channel="phone"), now=NOW)
    assert phone["conversations"] == 1 and phone["handoffs"]["total"] == 2 and phone["ratings"]["1"] == 1
    assert phone["ratings"]["5"] == 0 and phone["unanswered"] == [{"text": "电话138****5678打不通", "count": 1}]
    permit = analytics.summary(PERIOD, Filters(service="residence_permit"), now=NOW)
    assert permit["handoffs"]["total"] == 1 and permit["applications"]["started"] == 2
    assert permit["appointments"]["booked"] == 0
    centre = analytics.summary(PERIOD, Filters(centre="other_centre"), now=NOW)
    assert centre["appointments"]["booked"] == 1 and centre["appointments"]["no_show"] == 0


def test_finished_days_are_rolled_up_once_and_today_stays_live(fresh_database):
    seed()
    seed_engine_events()
    assert analytics_daily.roll_up(PERIOD, NOW) == (2, 0)  # 1 and 2 December are done; none settled yet
    assert analytics_daily.roll_up(PERIOD, NOW) == (0, 0)
    with unit_of_work() as session:
        session.execute(text("INSERT INTO events (id, sender_id, type_name, timestamp, intent_name, data) "
                             "VALUES (99, 'kiosk-1', 'user', :ts, 'nlu_fallback', '{}')"), {"ts": NOW.timestamp() - 30})
    assert analytics.summary(PERIOD, now=NOW)["understanding"]["messages"] == 5


def test_settled_days_read_from_the_roll_up_give_the_same_figures(fresh_database):
    seed()
    seed_engine_events()
    live = analytics.summary(PERIOD, now=NOW)
    later = NOW + dt.timedelta(days=30)

    settled = analytics.summary(PERIOD, now=later)
    phone_live, phone_settled = (analytics.summary(PERIOD, Filters(channel="phone"), now=when) for when in (NOW, later))
    assert phone_settled["handoffs"] == phone_live["handoffs"] and phone_settled["conversations"] == 1
    id_card_live, id_card_settled = (analytics.summary(PERIOD, Filters(service="id_card"), now=when) for when in (NOW, later))
    assert id_card_settled["handoffs"] == id_card_live["handoffs"] and id_card_settled["handoffs"]["total"] == 2
    with unit_of_work() as session:
        # Gone from the tables, still in the roll-up: the figures must come from it.
        session.execute(delete(Handoff))
        session.execute(delete(Conversation))
    from_roll_up = analytics.summary(PERIOD, now=later)

    for figures in (settled, from_roll_up):
        assert figures["conversations"] == live["conversations"] and figures["by_day"] == live["by_day"]
        assert figures["contained_rate"] == live["contained_rate"]
        assert figures["handoffs"] == live["handoffs"]
        assert figures["understanding"] == live["understanding"]


def test_the_same_person_is_the_linked_person_across_conversations_or_else_the_conversation(fresh_database):
    """web-a, phone-b and kiosk-e proved they are one person; web-c and web-d are linked to nobody."""
    def served(conversation: str, channel: str, when: dt.datetime) -> Handoff:
        return Handoff(conversation_id=conversation, channel=channel, service="id_card", reason="requested",
                       status="closed", created_at=when, accepted_at=at(when, seconds=30), closed_at=at(when, minutes=5))

    with unit_of_work() as session:
        person = Person(id_fingerprint="fp-1")
        session.add(person)
        session.flush()
        session.add_all([PersonConversation(conversation_id="web-a", person_id=person.id),
                         PersonConversation(conversation_id="phone-b", person_id=person.id)])
        session.add_all([
            served("web-a", "web", DEC1),
            served("phone-b", "phone", at(DEC1, days=3)),  # the same person, another conversation: web-a reopened
            served("web-c", "web", DEC1),
            served("web-d", "web", at(DEC1, days=3)),  # another conversation of nobody known: web-c stays resolved
        ])
        # A complaint from a third conversation of the person, done a day later: phone-b's handoff reopens it.
        session.add(PersonConversation(conversation_id="kiosk-e", person_id=person.id))
        session.add(StaffTask(kind="complaint", audience="supervisor", conversation_id="kiosk-e", channel="kiosk",
                              service="id_card", summary="", status="done", created_at=DEC1, done_at=at(DEC1, days=1)))
    period = Period(dt.date(2026, 12, 1), dt.date(2026, 12, 6))
    now = dt.datetime(2026, 12, 7, 2, 0, tzinfo=UTC)

    for when in (now, now + dt.timedelta(days=30)):  # live, then from the settled days' roll-up
        handoffs = analytics.summary(period, now=when)["handoffs"]
        # 4 served handoffs and 1 complaint; web-a's handoff and kiosk-e's complaint came back from phone-b.
        assert (handoffs["served_and_complaints"], handoffs["resolved"]) == (5, 3), when
    assert "同一人" in analytics.definitions()["resolution_rate"], "the view says what it counts"


def test_percentiles_interpolate_like_postgresql():
    assert analytics.percentile({}, 0.5) is None
    assert analytics.percentile({20: 1, 200: 1}, 0.5) == 110.0
    assert analytics.percentile({20: 1, 200: 1}, 0.9) == 182.0
    assert analytics.percentile({5: 3, 9: 1}, 0.5) == 5.0
    assert analytics.percentile({7: 1}, 0.9) == 7.0


def test_a_period_with_nothing_in_it_has_no_rates_rather_than_zero(fresh_database):
    figures = analytics.summary(Period(dt.date(2026, 1, 1), dt.date(2026, 1, 31)), now=NOW)
    assert figures["conversations"] == 0 and figures["contained_rate"] is None
    assert figures["handoffs"]["response_rate"] is None and figures["satisfaction_rate"] is None
    assert figures["handoffs"]["median_wait_seconds"] is None and figures["understanding"]["messages"] == 0


def test_the_csv_has_a_header_every_figure_and_no_formula_cells(fresh_database):
    seed()
    with unit_of_work() as session:
        session.add(UnansweredQuestion(conversation_id="web-2", channel="web", text="=HYPERLINK(\"x\")",
                                       reason="low_confidence", created_at=DEC2))
    lines = to_csv(analytics.summary(PERIOD, now=NOW)).splitlines()
    assert lines[0] == "section,item,measure,value"
    assert "conversations,,total,4" in lines and "handoffs,,response_rate,0.3333" in lines
    assert "appointments,district_centre,no_show,1" in lines
    assert "applications,residence_permit,gave_up_at:phone,1" in lines
    assert any(line.startswith("unanswered,\"'=HYPERLINK") for line in lines)


@pytest.mark.parametrize(("first", "last"), [("2026-13-01", "2026-12-31"), ("2026-12-31", "2026-12-01"),
                                             ("2025-01-01", "2026-12-31"), ("yesterday", None)])
def test_a_bad_period_is_refused(first, last):
    with pytest.raises(InvalidRequest):
        parse_period(first, last)


def test_no_period_means_this_month_so_far():
    assert parse_period(None, None, today=dt.date(2026, 12, 6)) == Period(dt.date(2026, 12, 1), dt.date(2026, 12, 6))


def test_the_engines_events_are_indexed_by_time_once_they_exist(fresh_database):
    analytics_daily._events_indexed.discard(str(db_session.get_engine().url))
    assert analytics_daily.index_events() is False, "no events table yet: nothing to index"
    seed_engine_events()
    assert analytics_daily.index_events() is True
    indexes = inspect(db_session.get_engine()).get_indexes("events")
    assert [(i["name"], i["column_names"]) for i in indexes] == [("ix_events_timestamp", ["timestamp"])]
    assert analytics_daily.index_events() is True, "a second call finds it done"
