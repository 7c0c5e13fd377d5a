"""The booking, changing, call-back and rating actions, run directly: a recorded tracker in, slots and words out."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import update

from bot import texts
from bot.actions import appointments as booking
from bot.actions import feedback as rating
from bot.actions import handoff as handoff_actions
from bot.db.models import Handoff
from bot.db.session import unit_of_work
from bot.services import appointments, callbacks, conversations, handoff, staff
from bot.services import feedback as feedback_service
from bot.knowledge.catalogue import get_catalogue
from tests.bot.test_forms_validation import domain


def tracker(text: str, *, intent: str = "inform", entities: dict[str, str] | None = None,
            slots: dict[str, Any] | None = None, form: str | None = None, requested: str | None = None,
            fill: bool = True, events: list[dict[str, Any]] | None = None) -> Tracker:
    """The tracker an action receives after the person said `text` (filling `requested` when `fill`)."""
    conversation_id = f"d-{uuid.uuid4().hex[:10]}"
    conversations.ensure(conversation_id, "web", "zh-CN")
    message = {"text": text, "intent": {"name": intent, "confidence": 0.95},
               "entities": [{"entity": k, "value": v} for k, v in (entities or {}).items()],
               "metadata": {"channel": "web"}}
    current = {"requested_slot": requested, **(slots or {})}
    recorded = list(events or []) + [{"event": "user", "text": text, "parse_data": message}]
    if requested and fill:
        current[requested] = text
        recorded.append({"event": "slot", "name": requested, "value": text})
    return Tracker(conversation_id, current, message, recorded, False, None,
                   {"name": form} if form else {}, "action_listen")


def run(action: Action, state: Tracker) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Runs an action; returns the slots it set, what it said, and all its events."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, state, domain()))
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}, dispatcher.messages, events


def said(messages: list[dict[str, Any]]) -> str:
    """What the person reads: each message's text, as the domain response would give it."""
    return "\n".join(m.get("text") or texts.text(m["response"]) if m.get("response") else m.get("text") or ""
                     for m in messages)


def buttons(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [b for m in messages for b in m.get("buttons") or []]


def booking_tracker(text: str, requested: str, **kwargs: Any) -> Tracker:
    return tracker(text, form="appointment_form", requested=requested, **kwargs)


def test_the_district_comes_from_a_button_or_from_words():
    slots, _, _ = run(booking.ValidateAppointmentForm(), booking_tracker(
        '/inform{"district": "西城区"}', "appointment_district", entities={"district": "西城区"},
        slots={"service": "id_card"}))
    assert slots["appointment_district"] == "西城区"
    slots, _, _ = run(booking.ValidateAppointmentForm(), booking_tracker(
        "我住南湖那边", "appointment_district", slots={"service": "id_card"}))
    assert slots["appointment_district"] == "南湖区"


def test_the_next_free_slots_of_the_nearest_centre_are_offered_in_plain_words():
    state = booking_tracker("", "appointment_slot", fill=False,
                            slots={"service": "disability_certificate", "appointment_district": "西城区"})
    slots, messages, _ = run(booking.ActionAskAppointmentSlot(), state)
    assert "西城区政务服务中心" in said(messages)
    offered = buttons(messages)
    assert len(offered) == len(slots["appointment_options"]) >= 3
    assert all(b["payload"].startswith('/inform{"appointment_slot": "west_centre@') for b in offered)
    assert "星期" in offered[0]["title"] and ("上午" in offered[0]["title"] or "下午" in offered[0]["title"])


def test_a_spoken_choice_picks_one_of_the_offered_slots():
    options = ["west_centre@2030-03-04T09:00", "west_centre@2030-03-04T09:30"]
    slots, _, _ = run(booking.ValidateAppointmentForm(), booking_tracker(
        "第二个", "appointment_slot", slots={"service": "id_card", "appointment_options": options}))
    assert slots["appointment_slot"] == options[1]


def test_a_name_given_earlier_is_offered_back_and_yes_takes_it():
    known = {"service": "id_card", "full_name": "王德福"}
    _, messages, _ = run(booking.ActionAskAppointmentName(), booking_tracker("", "appointment_name", fill=False,
                                                                             slots=known))
    assert "王**" in said(messages) and "王德福" not in said(messages)
    slots, _, _ = run(booking.ValidateAppointmentForm(), booking_tracker("/affirm", "appointment_name",
                                                                         intent="affirm", slots=known))
    assert slots["appointment_name"] == "王德福"


def test_a_wrong_phone_is_explained_and_the_second_wrong_answer_brings_in_staff():
    slots, messages, _ = run(booking.ValidateAppointmentForm(), booking_tracker(
        "12345", "appointment_phone", slots={"service": "id_card"}))
    assert slots["appointment_phone"] is None and slots["form_failures"] == 1 and "11位" in said(messages)
    state = booking_tracker("还是12345", "appointment_phone", slots={"service": "id_card", "form_failures": 1})
    slots, messages, _ = run(booking.ValidateAppointmentForm(), state)
    assert slots["requested_slot"] is None and slots["form_ended_early"] is True
    assert handoff.status_of(state.sender_id) == "waiting" and "工作人员" in said(messages)


def test_booking_gives_the_code_the_materials_the_green_channel_and_asks_for_a_rating():
    start = appointments.free_slots("east_centre", limit=1)[0].start
    state = tracker("/affirm", slots={
        "service": "senior_card", "appointment_slot": appointments.slot_key("east_centre", start),
        "appointment_name": "刘桂兰", "appointment_phone": "15907661234"})
    slots, messages, _ = run(booking.ActionBookAppointment(), state)
    code = slots["appointment_reference"]
    assert appointments.find(code).status == "booked" and code in said(messages)
    centre, service = get_catalogue().centres["east_centre"], get_catalogue().services["senior_card"]
    assert service.materials_summary in said(messages) and centre.green_channel_note in said(messages)
    # A web resident is offered texts to the number booked with, then asked for a rating.
    assert buttons(messages)[0]["payload"] == "/sms_opt_in" and "159****1234" in said(messages)
    assert len(buttons(messages)) == 6 and f"appointment:{code}" in buttons(messages)[1]["payload"]
    assert slots["appointment_name"] is None and slots["appointment_phone"] is None


def test_a_slot_taken_meanwhile_offers_the_slots_again():
    centre = get_catalogue().centres["disabled_persons_federation"]
    start = appointments.free_slots(centre.id, limit=1)[0].start
    for index in range(centre.capacity_per_slot):
        conversations.ensure(f"full-{index}", "web", "zh-CN")
        appointments.book(f"full-{index}", "web", "disability_certificate", centre.id, start, "张建国", "13812345678")
    state = tracker("13812345678", slots={
        "service": "disability_certificate", "appointment_slot": appointments.slot_key(centre.id, start),
        "appointment_name": "李秀英", "appointment_phone": "13812345678"})
    slots, messages, events = run(booking.ActionBookAppointment(), state)
    assert slots == {"appointment_slot": None} and "约满" in said(messages)
    # The form active again before it runs: started anew, it would take the time just found full once more.
    assert [(e["event"], e["name"]) for e in events if e["event"] in ("active_loop", "followup")] == [
        ("active_loop", "appointment_form"), ("followup", "appointment_form")]


def test_cancelling_by_code_typed_loosely_and_the_phone_s_last_digits():
    start = appointments.free_slots("north_centre", limit=1)[0].start
    conversations.ensure("cx-1", "web", "zh-CN")
    booked = appointments.book("cx-1", "web", "senior_card", "north_centre", start, "周玉梅", "13500001111")
    typed = booked.reference.lower().replace("-", " ")
    slots, _, _ = run(booking.ValidateAppointmentChangeForm(), tracker(
        typed, form="appointment_change_form", requested="appointment_code"))
    assert slots["appointment_code"] == booked.reference and slots["appointment_phone_tail"] is None
    slots, _, _ = run(booking.ValidateAppointmentChangeForm(), tracker(
        "尾号是 幺幺一1", slots={"appointment_code": booked.reference}, form="appointment_change_form",
        requested="appointment_phone_tail"))
    assert slots["appointment_phone_tail"] == "1111"
    state = tracker('/inform{"appointment_change": "cancel"}', slots={
        "appointment_code": booked.reference, "appointment_phone_tail": "1111", "appointment_change": "cancel",
        "appointment_reference": booked.reference})
    slots, messages, _ = run(booking.ActionChangeAppointment(), state)
    assert appointments.find(booked.reference).status == "cancelled" and slots["appointment_reference"] is None
    assert booked.reference in said(messages)


def test_a_code_that_is_no_code_is_explained():
    slots, messages, _ = run(booking.ValidateAppointmentChangeForm(), tracker(
        "明天上午", form="appointment_change_form", requested="appointment_code"))
    assert slots["appointment_code"] is None and "没找到" in said(messages)


def _digits_tried(code: str, digits: str, conversation_id: str | None = None) -> tuple[dict[str, Any], str]:
    state = tracker(digits, slots={"appointment_code": code}, form="appointment_change_form",
                    requested="appointment_phone_tail")
    if conversation_id:
        state.sender_id = conversation_id
    slots, messages, _ = run(booking.ValidateAppointmentChangeForm(), state)
    return slots, said(messages)


def test_unknown_code_wrong_digits_and_a_cancelled_booking_get_one_same_answer():
    start = appointments.free_slots("north_centre", limit=1)[0].start
    conversations.ensure("cx-2", "web", "zh-CN")
    booked = appointments.book("cx-2", "web", "senior_card", "north_centre", start, "周玉梅", "13500002222")
    start = appointments.free_slots("north_centre", limit=1)[0].start
    cancelled = appointments.book("cx-2", "web", "senior_card", "north_centre", start, "周玉梅", "13500003333")
    appointments.cancel(cancelled.reference)
    answers = [_digits_tried("YY-ZZZZZZ", "2222"), _digits_tried(booked.reference, "2223"),
               _digits_tried(cancelled.reference, "3333")]
    for slots, words in answers:
        assert slots["appointment_phone_tail"] is None and slots["appointment_code"] is None
        assert words == texts.text("utter_appointment_not_matched")
    assert appointments.find(booked.reference).status == "booked"


def test_five_wrong_digits_pause_the_conversation_even_for_the_right_ones():
    start = appointments.free_slots("north_centre", limit=1)[0].start
    conversations.ensure("cx-3", "web", "zh-CN")
    booked = appointments.book("cx-3", "web", "senior_card", "north_centre", start, "周玉梅", "13500004444")
    guesser = f"g-{uuid.uuid4().hex[:10]}"
    conversations.ensure(guesser, "web", "zh-CN")
    for digits in ("0000", "0001", "0002", "0003"):
        _, words = _digits_tried(booked.reference, digits, guesser)
        assert words == texts.text("utter_appointment_not_matched")
    slots, words = _digits_tried(booked.reference, "0004", guesser)
    assert "15" in words and slots[handoff_actions.ENDED_EARLY] is True
    slots, words = _digits_tried(booked.reference, "4444", guesser)
    assert slots["appointment_phone_tail"] is None and "15" in words
    # The same code is paused from any other conversation too (no spreading of guesses), and nothing changed.
    slots, _ = _digits_tried(booked.reference, "4444")
    assert slots["appointment_phone_tail"] is None and appointments.find(booked.reference).status == "booked"


def test_a_code_swapped_after_its_digits_were_checked_changes_nothing():
    start = appointments.free_slots("north_centre", limit=1)[0].start
    conversations.ensure("cx-4", "web", "zh-CN")
    mine = appointments.book("cx-4", "web", "senior_card", "north_centre", start, "周玉梅", "13500005555")
    start = appointments.free_slots("north_centre", limit=1)[0].start
    theirs = appointments.book("cx-4", "web", "senior_card", "north_centre", start, "张建国", "13800006666")
    state = tracker('/inform{"appointment_change": "cancel"}', slots={
        "appointment_code": theirs.reference, "appointment_phone_tail": "5555", "appointment_change": "cancel"})
    _, messages, _ = run(booking.ActionChangeAppointment(), state)
    assert said(messages) == texts.text("utter_appointment_not_matched")
    assert appointments.find(theirs.reference).status == "booked" and appointments.find(mine.reference)


def test_a_call_back_request_becomes_a_task_with_the_phone_masked_in_the_answer():
    slots, _, _ = run(handoff_actions.ValidateCallbackForm(), tracker(
        '/inform{"time_window": "afternoon"}', entities={"time_window": "afternoon"}, form="callback_form",
        requested="callback_window"))
    assert slots["callback_window"] == "afternoon"
    state = tracker("/inform", slots={"callback_phone": "13912345678", "callback_window": "afternoon"})
    _, messages, _ = run(handoff_actions.ActionRequestCallback(), state)
    assert "139****5678" in said(messages) and "下午" in said(messages)
    username = f"cb{uuid.uuid4().hex[:6]}"
    staff.create_or_update(username, "password-123", "staff")
    me = staff.identity_for_token(staff.login(username, "password-123"))
    assert any(t.conversation_id == state.sender_id for t in callbacks.tasks(me))


def test_a_low_rating_asks_for_a_comment_and_a_good_one_is_thanked():
    for level, low in (("1", True), ("5", False)):
        state = tracker(f"/rate{level}", intent="rate")
        with unit_of_work() as session:
            handoff = Handoff(conversation_id=state.sender_id, channel="web", reason="requested", status="closed")
            session.add(handoff)
            session.flush()
            subject = f"handoff:{handoff.id}"
        rated = feedback_service.signed_subject(state.sender_id, subject)
        state.latest_message["entities"] = [{"entity": "rating", "value": level}, {"entity": "rated", "value": rated}]
        slots, messages, _ = run(rating.ActionRecordRating(), state)
        assert slots["rating_low"] is low and (not messages if low else "谢谢" in said(messages))
    # The same button pressed again, or a payload typed by hand, is not another rating.
    again, messages, _ = run(rating.ActionRecordRating(), state)
    assert again["rating_low"] is False and said(messages) == texts.text("utter_rating_not_understood")
    forged = tracker('/rate{"rating": "1", "rated": "handoff:5"}', intent="rate",
                     entities={"rating": "1", "rated": "handoff:5"})
    _, messages, _ = run(rating.ActionRecordRating(), forged)
    assert said(messages) == texts.text("utter_rating_not_understood")


def test_emergencies_get_the_emergency_numbers_before_the_queue():
    with unit_of_work() as session:
        session.execute(update(Handoff).where(Handoff.status != "closed").values(status="closed"))
    state = tracker("有人晕倒了 救命", intent="emergency")
    _, messages, _ = run(handoff_actions.ActionRequestHandoff(), state)
    emergency = get_catalogue().city.emergency
    assert emergency["ambulance"] in messages[0]["text"] and emergency["police"] in messages[0]["text"]
    assert "第1位" in said(messages[1:])
    assert handoff.queue("waiting")[0].reason == "emergency"


def test_choosing_an_appointment_leaves_the_staff_queue():
    state = tracker("/book_appointment", intent="book_appointment")
    handoff.request(state.sender_id, "web", None, "requested")
    run(booking.ActionStartAppointment(), state)
    assert handoff.status_of(state.sender_id) == "none"
