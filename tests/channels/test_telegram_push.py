"""Messages that reach a Telegram user outside a request: staff replies, reminders, and Bot API trouble."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from bot import texts
from bot.services import conversations
from tests.channels.conftest import USER
from tests.fakes.telegram_bot_api import FakeBotApi

PERSON = f"telegram:{USER}"


def after_more_rounds(client: TestClient, bot_api: FakeBotApi, count: int = 3) -> None:
    """Waits until the outbox has made `count` more delivery passes: a repeat would have gone out by then."""
    delivery = client.app.state.telegram.delivery
    target = delivery.rounds + count
    bot_api.wait_for(lambda: delivery.rounds >= target)


def setup_function() -> None:
    """Pushed messages belong to a conversation the person started."""
    conversations.ensure(PERSON, "telegram", "zh-CN")
    conversations.ensure("web-visitor-1", "web", "zh-CN")


def test_a_staff_reply_reaches_the_person_marked_as_from_staff(gateway, bot_api):
    with gateway():
        conversations.push(PERSON, "staff", "您好，我是窗口的小李，您的材料齐了。")
        texts_sent = bot_api.wait_for(lambda: bot_api.sent_texts(USER))
    assert texts_sent == [texts.text("utter_telegram_from_staff", text="您好，我是窗口的小李，您的材料齐了。")]


def test_a_reminder_arrives_once_with_its_buttons(gateway, bot_api):
    reminder = "提醒：您明天上午9:30在市民中心办理居住证，请带好身份证。"
    with gateway() as client:
        conversations.push(PERSON, "assistant", reminder,
                           [{"title": "取消预约", "payload": "/cancel_appointment"}])
        bot_api.wait_for(lambda: bot_api.sent_texts(USER))
        after_more_rounds(client, bot_api)
        sent = [c for c in bot_api.called("sendMessage") if c.params.get("_accepted")]
    assert [c.params["text"] for c in sent] == [reminder]
    assert sent[0].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "/cancel_appointment"


def test_messages_of_other_channels_are_not_sent_to_telegram(gateway, bot_api):
    with gateway() as client:
        conversations.push("web-visitor-1", "staff", "网页上的回复")
        conversations.push(PERSON, "assistant", "您的申请已受理。")
        bot_api.wait_for(lambda: bot_api.sent_texts())
        after_more_rounds(client, bot_api)
    assert bot_api.sent_texts() == ["您的申请已受理。"]


def test_rate_limiting_delays_pushed_messages_without_losing_or_reordering_them(gateway, bot_api):
    with gateway():
        bot_api.fail("sendMessage", 429, times=1, retry_after=1)
        first = time.monotonic()
        conversations.push(PERSON, "assistant", "第一条：您的申请已受理。")
        conversations.push(PERSON, "assistant", "第二条：请于三日内补交材料。")
        bot_api.wait_for(lambda: len(bot_api.sent_texts(USER)) == 2)
        waited = time.monotonic() - first
    assert bot_api.sent_texts(USER) == ["第一条：您的申请已受理。", "第二条：请于三日内补交材料。"]
    assert waited >= 1.0  # the retry_after Telegram asked for was honoured
    assert len(bot_api.called("sendMessage")) == 3


def test_server_errors_delay_a_pushed_message_until_telegram_takes_it(gateway, bot_api):
    with gateway() as client:
        bot_api.fail("sendMessage", 502, times=1)
        bot_api.fail("sendMessage", 500, times=1)
        conversations.push(PERSON, "staff", "我们已经收到您的投诉。")
        bot_api.wait_for(lambda: bot_api.sent_texts(USER))
        after_more_rounds(client, bot_api)
    assert bot_api.sent_texts(USER) == [texts.text("utter_telegram_from_staff", text="我们已经收到您的投诉。")]
    assert len(bot_api.called("sendMessage")) == 3


def test_a_message_pushed_while_no_gateway_ran_is_delivered_when_one_is_back(gateway, bot_api):
    conversations.push(PERSON, "staff", "您好，您上午问的事情已经查到了。")
    with gateway():
        texts_sent = bot_api.wait_for(lambda: bot_api.sent_texts(USER))
    assert texts_sent == [texts.text("utter_telegram_from_staff", text="您好，您上午问的事情已经查到了。")]
