"""Telegram state every gateway replica shares: a button drawn by one is understood by another, /voice lasts."""

from __future__ import annotations

from bot.services import channel_state
from channels.telegram.handlers import conversation_id
from channels.telegram.render import CallbackKeys
from speech.service import SpeechService
from tests.channels.conftest import USER
from tests.channels.test_telegram_voice import synthesizer  # noqa: F401 - a fixture

LONG_PAYLOAD = '/choose_service{"service": "medical_transfer_registration", "step": "materials_and_fees"}'


def test_a_long_payloads_key_drawn_by_one_replica_is_read_by_another():
    drawn = CallbackKeys().data_for(LONG_PAYLOAD)
    assert drawn.startswith("k:") and len(drawn.encode()) <= 64
    assert CallbackKeys().payload_for(drawn) == LONG_PAYLOAD  # a fresh replica, nothing in its memory
    assert CallbackKeys().payload_for("k:" + "0" * 24) is None


def test_a_button_pressed_after_the_gateway_restarted_still_sends_its_payload(gateway, bot_api, rasa):
    rasa.replies = [{"text": "您要办哪一项？", "buttons": [{"title": "异地就医备案", "payload": LONG_PAYLOAD}]}]
    with gateway():
        bot_api.add_update(bot_api.text_update(USER, "我要办事"))
        shown = bot_api.wait_for(lambda: [c for c in bot_api.called("sendMessage") if c.params.get("_accepted")])[0]
    data = shown.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    rasa.replies = [{"text": "好的"}]
    with gateway():  # another gateway process: it never drew that keyboard
        bot_api.add_update(bot_api.callback_update(USER, data, 556))
        bot_api.wait_for(lambda: len(rasa.messages_sent()) == 2)
    assert rasa.messages_sent()[1]["message"] == LONG_PAYLOAD


def test_voice_on_holds_on_another_gateway(gateway, bot_api, rasa, synthesizer):  # noqa: F811 - the fixture
    rasa.replies = [{"text": "居住证可以在街道服务中心办理。"}]
    with gateway(speech=SpeechService(None, synthesizer)):
        bot_api.add_update(bot_api.text_update(USER, "/voice on"))
        bot_api.wait_for(lambda: bot_api.sent_texts(USER))
    assert channel_state.voice_answers(conversation_id(USER))
    with gateway(speech=SpeechService(None, synthesizer)):
        bot_api.add_update(bot_api.text_update(USER, "居住证在哪办"))
        bot_api.wait_for(lambda: [c for c in bot_api.called("sendVoice") if c.params.get("_accepted")], timeout=60)
    channel_state.set_voice_answers(conversation_id(USER), False)
    assert not channel_state.voice_answers(conversation_id(USER))
