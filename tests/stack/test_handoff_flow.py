"""A person and a staff member through the real stack: ask for a human, accepted, messages both ways, close, rating."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
import pytest
import yaml

from bot.settings import REPO_ROOT

pytestmark = pytest.mark.stack

EMERGENCY = yaml.safe_load((REPO_ROOT / "knowledge_base" / "city.yml").read_text("utf-8"))["emergency"]
PASSWORD = "desk-password-1"


def all_text(reply: dict) -> str:
    return "\n".join(m["text"] for m in reply["messages"])


def payloads(messages: list[dict]) -> set[str]:
    return {b["payload"] for m in messages for b in m["buttons"]}


class Desk:
    """A staff member at the console, talking to the stack's staff API."""

    def __init__(self, stack, role: str = "staff"):
        self.base = stack.base_url
        self.username = f"desk{uuid.uuid4().hex[:6]}"
        # Accounts come from the command line, as `make staff` creates them.
        subprocess.run([sys.executable, "-m", "bot.cli", "staff", "--username", self.username, "--password", PASSWORD,
                        "--role", role], cwd=REPO_ROOT, env=stack.env, check=True, capture_output=True)
        response = httpx.post(f"{self.base}/api/staff/login", json={"username": self.username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        self.headers = {"Authorization": f"Bearer {response.json()['token']}"}

    def get(self, path: str, **params) -> httpx.Response:
        return httpx.get(f"{self.base}/api/staff{path}", params=params, headers=self.headers, timeout=10)

    def post(self, path: str, body: dict | None = None) -> httpx.Response:
        return httpx.post(f"{self.base}/api/staff{path}", json=body, headers=self.headers, timeout=10)

    def waiting_for(self, conversation_id: str) -> dict:
        found = [h for h in self.get("/handoffs", status="waiting").json() if h["conversation_id"] == conversation_id]
        assert found, f"{conversation_id} is not in the queue"
        return found[0]


def inbox(stack, conversation_id: str, after: str | None = None) -> dict:
    return stack.pushed(conversation_id, after).json()


def test_ask_for_a_human_accepted_messages_both_ways_close_and_rating(stack, conversation_id):
    desk, supervisor = Desk(stack), Desk(stack, "supervisor")
    stack.chat(conversation_id, "居住证怎么办理")
    reply = stack.chat(conversation_id, "我要找工作人员")
    assert reply["state"]["handoff"] == "waiting" and "第" in all_text(reply)

    queued = desk.waiting_for(conversation_id)
    assert (queued["channel"], queued["service"], queued["status"]) == ("web", "residence_permit", "waiting")
    assert desk.post(f"/handoffs/{queued['id']}/accept").json()["status"] == "active"
    assert stack.chat(conversation_id, "你好，在吗")["state"]["handoff"] == "active"

    sent = desk.post(f"/handoffs/{queued['id']}/messages", {"text": "您好，我是工作人员，请讲。"})
    assert sent.status_code == 200
    staff_lines = [m["text"] for m in inbox(stack, conversation_id)["messages"] if m["from"] == "staff"]
    assert staff_lines == ["您好，我是工作人员，请讲。"]

    reply = stack.chat(conversation_id, "我的居住证快过期了，电话13812345678")
    assert reply["messages"] == [] and reply["state"]["handoff"] == "active", "the assistant stays silent"
    transcript = desk.get(f"/handoffs/{queued['id']}").json()["transcript"]
    assert any(line["from"] == "person" and "快过期" in line["text"] for line in transcript)
    assert all("13812345678" not in line["text"] for line in transcript), "staff read numbers masked"

    cursor = inbox(stack, conversation_id)["cursor"]
    assert desk.post(f"/handoffs/{queued['id']}/close", {"resolution_note": "已说明续签"}).status_code == 200
    after_close = inbox(stack, conversation_id, cursor)["messages"]
    rating_buttons = [b for m in after_close for b in m["buttons"]]
    assert [b["title"] for b in rating_buttons] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]

    unhappy = next(b["payload"] for b in rating_buttons if b["title"] == "不满意")
    reply = stack.chat(conversation_id, unhappy)
    assert reply["state"]["handoff"] == "none" and reply["messages"], "the assistant has taken over again"
    reply = stack.chat(conversation_id, "等了好久才有人回")
    assert "负责人" in all_text(reply)
    follow_ups = supervisor.get("/tasks", kind="low_rating").json()
    assert any(t["conversation_id"] == conversation_id and "等了好久" in t["summary"] for t in follow_ups)

    views = supervisor.get("/audit", staff_username=desk.username).json()
    assert any(v["action"] == "view_conversation" and v["subject"] == f"handoff:{queued['id']}" for v in views)


def test_an_emergency_gets_the_numbers_at_once_and_goes_first(stack, conversation_id):
    desk = Desk(stack)
    stack.chat(f"{conversation_id}-before", "转人工")
    reply = stack.chat(conversation_id, "救命，我妈晕倒了")
    assert EMERGENCY["ambulance"] in reply["messages"][0]["text"] and EMERGENCY["police"] in reply["messages"][0]["text"]
    assert reply["state"]["handoff"] == "waiting"
    assert desk.get("/handoffs", status="waiting").json()[0]["conversation_id"] == conversation_id


def test_a_call_back_instead_of_waiting_is_a_task_for_staff(stack, conversation_id):
    desk = Desk(stack)
    reply = stack.chat(conversation_id, "转人工")
    assert "/request_callback" in payloads(reply["messages"])
    reply = stack.chat(conversation_id, "/request_callback")
    assert reply["state"]["handoff"] == "none" and reply["state"]["requested_slot"] == "callback_phone"
    reply = stack.chat(conversation_id, "我的手机是 139 1234 5678")
    assert {"/inform{\"time_window\": \"morning\"}"} & payloads(reply["messages"])
    reply = stack.chat(conversation_id, '/inform{"time_window": "morning"}')
    assert "139****5678" in all_text(reply)
    tasks = desk.get("/tasks", kind="callback").json()
    task = next(t for t in tasks if t["conversation_id"] == conversation_id)
    assert (task["phone"], task["time_window"]) == ("139****5678", "morning")
    assert desk.post(f"/tasks/{task['id']}/phone").json() == {"phone": "13912345678"}


def test_staff_calls_without_a_valid_token_or_right_role_are_refused(stack):
    base = f"{stack.base_url}/api/staff"
    assert httpx.get(f"{base}/handoffs", params={"status": "waiting"}).status_code == 401
    assert httpx.post(f"{base}/handoffs/1/accept", headers={"Authorization": "Bearer nope"}).status_code == 401
    desk = Desk(stack)
    assert desk.get("/audit").status_code == 403
    assert desk.post("/handoffs/1/messages", {"text": "字" * 5000}).status_code == 422


def test_a_gateway_restart_keeps_the_queue_and_active_handoffs(stack, conversation_id):
    desk = Desk(stack)
    stack.chat(f"{conversation_id}-a", "转人工")
    stack.chat(f"{conversation_id}-b", "转人工")
    served = desk.waiting_for(f"{conversation_id}-b")
    desk.post(f"/handoffs/{served['id']}/accept")
    stack.kill("gateway")
    stack.wait_healthy()
    time.sleep(0.5)
    assert desk.waiting_for(f"{conversation_id}-a")["status"] == "waiting"
    active = desk.get("/handoffs", status="active", mine="true").json()
    assert served["id"] in [h["id"] for h in active]
    assert stack.chat(f"{conversation_id}-b", "还在吗")["state"]["handoff"] == "active"
