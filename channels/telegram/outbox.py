"""Delivers messages pushed to Telegram conversations (staff replies, reminders, status changes).

The order, the cursor per conversation and the lease that keeps two gateways from sending the same message
are the core's (bot.services.delivery); this module sends one message the Telegram way and says when to retry.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram.error import BadRequest, Forbidden

from bot import texts
from bot.conversation import Button, OutgoingMessage
from bot.services.conversations import PushedMessage
from bot.services.delivery import Deferred, PushDelivery, Undeliverable
from channels.telegram.handlers import CHANNEL, TelegramHandlers
from channels.telegram.sending import DeliveryDeferred, attempt

log = logging.getLogger(__name__)

PREFIX = f"{CHANNEL}:"


def rendered(message: PushedMessage) -> OutgoingMessage:
    """A staff member's words are marked as theirs; the assistant's go out as they are."""
    text = texts.text("utter_telegram_from_staff", text=message.text) if message.sender == "staff" else message.text
    return OutgoingMessage(text, tuple(Button(b.get("title", ""), b.get("payload", "")) for b in message.buttons),
                           sender=message.sender)


class TelegramPushes:
    """Sends one pushed message; a long one interrupted half-way resumes after the parts already sent."""

    def __init__(self, bot: Any, handlers: TelegramHandlers) -> None:
        self.bot = bot
        self.handlers = handlers
        # (message id, parts already sent) of a long message interrupted half-way, so no part is sent twice.
        self._partial: dict[str, tuple[int, int]] = {}

    def delivery(self, poll_seconds: float) -> PushDelivery:
        """The delivery loop over Telegram's conversations, looking for new messages every `poll_seconds`."""
        return PushDelivery(PREFIX, self.send, poll_seconds)

    async def send(self, conversation_id: str, message: PushedMessage) -> None:
        """Returns once Telegram took the whole message; Deferred to retry later, Undeliverable to skip it."""
        chat_id = int(conversation_id.removeprefix(PREFIX))
        done_id, done_parts = self._partial.get(conversation_id, (message.id, 0))
        skip = done_parts if done_id == message.id else 0

        def progress(parts: int) -> None:
            self._partial[conversation_id] = (message.id, parts)

        try:
            await attempt(lambda: self.handlers.send(self.bot, chat_id, rendered(message), skip_parts=skip,
                                                     on_part=progress, retry=False))
        except DeliveryDeferred as deferred:
            raise Deferred(deferred.wait, str(deferred)) from deferred
        except (BadRequest, Forbidden) as err:
            # The person blocked the bot or the message is malformed: retrying forever would stop the queue.
            raise Undeliverable(str(err)) from err
        self._partial.pop(conversation_id, None)
