"""Crashes and outages: the person always gets an answer, and no conversation loses its progress."""

from __future__ import annotations

import time

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
