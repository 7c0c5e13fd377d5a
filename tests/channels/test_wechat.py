"""The WeChat channel in front of a fake Rasa and the WeChat API double: signatures, replies, retries, pushes."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import contextmanager
from collections.abc import Iterator

import httpx
import pytest
import xmltodict
from fastapi.testclient import TestClient

from bot.gateway.app import create_app
from bot.services import conversations
from bot.settings import load_settings
from channels.wechat import channel
from tests.fakes.rasa import FakeRasa
from tests.fakes.wechat_api import (
    AES_KEY, FakeWeChatApi, decrypted_reply, encrypted, event_xml, signed_query, text_xml, voice_xml,
)

TEMPLATE = "/cgi-bin/message/template/send"
BUTTONS = [{"title": "要带什么材料", "payload": '/ask_materials{"service": "social_security_card"}'},
           {"title": "找工作人员", "payload": "/request_human"}]


@pytest.fixture
def api() -> Iterator[FakeWeChatApi]:
    double = FakeWeChatApi()
    double.start()
    yield double
    double.stop()


class SlowRasa(FakeRasa):
    """A fake Rasa that takes `delay` seconds over a turn (without blocking the gateway's event loop)."""

    delay: float = 0.0

    def transport(self) -> httpx.MockTransport:
        async def handler(request: httpx.Request) -> httpx.Response:
            if self.delay and request.url.path.startswith("/webhooks"):
                await asyncio.sleep(self.delay)
            return self.handler(request)

        return httpx.MockTransport(handler)


@pytest.fixture
def rasa() -> SlowRasa:
    fake = SlowRasa()
    fake.replies = [{"recipient_id": "x", "text": "补办社保卡请带身份证。", "buttons": BUTTONS}]
    return fake


@contextmanager
def gateway(api: FakeWeChatApi, rasa: FakeRasa, **extra: str) -> Iterator[TestClient]:
    """The running gateway with the WeChat channel on."""
    # Pushed messages are looked for every second in production; tests need not wait that long.
    settings = load_settings(push_poll_seconds=0.1, **{k.lower(): v for k, v in api.settings(**extra).items()})
    with TestClient(create_app(settings, rasa_transport=rasa.transport())) as client:
        yield client


def openid() -> str:
    return f"oFollower{uuid.uuid4().hex[:12]}"


def post(client: TestClient, xml: str, query: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/wechat", params=query or signed_query(), content=xml.encode("utf-8"),
                       headers={"Content-Type": "text/xml"})


def reply_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return xmltodict.parse(response.text)["xml"]["Content"]


def test_the_server_url_check_echoes_only_for_the_accounts_signature(api, rasa):
    with gateway(api, rasa) as client:
        good = client.get("/wechat", params={**signed_query(), "echostr": "7294035711"})
        assert good.status_code == 200 and good.text == "7294035711"
        bad = client.get("/wechat", params={**signed_query(token="someoneElse"), "echostr": "1"})
        assert bad.status_code == 403 and bad.json()["error"]["code"] == "forbidden"


def test_a_text_message_gets_the_answer_with_numbered_choices_and_a_number_picks_one(api, rasa):
    person = openid()
    with gateway(api, rasa) as client:
        answer = post(client, text_xml(person, "社保卡丢了"))
        text = reply_text(answer)
        reply = xmltodict.parse(answer.text)["xml"]
        assert reply["ToUserName"] == person and reply["FromUserName"] == "gh_test_account"
        assert "补办社保卡请带身份证。" in text and "1. 要带什么材料" in text and "2. 找工作人员" in text
        post(client, text_xml(person, "１"))
        assert rasa.messages_sent()[-1]["message"] == BUTTONS[0]["payload"]
        post(client, text_xml(person, "第二个"))
        assert rasa.messages_sent()[-1]["message"] == "/request_human"
        assert rasa.messages_sent()[-1]["sender"] == f"wechat:{person}"


def test_a_message_wechat_retries_is_answered_once(api, rasa):
    person = openid()
    xml = text_xml(person, "社保卡丢了", msg_id=6_100_000_000_000_000 + uuid.uuid4().int % 10**9)
    with gateway(api, rasa) as client:
        assert "补办" in reply_text(post(client, xml))
        again = post(client, xml)
        assert again.status_code == 200 and again.text == "success"
    assert len(rasa.messages_sent()) == 1


def test_a_wrong_signature_malformed_or_oversized_xml_gets_a_clear_error(api, rasa):
    with gateway(api, rasa) as client:
        forged = post(client, text_xml(openid(), "你好"), signed_query(token="forged"))
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "forbidden"
        broken = post(client, "<xml><FromUserName>oAbcdef")
        assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid_xml"
        not_wechat = post(client, "<xml><Hello>world</Hello></xml>")
        assert not_wechat.status_code == 422
        huge = post(client, text_xml(openid(), "长" * 40_000))
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "too_large"
    assert rasa.messages_sent() == []


def test_following_the_account_gets_a_greeting_and_the_menu_is_set(api, rasa):
    with gateway(api, rasa) as client:
        greeting = reply_text(post(client, event_xml(openid(), "subscribe")))
        assert "便民助手" in greeting and "人工" in greeting
        assert post(client, event_xml(openid(), "unsubscribe")).text == "success"
    menu = api.called("/cgi-bin/menu/create")[0].body
    titles = [b["name"] for b in menu["button"]]
    assert titles == ["常办事项", "查办理进度", "找人帮忙"]
    assert any(sub["key"] == "/request_human" for sub in menu["button"][2]["sub_button"])


def test_a_menu_click_is_a_turn_with_its_key(api, rasa):
    with gateway(api, rasa) as client:
        post(client, event_xml(openid(), "CLICK", "/check_status"))
    assert rasa.messages_sent()[-1]["message"] == "/check_status"


def test_safe_mode_reads_encrypted_messages_and_answers_encrypted(api, rasa):
    with gateway(api, rasa, WECHAT_ENCODING_AES_KEY=AES_KEY) as client:
        body, query = encrypted(text_xml(openid(), "社保卡丢了"))
        answer = post(client, body, query)
        assert answer.status_code == 200 and "<Encrypt>" in answer.text and "补办" not in answer.text
        assert "补办社保卡" in decrypted_reply(answer.text, query)
        tampered = {**query, "msg_signature": "0" * 40}
        assert post(client, body, tampered).status_code == 403


def test_a_slow_turn_is_acknowledged_at_once_and_answered_through_the_customer_service_api(api, rasa, monkeypatch):
    # WeChat's five seconds, shortened so the test waits one second rather than five.
    monkeypatch.setattr(channel, "PASSIVE_BUDGET_SECONDS", 0.5)
    rasa.delay = 1.5
    person = openid()
    with gateway(api, rasa) as client:
        first = reply_text(post(client, text_xml(person, "社保卡丢了")))
        assert "请稍等" in first
        sent = api.wait_for_texts(person, 1, timeout=20)
        assert "补办社保卡请带身份证。" in sent[0] and "1. 要带什么材料" in sent[0]
        rasa.delay = 0
        post(client, text_xml(person, "1"))
        assert rasa.messages_sent()[-1]["message"] == BUTTONS[0]["payload"]


def test_a_staff_reply_is_pushed_and_an_expired_token_is_renewed(api, rasa):
    person = openid()
    with gateway(api, rasa) as client:
        post(client, text_xml(person, "你好"))
        api.expire_tokens()
        conversations.push(f"wechat:{person}", "staff", "您好，我是窗口的小王，请问有什么可以帮您？")
        sent = api.wait_for_texts(person, 1)
    assert sent[0] == "【工作人员】您好，我是窗口的小王，请问有什么可以帮您？"
    assert api.tokens_issued >= 2


def test_a_push_outside_the_48_hour_window_goes_as_a_template_message(api, rasa):
    person = openid()
    api.fail("/cgi-bin/message/custom/send", 45015)
    with gateway(api, rasa, WECHAT_TEMPLATE_ID="tmpl-status") as client:
        conversations.ensure(f"wechat:{person}", "wechat", "zh-CN")
        conversations.push(f"wechat:{person}", "assistant", "您的居住证申请已经办好了。")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(c.accepted for c in api.called(TEMPLATE)):
            time.sleep(0.1)
        assert client.get("/healthz").status_code in (200, 503)
    template = [c for c in api.called(TEMPLATE) if c.accepted][0].body
    assert template["touser"] == person and template["template_id"] == "tmpl-status"
    assert "居住证申请已经办好了" in template["data"]["content"]["value"]


def test_pushes_wait_while_the_api_is_down_and_none_is_lost(api, rasa):
    person = openid()
    api.fail("/cgi-bin/message/custom/send", None, times=2)
    with gateway(api, rasa) as client:
        conversations.ensure(f"wechat:{person}", "wechat", "zh-CN")
        for text in ("第一条", "第二条"):
            conversations.push(f"wechat:{person}", "assistant", text)
        sent = api.wait_for_texts(person, 2, timeout=30)
        assert client.get("/healthz").status_code in (200, 503)
    assert sent == ["第一条", "第二条"]


def test_a_voice_message_uses_wechats_transcript_or_says_it_cannot_listen(api, rasa):
    person = openid()
    with gateway(api, rasa) as client:
        heard = reply_text(post(client, voice_xml(person, "media-1", recognition="社保卡丢了怎么办")))
        assert "您说的是：社保卡丢了怎么办" in heard and "补办社保卡" in heard
        assert rasa.messages_sent()[-1]["message"] == "社保卡丢了怎么办"
        unheard = reply_text(post(client, voice_xml(person, "media-2")))
        assert "不能识别" in unheard or "没听清" in unheard
