"""Webhook mode: only Telegram, which knows the secret, can post updates, and each is answered once."""

from __future__ import annotations

import pytest

from bot.errors import ConfigurationError
from bot.settings import load_settings
from channels.telegram.channel import TelegramChannel
from tests.channels.conftest import SECRET, TOKEN, USER

HEADER = "X-Telegram-Bot-Api-Secret-Token"


def test_posts_without_the_right_secret_are_refused(gateway, bot_api, rasa):
    update = {"update_id": 9001, **bot_api.text_update(USER, "你好")}
    with gateway(mode="webhook") as client:
        missing = client.post("/telegram/webhook", json=update)
        wrong = client.post("/telegram/webhook", json=update, headers={HEADER: "guess"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    assert rasa.messages_sent() == [] and bot_api.sent_texts() == []


def test_an_update_with_the_secret_is_answered_once_even_if_posted_twice(gateway, bot_api, rasa):
    rasa.replies = [{"text": "您好，请问要办什么事？"}]
    update = {"update_id": 9002, **bot_api.text_update(USER, "你好")}
    with gateway(mode="webhook") as client:
        assert client.post("/telegram/webhook", json=update, headers={HEADER: SECRET}).json() == {"ok": True}
        assert client.post("/telegram/webhook", json=update, headers={HEADER: SECRET}).status_code == 200
        bot_api.wait_for(lambda: bot_api.sent_texts(USER))
        garbage = client.post("/telegram/webhook", content=b"not json", headers={HEADER: SECRET})
    assert bot_api.sent_texts(USER) == ["您好，请问要办什么事？"]
    assert len(rasa.messages_sent()) == 1
    assert garbage.status_code == 422
    assert bot_api.called("getUpdates") == []  # webhook mode never polls


def test_webhook_mode_without_a_secret_stops_start_up_with_a_fix():
    settings = load_settings(telegram_bot_token=TOKEN, telegram_mode="webhook", telegram_webhook_secret=None)
    with pytest.raises(ConfigurationError, match="TELEGRAM_WEBHOOK_SECRET"):
        TelegramChannel(settings, conversations=None, speech=lambda: None)
