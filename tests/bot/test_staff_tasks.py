"""What lands on the staff task list: call-backs for everyone, low ratings and complaints for supervisors."""

from __future__ import annotations

import uuid

import pytest

from bot.errors import Conflict, Forbidden
from bot.services import audit, callbacks, feedback, staff


def member(role: str) -> staff.StaffIdentity:
    username = f"t{uuid.uuid4().hex[:8]}"
    staff.create_or_update(username, "password-123", role)
    return staff.identity_for_token(staff.login(username, "password-123"))


def conversation() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


def test_a_call_back_is_a_task_with_the_phone_masked_until_revealed():
    me = member("staff")
    task = callbacks.request_callback(conversation(), "phone", "13912345678", "morning", "senior_card")
    listed = {t.id: t for t in callbacks.tasks(me)}
    assert listed[task.id].phone_masked == "139****5678" and listed[task.id].time_window == "morning"
    assert callbacks.contact(task.id, me) == "13912345678"
    done = callbacks.complete(task.id, me, "已回电，约了周三上午")
    assert done.status == "done" and done.done_by == me.username
    with pytest.raises(Conflict):
        callbacks.complete(task.id, me)
    assert task.id not in {t.id for t in callbacks.tasks(me)}


def closed_handoff(who: str) -> int:
    """A handoff of the conversation that staff served and closed, ready to be rated."""
    from bot.db.models import Handoff
    from bot.db.session import unit_of_work

    with unit_of_work() as session:
        row = Handoff(conversation_id=who, channel="web", reason="requested", status="closed", staff_username="li")
        session.add(row)
        session.flush()
        return row.id


def signed(who: str, subject: str) -> str:
    """What the rating button the server offered to this conversation carries."""
    return feedback.signed_subject(who, subject)


def test_a_good_rating_needs_no_follow_up():
    who = conversation()
    result = feedback.rate(who, "web", signed(who, f"handoff:{closed_handoff(who)}"), 5)
    assert result.follow_up_task_id is None


def test_dissatisfied_or_worse_creates_a_follow_up_for_supervisors_only():
    supervisor, clerk = member("supervisor"), member("staff")
    who = conversation()
    result = feedback.rate(who, "web", signed(who, f"handoff:{closed_handoff(who)}"), 2)
    assert result.follow_up_task_id is not None
    feedback.add_comment(result.rating_id, "等了很久没人理，我的电话13812345678")
    supervisor_sees = {t.id: t for t in callbacks.tasks(supervisor)}
    task = supervisor_sees[result.follow_up_task_id]
    assert task.kind == "low_rating" and "不满意" in task.summary and "等了很久" in task.summary
    assert "13812345678" not in task.summary
    assert result.follow_up_task_id not in {t.id for t in callbacks.tasks(clerk)}
    with pytest.raises(Forbidden):
        callbacks.complete(result.follow_up_task_id, clerk)


def test_a_handoff_is_rated_once_only_by_its_own_conversation_with_the_signed_payload():
    who, stranger = conversation(), conversation()
    handoff_id = closed_handoff(who)
    subject = f"handoff:{handoff_id}"
    with pytest.raises(feedback.RatingRefused):
        feedback.rate(stranger, "web", subject, 1)  # unsigned, as anyone could type it
    with pytest.raises(feedback.RatingRefused):
        feedback.rate(stranger, "web", signed(who, subject), 1)  # replayed from the right conversation's button
    with pytest.raises(feedback.RatingRefused):
        feedback.rate(stranger, "web", signed(stranger, subject), 1)  # a signature cannot make it theirs
    feedback.rate(who, "web", signed(who, subject), 4)
    with pytest.raises(feedback.RatingRefused):
        feedback.rate(who, "web", signed(who, subject), 1)  # once
    refused = [e for e in audit.recent(staff_username="resident") if e.action == "rating_refused"]
    assert {e.subject for e in refused} >= {f"conversation:{stranger}", f"conversation:{who}"}


def test_complaints_are_recorded_for_supervisors_with_numbers_masked():
    supervisor = member("supervisor")
    task_id = feedback.record_complaint(conversation(), "web", "窗口态度太差了，身份证110101195803124512", "id_card")
    task = {t.id: t for t in callbacks.tasks(supervisor, kind="complaint")}[task_id]
    assert "态度太差" in task.summary and "110101195803124512" not in task.summary


def test_the_rating_question_offers_five_levels_best_first():
    question, buttons = feedback.rating_question("c-1", "handoff:3")
    assert question and [b["title"] for b in buttons] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    subject = feedback.signed_subject("c-1", "handoff:3")
    assert buttons[0]["payload"] == f'/rate{{"rating": "5", "rated": "{subject}"}}'
