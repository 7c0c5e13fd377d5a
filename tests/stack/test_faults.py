"""Crashes and outages: the person always gets an answer, and no conversation loses its progress."""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import yaml

from bot.settings import REPO_ROOT
from tests.stack.conftest import Stack

pytestmark = pytest.mark.stack

HOTLINE = str(yaml.safe_load((REPO_ROOT / "knowledge_base" / "city.yml").read_text("utf-8"))["hotline"])
MATERIALS = yaml.safe_load((REPO_ROOT / "knowledge_base/services/senior_allowance.yml").read_text("utf-8"))[
    "materials_summary"]
FEES = yaml.safe_load((REPO_ROOT / "knowledge_base/services/senior_allowance.yml").read_text("utf-8"))["fees"][
    "summary"]


def texts(reply: dict) -> str:
    return "\n".join(m["text"] for m in reply["messages"])


def reported_down(stack: Stack, component: str) -> httpx.Response:
    """The health answer naming `component` down, polled from the moment it was killed.

    The supervisor waits a second before restarting it and the new process then needs seconds to listen,
    so a poll this frequent sees the outage before the restart completes.
    """
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        health = stack.health()
        if health.status_code == 503 and health.json()["components"][component] == "down":
            return health
        time.sleep(0.05)
    raise AssertionError(f"{component} was never reported down; last health: {health.json()}")


def assert_polite_outage_answer(reply: dict) -> None:
    assert HOTLINE in texts(reply)
    payloads = {b["payload"] for m in reply["messages"] for b in m["buttons"]}
    assert {"/request_human", "/book_appointment"} <= payloads


@pytest.mark.parametrize("component", ["rasa", "actions"])
def test_engine_outage_gets_a_polite_answer_and_the_conversation_resumes(stack, conversation_id, component):
    stack.chat(conversation_id, "高龄津贴怎么申请")
    stack.kill(component, wait_for_restart=False)
    reported_down(stack, component)

    started = time.monotonic()
    reply = stack.chat(conversation_id, "要带什么材料")
    assert time.monotonic() - started < 8, "the person is not left waiting"
    assert_polite_outage_answer(reply)

    stack.wait_healthy()
    reply = stack.chat(conversation_id, "要带什么材料")
    assert MATERIALS in texts(reply), "the service of the conversation survived the crash"


def test_gateway_crash_loses_nothing(stack, conversation_id):
    stack.chat(conversation_id, "高龄津贴怎么申请")
    stack.kill("gateway")
    stack.wait_healthy()
    assert FEES in texts(stack.chat(conversation_id, "要交钱吗"))


@contextlib.contextmanager
def bookings_failing(stack: Stack, conversation_id: str) -> Iterator[None]:
    """While the block runs, booking a visit for this conversation fails in the action server (a 500 to Rasa).

    The database answers the booking's insert with an error the booking does not expect (`json()` of text
    that is not JSON, in a trigger for this conversation only), as a failing disk would: the form's
    validation in the same turn still passes, only the booking action that follows it fails.
    """
    path = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
    trigger = f"booking_fails_{uuid.uuid4().hex[:8]}"
    with contextlib.closing(sqlite3.connect(path, timeout=15)) as database, database:
        database.execute(f"CREATE TRIGGER {trigger} BEFORE INSERT ON appointments "
                         f"WHEN NEW.conversation_id = '{conversation_id}' BEGIN SELECT json('disk failing'); END")
    try:
        yield
    finally:
        with contextlib.closing(sqlite3.connect(path, timeout=15)) as database, database:
            database.execute(f"DROP TRIGGER {trigger}")


def bookings_of(stack: Stack, conversation_id: str) -> list[str]:
    path = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path, timeout=15)) as database:
        return [row[0] for row in database.execute(
            "SELECT reference FROM appointments WHERE conversation_id = ? AND status = 'booked'", (conversation_id,))]


def test_a_booking_whose_action_fails_after_the_form_closed_goes_on_when_the_message_is_sent_again(
        stack, conversation_id):
    stack.chat(conversation_id, '/book_appointment{"service": "social_security_card"}')
    reply = stack.chat(conversation_id, '/inform{"district": "东城区"}')
    chosen = next(b["payload"] for m in reply["messages"] for b in m["buttons"] if "appointment_slot" in b["payload"])
    stack.chat(conversation_id, chosen)
    reply = stack.chat(conversation_id, "张建国")
    assert reply["state"]["requested_slot"] == "appointment_phone", texts(reply)

    message_id = uuid.uuid4().hex
    with bookings_failing(stack, conversation_id):
        # The form takes the number and closes; then the booking action fails in the same turn.
        reply = stack.chat(conversation_id, "13812345678", message_id=message_id)
    assert_polite_outage_answer(reply)
    # Nothing of the failed turn was kept: the form still waits for the phone number, nothing is booked.
    assert reply["state"]["requested_slot"] == "appointment_phone", reply["state"]
    assert bookings_of(stack, conversation_id) == []

    reply = stack.chat(conversation_id, "13812345678", message_id=message_id)
    code = reply["state"]["appointment_reference"]
    assert code and code in texts(reply), texts(reply)
    assert bookings_of(stack, conversation_id) == [code]
