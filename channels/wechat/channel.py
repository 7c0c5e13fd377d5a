"""The WeChat channel: one follower (openid) is one conversation; answers within WeChat's 5 seconds.

A message is answered passively (in the HTTP answer to WeChat) when the turn takes under PASSIVE_BUDGET
seconds. A slower turn (a voice message to recognise, a busy engine) is acknowledged at once, and its answer
is put in the conversation's outbox, from which the push delivery sends it through the customer-service API
(durably: a gateway that dies meanwhile loses nothing). Staff replies, reminders and status changes take the
same way; outside WeChat's 48-hour window they go as a template message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool

from bot import texts
from bot.channel import Capabilities
from bot.conversation import Button, ConversationService, IncomingMessage, OutgoingMessage
from bot.errors import InvalidRequest
from bot.knowledge.catalogue import get_catalogue
from bot.ratelimit import RateLimited
from bot.services import channel_state, conversations
from bot.services.answers import payload
from bot.services.conversations import PushedMessage
from bot.services.delivery import Deferred, PushDelivery, Undeliverable
from bot.settings import Settings
from channels.wechat import messages
from channels.wechat.api import BUSY, OUTSIDE_WINDOW, WeChatApi, WeChatApiError

log = logging.getLogger(__name__)

CHANNEL = "wechat"
PREFIX = f"{CHANNEL}:"
LOCALE = "zh-CN"
# WeChat waits 5 s for the answer and then retries; what is not ready by then goes out as a push.
PASSIVE_BUDGET_SECONDS = 4.0
MENU_SERVICES = ("social_security_card", "residence_permit", "senior_allowance", "medical_reimbursement", "id_card")


def conversation_id(openid: str) -> str:
    """Every follower is one conversation."""
    return f"{PREFIX}{openid}"


def menu() -> dict[str, Any]:
    """The account's custom menu: the most asked services, checking an application, a person."""
    catalogue = get_catalogue()
    services = [{"type": "click", "name": catalogue.services[s].short_name[:8],
                 "key": payload("ask_how_to_apply", service=s)} for s in MENU_SERVICES if s in catalogue.services]
    return {"button": [
        {"name": "常办事项", "sub_button": services[:5]},
        {"type": "click", "name": "查办理进度", "key": "/check_status"},
        {"name": "找人帮忙", "sub_button": [
            {"type": "click", "name": "找工作人员", "key": "/request_human"},
            {"type": "click", "name": "预约到大厅", "key": "/book_appointment"},
        ]},
    ]}


def combined(replies: tuple[OutgoingMessage, ...]) -> tuple[str, list[dict[str, str]]]:
    """One pushed message holding a turn's replies, buttons kept for the numbered lines."""
    return ("\n\n".join(m.text for m in replies if m.text),
            [{"title": b.title, "payload": b.payload} for m in replies for b in m.buttons])


class WeChatChannel:
    """Receives the account's messages and sends the assistant's answers and pushes."""

    name = CHANNEL
    # Choices go out as numbered text (the person answers with the number); voice messages come in.
    capabilities = Capabilities(voice=True, push=True)

    def __init__(self, settings: Settings, service: ConversationService, speech: Callable[[], Any],
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.token = settings.wechat_token or ""
        aes_key = settings.wechat_encoding_aes_key.get_secret_value() if settings.wechat_encoding_aes_key else None
        self.safe = messages.SafeMode(self.token, aes_key, settings.wechat_app_id or "") if aes_key else None
        self.api = WeChatApi(settings, transport) if settings.wechat_app_id else None
        self.template_id = settings.wechat_template_id
        self.conversations = service
        self.speech = speech
        self._background: set[asyncio.Task] = set()
        self.delivery = PushDelivery(PREFIX, self.push, settings.push_poll_seconds)
        self._delivery: asyncio.Task | None = None

    async def start(self) -> None:
        """Starts the push delivery and sets the menu (when the account's API credentials are set)."""
        if self.api is None:
            log.warning("WECHAT_APP_ID/WECHAT_APP_SECRET unset: WeChat answers passively only, no pushes or menu")
            return
        self._delivery = asyncio.create_task(self.delivery.run())
        try:
            await self.api.create_menu(menu())
        except WeChatApiError as err:
            log.error("the WeChat menu was not set: %s", err)

    async def stop(self) -> None:
        """Stops the delivery and waits for answers still being prepared."""
        if self._delivery is not None:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
        if self._background:
            await asyncio.wait(self._background, timeout=10)
        if self.api is not None:
            await self.api.close()

    # --- a message from WeChat ----------------------------------------------------------------------------

    async def receive(self, body: bytes, query: dict[str, str]) -> str:
        """The HTTP answer to one POST /wechat: a passive reply (XML) or "success" (nothing to say now)."""
        messages.verify(self.token, query.get("signature", ""), query.get("timestamp", ""), query.get("nonce", ""))
        encrypted = query.get("encrypt_type") == "aes"
        if encrypted:
            if self.safe is None:
                raise InvalidRequest("safe mode is not configured (WECHAT_ENCODING_AES_KEY)", code="safe_mode_off")
            body = self.safe.decrypt(body, query.get("msg_signature", ""), query.get("timestamp", ""),
                                     query.get("nonce", ""))
        incoming = messages.parse(body)
        if not await run_in_threadpool(channel_state.first_time, CHANNEL, incoming.message_key):
            return "success"  # WeChat retried a message that is being (or was) answered
        turn = asyncio.create_task(self._answer(incoming))
        try:
            replies = await asyncio.wait_for(asyncio.shield(turn), PASSIVE_BUDGET_SECONDS)
        except TimeoutError:
            self._background.add(turn)
            turn.add_done_callback(lambda done: self._push_late(incoming.openid, done))
            replies = (OutgoingMessage(texts.text("utter_wechat_working")),)
        if not replies:
            return "success"
        text, choices = messages.render(replies)
        await run_in_threadpool(channel_state.offer, conversation_id(incoming.openid), choices)
        reply = messages.passive_reply(incoming.openid, incoming.account, text)
        if encrypted and self.safe is not None:
            return self.safe.encrypt(reply, messages.new_nonce())
        return reply

    def _push_late(self, openid: str, done: asyncio.Task) -> None:
        self._background.discard(done)
        if done.cancelled() or done.exception() is not None:
            log.error("a slow WeChat turn failed: %r", None if done.cancelled() else done.exception())
            return
        replies = done.result()
        if replies:
            text, buttons = combined(replies)
            # Into the outbox: the push delivery sends it, and retries until WeChat accepts it.
            task = asyncio.create_task(run_in_threadpool(conversations.push, conversation_id(openid), "assistant",
                                                         text, buttons))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _answer(self, incoming: messages.Incoming) -> tuple[OutgoingMessage, ...]:
        """What the assistant says to one message or event (nothing for an unfollow)."""
        if incoming.kind == "event":
            if incoming.event == "subscribe":
                return (OutgoingMessage(texts.text("utter_wechat_welcome")),)
            if incoming.event == "click" and incoming.text:
                return await self._turn(incoming.openid, incoming.text)
            return ()
        if incoming.kind == "voice":
            heard = incoming.text or await self._recognise(incoming.media_id)
            if heard is None:
                return (OutgoingMessage(texts.text("utter_wechat_voice_unavailable")),)
            if not heard:
                return (OutgoingMessage(texts.text("utter_wechat_not_heard")),)
            return (OutgoingMessage(texts.text("utter_wechat_heard", text=heard)),
                    *await self._turn(incoming.openid, heard))
        if incoming.kind == "text" and incoming.text.strip():
            return await self._turn(incoming.openid, incoming.text)
        return (OutgoingMessage(texts.text("utter_wechat_text_only")),)

    async def _turn(self, openid: str, text: str) -> tuple[OutgoingMessage, ...]:
        conversation = conversation_id(openid)
        number = messages.chosen_number(text)
        if number is not None:
            chosen = await run_in_threadpool(channel_state.chosen, conversation, number)
            text = chosen or text
        try:
            result = await self.conversations.handle(
                IncomingMessage(sender_id=conversation, text=text, channel=CHANNEL, locale=LOCALE))
        except RateLimited as err:
            return (OutgoingMessage(err.message),)
        return result.messages

    async def _recognise(self, media_id: str | None) -> str | None:
        """The words of a voice message WeChat did not transcribe; None when recognition is unavailable."""
        speech = self.speech()
        if speech is None or self.api is None or not media_id or not speech.can_recognise(LOCALE):
            return None
        try:
            audio, content_type = await self.api.media(media_id)
            transcript = await speech.transcribe_bytes(audio, content_type, locale=LOCALE)
        except Exception as err:  # noqa: BLE001 - an undecodable or unfetchable voice message gets words, not a 500
            log.warning("a WeChat voice message could not be recognised: %s", type(err).__name__)
            return ""
        return transcript.text.strip()

    # --- pushes -----------------------------------------------------------------------------------------------

    async def push(self, conversation: str, message: PushedMessage) -> None:
        """Sends one pushed message (PushDelivery's sender): customer-service message, else a template message."""
        assert self.api is not None
        openid = conversation.removeprefix(PREFIX)
        text = texts.text("utter_wechat_from_staff", text=message.text) if message.sender == "staff" else message.text
        buttons = tuple(Button(b.get("title", ""), b.get("payload", "")) for b in message.buttons)
        rendered, choices = messages.render((OutgoingMessage(text, buttons),))
        # The choices are remembered first: once WeChat has the message, nothing may fail and send it again.
        await run_in_threadpool(channel_state.offer, conversation, choices)
        try:
            await self.api.send_text(openid, rendered)
        except WeChatApiError as err:
            if err.code == OUTSIDE_WINDOW and self.template_id:
                await self._send_template(openid, text)
            elif err.code is None or err.code in BUSY:
                raise Deferred(1, str(err)) from err
            else:
                raise Undeliverable(str(err)) from err

    async def _send_template(self, openid: str, text: str) -> None:
        assert self.api is not None and self.template_id is not None
        try:
            await self.api.send_template(openid, self.template_id, texts.text("utter_wechat_push_notice", text=text))
        except WeChatApiError as err:
            if err.code is None or err.code in BUSY:
                raise Deferred(1, str(err)) from err
            raise Undeliverable(str(err)) from err
