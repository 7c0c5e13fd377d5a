"""Nobody on duty → an appointment at a centre → a reminder the day before → cancelled, through the real stack."""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import sqlite3
import subprocess
import sys
import uuid

import pytest

from bot import texts
from bot.services import appointments, conversations
from bot.settings import REPO_ROOT
from bot.knowledge.catalogue import get_catalogue
from tests.stack.conftest import this_process_on

pytestmark = pytest.mark.stack


def all_text(reply: dict) -> str:
    return "\n".join(m["text"] for m in reply["messages"])


def buttons(reply: dict) -> list[dict]:
    return [b for m in reply["messages"] for b in m["buttons"]]


def nobody_on_duty(stack) -> None:
    """Every staff login of the stack ends, as at night when the console is closed."""
    path = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=15) as connection:
        connection.execute("UPDATE staff_sessions SET revoked_at = CURRENT_TIMESTAMP WHERE revoked_at IS NULL")


def inbox(stack, conversation_id: str) -> list[dict]:
    return stack.pushed(conversation_id).json()["messages"]


def test_nobody_on_duty_appointment_booked_reminded_and_cancelled(stack, conversation_id):
    nobody_on_duty(stack)
    stack.chat(conversation_id, "社保卡丢了怎么补")
    reply = stack.chat(conversation_id, "转人工")
    assert "没有工作人员在线" in all_text(reply)
    assert {"/book_appointment", "/request_callback"} <= {b["payload"] for b in buttons(reply)}

    reply = stack.chat(conversation_id, "/book_appointment")
    assert reply["state"]["handoff"] == "none", "choosing a visit leaves the staff queue"
    assert reply["state"]["requested_slot"] == "appointment_district"
    district = next(b for b in buttons(reply) if "东城区" in b["title"])
    reply = stack.chat(conversation_id, district["payload"])
    slots = buttons(reply)
    assert slots and all("星期" in b["title"] for b in slots) and "东城区政务服务中心" in all_text(reply)

    chosen = slots[0]
    centre_id, start = appointments.parse_slot_key(chosen["payload"].split('"appointment_slot": "')[1].rstrip('"}'))
    reply = stack.chat(conversation_id, chosen["payload"])
    assert reply["state"]["requested_slot"] == "appointment_name"
    reply = stack.chat(conversation_id, "张建国")
    assert reply["state"]["requested_slot"] == "appointment_phone"
    reply = stack.chat(conversation_id, "13812345678")
    code = reply["state"]["appointment_reference"]
    assert code and code in all_text(reply) and reply["state"]["form"] is None
    service = get_catalogue().services["social_security_card"]
    assert service.materials_summary in all_text(reply)
    assert "绿色通道" in all_text(reply) or get_catalogue().centres[centre_id].green_channel_note in all_text(reply)

    # The reminder job, run as an operator would at the centres' local time one hour before the visit.
    subprocess.run([sys.executable, "-m", "bot.cli", "reminders", "--now", (start - dt.timedelta(hours=1)).isoformat()],
                   cwd=REPO_ROOT, env=stack.env, check=True, capture_output=True)
    reminders = [m for m in inbox(stack, conversation_id) if code in m["text"]]
    assert len(reminders) == 1 and reminders[0]["from"] == "assistant"

    reply = stack.chat(conversation_id, reminders[0]["buttons"][0]["payload"])
    assert reply["state"]["requested_slot"] == "appointment_phone_tail", all_text(reply)
    reply = stack.chat(conversation_id, "5679")
    assert "对不上" in all_text(reply) and code not in all_text(reply)
    reply = stack.chat(conversation_id, code)
    assert reply["state"]["requested_slot"] == "appointment_phone_tail", all_text(reply)
    reply = stack.chat(conversation_id, "5678")
    assert code in all_text(reply)
    cancel = next(b for b in buttons(reply) if "取消" in b["title"])
    reply = stack.chat(conversation_id, cancel["payload"])
    assert "已经取消" in all_text(reply) and reply["state"]["appointment_reference"] is None


def test_parallel_bookings_through_the_assistant_never_overbook(stack, conversation_id):
    centre = get_catalogue().centres["xinhua_street_centre"]
    day = dt.date.today() + dt.timedelta(days=20)
    while not appointments.day_slots(centre, day):
        day += dt.timedelta(days=1)
    start = appointments.day_slots(centre, day)[0][0]
    people = [f"{conversation_id}-{i}" for i in range(centre.capacity_per_slot + 3)]
    for person in people:
        stack.chat(person, '/book_appointment{"service": "social_security_card"}')
        stack.chat(person, '/inform{"district": "东城区"}')
        stack.chat(person, '/inform{"appointment_slot": "' + appointments.slot_key(centre.id, start) + '"}')
        stack.chat(person, "王德福")

    with concurrent.futures.ThreadPoolExecutor(len(people)) as pool:
        replies = list(pool.map(lambda p: stack.chat(p, "13912345678", timeout=60), people))
    booked = [r for r in replies if r["state"]["appointment_reference"]]
    assert len(booked) == centre.capacity_per_slot
    assert all(r["state"]["requested_slot"] == "appointment_slot" for r in replies if r not in booked), \
        "the others are offered other times"


TAKEN = texts.text("utter_appointment_slot_taken")


def offered(reply: dict) -> list[str]:
    """The payloads of the times a reply offers."""
    return [b["payload"] for b in buttons(reply) if "appointment_slot" in b["payload"]]


def taken_by_others(stack, payload: str) -> None:
    """Other residents book every seat left of the time a button offers, as if they had been a moment quicker."""
    centre_id, start = appointments.parse_slot_key(payload.split('"appointment_slot": "')[1].rstrip('"}'))
    with this_process_on(stack.env["DATABASE_URL"]), contextlib.suppress(appointments.SlotFull):
        for _ in range(get_catalogue().centres[centre_id].capacity_per_slot):
            other = f"quicker-{uuid.uuid4().hex[:8]}"
            conversations.ensure(other, "web", "zh-CN")
            appointments.book(other, "web", "social_security_card", centre_id, start, "王德福",
                              f"139{uuid.uuid4().int % 10**8:08d}")


def test_two_chosen_times_taken_one_after_the_other_are_each_said_once_and_the_booking_goes_on(
        stack, conversation_id):
    stack.chat(conversation_id, '/book_appointment{"service": "social_security_card"}')
    reply = stack.chat(conversation_id, '/inform{"district": "东城区"}')
    first, second = offered(reply)[:2]
    stack.chat(conversation_id, first)
    reply = stack.chat(conversation_id, "张建国")
    assert reply["state"]["requested_slot"] == "appointment_phone", all_text(reply)

    taken_by_others(stack, first)
    reply = stack.chat(conversation_id, "13812345678")
    assert all_text(reply).count(TAKEN) == 1 and reply["state"]["requested_slot"] == "appointment_slot", \
        all_text(reply)

    # The second time, picked from the buttons, is taken too before the booking: said once, and other times offered.
    taken_by_others(stack, second)
    reply = stack.chat(conversation_id, second)
    assert all_text(reply).count(TAKEN) == 1, all_text(reply)
    assert reply["state"]["requested_slot"] == "appointment_slot", all_text(reply)
    assert offered(reply) and first not in offered(reply) and second not in offered(reply)

    # The name and the phone number given before still hold: the next time picked is booked at once.
    reply = stack.chat(conversation_id, offered(reply)[0])
    code = reply["state"]["appointment_reference"]
    assert code and code in all_text(reply), all_text(reply)
