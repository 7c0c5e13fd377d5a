"""Telegram vouches for a phone number only when the user shares their own contact (the request-contact button)."""

from __future__ import annotations

import uuid

import pytest

from bot import texts
from bot.notify.sms import SmppSender
from bot.services import audit, conversations, identity
from tests.channels.conftest import USER
from tests.fakes.smsc import PASSWORD, SYSTEM_ID, FakeSmsc

pytestmark = pytest.mark.timeout(60)
PHONE = "13912340000"


def test_the_users_own_contact_proves_the_phone(gateway, bot_api, rasa):
    user = USER + uuid.uuid4().int % 100_000
    with gateway():
        bot_api.add_update(bot_api.contact_update(user, "+86 139-1234-0000", contact_user_id=user))
        bot_api.wait_for(lambda: texts.text("utter_telegram_contact_confirmed") in bot_api.sent_texts(user))
    assert identity.holds_phone(f"telegram:{user}", PHONE)
    assert rasa.messages_sent() == [], "a contact is not a message for the dialogue"


def test_someone_elses_contact_card_proves_nothing_and_is_audited(gateway, bot_api, rasa):
    user = USER + uuid.uuid4().int % 100_000
    with gateway():
        bot_api.add_update(bot_api.contact_update(user, "+8613912340000", contact_user_id=user + 1))
        bot_api.add_update(bot_api.contact_update(user, "+8613912340000", contact_user_id=None))
        bot_api.wait_for(lambda: bot_api.sent_texts(user).count(texts.text("utter_telegram_contact_not_own")) == 2)
        buttons = [c.params["reply_markup"] for c in bot_api.called("sendMessage") if int(c.params["chat_id"]) == user]
    assert not identity.holds_phone(f"telegram:{user}", PHONE)
    assert all(m["keyboard"][0][0]["request_contact"] for m in buttons), "the right button is offered again"
    refused = [e for e in audit.recent(subject=f"conversation:telegram:{user}") if e.action == "identity_contact_refused"]
    assert len(refused) == 2 and all(PHONE not in e.detail for e in refused)


def test_while_a_code_is_pending_the_share_contact_button_is_offered(gateway, bot_api, rasa):
    user = USER + uuid.uuid4().int % 100_000
    conversation = f"telegram:{user}"
    conversations.ensure(conversation, "telegram", "zh-CN")
    with FakeSmsc() as smsc:
        identity.send_code(conversation, PHONE, "resume:residence_permit",
                           SmppSender("127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, "1069"))
    rasa.replies = [{"text": "请输入验证码"}]
    with gateway():
        bot_api.add_update(bot_api.text_update(user, "验证码没收到"))
        bot_api.wait_for(lambda: texts.text("utter_telegram_share_contact") in bot_api.sent_texts(user))
        offer = [c for c in bot_api.called("sendMessage")
                 if c.params.get("text") == texts.text("utter_telegram_share_contact")][0]
    assert offer.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
