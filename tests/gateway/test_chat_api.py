"""The chat API in front of a fake Rasa: state mapping, normalisation, outages, handoff silence, bad input."""

from __future__ import annotations

from fastapi.testclient import TestClient

from bot.gateway.app import create_app
from bot.services import handoff
from bot.knowledge.catalogue import get_catalogue
from tests.chat_tokens import TOKENS


def chat(client: TestClient, text: str, conversation_id: str = "c1") -> dict:
    response = client.post("/api/chat", json={"conversation_id": conversation_id, "text": text},
                           headers=TOKENS.headers(conversation_id))
    assert response.status_code == 200, response.text
    return TOKENS.remember(response.json())


def test_state_comes_from_the_engine_tracker(client, rasa):
    rasa.active_loop = "residence_permit"
    rasa.slots = {"requested_slot": "id_number", "application_reference": "JZ-7K3Q"}
    rasa.replies = [{"text": "请说一下您的身份证号", "buttons": [{"title": "上一步", "payload": "/go_back"}]}]
    body = chat(client, "帮我办居住证")
    assert body["messages"] == [{"text": "请说一下您的身份证号", "buttons": [{"title": "上一步", "payload": "/go_back"}]}]
    assert body["state"] == {"form": "residence_permit", "requested_slot": "id_number", "handoff": "none",
                             "application_reference": "JZ-7K3Q", "appointment_reference": None}


def test_a_turn_takes_one_round_trip_to_the_engine(client, rasa):
    rasa.active_loop = "residence_permit"
    rasa.slots = {"requested_slot": "phone"}
    body = chat(client, "帮我办居住证")
    assert body["state"]["requested_slot"] == "phone"
    assert len(rasa.messages_sent()) == 1 and rasa.tracker_reads() == 0


def test_state_is_read_from_the_tracker_when_the_turn_did_not_report_it(client, rasa):
    rasa.no_state = True
    rasa.active_loop = "residence_permit"
    rasa.slots = {"requested_slot": "address"}
    body = chat(client, "帮我办居住证")
    assert body["state"]["form"] == "residence_permit" and body["state"]["requested_slot"] == "address"
    assert rasa.tracker_reads() == 1


def test_a_turn_that_queues_the_person_for_staff_reports_the_wait(client, rasa):
    rasa.replies = [{"recipient_id": "q1", "text": "正在为您转接工作人员"},
                    {"recipient_id": "q1", "custom": handoff.QUEUED_SIGNAL}]
    rasa.during_turn = lambda: handoff.request("q1", "web", None, "requested")
    body = chat(client, "我要找人工", conversation_id="q1")
    assert body["state"]["handoff"] == "waiting"
    assert body["messages"] == [{"text": "正在为您转接工作人员", "buttons": []}], "the signal is never shown"


def test_a_waiting_person_who_leaves_the_queue_in_a_turn_is_reported_out_of_it(client, rasa):
    handoff.request("q2", "web", None, "requested")
    assert chat(client, "还要等多久", conversation_id="q2")["state"]["handoff"] == "waiting"
    rasa.during_turn = lambda: handoff.withdraw("q2", "callback")
    assert chat(client, "那请回电吧", conversation_id="q2")["state"]["handoff"] == "none"


def test_text_reaches_the_engine_normalised_but_payloads_untouched(client, rasa):
    chat(client, "請問社保卡在哪裡辦")
    chat(client, '/ask_fee{"service": "id_card"}')
    sent = rasa.messages_sent()
    assert sent[0]["message"] == "请问社保卡在哪里办"
    assert sent[0]["metadata"]["channel"] == "web"
    assert sent[1]["message"] == '/ask_fee{"service": "id_card"}'


def test_engine_down_gets_the_hotline_and_a_way_to_a_person(client, rasa):
    rasa.down = True
    body = chat(client, "社保卡怎么补")
    hotline = get_catalogue().city.hotline
    assert hotline in body["messages"][0]["text"]
    assert {b["payload"] for b in body["messages"][0]["buttons"]} == {"/request_human", "/book_appointment"}


def test_empty_engine_answer_is_never_silence(client, rasa):
    rasa.replies = []
    body = chat(client, "社保卡怎么补")
    assert body["messages"] and get_catalogue().city.hotline in body["messages"][0]["text"]


def test_the_assistant_is_silent_while_staff_serve_the_person(client, rasa):
    place = handoff.request("served-1", "web", None, "requested")
    from bot.db.models import Handoff
    from bot.db.session import unit_of_work

    with unit_of_work() as session:
        session.get(Handoff, place.handoff_id).status = "active"
    body = chat(client, "工作人员你好", conversation_id="served-1")
    assert body["messages"] == [] and body["state"]["handoff"] == "active"
    assert rasa.messages_sent() == []


def test_json_errors_for_bad_requests(client):
    assert client.post("/api/chat", json={"conversation_id": "c"}).status_code == 422
    too_long = client.post("/api/chat", json={"conversation_id": "c", "text": "字" * 2001})
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "text_too_long"
    wrong_method = client.get("/api/chat")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    assert client.get("/no/such/page").json()["error"]["code"] == "not_found"


def test_forms_that_are_not_applications_are_not_reported_as_the_application(client, rasa):
    rasa.active_loop = "appointment_form"
    rasa.slots = {"requested_slot": "phone"}
    state = chat(client, "预约")["state"]
    assert state["form"] is None and state["requested_slot"] == "phone"


def test_only_configured_sites_may_embed_the_widget_from_another_origin(rasa):
    from bot.settings import load_settings

    app = create_app(load_settings(cors_origins=["https://www.example.gov.cn"]), rasa_transport=rasa.transport())
    client = TestClient(app)
    headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = client.options("/api/chat", headers={"Origin": "https://www.example.gov.cn", **headers})
    assert allowed.headers.get("access-control-allow-origin") == "https://www.example.gov.cn"
    other = client.options("/api/chat", headers={"Origin": "https://evil.example.com", **headers})
    assert "access-control-allow-origin" not in other.headers
