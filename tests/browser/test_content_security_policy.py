"""Every page works with its content security policy enforced: nothing on it is refused, and it still answers.

The gateway runs in this process in front of a fake Rasa: what is checked is what the browser loads.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.gateway.app import create_app
from bot.settings import get_settings
from tests.browser.conftest import serving
from tests.fakes.rasa import FakeRasa
from tests.fakes.telegram_bot_api import free_port

PAGES = ["/", "/widget/demo", "/kiosk", "/staff"]


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    rasa = FakeRasa(replies=[{"recipient_id": "x", "text": "补办社保卡请带身份证。"}])
    with serving(create_app(get_settings(), rasa_transport=rasa.transport()), free_port()) as base:
        yield base


@pytest.mark.parametrize("path", PAGES)
def test_a_page_loads_nothing_its_policy_refuses(browser, gateway_url, path):
    context = browser.new_context_enforcing_csp(locale="zh-CN")
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: refused.append(str(error)))
    page.goto(gateway_url + path, wait_until="networkidle")
    context.close()
    assert refused == []


def test_the_chat_page_answers_with_its_policy_enforced(browser, gateway_url):
    context = browser.new_context_enforcing_csp(locale="zh-CN")
    page = context.new_page()
    page.goto(gateway_url + "/", wait_until="networkidle")
    page.fill("#text", "社保卡丢了要带什么")
    page.press("#text", "Enter")
    page.locator(".msg.assistant").first.wait_for(timeout=30_000)
    assert "身份证" in page.locator(".msg.assistant").first.inner_text()
    context.close()
