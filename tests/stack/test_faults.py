"""Crashes and outages: the person always gets an answer, and no conversation loses its progress."""

from __future__ import annotations

import time

import pytest
import yaml

from bot.settings import REPO_ROOT

pytestmark = pytest.mark.stack

HOTLINE = str(yaml.safe_load((REPO_ROOT / "knowledge_base" / "city.yml").read_text("utf-8"))["hotline"])
MATERIALS = yaml.safe_load((REPO_ROOT / "knowledge_base/services/senior_allowance.yml").read_text("utf-8"))[
    "materials_summary"]
FEES = yaml.safe_load((REPO_ROOT / "knowledge_base/services/senior_allowance.yml").read_text("utf-8"))["fees"][
    "summary"]


def texts(reply: dict) -> str:
    return "\n".join(m["text"] for m in reply["messages"])


def assert_polite_outage_answer(reply: dict) -> None:
    assert HOTLINE in texts(reply)
    payloads = {b["payload"] for m in reply["messages"] for b in m["buttons"]}
    assert {"/request_human", "/book_appointment"} <= payloads


@pytest.mark.parametrize("component", ["rasa", "actions"])
def test_engine_outage_gets_a_polite_answer_and_the_conversation_resumes(stack, conversation_id, component):
    stack.chat(conversation_id, "高龄津贴怎么申请")
    stack.kill(component)

    started = time.monotonic()
    reply = stack.chat(conversation_id, "要带什么材料")
    assert time.monotonic() - started < 8, "the person is not left waiting"
    assert_polite_outage_answer(reply)
    health = stack.health()
    assert health.status_code == 503 and health.json()["components"][component] == "down"

    stack.wait_healthy()
    reply = stack.chat(conversation_id, "要带什么材料")
    assert MATERIALS in texts(reply), "the service of the conversation survived the crash"


def test_gateway_crash_loses_nothing(stack, conversation_id):
    stack.chat(conversation_id, "高龄津贴怎么申请")
    stack.kill("gateway")
    stack.wait_healthy()
    assert FEES in texts(stack.chat(conversation_id, "要交钱吗"))
