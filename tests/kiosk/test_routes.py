"""The kiosk's own routes in front of a fake Rasa: the slip's QR code and the audited staff-assisted turns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.gateway.app import create_app
from bot.services import audit, staff
from bot.settings import get_settings
from tests.chat_tokens import TOKENS
from tests.fakes.rasa import WEBHOOK, FakeRasa

PASSWORD = "password-123"


@dataclass
class SubmittingRasa(FakeRasa):
    """A fake engine whose next turn submits an application, as a confirmed form does."""

    submits: str | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        # The state after a submitting turn carries the reference.
        if request.url.path == WEBHOOK and self.submits:
            self.slots["application_reference"] = self.submits
        return super().handler(request)


@pytest.fixture
def rasa() -> SubmittingRasa:
    return SubmittingRasa()


@pytest.fixture
def client(rasa: SubmittingRasa) -> TestClient:
    return TestClient(create_app(get_settings(), rasa_transport=rasa.transport()))


def staff_headers(client: TestClient) -> tuple[str, dict[str, str]]:
    username = f"k{uuid.uuid4().hex[:8]}"
    staff.create_or_update(username, PASSWORD, "staff")
    token = client.post("/api/staff/login", json={"username": username, "password": PASSWORD}).json()["token"]
    return username, {"Authorization": f"Bearer {token}"}


def assisted(client: TestClient, headers: dict[str, str], conversation: str, text: str = "确认") -> httpx.Response:
    response = client.post("/kiosk/api/assisted-chat", headers={**headers, **TOKENS.headers(conversation)},
                           json={"conversation_id": conversation, "text": text, "channel": "kiosk"})
    TOKENS.remember(response.json())
    return response


def submissions(username: str) -> list[tuple[str, str]]:
    return [(e.subject, e.detail) for e in audit.recent(staff_username=username) if e.action == "kiosk_assisted_submission"]


def test_an_application_submitted_in_an_assisted_turn_is_audited_once(client, rasa):
    username, headers = staff_headers(client)
    conversation = f"kiosk-{uuid.uuid4().hex[:8]}"
    assert assisted(client, headers, conversation).status_code == 200
    assert not submissions(username), "a turn that submits nothing is not audited"
    rasa.submits = "384122905"
    reply = assisted(client, headers, conversation)
    assert reply.status_code == 200 and reply.json()["state"]["application_reference"] == "384122905"
    assisted(client, headers, conversation, "谢谢")   # the reference stays in the state: no second entry
    assert submissions(username) == [("application:384122905", f"conversation:{conversation}")]
    assert rasa.messages_sent()[-1]["metadata"]["channel"] == "kiosk"


def test_assisted_turns_need_a_staff_login_and_a_well_formed_body(client):
    body = {"conversation_id": "kiosk-x", "text": "确认"}
    assert client.post("/kiosk/api/assisted-chat", json=body).status_code == 401
    _, headers = staff_headers(client)
    bad = client.post("/kiosk/api/assisted-chat", headers=headers, json={"conversation_id": "phone:1", "text": "x"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"


def test_the_slip_qr_code_is_an_svg_of_a_confirmation_code_only(client):
    drawn = client.get("/kiosk/api/qr/YY-7K3Q9P")
    assert drawn.status_code == 200 and drawn.headers["content-type"].startswith("image/svg+xml")
    assert drawn.text.startswith("<svg") and 'viewBox="0 0 29 29"' in drawn.text, "version 1 with its quiet zone"
    for wrong in ("yy-7k3q9p", "YY-7K3Q9P-1", "hello", "x" * 40):
        answer = client.get(f"/kiosk/api/qr/{wrong}")
        assert answer.status_code == 422 and "error" in answer.json(), wrong


def test_a_staff_member_who_checked_the_id_card_proves_the_resident_and_it_is_audited(client):
    from bot.services import identity

    username, headers = staff_headers(client)
    conversation = f"kiosk-{uuid.uuid4().hex[:8]}"
    assert assisted(client, headers, conversation, "你好").status_code == 200
    body = {"conversation_id": conversation, "id_number": "110101194005120024"}
    without_token = client.post("/kiosk/api/assisted-identity", headers=headers, json=body)
    assert without_token.status_code == 403
    without_staff = client.post("/kiosk/api/assisted-identity", headers=TOKENS.headers(conversation), json=body)
    assert without_staff.status_code == 401
    assert not identity.id_checked(conversation, "110101194005120024")
    done = client.post("/kiosk/api/assisted-identity", headers={**headers, **TOKENS.headers(conversation)}, json=body)
    assert done.status_code == 204
    assert identity.id_checked(conversation, "110101194005120024")
    entries = [e for e in audit.recent(staff_username=username) if e.action == "identity_proven"]
    assert [(e.subject, e.detail) for e in entries] == [(f"conversation:{conversation}", "staff_id_check")]
    bad = client.post("/kiosk/api/assisted-identity", headers={**headers, **TOKENS.headers(conversation)},
                      json={**body, "id_number": "110101194005120025"})
    assert bad.status_code == 422
