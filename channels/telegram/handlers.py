"""What the bot does with each kind of update: text, commands, button presses, voice notes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from telegram import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import texts
from bot.conversation import ConversationService, IncomingMessage, OutgoingMessage
from bot.ratelimit import RateLimited
from bot.services import audit, channel_state, identity
from channels.telegram.render import CallbackKeys, keyboard, split_text
from channels.telegram.sending import send_reliably
from channels.telegram.voice import OGG_CONTENT_TYPE, ogg_opus_from_wav

log = logging.getLogger(__name__)

CHANNEL = "telegram"
HUMAN_PAYLOAD = "/request_human"
LOCALE = "zh-CN"


def conversation_id(user_id: int) -> str:
    """Every Telegram user is one conversation."""
    return f"{CHANNEL}:{user_id}"


def share_contact_keyboard() -> ReplyKeyboardMarkup:
    """The one-tap button that shares the user's own phone number (Telegram's request_contact)."""
    button = KeyboardButton(texts.text("utter_telegram_share_contact_button"), request_contact=True)
    return ReplyKeyboardMarkup([[button]], one_time_keyboard=True, resize_keyboard=True)


class TelegramHandlers:
    """The handlers of the PTB application; `speech` returns the gateway's SpeechService or None."""

    def __init__(self, conversations: ConversationService, speech: Callable[[], Any]) -> None:
        self.conversations = conversations
        self.speech = speech
        self.keys = CallbackKeys()

    async def drop_duplicates(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stops an update Telegram delivered before (a webhook retry, an overlapping poll)."""
        if not await run_in_threadpool(channel_state.first_time, CHANNEL, str(update.update_id)):
            raise ApplicationHandlerStop

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start: what the bot does, in two sentences."""
        await self.say(context, update.effective_chat.id, texts.text("utter_telegram_start"))

    async def human(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/human: the same request for a person as the button that offers one."""
        await self.turn(update, context, HUMAN_PAYLOAD)

    async def voice_switch(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/voice on|off: whether answers also come as voice notes."""
        choice = (context.args or [""])[0].lower()
        if choice in ("on", "off"):
            # In the database: the next message may reach another gateway replica, or one restarted since.
            await run_in_threadpool(channel_state.set_voice_answers, conversation_id(update.effective_user.id),
                                    choice == "on")
            answer = "utter_telegram_voice_on" if choice == "on" else "utter_telegram_voice_off"
        else:
            answer = "utter_telegram_voice_usage"
        await self.say(context, update.effective_chat.id, texts.text(answer))

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A typed message goes to the dialogue as it is."""
        await self.turn(update, context, update.effective_message.text or "")

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A pressed button sends its payload; its keyboard goes away so it cannot be pressed twice."""
        query = update.callback_query
        await send_reliably(lambda: query.answer())
        if query.message is not None:
            try:
                await send_reliably(lambda: query.edit_message_reply_markup(reply_markup=None))
            except Exception:  # noqa: BLE001 - an old message may no longer be editable; the press still counts
                log.info("could not remove the keyboard of message %s", query.message.message_id)
        payload = await run_in_threadpool(self.keys.payload_for, query.data or "")
        if payload is None:
            await self.say(context, update.effective_chat.id, texts.text("utter_telegram_button_expired"))
            return
        await self.turn(update, context, payload)

    async def voice(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A voice note is transcribed, shown back to the person, then answered like text."""
        chat_id = update.effective_chat.id
        speech = self.speech()
        if speech is None or not speech.can_recognise(LOCALE):
            await self.say(context, chat_id, texts.text("utter_telegram_voice_unavailable"))
            return
        note = update.effective_message.voice or update.effective_message.audio
        try:
            file = await send_reliably(lambda: context.bot.get_file(note.file_id))
            data = bytes(await file.download_as_bytearray())
            heard = (await speech.transcribe_bytes(data, note.mime_type or OGG_CONTENT_TYPE, LOCALE)).text.strip()
        except Exception:  # any failure to hear ends in a polite request to type instead
            log.exception("voice note from %s could not be recognised", conversation_id(update.effective_user.id))
            heard = ""
        if not heard:
            await self.say(context, chat_id, texts.text("utter_telegram_not_heard"))
            return
        await self.say(context, chat_id, texts.text("utter_telegram_heard", text=heard))
        await self.turn(update, context, heard)

    async def contact(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A shared contact: Telegram vouches for the number only when it is the sender's own."""
        shared = update.effective_message.contact
        user_id = update.effective_user.id
        conversation = conversation_id(user_id)
        mobile = identity.mainland_mobile(shared.phone_number)
        chat_id = update.effective_chat.id
        if shared.user_id != user_id or mobile is None:
            await run_in_threadpool(audit.record, identity.RESIDENT, "identity_contact_refused",
                                    f"conversation:{conversation}", "a contact that is not the sender's own")
            await send_reliably(lambda: context.bot.send_message(
                chat_id, texts.text("utter_telegram_contact_not_own"), reply_markup=share_contact_keyboard()))
            return
        await run_in_threadpool(identity.record_proof, conversation, "telegram_contact", phone=mobile)
        await send_reliably(lambda: context.bot.send_message(
            chat_id, texts.text("utter_telegram_contact_confirmed"), reply_markup=ReplyKeyboardRemove()))

    async def other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Photos, stickers and the like: say what the bot understands."""
        await self.say(context, update.effective_chat.id, texts.text("utter_telegram_text_only"))

    async def turn(self, update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> None:
        """One turn of the dialogue core for this person, answered in their chat."""
        user_id = update.effective_user.id
        try:
            result = await self.conversations.handle(
                IncomingMessage(sender_id=conversation_id(user_id), text=text, channel=CHANNEL, locale=LOCALE))
        except RateLimited as err:
            await self.say(context, update.effective_chat.id, err.message)
            return
        for message in result.messages:
            await self.send(context.bot, update.effective_chat.id, message)
        if await run_in_threadpool(identity.code_pending, conversation_id(user_id)):
            # A code went to the phone on file: Telegram can vouch for the number instead, with one tap.
            await send_reliably(lambda: context.bot.send_message(
                update.effective_chat.id, texts.text("utter_telegram_share_contact"),
                reply_markup=share_contact_keyboard()))
        if not result.messages:
            return
        if await run_in_threadpool(channel_state.voice_answers, conversation_id(user_id)):
            await self.speak(context.bot, update.effective_chat.id, "\n".join(m.text for m in result.messages))

    async def say(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, text: str) -> None:
        """Sends one of the channel's own sentences."""
        await self.send(context.bot, chat_id, OutgoingMessage(text))

    async def send(self, bot: Any, chat_id: int, message: OutgoingMessage, skip_parts: int = 0,
                   on_part: Callable[[int], None] | None = None, retry: bool = True) -> None:
        """Sends a message in parts of at most 4096 characters; the keyboard goes under the last part."""
        parts = split_text(message.text) if message.text else [""]
        # Off the event loop: a long payload's key is written to the database.
        markup = await run_in_threadpool(keyboard, message.buttons, self.keys) if message.buttons else None
        for index, part in enumerate(parts):
            if index < skip_parts:
                continue
            extra = {"reply_markup": markup} if index == len(parts) - 1 and markup else {}
            # Telegram refuses an empty text; a message of buttons only gets an invisible filler.
            call = lambda part=part, extra=extra: bot.send_message(chat_id, part or "\u2060", **extra)  # noqa: E731 - binds this part for retries
            if retry:
                await send_reliably(call)
            else:
                await call()
            if on_part is not None:
                on_part(index + 1)

    async def speak(self, bot: Any, chat_id: int, text: str) -> None:
        """Sends the answer as a voice note too; the text has already arrived if this fails."""
        speech = self.speech()
        if speech is None or getattr(speech, "tts", None) is None or not text.strip():
            return
        try:
            ogg = await ogg_opus_from_wav(await speech.synthesize_wav(text, LOCALE))
        except Exception:  # synthesis or ffmpeg failed; the text answer stands on its own
            log.exception("could not speak the answer for chat %s", chat_id)
            return
        await send_reliably(lambda: bot.send_voice(chat_id, voice=ogg, filename="answer.ogg"))
