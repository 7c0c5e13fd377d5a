"""The staff queue: places and waits, accepting, answering, closing with a rating, time-outs, what staff read."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import update

from bot.db.models import Handoff
from bot.db.session import unit_of_work
from bot.errors import Conflict, Forbidden
from bot.services import conversations, handoff, staff
from bot.settings import get_settings
from tests.fakes import tracker

# Monday 3 March 2031, 10:00 in the city (02:00 UTC): the centres are open and no other test's staff are about.
OPEN = dt.datetime(2031, 3, 3, 2, 0, tzinfo=dt.timezone.utc)
# The Sunday before, 20:00 in the city: every centre is closed.
CLOSED = dt.datetime(2031, 3, 2, 12, 0, tzinfo=dt.timezone.utc)


def person(channel: str = "web") -> str:
    conversation_id = f"p-{uuid.uuid4().hex[:10]}"
    conversations.ensure(conversation_id, channel, "zh-CN")
    return conversation_id


def member(role: str = "staff", now: dt.datetime | None = None) -> staff.StaffIdentity:
    username = f"m{uuid.uuid4().hex[:8]}"
    staff.create_or_update(username, "password-123", role)
    return staff.identity_for_token(staff.login(username, "password-123", now=now), now=now)


@pytest.fixture(autouse=True)
def empty_queue():
    """Each test starts with nobody waiting, so places in the queue are predictable."""
    with unit_of_work() as session:
        session.execute(update(Handoff).where(Handoff.status != "closed").values(status="closed"))


def test_the_queue_tells_the_place_and_emergencies_go_first():
    first, second, urgent = person(), person(), person()
    assert handoff.request(first, "web", None, "requested").position == 1
    assert handoff.request(second, "web", None, "requested").position == 2
    assert handoff.request(urgent, "telegram", None, "emergency").position == 1
    assert [v.conversation_id for v in handoff.queue("waiting")] == [urgent, first, second]
    again = handoff.request(first, "web", None, "requested")
    assert again.already_open and again.position == 2 and handoff.status_of(first) == "waiting"


def test_nobody_on_duty_or_outside_opening_hours_means_not_staffed():
    assert not handoff.request(person(), "web", None, "requested", now=OPEN).staffed
    member(now=OPEN)
    place = handoff.request(person(), "web", None, "requested", now=OPEN)
    assert place.staffed and place.wait_minutes >= handoff.MINUTES_PER_PERSON
    member(now=CLOSED)
    assert not handoff.request(person(), "web", None, "requested", now=CLOSED).staffed


def test_accepting_makes_the_handoff_active_and_tells_the_person():
    conversation_id, me, colleague = person(), member(), member()
    place = handoff.request(conversation_id, "web", "residence_permit", "requested")
    view = handoff.accept(place.handoff_id, me.username)
    assert view.status == "active" and view.staff_username == me.username
    assert handoff.status_of(conversation_id) == "active"
    with pytest.raises(Conflict):
        handoff.accept(place.handoff_id, colleague.username)
    assert conversations.messages_after(conversation_id, None)[-1].sender == "assistant"


def test_staff_answers_reach_the_person_and_only_the_serving_member_or_a_supervisor_answers():
    conversation_id, me, colleague, supervisor = person("telegram"), member(), member(), member("supervisor")
    handoff_id = handoff.request(conversation_id, "telegram", None, "requested").handoff_id
    handoff.accept(handoff_id, me.username)
    handoff.send_staff_message(handoff_id, me, "您好，请问您要办什么？")
    with pytest.raises(Forbidden):
        handoff.send_staff_message(handoff_id, colleague, "我来")
    handoff.send_staff_message(handoff_id, supervisor, "我是值班长")
    pushed = [(m.sender, m.text) for m in conversations.messages_after(conversation_id, None)]
    assert ("staff", "您好，请问您要办什么？") in pushed and ("staff", "我是值班长") in pushed


def test_closing_hands_back_to_the_assistant_and_asks_for_a_rating():
    conversation_id, me = person(), member()
    handoff_id = handoff.request(conversation_id, "web", None, "requested").handoff_id
    handoff.accept(handoff_id, me.username)
    view = handoff.close(handoff_id, me, "已解答社保卡补办")
    assert view.status == "closed" and view.resolution_note == "已解答社保卡补办"
    assert handoff.status_of(conversation_id) == "none"
    rating = conversations.messages_after(conversation_id, None)[-1]
    assert [b["title"] for b in rating.buttons] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert all(b["payload"].startswith("/rate") and f"handoff:{handoff_id}" in b["payload"] for b in rating.buttons)
    with pytest.raises(Conflict):
        handoff.send_staff_message(handoff_id, me, "还在吗")


def test_a_handoff_nobody_accepts_in_time_becomes_the_offer_of_an_appointment_or_a_call_back():
    waiting, served, me = person(), person(), member()
    waiting_id = handoff.request(waiting, "web", None, "requested").handoff_id
    served_id = handoff.request(served, "web", None, "requested").handoff_id
    handoff.accept(served_id, me.username)
    timeout = get_settings().handoff_accept_timeout_seconds
    assert handoff.expire_unaccepted(now=dt.datetime.now(dt.timezone.utc)) == []
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=timeout + 1)
    assert handoff.expire_unaccepted(now=later) == [waiting_id]
    assert handoff.status_of(waiting) == "none" and handoff.status_of(served) == "active"
    offer = conversations.messages_after(waiting, None)[-1]
    assert {b["payload"] for b in offer.buttons} == {"/book_appointment", "/request_callback"}
    assert handoff.expire_unaccepted(now=later) == [], "the offer is made once"


def test_choosing_an_appointment_instead_leaves_the_queue():
    conversation_id = person()
    handoff.request(conversation_id, "web", None, "requested")
    assert handoff.withdraw(conversation_id, "appointment")
    assert handoff.status_of(conversation_id) == "none"


def test_staff_read_who_it_is_how_far_the_form_got_and_what_was_said_masked():
    conversation_id, me = person(), member()
    tracker.write_events(conversation_id, [
        tracker.user("我要办居住证", "start_application"),
        tracker.loop("residence_permit"),
        tracker.slot("full_name", "张建国"),
        tracker.slot("phone", "13812345678"),
        tracker.slot("requested_slot", "id_number"),
        tracker.bot("请输入18位身份证号"),
        tracker.user("110101195803124512"),
        tracker.user("/request_human", "request_human"),
    ])
    handoff_id = handoff.request(conversation_id, "web", "residence_permit", "validation").handoff_id
    handoff.accept(handoff_id, me.username)
    handoff.add_person_message(conversation_id, "我的电话是13812345678")
    handoff.send_staff_message(handoff_id, me, "收到")
    seen = handoff.detail(handoff_id)
    assert seen.person == {"name": "张**", "phone": "138****5678"}
    assert seen.form["name"] == "residence_permit" and seen.form["requested_slot"] == "id_number"
    assert {"full_name", "phone"} <= set(seen.form["filled"])
    said = [(line.sender, line.text) for line in seen.transcript]
    assert said[0] == ("person", "我要办居住证") and ("staff", "收到") in said
    everything = " ".join(text for _, text in said)
    assert "13812345678" not in everything and "110101195803124512" not in everything
    assert ("person", "[request_human]") in said


def test_who_may_read_a_conversation():
    me, colleague, supervisor = member(), member(), member("supervisor")
    handoff_id = handoff.request(person(), "web", None, "requested").handoff_id
    handoff.accept(handoff_id, me.username)
    view = handoff.get(handoff_id)
    assert handoff.can_read(me, view) and handoff.can_read(supervisor, view)
    assert not handoff.can_read(colleague, view)


def test_a_long_queue_is_busy_rather_than_staffed():
    tuesday = OPEN + dt.timedelta(days=1)  # one staff member alone on duty
    member(now=tuesday)
    places = [handoff.request(person(), "web", None, "requested", now=tuesday) for _ in range(7)]
    assert places[0].staffed and not places[0].busy
    assert places[-1].busy and not places[-1].staffed
    assert places[-1].wait_minutes > handoff.MAX_WAIT_MINUTES
