"""Every channel declares itself by the one protocol of the core: its name and what it can render."""

from __future__ import annotations

import typing

from bot.channel import Capabilities, Channel
from channels.phone.channel import PhoneChannel
from channels.phone.flow import CHANNEL as PHONE_MESSAGES
from channels.telegram.channel import TelegramChannel
from channels.telegram.handlers import CHANNEL as TELEGRAM_MESSAGES
from channels.webchat.chat_api import WEB_CHAT, ChatRequest
from channels.wechat.channel import CHANNEL as WECHAT_MESSAGES
from channels.wechat.channel import WeChatChannel
from kiosk.routes import KIOSK

CHANNELS = [WEB_CHAT, KIOSK, TelegramChannel, PhoneChannel, WeChatChannel]


def test_every_channel_conforms_and_has_a_name_of_its_own():
    for channel in CHANNELS:
        assert isinstance(channel, Channel), channel
        assert isinstance(channel.capabilities, Capabilities)
    assert len({channel.name for channel in CHANNELS}) == len(CHANNELS)


def test_each_channel_names_its_incoming_messages_by_its_declared_name():
    assert set(typing.get_args(ChatRequest.model_fields["channel"].annotation)) == {WEB_CHAT.name, KIOSK.name}
    assert TelegramChannel.name == TELEGRAM_MESSAGES
    assert PhoneChannel.name == PHONE_MESSAGES
    assert WeChatChannel.name == WECHAT_MESSAGES


def test_what_each_channel_can_render():
    assert KIOSK.capabilities.large_text and not WEB_CHAT.capabilities.large_text
    # The phone has no screen: its choices are read aloud and answered on the keypad; WeChat numbers them.
    assert not PhoneChannel.capabilities.buttons and PhoneChannel.capabilities.voice
    assert not WeChatChannel.capabilities.buttons
    assert all(channel.capabilities.push for channel in CHANNELS)
