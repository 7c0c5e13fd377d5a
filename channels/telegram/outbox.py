"""Delivers messages pushed to Telegram conversations (staff replies, reminders, status changes)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from telegram.error import BadRequest, Forbidden

from bot import texts
from bot.conversation import Button, OutgoingMessage
from bot.db.models import OutboxMessage
from bot.db.session import unit_of_work
from bot.services import conversations
from bot.services.conversations import PushedMessage
from channels.telegram.handlers import CHANNEL, TelegramHandlers
from channels.telegram.sending import DeliveryDeferred, attempt

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
PREFIX = f"{CHANNEL}:"


def latest_outbox_id() -> int:
    """The newest pushed message of any conversation (0 when there is none)."""
    with unit_of_work() as session:
        return session.scalar(select(func.max(OutboxMessage.id))) or 0


def conversations_with_news(after: int) -> list[str]:
    """Telegram conversations that got a pushed message after `after`.

    The conversation service answers per conversation only; this read finds which ones to ask.
    """
    with unit_of_work() as session:
        query = select(OutboxMessage.conversation_id).where(
            OutboxMessage.id > after, OutboxMessage.conversation_id.startswith(PREFIX)).distinct()
        return list(session.scalars(query))


def rendered(message: PushedMessage) -> OutgoingMessage:
    """A staff member's words are marked as theirs; the assistant's go out as they are."""
    text = texts.text("utter_telegram_from_staff", text=message.text) if message.sender == "staff" else message.text
    return OutgoingMessage(text, tuple(Button(b.get("title", ""), b.get("payload", "")) for b in message.buttons),
                           sender=message.sender)


class PushDelivery:
    """Sends pushed messages in order; a cursor moves past a message only once Telegram accepted it.

    Cursors live in memory and start at the newest message when the gateway starts, so a restart
    never repeats old messages (messages pushed while the gateway was down are not sent either).
    """

    def __init__(self, bot: Any, handlers: TelegramHandlers, poll_seconds: float = POLL_SECONDS) -> None:
        self.bot = bot
        self.handlers = handlers
        self.poll_seconds = poll_seconds
        self.floor = 0
        self.cursors: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        # (message id, parts already sent) of a long message interrupted half-way, so no part is sent twice.
        self._partial: dict[str, tuple[int, int]] = {}
        # Finished passes: what shows that a message was not sent again (the tests wait on it).
        self.rounds = 0

    async def prepare(self) -> None:
        """Starts after the messages that existed before this process."""
        self.floor = await run_in_threadpool(latest_outbox_id)

    async def run(self) -> None:
        """Delivers until cancelled."""
        while True:
            try:
                await self.deliver_round()
            except Exception:  # a failed round (e.g. the database is busy) is retried next time
                log.exception("telegram push delivery round failed")
            self.rounds += 1
            await asyncio.sleep(self.poll_seconds)

    async def deliver_round(self) -> None:
        """One pass over every Telegram conversation with undelivered messages."""
        for conversation_id in await run_in_threadpool(conversations_with_news, self.floor):
            if time.monotonic() < self._not_before.get(conversation_id, 0.0):
                continue
            cursor = self.cursors.get(conversation_id, self.floor)
            pending = await run_in_threadpool(conversations.messages_after, conversation_id, cursor)
            for message in pending:
                if not await self._deliver(conversation_id, message):
                    break
                self.cursors[conversation_id] = message.id

    async def _deliver(self, conversation_id: str, message: PushedMessage) -> bool:
        """True once the message is out (or can never go out); False to try again later."""
        chat_id = int(conversation_id.removeprefix(PREFIX))
        done_id, done_parts = self._partial.get(conversation_id, (message.id, 0))
        skip = done_parts if done_id == message.id else 0

        def progress(parts: int) -> None:
            self._partial[conversation_id] = (message.id, parts)

        try:
            await attempt(lambda: self.handlers.send(self.bot, chat_id, rendered(message), skip_parts=skip,
                                                     on_part=progress, retry=False),
                          self._failures.get(conversation_id, 0))
        except DeliveryDeferred as deferred:
            self._failures[conversation_id] = self._failures.get(conversation_id, 0) + 1
            self._not_before[conversation_id] = time.monotonic() + deferred.wait
            log.warning("pushed message %s to %s deferred: %s", message.id, conversation_id, deferred)
            return False
        except (BadRequest, Forbidden) as err:
            # The person blocked the bot or the message is malformed: retrying forever would stop the queue.
            log.error("pushed message %s to %s refused by Telegram: %s", message.id, conversation_id, err)
        self._failures.pop(conversation_id, None)
        self._partial.pop(conversation_id, None)
        return True
