"""The FastAPI gateway that every channel, the kiosk and the staff console go through."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from bot.conversation import ConversationService
from bot.engine.client import RasaClient
from bot.errors import ConfigurationError
from bot.gateway import api_docs
from bot.gateway.errors import install_error_handlers
from bot.gateway.limits import LARGE_BODY_PATHS, BodySizeLimit
from bot.gateway.routes import (
    applications, health, residents, services, speech, staff, staff_analytics, staff_sms, staff_work, understand,
)
from bot.gateway.security import SecurityHeaders
from bot.logs import configure_logging
from bot.privacy import personal_numbers
from bot.ratelimit import AsyncLimiter
from bot.settings import Settings, get_settings
from bot.understanding.rewrite import warm_up
from channels.telegram import webhook as telegram
from channels.webchat import chat_api, routes as webchat
from channels.wechat import routes as wechat
from channels.wechat.messages import MAX_BODY_BYTES as WECHAT_MAX_BODY_BYTES
from kiosk import routes as kiosk
from kiosk.handwriting import api as handwriting
from kiosk.handwriting.service import HandwritingService

if TYPE_CHECKING:  # speech loads vosk and espeak-ng only when the gateway starts with it
    from speech.service import SpeechService

STATIC_DIR = Path(__file__).resolve().parent / "static"
# How often the gateway turns unaccepted handoffs into an offer, and (every tenth time) sends due reminders.
HOUSEKEEPING_SECONDS = 5.0
REMINDERS_EVERY = 10
# Hourly, the analytics roll up the days that are done (a supervisor's request then reads them ready).
ANALYTICS_ROLL_UP_EVERY = 720

log = logging.getLogger(__name__)


async def housekeeping(interval: float = HOUSEKEEPING_SECONDS) -> None:
    """Runs until cancelled: nobody waits for staff in silence, and reminders go out the day before."""
    from bot.services import analytics_daily, handoff, reminders

    tick = 0
    while True:
        try:
            await run_in_threadpool(handoff.expire_unaccepted)
            if tick % REMINDERS_EVERY == 0:
                await run_in_threadpool(reminders.send_due)
            if tick % ANALYTICS_ROLL_UP_EVERY == 1:
                await run_in_threadpool(analytics_daily.roll_up_past_year)
        except Exception:  # a failed round is logged and the next one tries again
            log.exception("housekeeping round failed")
        tick += 1
        await asyncio.sleep(interval)


def speech_service(settings: Settings) -> SpeechService | None:
    """Speech recognition (when VOSK_MODEL_PATH is set) and synthesis; None when espeak-ng is not installed.

    A VOSK_MODEL_PATH that does not hold a model stops the start with a message saying where to put
    vosk-model-small-cn-0.22, rather than failing in the middle of a call.
    """
    from speech.errors import ModelMissing, SpeechError
    from speech.service import SpeechService

    try:
        return SpeechService.from_settings(model_paths={"zh-CN": settings.vosk_model_path},
                                           cache_dir=settings.speech_cache_dir,
                                           max_decodes=settings.speech_max_decodes,
                                           max_recognitions=settings.speech_max_recognitions,
                                           keep_in_cache=lambda text: not personal_numbers(text))
    except ModelMissing as err:
        raise ConfigurationError(err.message) from err
    except SpeechError as err:
        log.warning("speech is off: %s", err.message)
        return None


def create_app(settings: Settings | None = None, rasa_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """Builds the gateway; `rasa_transport` lets tests put a fake Rasa behind the real client."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Build the pinyin lexicon and the service matcher before the first person waits for them.
        await run_in_threadpool(warm_up)
        # The handwriting model loads in its own thread: chat does not wait for it.
        app.state.handwriting.start()
        jobs = asyncio.create_task(housekeeping())
        app.state.telegram = None
        if settings.telegram_bot_token:
            # Imported only when the channel is on: python-telegram-bot stays out of gateways without it.
            from channels.telegram.channel import TelegramChannel

            app.state.telegram = TelegramChannel(settings, app.state.conversations,
                                                 speech=lambda: getattr(app.state, "speech", None))
            await app.state.telegram.start()
        app.state.wechat = None
        if settings.wechat_token:
            from channels.wechat.channel import WeChatChannel

            app.state.wechat = WeChatChannel(settings, app.state.conversations,
                                             speech=lambda: getattr(app.state, "speech", None))
            await app.state.wechat.start()
        app.state.phone = None
        if settings.sip_listen:
            from channels.phone.channel import PhoneChannel

            app.state.phone = PhoneChannel(settings, app.state.conversations,
                                           speech=lambda: getattr(app.state, "speech", None))
            await app.state.phone.start()
        yield
        if app.state.phone is not None:
            await app.state.phone.stop()
        if app.state.telegram is not None:
            await app.state.telegram.stop()
        if app.state.wechat is not None:
            await app.state.wechat.stop()
        jobs.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await jobs
        await app.state.rasa.close()

    # API docs only when asked for (API_DOCS=true), and never FastAPI's pages that load scripts from a CDN.
    app = FastAPI(title="便民助手 gateway", version="1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json" if settings.api_docs else None)
    if settings.api_docs:
        api_docs.install(app)
    app.state.settings = settings
    app.state.rasa = RasaClient(settings, transport=rasa_transport)
    app.state.limiter = AsyncLimiter(settings)
    app.state.conversations = ConversationService(app.state.rasa, app.state.limiter)
    app.state.speech = speech_service(settings)
    app.state.handwriting = HandwritingService()
    # A channel's own limit is wired in here, the one place that imports channels.
    app.add_middleware(BodySizeLimit, large_paths={**LARGE_BODY_PATHS, "/wechat": WECHAT_MAX_BODY_BYTES})
    app.add_middleware(SecurityHeaders)
    if settings.cors_origins:
        # Government sites on another origin embed the widget; only they may call the chat and speech APIs.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-Conversation-Token"], max_age=3600)
    install_error_handlers(app)
    for module in (health, chat_api, understand, services, applications, staff, staff_work, staff_sms, staff_analytics,
                   residents, speech, telegram, wechat, webchat, kiosk, handwriting):
        app.include_router(module.router)
    app.mount("/staff/assets", StaticFiles(directory=STATIC_DIR / "staff"), name="staff-assets")

    @app.get("/staff", include_in_schema=False)
    async def staff_console() -> FileResponse:
        return FileResponse(STATIC_DIR / "staff" / "index.html", media_type="text/html; charset=utf-8")

    return app


def main_app() -> FastAPI:
    """The app uvicorn serves (`bot.gateway.app:main_app`, factory mode), with logging configured."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
