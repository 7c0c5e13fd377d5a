"""The dialogue core every channel goes through: one message in, the assistant's replies and state out.

Channels turn their input into an `IncomingMessage` and render `OutgoingMessage`s
their own way; this module never imports a channel. It normalises what people
type, keeps the person with staff when a handoff is active, and answers politely
with a way to a person when the dialogue engine is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from bot import texts
from bot.db import session as database
from bot.engine.client import ConversationState, EngineTurn, RasaClient
from bot.errors import EngineUnavailable, MessageIdReused
from bot.ratelimit import AsyncLimiter
from bot.services import chat_replies, conversations, handoff, identity, redaction, sms_notices, vault
from bot.settings import get_settings
from bot.understanding.pipeline import TEXTS_PAYLOAD, engine_input
from bot.knowledge.catalogue import get_catalogue

log = logging.getLogger(__name__)


async def opt_in_code(conversation_id: str, text: str) -> bool:
    """Whether the message is the one-time code the conversation was sent to confirm its number for texts."""
    return identity.looks_like_code(text) and (
        await run_in_threadpool(identity.code_pending, conversation_id)) == sms_notices.CODE_PURPOSE


@dataclass(frozen=True)
class Button:
    """A choice offered to the person; pressing it sends `payload` as the message text."""

    title: str
    payload: str


@dataclass(frozen=True)
class OutgoingMessage:
    """One message of the assistant (or of a staff member)."""

    text: str
    buttons: tuple[Button, ...] = ()
    sender: str = "assistant"


@dataclass(frozen=True)
class IncomingMessage:
    """One message of a person on any channel."""

    sender_id: str
    text: str
    channel: str = "web"
    locale: str = "zh-CN"
    metadata: dict[str, Any] = field(default_factory=dict)
    # The web client's conversation token (X-Conversation-Token); channels with their own identity send none.
    token: str | None = None
    # The sender's network address (web and kiosk), for per-address quotas; never stored or sent to the engine.
    client: str | None = None
    # The web client's id for this message: a retry with the same id gets the same answers, and runs nothing twice.
    message_id: str | None = None


@dataclass(frozen=True)
class ChatState:
    """The conversation state the chat API reports."""

    form: str | None = None
    requested_slot: str | None = None
    handoff: str = "none"
    application_reference: str | None = None
    appointment_reference: str | None = None


@dataclass(frozen=True)
class TurnResult:
    """The assistant's answer to one message."""

    conversation_id: str
    messages: tuple[OutgoingMessage, ...]
    state: ChatState
    # Set only in the answer that created a web conversation: the client's proof for every later call.
    conversation_token: str | None = None


def to_outgoing(rasa_messages: list[dict[str, Any]]) -> tuple[OutgoingMessage, ...]:
    """Turns Rasa REST replies into outgoing messages (text only; images and custom payloads are not used)."""
    result = []
    for message in rasa_messages:
        text = message.get("text")
        buttons = tuple(Button(str(b.get("title", "")), str(b.get("payload", ""))) for b in message.get("buttons") or [])
        if text or buttons:
            result.append(OutgoingMessage(text or "", buttons))
    return tuple(result)


def shown_to_person(conversation_id: str, messages: tuple[OutgoingMessage, ...]) -> tuple[OutgoingMessage, ...]:
    """The engine's replies with the person's own values in place of the references the engine holds."""
    reveal = vault.reveal_for(conversation_id)
    return tuple(OutgoingMessage(reveal(m.text), tuple(Button(reveal(b.title), reveal(b.payload)) for b in m.buttons),
                                 m.sender) for m in messages)


def engine_unavailable_message() -> OutgoingMessage:
    """The polite answer when the dialogue engine cannot answer: the hotline, a person, an appointment."""
    hotline = get_catalogue().city.hotline
    buttons = tuple(Button(b["title"], b["payload"]) for b in texts.buttons("utter_engine_unavailable"))
    return OutgoingMessage(texts.text("utter_engine_unavailable", hotline=hotline), buttons)


async def arrive(message: IncomingMessage, limiter: AsyncLimiter) -> tuple[str, str | None]:
    """Records a conversation on its first message, checks a web client's token on every later one.

    Returns the handoff status and, for a web conversation this message created, its new token.
    One address may start only so many conversations (RateLimited past that), so a script cannot flood
    the staff queue or the database with new conversations.
    """
    # After the first message a turn only reads: the gateway never holds SQLite's write lock while Rasa saves.
    known, token_hash, status = await database.read(handoff.arrival, message.sender_id)
    needs_token = message.channel in conversations.TOKEN_CHANNELS
    if known:
        if needs_token and not conversations.token_matches(message.token, token_hash):
            lost = await _lost_first_answer(message)
            if lost:
                return status, lost
            await run_in_threadpool(conversations.audit_refusal, message.sender_id, message.token, "a message")
            raise conversations.refuse_token()
        return status, None
    if message.client:
        await limiter.hit("new_conversations_per_client", message.client)
    token, new_hash = conversations.new_token() if needs_token else (None, None)
    created = await run_in_threadpool(conversations.ensure, message.sender_id, message.channel, message.locale,
                                      new_hash)
    if not created and needs_token:
        # Two first messages at once (or a retry of one): the other one's token is the conversation's.
        lost = await _lost_first_answer(message)
        if lost:
            return status, lost
        await run_in_threadpool(conversations.audit_refusal, message.sender_id, None, "a second first message")
        raise conversations.refuse_token()
    if token and message.message_id:
        await run_in_threadpool(chat_replies.first_message, message.sender_id, message.message_id, message.text,
                                token)
    return status, token


async def _lost_first_answer(message: IncomingMessage) -> str | None:
    """The conversation's token when this message is a retry of the one that created the conversation."""
    if not message.message_id:
        return None
    try:
        kept = await database.read(chat_replies.recall, message.sender_id, message.message_id, message.text)
    except MessageIdReused:
        return None  # without the token, the same refusal as for any other message: nothing is revealed
    return kept.conversation_token if kept else None


async def after_turn(conversation_id: str, submitted: bool) -> str:
    """Clears personal values of an application the turn may have submitted; returns the handoff status after it."""
    # Rasa has saved this turn's events by now: an application submitted in it leaves no plain personal values.
    if submitted:
        await run_in_threadpool(redaction.after_turn_safely, conversation_id)
    return await database.read(handoff.status_of, conversation_id)


def handoff_may_have_changed(before: str, turn: EngineTurn) -> bool:
    """Whether a turn can have changed the handoff status, so it must be read again.

    Only the action that queues a person starts a handoff, and it says so in its replies
    (`handoff.QUEUED_SIGNAL`); an open handoff can also be withdrawn in a turn, or taken up
    or closed by staff meanwhile. Any other turn leaves "none" as it was, without a read.
    """
    return before != "none" or any(reply.get("custom") == handoff.QUEUED_SIGNAL for reply in turn.replies)


def chat_state(engine_state: ConversationState, handoff_status: str) -> ChatState:
    """The chat API's state from the engine's state and the handoff status."""
    slots = engine_state.slots
    # state.form names the application being filled in; booking and rating forms are not applications.
    form = engine_state.form if engine_state.form in get_catalogue().services else None
    return ChatState(
        form=form,
        requested_slot=engine_state.requested_slot,
        handoff=handoff_status,
        application_reference=slots.get("application_reference"),
        appointment_reference=slots.get("appointment_reference"),
    )


# How many conversations' current questions the gateway remembers (a few bytes each).
REMEMBERED_QUESTIONS = 50_000


class ConversationService:
    """Handles one message of a person through the dialogue engine."""

    def __init__(self, rasa: RasaClient, limiter: AsyncLimiter | None = None):
        self._rasa = rasa
        self._limiter = limiter or AsyncLimiter(get_settings())
        # With several gateways another one may have taken the conversation's last turn, so what this one
        # remembers can be out of date: an answer to "your name?" must not pass in clear for that.
        self._memory_is_current = get_settings().gateway_replicas == 1
        # The question each conversation was last asked (its requested slot), from the engine's answers,
        # so an answer to "your name?" is held back without asking the engine first.
        self._asked: OrderedDict[str, str | None] = OrderedDict()

    def _remember_question(self, conversation_id: str, state: ConversationState | None) -> None:
        self._asked[conversation_id] = state.requested_slot if state else None
        self._asked.move_to_end(conversation_id)
        while len(self._asked) > REMEMBERED_QUESTIONS:
            self._asked.popitem(last=False)

    async def _question_of(self, conversation_id: str, text: str) -> str | None:
        """The question the conversation was last asked, when `text` may be its answer.

        Remembered from this gateway's own last turn of the conversation; otherwise (after a restart, for a
        conversation this gateway has not served yet, after a turn the engine did not report, always when
        several gateways share the conversations) read from the engine's tracker, which keeps it across
        restarts, so the first answer to "your name?" after a restart is held back like any other.
        """
        if self._memory_is_current and conversation_id in self._asked:
            return self._asked[conversation_id]
        if not vault.looks_like_an_answer(text):
            return None  # a request or a question: nothing to hold back whole, whatever was asked
        state = await self._rasa.state(conversation_id)  # EngineUnavailable: the turn cannot be taken either
        self._remember_question(conversation_id, state)
        return state.requested_slot

    async def handle(self, message: IncomingMessage) -> TurnResult:
        """Runs one turn: records it, asks the engine (unless staff are serving the person), returns the state.

        RateLimited when the conversation (or, for a new one, its address) has used up its quota. While the
        database does not answer, the person gets the polite answer (hotline, a person, a visit), not an error.
        """
        try:
            return await self._handle(message)
        except SQLAlchemyError as err:
            log.warning("turn answered without the database: %s", type(err).__name__)
            return TurnResult(message.sender_id, (engine_unavailable_message(),),
                              chat_state(ConversationState(None, None, {}), "none"))

    async def _handle(self, message: IncomingMessage) -> TurnResult:
        # The token first: someone without it must not use up the conversation's quota, nor read its answers.
        handoff_status, issued_token = await arrive(message, self._limiter)
        if issued_token:
            self._remember_question(message.sender_id, None)  # a new conversation: nothing asked yet
        await self._limiter.hit("chat_per_conversation", message.sender_id)
        # A retried message (the same message_id) is not looked up here: the engine answers it from its own record,
        # and the staff path claims its id as it adds the message (bot/services/chat_replies.py).
        return await self._turn(message, handoff_status, issued_token)

    async def _turn(self, message: IncomingMessage, handoff_status: str, issued_token: str | None) -> TurnResult:
        if handoff_status == "active":
            # A staff member is answering: the assistant stays silent and the message goes to them, once.
            _, engine_state = await asyncio.gather(
                run_in_threadpool(handoff.add_person_message, message.sender_id, message.text, message.message_id),
                self._engine_state(message.sender_id),
            )
            return TurnResult(message.sender_id, (), chat_state(engine_state, handoff_status), issued_token)

        turn = await self._engine_turn(message)
        replies = to_outgoing(turn.replies) if turn else ()
        if vault.holds_references(t for m in replies for t in (m.text, *(b.title for b in m.buttons))):
            replies = await run_in_threadpool(shown_to_person, message.sender_id, replies)
        answered = bool(replies)
        if not answered:
            # No engine, or Rasa answered with nothing because a custom action failed (e.g. the action server is down).
            replies = (engine_unavailable_message(),)
        if turn is None or turn.state is None:
            # The engine did not report the state with the replies: read it from the tracker (empty if it is down).
            handoff_status, engine_state = await asyncio.gather(
                after_turn(message.sender_id, submitted=True), self._engine_state(message.sender_id))
        else:
            engine_state = turn.state
            submitted = bool(engine_state.slots.get("application_reference"))
            if submitted or not answered or handoff_may_have_changed(handoff_status, turn):
                handoff_status = await after_turn(message.sender_id, submitted)
        if turn is not None and turn.state is not None:
            self._remember_question(message.sender_id, engine_state)
        else:
            self._asked.pop(message.sender_id, None)  # the state may be an empty stand-in: read it next time
        return TurnResult(message.sender_id, replies, chat_state(engine_state, handoff_status), issued_token)

    async def _engine_turn(self, message: IncomingMessage) -> EngineTurn | None:
        """The engine's answer to the message, or None when the engine is unavailable."""
        metadata = {"channel": message.channel, "locale": message.locale, **message.metadata}
        try:
            text = message.text
            asked_for = await self._question_of(message.sender_id, text)
            if vault.must_hold_back(text, asked_for):
                # Personal numbers, a name or an address reach the engine only as references.
                text = await run_in_threadpool(vault.shield_message, message.sender_id, text, asked_for)
            if await opt_in_code(message.sender_id, text):
                # The code that confirms the number for texts goes to the opt-in, not to the engine's reading.
                text, metadata[sms_notices.CODE_METADATA] = TEXTS_PAYLOAD, "".join(text.split())
            else:
                text, service_hint = await engine_input(self._rasa, text)
                if service_hint:
                    metadata["service_hint"] = service_hint
            if message.message_id:
                # The engine keeps it beside the message: the same id with another text is then refused.
                metadata["text_digests"] = list(chat_replies.text_digests(message.text))
            return await self._rasa.send_message(message.sender_id, text, metadata, message.message_id)
        except EngineUnavailable as err:
            log.warning("turn answered without the dialogue engine: %s", err.message)
            return None

    async def _engine_state(self, conversation_id: str) -> ConversationState:
        try:
            return await self._rasa.state(conversation_id)
        except EngineUnavailable:
            return ConversationState(None, None, {})

    async def state(self, conversation_id: str) -> ChatState:
        """The current state of a conversation without sending anything."""
        engine_state, handoff_status = await asyncio.gather(
            self._engine_state(conversation_id), database.read(handoff.status_of, conversation_id))
        return chat_state(engine_state, handoff_status)
