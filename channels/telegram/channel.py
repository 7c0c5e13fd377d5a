"""The Telegram channel's life: build the PTB application, start it in polling or webhook mode, stop it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot import tls
from bot.channel import Capabilities
from bot.conversation import ConversationService
from bot.errors import ConfigurationError
from bot.services.leases import Lease
from bot.settings import Settings
from channels.telegram.handlers import CHANNEL, TelegramHandlers
from channels.telegram.outbox import TelegramPushes
from channels.telegram.sending import backoff

log = logging.getLogger(__name__)

# Short long-polls keep shutdown quick; Telegram answers at once when updates are waiting.
POLL_TIMEOUT_SECONDS = 10


def build_application(settings: Settings, handlers: TelegramHandlers) -> Application:
    """The PTB application against the configured Bot API server, with our handlers."""
    root = settings.telegram_api_base_url.rstrip("/")
    assert settings.telegram_bot_token  # the gateway starts Telegram only with a token
    # PTB's own pool sizes (256 connections for calls, 1 for getUpdates), with the process's one TLS context.
    builder = (ApplicationBuilder().token(settings.telegram_bot_token)
               .base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
               .request(HTTPXRequest(connection_pool_size=256, httpx_kwargs={"verify": tls.client_context()}))
               .get_updates_request(HTTPXRequest(connection_pool_size=1,
                                                 httpx_kwargs={"verify": tls.client_context()})))
    if settings.telegram_mode == "webhook":
        builder = builder.updater(None)  # updates arrive through POST /telegram/webhook
    application = builder.build()
    application.add_handler(TypeHandler(Update, handlers.drop_duplicates), group=-1)
    application.add_handler(CommandHandler("start", handlers.start))
    application.add_handler(CommandHandler("human", handlers.human))
    application.add_handler(CommandHandler("voice", handlers.voice_switch))
    application.add_handler(CallbackQueryHandler(handlers.button))
    application.add_handler(MessageHandler(filters.VOICE | filters.AUDIO, handlers.voice))
    application.add_handler(MessageHandler(filters.CONTACT, handlers.contact))
    # Payload-like texts such as "/book_appointment" are ordinary messages to the dialogue.
    application.add_handler(MessageHandler(filters.TEXT, handlers.text))
    application.add_handler(MessageHandler(filters.ALL & ~filters.UpdateType.EDITED, handlers.other))
    application.add_error_handler(_log_error)
    return application


async def _log_error(update: object, context: Any) -> None:
    log.error("telegram update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)


class TelegramChannel:
    """Runs the bot inside the gateway and delivers pushed messages to Telegram conversations."""

    name = CHANNEL
    capabilities = Capabilities(buttons=True, voice=True, push=True)  # inline keyboards, voice notes

    def __init__(self, settings: Settings, conversations: ConversationService,
                 speech: Callable[[], Any]) -> None:
        if not settings.telegram_bot_token:
            raise ConfigurationError("TELEGRAM_BOT_TOKEN is not set; the Telegram channel is off without it")
        if settings.telegram_mode == "webhook" and not settings.telegram_webhook_secret:
            raise ConfigurationError(
                "TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -), the same value "
                "given to setWebhook as secret_token, so that nobody else can post updates")
        self.settings = settings
        self.handlers = TelegramHandlers(conversations, speech)
        self.application = build_application(settings, self.handlers)
        self.delivery = TelegramPushes(self.application.bot, self.handlers).delivery(settings.push_poll_seconds)
        self._runner: asyncio.Task[None] | None = None
        # Replicas sharing Redis poll one at a time (two pollers would make Telegram refuse both with 409).
        self.lease = (Lease(settings.redis_url, "telegram-poller", settings.telegram_poll_lease_seconds)
                      if settings.telegram_mode == "polling" and settings.lock_store == "redis" else None)
        self._poller: asyncio.Task[None] | None = None

    @property
    def webhook(self) -> bool:
        """True when updates come through the webhook route."""
        return self.settings.telegram_mode == "webhook"

    async def start(self) -> None:
        """Starts connecting in the background, so a Telegram outage never keeps the gateway from serving."""
        self._runner = asyncio.create_task(self._connect_then_deliver())

    async def _connect_then_deliver(self) -> None:
        """Connects to the Bot API (getMe) until it answers, then handles updates and pushed messages."""
        failures = 0
        while True:
            try:
                await self.application.initialize()
                break
            except InvalidToken:
                log.error("TELEGRAM_BOT_TOKEN is refused by the Bot API; get a valid token from @BotFather")
                return
            except TelegramError as err:
                wait = backoff(failures)
                failures += 1
                log.warning("telegram Bot API not reachable (%s); trying again in %.0fs", err, wait)
                await asyncio.sleep(wait)
        await self.application.start()
        if self.lease is not None:
            self._poller = asyncio.create_task(self._poll_while_holding(self.lease))
        elif not self.webhook:
            await self._start_polling()
        log.info("telegram channel started (%s) as @%s", self.settings.telegram_mode, self.application.bot.username)
        await self.delivery.run()

    async def _start_polling(self) -> None:
        assert self.application.updater is not None  # the builder makes one unless told not to
        await self.application.updater.start_polling(
            timeout=POLL_TIMEOUT_SECONDS, drop_pending_updates=False, allowed_updates=Update.ALL_TYPES)

    async def _stop_polling(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()

    @property
    def polling(self) -> bool:
        """True while this gateway takes updates from Telegram by polling."""
        return self.application.updater is not None and self.application.updater.running

    async def _poll_while_holding(self, lease: Lease) -> None:
        """Polls while this replica holds the lease, renewing it every third of its length; stops when it is lost."""
        while True:
            held = await lease.hold()
            if held and not self.polling:
                log.info("telegram: this gateway takes over polling")
                await self._start_polling()
            elif not held and self.polling:
                log.warning("telegram: the polling lease is lost; another gateway polls now")
                await self._stop_polling()
            await asyncio.sleep(lease.seconds / 3)

    async def feed(self, data: dict[str, Any]) -> None:
        """Queues one update posted to the webhook."""
        await self.application.update_queue.put(Update.de_json(data, self.application.bot))

    async def stop(self) -> None:
        """Stops delivering and polling, finishes the updates in hand and shuts the application down."""
        for task in (self._poller, self._runner):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._stop_polling()
        if self.lease is not None:
            await self.lease.release()  # another gateway polls at once, not after the lease runs out
            await self.lease.close()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
