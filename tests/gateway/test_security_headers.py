"""Security headers on every answer, and API docs only when asked for, loading nothing from elsewhere."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from bot.gateway.app import create_app
from bot.settings import get_settings, load_settings
from tests.fakes.rasa import FakeRasa


def client(**settings) -> TestClient:
    chosen = load_settings(**settings) if settings else get_settings()
    return TestClient(create_app(chosen, rasa_transport=FakeRasa().transport()))


def test_pages_allow_scripts_only_from_the_gateway_and_nothing_sniffs_or_leaks_the_address():
    page = client().get("/")
    policy = page.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]+)", policy).group(1)
    assert script_src.strip() == "'self'"  # no inline script, no CDN
    assert "object-src 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text and '<script src="/chat.js"' in page.text
    assert client().get("/chat.js").status_code == 200


def test_the_staff_console_and_the_kiosk_cannot_be_framed_by_any_site():
    for path in ("/staff", "/kiosk"):
        answer = client().get(path)
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], path
        assert answer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'self'" in client().get("/widget/demo").headers["content-security-policy"]


def test_json_answers_and_errors_carry_the_headers_too():
    answer = client().post("/api/chat", json={"text": 5})
    assert answer.status_code == 422 and answer.headers["x-content-type-options"] == "nosniff"


def test_hsts_only_over_tls():
    assert "strict-transport-security" not in client().get("/healthz").headers
    over_tls = TestClient(create_app(get_settings(), rasa_transport=FakeRasa().transport()),
                          base_url="https://assistant.example.gov.cn")
    assert over_tls.get("/healthz").headers["strict-transport-security"].startswith("max-age=")


def test_api_docs_are_off_unless_asked_for():
    default = client()
    assert default.get("/docs").status_code == 404
    assert default.get("/openapi.json").status_code == 404
    assert default.get("/redoc").status_code == 404


def test_api_docs_when_on_load_no_script_from_anywhere():
    docs = client(api_docs=True)
    page = docs.get("/docs")
    assert page.status_code == 200 and "POST /api/chat" in page.text
    assert "<script" not in page.text.lower()
    assert not re.search(r"(src|href)=\"https?://", page.text)
    assert docs.get("/openapi.json").json()["paths"]["/api/chat"]
