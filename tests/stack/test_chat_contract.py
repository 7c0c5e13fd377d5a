"""The public contract, held as real conversations with the real stack (trained model, actions, database)."""

from __future__ import annotations

import sqlite3

import httpx
import pytest
import yaml

from bot.settings import REPO_ROOT

pytestmark = pytest.mark.stack

STATE_KEYS = {"form", "requested_slot", "handoff", "application_reference", "appointment_reference"}


def service_file(service_id: str) -> dict:
    return yaml.safe_load((REPO_ROOT / "knowledge_base" / "services" / f"{service_id}.yml").read_text("utf-8"))


def all_text(reply: dict) -> str:
    return "\n".join(m["text"] for m in reply["messages"])


def test_health_reports_every_component(stack):
    response = stack.health()
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "components": {"rasa": "ok", "actions": "ok", "database": "ok"}}


def test_greeting_explains_what_the_assistant_does_and_how_to_reach_a_person(stack, conversation_id):
    reply = stack.chat(conversation_id, "你好")
    assert reply["conversation_id"] == conversation_id
    assert set(reply["state"]) == STATE_KEYS
    assert reply["state"]["handoff"] == "none" and reply["state"]["form"] is None
    assert "转人工" in all_text(reply)
    assert any(b["payload"] == "/request_human" for m in reply["messages"] for b in m["buttons"])


def test_materials_question_is_answered_from_the_catalogue(stack, conversation_id):
    reply = stack.chat(conversation_id, "社保卡丢了 补办要带啥材料")
    assert service_file("social_security_card")["materials_summary"] in all_text(reply)
    payloads = [b["payload"] for m in reply["messages"] for b in m["buttons"]]
    assert any('"social_security_card"' in p for p in payloads), "next-step buttons keep the service"


def test_follow_up_question_keeps_the_service_of_the_conversation(stack, conversation_id):
    stack.chat(conversation_id, "居住证怎么办理")
    reply = stack.chat(conversation_id, "那要带什么")
    assert service_file("residence_permit")["materials_summary"] in all_text(reply)
    reply = stack.chat(conversation_id, "几点上班")
    assert service_file("residence_permit")["where_summary"] in all_text(reply)


def test_button_payload_is_handled_like_the_question(stack, conversation_id):
    reply = stack.chat(conversation_id, '/ask_fee{"service": "id_card"}')
    assert service_file("id_card")["fees"]["summary"] in all_text(reply)


def test_details_button_gives_the_full_list(stack, conversation_id):
    reply = stack.chat(conversation_id, '/ask_materials{"service": "senior_card", "detail": "full"}')
    materials = service_file("senior_card")["materials"]
    assert all(m["name"] in all_text(reply) for m in materials)


def test_markup_is_kept_as_text(stack, conversation_id):
    reply = stack.chat(conversation_id, "<script>alert('x')</script> 社保卡在哪办")
    assert reply["messages"], "the message is answered, not rejected"
    assert "<script>" not in all_text(reply)


def test_asking_for_a_person_queues_a_handoff(stack, conversation_id):
    reply = stack.chat(conversation_id, "我要找人工客服")
    assert reply["state"]["handoff"] == "waiting"
    assert "工作人员" in all_text(reply)


@pytest.mark.parametrize(
    "body",
    [
        {"conversation_id": "x1"},
        {"text": ""},  # without conversation_id the server chooses one (test_conversation_tokens), not without text
        {"conversation_id": "x1", "text": ""},
        {"conversation_id": "x1", "text": "   "},
        {"conversation_id": "x1", "text": 123},
        {"conversation_id": 5, "text": "你好"},
        {"conversation_id": "has space", "text": "你好"},
        {"conversation_id": "telegram:1", "text": "你好"},
        {"conversation_id": "x1", "text": "长" * 2001},
        ["not", "an", "object"],
    ],
)
def test_malformed_chat_requests_get_a_json_422(stack, body):
    response = httpx.post(f"{stack.base_url}/api/chat", json=body, timeout=10)
    assert response.status_code == 422
    assert set(response.json()["error"]) == {"code", "message"}


def test_invalid_json_and_invalid_utf8_get_a_json_422(stack):
    for raw in (b"{not json", b'{"conversation_id": "x2", "text": "\xff\xfe"}'):
        response = httpx.post(f"{stack.base_url}/api/chat", content=raw,
                              headers={"content-type": "application/json"}, timeout=10)
        assert response.status_code == 422, raw
        assert "error" in response.json()


def test_huge_body_is_refused_with_json(stack):
    response = httpx.post(f"{stack.base_url}/api/chat", content=b'{"text": "' + b"a" * 2_000_000 + b'"}',
                          headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_rejected_requests_write_nothing(stack):
    httpx.post(f"{stack.base_url}/api/chat", json={"conversation_id": "never-stored", "text": ""}, timeout=10)
    database = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        stored = connection.execute("SELECT count(*) FROM conversations WHERE id = 'never-stored'").fetchone()[0]
        events = connection.execute("SELECT count(*) FROM events WHERE sender_id = 'never-stored'").fetchone()[0]
    assert stored == 0 and events == 0


def test_services_catalogue_endpoints(stack):
    services = httpx.get(f"{stack.base_url}/api/services", timeout=10).json()
    assert len(services) == 20
    assert set(services[0]) == {"id", "name", "aliases", "department"}
    entry = httpx.get(f"{stack.base_url}/api/services/residence_permit", timeout=10).json()
    assert entry["materials"] and entry["locations"] and entry["fees"] and entry["processing_time"]
    missing = httpx.get(f"{stack.base_url}/api/services/no_such_service", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_understand_returns_vocabulary_names(stack):
    response = httpx.post(f"{stack.base_url}/api/understand", json={"text": "暂住证要带什么材料", "locale": "zh-CN"},
                          timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["intent"] == "ask_materials" and body["service"] == "residence_permit"
    assert 0 < body["intent_confidence"] <= 1 and 0 < body["service_confidence"] <= 1
    nonsense = httpx.post(f"{stack.base_url}/api/understand", json={"text": "asdfgh 啊啊啊"}, timeout=10).json()
    assert nonsense["intent"] == "out_of_scope" and nonsense["service"] is None


def test_understand_does_not_touch_conversations(stack):
    database = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        before = connection.execute("SELECT count(*) FROM events").fetchone()[0]
    httpx.post(f"{stack.base_url}/api/understand", json={"text": "低保怎么申请"}, timeout=10)
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM events").fetchone()[0] == before


def test_pushed_messages_endpoint_starts_empty_and_validates_the_cursor(stack, conversation_id):
    stack.chat(conversation_id, "你好")
    body = stack.pushed(conversation_id).json()
    assert body == {"messages": [], "cursor": None}
    bad = stack.pushed(conversation_id, after="abc")
    assert bad.status_code == 422


def test_logs_never_contain_an_id_or_phone_number(stack, conversation_id):
    stack.chat(conversation_id, "我的身份证号是11010519491231002X 电话13812345678 社保卡怎么补")
    log = stack.log_text()
    assert "11010519491231002X" not in log and "13812345678" not in log


def test_two_messages_in_a_row_not_understood_bring_a_person(stack, conversation_id):
    first = stack.chat(conversation_id, "今天天气怎么样")
    assert first["state"]["handoff"] == "none"
    second = stack.chat(conversation_id, "给我讲个笑话吧")
    assert second["state"]["handoff"] == "waiting"
    assert "工作人员" in all_text(second)
