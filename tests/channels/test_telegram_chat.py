"""A person chatting with the bot over Telegram (polling), through the real gateway and PTB."""

from __future__ import annotations

import json

from bot import texts
from tests.channels.conftest import USER


def test_a_text_message_is_answered_in_the_same_chat(gateway, bot_api, rasa):
    rasa.replies = [{"text": "您好，请问您要办什么事？"}]
    with gateway():
        bot_api.add_update(bot_api.text_update(USER, "你好"))
        assert bot_api.wait_for(lambda: bot_api.sent_texts(USER)) == ["您好，请问您要办什么事？"]
    sent = rasa.messages_sent()[0]
    assert sent["sender"] == f"telegram:{USER}" and sent["message"] == "你好"
    assert sent["metadata"]["channel"] == "telegram"


def test_start_explains_what_the_bot_does(gateway, bot_api, rasa):
    with gateway():
        bot_api.add_update(bot_api.text_update(USER, "/start"))
        assert bot_api.wait_for(lambda: bot_api.sent_texts(USER)) == [texts.text("utter_telegram_start")]
    assert rasa.messages_sent() == []


def test_human_asks_for_a_person(gateway, bot_api, rasa):
    rasa.replies = [{"text": "正在为您联系工作人员，请稍候。"}]
    with gateway():
        bot_api.add_update(bot_api.text_update(USER, "/human"))
        bot_api.wait_for(lambda: bot_api.sent_texts(USER))
    assert rasa.messages_sent()[0]["message"] == "/request_human"


def test_buttons_become_an_inline_keyboard_and_a_press_sends_the_payload(gateway, bot_api, rasa):
    long_payload = '/choose_service{"service": "medical_transfer_registration", "step": "materials_and_fees"}'
    rasa.replies = [{"text": "您要办哪一项？", "buttons": [
        {"title": "居住证", "payload": '/choose_service{"service": "residence_permit"}'},
        {"title": "异地就医备案", "payload": long_payload}]}]
    with gateway():
        bot_api.add_update(bot_api.text_update(USER, "我要办事"))
        shown = bot_api.wait_for(lambda: [c for c in bot_api.called("sendMessage") if c.params.get("_accepted")])[0]
        rows = shown.params["reply_markup"]["inline_keyboard"]
        assert [row[0]["text"] for row in rows] == ["居住证", "异地就医备案"]
        long_data = rows[1][0]["callback_data"]
        assert len(long_data.encode()) <= 64

        message_id = 555
        bot_api.add_update(bot_api.callback_update(USER, long_data, message_id))
        bot_api.wait_for(lambda: len(rasa.messages_sent()) == 2 and bot_api.called("answerCallbackQuery"))
        edits = bot_api.wait_for(lambda: bot_api.called("editMessageReplyMarkup"))
    assert rasa.messages_sent()[1]["message"] == long_payload
    assert int(edits[0].params["message_id"]) == message_id and not edits[0].params.get("reply_markup")


def test_a_repeated_update_is_answered_once(gateway, bot_api, rasa):
    rasa.replies = [{"text": "好的"}]
    update = bot_api.text_update(USER, "社保卡怎么办")
    with gateway():
        bot_api.add_update(update, update_id=5001)
        bot_api.add_update(update, update_id=5001)
        bot_api.add_update(bot_api.text_update(USER, "谢谢"), update_id=5002)
        bot_api.wait_for(lambda: len(rasa.messages_sent()) >= 2)
    assert [m["message"] for m in rasa.messages_sent()] == ["社保卡怎么办", "谢谢"]
    assert bot_api.sent_texts(USER) == ["好的", "好的"]


def test_a_long_answer_arrives_in_parts_cut_between_sentences(gateway, bot_api, rasa):
    sentence = "办理居住证需要身份证、租房合同和近期照片，请带齐原件和复印件。"
    answer = sentence * 200  # about 6 400 characters
    rasa.replies = [{"text": answer}]
    with gateway():
        bot_api.add_update(bot_api.text_update(USER, "居住证要什么材料"))
        parts = bot_api.wait_for(lambda: len(bot_api.sent_texts(USER)) >= 2 and bot_api.sent_texts(USER))
    assert "".join(parts) == answer
    assert all(len(p) <= 4096 and p.endswith("。") for p in parts)


def test_a_rate_limited_answer_still_arrives(gateway, bot_api, rasa):
    rasa.replies = [{"text": "请带身份证原件。"}]
    with gateway():
        bot_api.fail("sendMessage", 429, times=1, retry_after=1)
        bot_api.add_update(bot_api.text_update(USER, "要带什么"))
        assert bot_api.wait_for(lambda: bot_api.sent_texts(USER)) == ["请带身份证原件。"]
    assert len(bot_api.called("sendMessage")) == 2


def test_a_photo_gets_told_what_the_bot_understands(gateway, bot_api, rasa):
    update = bot_api.text_update(USER, "")
    del update["message"]["text"]
    update["message"]["photo"] = [{"file_id": "p", "file_unique_id": "p", "width": 10, "height": 10}]
    with gateway():
        bot_api.add_update(update)
        assert bot_api.wait_for(lambda: bot_api.sent_texts(USER)) == [texts.text("utter_telegram_text_only")]
    assert json.dumps(rasa.messages_sent()) == "[]"


def test_the_gateway_serves_while_telegram_is_unreachable_and_the_bot_answers_once_it_is_back(
        gateway, bot_api, rasa):
    rasa.replies = [{"text": "您好"}]
    bot_api.stop()
    with gateway() as client:
        assert client.get("/api/services").status_code == 200
        bot_api.start()
        bot_api.add_update(bot_api.text_update(USER, "你好"))
        assert bot_api.wait_for(lambda: bot_api.sent_texts(USER), timeout=40) == ["您好"]
