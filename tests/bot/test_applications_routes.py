"""The staff API for applications: only staff may look, the list is masked, a status change reaches the person."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from bot.gateway.app import create_app
from bot.services import applications, staff
from bot.settings import get_settings
from tests.chat_tokens import TOKENS, open_web_conversation
from tests.fakes.rasa import FakeRasa


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(get_settings(), rasa_transport=FakeRasa().transport()))


@pytest.fixture
def token() -> str:
    username = f"clerk-{uuid.uuid4().hex[:6]}"
    staff.create_or_update(username, "correct-horse-battery", "staff")
    return staff.login(username, "correct-horse-battery")


def submitted(service_id: str = "residence_permit") -> tuple[str, str, dict[str, str]]:
    conversation_id = f"s-{uuid.uuid4().hex[:10]}"
    open_web_conversation(conversation_id)
    person = {"full_name": "王秀英", "id_number": "110101194005120024", "phone": f"135{uuid.uuid4().int % 10**8:08d}",
              "address": "西城区建设路88号"}
    reference = applications.submit(conversation_id, "web", service_id, person)
    return conversation_id, applications.display_reference(reference), person


def test_without_a_staff_token_nothing_is_shown_or_changed(client):
    _, reference, _ = submitted()
    assert client.get("/api/staff/applications").status_code == 401
    response = client.post(f"/api/staff/applications/{reference}/status", json={"status": "approved"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_staff_see_applications_with_personal_fields_masked(client, token):
    _, reference, person = submitted("senior_card")
    response = client.get("/api/staff/applications", params={"status": "submitted"},
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    row = next(r for r in response.json() if r["reference"] == reference)
    assert row["service"] == "senior_card" and row["status"] == "submitted"
    assert person["id_number"] not in response.text and person["phone"] not in response.text
    assert row["phone"].endswith(person["phone"][-4:])


def test_a_status_change_reaches_the_person_in_their_chat(client, token):
    conversation_id, reference, _ = submitted()
    response = client.post(f"/api/staff/applications/{reference}/status",
                           json={"status": "under_review", "note": "材料已收到"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json()["status"] == "under_review"
    pushed = client.get(f"/api/chat/{conversation_id}/messages", headers=TOKENS.headers(conversation_id)).json()["messages"]
    assert pushed[-1]["from"] == "assistant"
    assert reference in pushed[-1]["text"] and "材料已收到" in pushed[-1]["text"]


@pytest.mark.parametrize("body, status", [
    ({"status": "lost"}, 422),
    ({"status": "ready_for_collection"}, 409),
    ({"note": "x"}, 422),
])
def test_impossible_changes_are_refused_with_a_json_error(client, token, body, status):
    _, reference, _ = submitted()
    response = client.post(f"/api/staff/applications/{reference}/status", json=body,
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status and "error" in response.json()


def test_an_unknown_reference_is_not_found(client, token):
    response = client.post("/api/staff/applications/100-000-000/status", json={"status": "under_review"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404


def test_approving_is_a_supervisors_right(client, token):
    _, reference, _ = submitted()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post(f"/api/staff/applications/{reference}/status", json={"status": "under_review"},
                       headers=headers).status_code == 200
    refused = client.post(f"/api/staff/applications/{reference}/status", json={"status": "approved"}, headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "supervisor_only"
    supervisor = f"lead-{uuid.uuid4().hex[:6]}"
    staff.create_or_update(supervisor, "correct-horse-battery", "supervisor")
    lead = {"Authorization": f"Bearer {staff.login(supervisor, 'correct-horse-battery')}"}
    approved = client.post(f"/api/staff/applications/{reference}/status", json={"status": "approved"}, headers=lead)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
