"""The requests residents used to lose, through the real stack (trained model, actions, database).

Bookings and changes for a named service, long stories, relatives and ages instead of a
service name, yes and no after an offer, "I cannot go there", everyday requests that are
not services, a rating comment about booking, and buttons whose payload carries entities.
"""

from __future__ import annotations

import pytest

from tests.stack.test_handoff_flow import Desk, all_text, inbox, payloads

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

HOTLINE = "12345"


def test_a_visit_booked_for_a_named_service_asks_only_what_is_missing(stack, conversation_id):
    reply = stack.chat(conversation_id, "社保卡补办这个事我想约个时间去大厅当面办")
    assert reply["state"]["requested_slot"] == "appointment_district", all_text(reply)
    assert "哪个区" in all_text(reply)


def test_moving_an_appointment_is_a_change_not_a_new_booking(stack, conversation_id):
    reply = stack.chat(conversation_id, "帮我改到后天")
    assert reply["state"]["requested_slot"] == "appointment_code", all_text(reply)


def test_a_long_story_gets_the_answer_to_its_question(stack, conversation_id):
    story = ("我在这边厂里上班两年多了 老家那张社保卡早就丢了 一直没补 现在厂里要卡号 "
             "我想问问补一张大概要多久能办下来 厂里催得紧")
    reply = stack.chat(conversation_id, story)
    assert "社保卡办理时间" in all_text(reply), all_text(reply)


def test_a_parent_and_an_age_find_the_allowance_and_the_follow_up_keeps_it(stack, conversation_id):
    reply = stack.chat(conversation_id, "我爸八十五了，听说有钱领，怎么弄")
    assert "高龄津贴" in all_text(reply) and "还没有资料" not in all_text(reply)
    reply = stack.chat(conversation_id, "要带啥")
    assert "办高龄津贴" in all_text(reply), all_text(reply)


def test_yes_after_the_offer_to_apply_starts_the_application(stack, conversation_id):
    reply = stack.chat(conversation_id, "高龄津贴怎么申请")
    assert "要我现在一步步帮您申请吗" in all_text(reply)
    reply = stack.chat(conversation_id, "好的")
    assert reply["state"]["form"] == "senior_allowance", all_text(reply)
    assert reply["state"]["requested_slot"] is not None


def test_no_after_the_offer_starts_nothing(stack, conversation_id):
    stack.chat(conversation_id, "高龄津贴怎么申请")
    reply = stack.chat(conversation_id, "不用了")
    assert reply["state"]["form"] is None and reply["state"]["requested_slot"] is None
    assert "先不办" in all_text(reply)


def test_a_yes_long_after_the_offer_starts_nothing(stack, conversation_id):
    stack.chat(conversation_id, "高龄津贴怎么申请")
    stack.chat(conversation_id, "谢谢")
    reply = stack.chat(conversation_id, "好的")
    assert reply["state"]["form"] is None and reply["state"]["requested_slot"] is None


def test_cannot_go_gets_proxy_and_home_visit_and_a_yes_arranges_a_call_back(stack, conversation_id):
    reply = stack.chat(conversation_id, "我爸瘫在床上，高龄津贴能不能让我去代办")
    text = all_text(reply)
    assert "代办" in text and "上门" in text, text
    assert "/request_callback" in payloads(reply["messages"])
    reply = stack.chat(conversation_id, "行")
    assert reply["state"]["requested_slot"] == "callback_phone", all_text(reply)


def test_cannot_go_without_a_service_still_gets_a_way(stack, conversation_id):
    reply = stack.chat(conversation_id, "他腿脚不好去不了怎么办")
    text = all_text(reply)
    assert "代办" in text and "上门" in text, text
    assert any('"detail": "access"' in p for p in payloads(reply["messages"]))


def test_an_everyday_request_gets_the_hotline_and_services_and_never_a_form(stack, conversation_id):
    for request in ("帮我写一首诗", "红烧肉怎么做才好吃"):
        reply = stack.chat(conversation_id, request)
        assert reply["state"]["form"] is None and reply["state"]["requested_slot"] is None, request
        assert HOTLINE in all_text(reply) and "政务服务" in all_text(reply), all_text(reply)
        assert '/ask_how_to_apply{"service": "social_security_card"}' in payloads(reply["messages"])
        conversation_id += "-next"  # twice in a row would hand over to a person


def test_a_message_pointing_to_two_services_residents_mix_up_asks_which_is_meant(stack, conversation_id):
    reply = stack.chat(conversation_id, "我奶奶九十一了 那个认证是不是每年都要做")
    buttons = payloads(reply["messages"])
    assert any('"service": "senior_allowance"' in b for b in buttons), all_text(reply)
    assert any('"service": "pension_qualification"' in b for b in buttons), all_text(reply)


def test_a_service_guessed_from_one_weak_word_is_asked_about_not_answered(stack, conversation_id):
    # "外地户口" alone only hints at a residence permit: many services ask where a person's 户口 is.
    reply = stack.chat(conversation_id, "我是外地户口 这边给不给办")
    buttons = [b["payload"] for m in reply["messages"] for b in m["buttons"]]
    assert "哪一项" in all_text(reply), all_text(reply)
    assert '"service": "residence_permit"' in buttons[0] and len(buttons) > 1


def test_a_rating_comment_about_booking_is_saved_not_booked(stack, conversation_id):
    desk, supervisor = Desk(stack), Desk(stack, "supervisor")
    stack.chat(conversation_id, "我要找工作人员")
    queued = desk.waiting_for(conversation_id)
    desk.post(f"/handoffs/{queued['id']}/accept")
    cursor = inbox(stack, conversation_id)["cursor"]
    desk.post(f"/handoffs/{queued['id']}/close", {"resolution_note": "已答复"})
    rating = [b for m in inbox(stack, conversation_id, cursor)["messages"] for b in m["buttons"]]
    reply = stack.chat(conversation_id, next(b["payload"] for b in rating if b["title"] == "不满意"))
    assert reply["state"]["requested_slot"] == "feedback_comment"
    reply = stack.chat(conversation_id, "预约的时间太少")
    assert reply["state"]["requested_slot"] is None and "负责人" in all_text(reply), all_text(reply)
    tasks = supervisor.get("/tasks", kind="low_rating").json()
    assert any(t["conversation_id"] == conversation_id and "预约的时间太少" in t["summary"] for t in tasks)


def test_a_button_whose_payload_carries_entities_logs_no_placeholder_error(stack, conversation_id):
    stack.chat(conversation_id, "/request_callback")
    reply = stack.chat(conversation_id, "13912345678")
    assert '/inform{"time_window": "morning"}' in payloads(reply["messages"])
    reply = stack.chat(conversation_id, '/inform{"time_window": "morning"}')
    assert "139****5678" in all_text(reply)
    assert "interpolator" not in stack.log_text()
