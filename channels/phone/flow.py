"""One phone call from answer to hang-up: greet, listen, hand the caller's words or keys to the dialogue, speak.

Every reply is spoken and its buttons are offered as keys ("社保卡请按1 … 找工作人员请按0");
numbers can be keyed ending with '#', and are read back before they are sent; '*' or "再说一遍"
repeats, "说慢点" slows down; 0 or "转人工" reaches a person (a transfer when a staff line is
configured and someone is on duty, otherwise the dialogue's queue, call-back and appointment).
The caller is never left in silence: a failing part gets the apology prompt, a quiet caller a
gentle re-prompt and then a goodbye.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from bot.conversation import Button, ConversationService, IncomingMessage, OutgoingMessage, TurnResult
from bot.privacy import mask_phone, redact_text
from bot.services import conversations, handoff, identity, sms_notices
from bot.services.vault import Vault
from channels.phone import menus
from channels.phone.call import AudioFrame, HungUp, KeyPress, PhoneCall
from channels.phone.keypad import (
    ID_X_AFTER_DIGITS,
    is_id_slot,
    is_number_slot,
    mobile_of,
    read_aloud,
    speakable,
    spoken_digits,
)
from channels.phone.prompts import PhonePrompts, Prompt, menu_prompt, number_prompt, say, sentence, spoken
from speech.endpointing import EndpointConfig
from speech.pipeline import (
    Ended,
    EventType,
    Failure,
    Heard,
    Keys,
    PipelineEvent,
    Silence,
    SpeakOutcome,
    Stage,
    Utterance,
    VoicePipeline,
    Woken,
)
from speech.providers import SpeakingRate

log = logging.getLogger(__name__)

CHANNEL = "phone"
PREFIX = f"{CHANNEL}:"
# Quiet turns in a row before the line says goodbye (the first one gets a gentle re-prompt).
SILENT_TURNS_BEFORE_GOODBYE = 2
PUSH_POLL_SECONDS = 1.0
# Attempts at a read-back confirmation before the number is asked for again.
CONFIRM_ATTEMPTS = 2
# A dialogue turn slower than this gets the soft "thinking" tone, and again after each tone.
THINKING_AFTER_S = 1.5
# While the caller waits for staff, how long a quiet line lasts before the next "please hold".
HOLD_PROMPT_MS = 30_000


def staff_on_duty() -> bool:
    """Someone is at the staff console and the desk keeps its hours."""
    on_duty, desk_open = handoff.availability()
    return on_duty > 0 and desk_open


@dataclass
class CallOutcome:
    """How the call ended, for the channel's log and for tests."""

    reason: str = "hung_up"
    transferred_to: str | None = None
    turns: int = 0


class CallFlow:
    """Runs one call through the voice pipeline and the dialogue core."""

    def __init__(
        self,
        call: PhoneCall,
        conversations_service: ConversationService,
        prompts: PhonePrompts,
        *,
        staff_uri: str | None = None,
        staff_available: Callable[[], bool] = staff_on_duty,
        endpoint: EndpointConfig | None = None,
        on_event: Callable[[PipelineEvent], None] | None = None,
        push_poll_seconds: float = PUSH_POLL_SECONDS,
        thinking_after_s: float = THINKING_AFTER_S,
        locale: str = "zh-CN",
    ) -> None:
        self.call = call
        self.conversations = conversations_service
        self.prompts = prompts
        self.staff_uri = staff_uri
        self.staff_available = staff_available
        self.push_poll_seconds = push_poll_seconds
        self.thinking_after_s = thinking_after_s
        self.locale = locale
        self.conversation_id = f"{PREFIX}{call.call_id}"
        self.caller_mobile = mobile_of(call.caller)
        self.pipeline = VoicePipeline(call, prompts.cache, apology=prompts.apology, locale=locale,
                                      endpoint=endpoint, on_event=on_event)
        self.rate: SpeakingRate = "slow"
        self.last = menu_prompt(listening=prompts.listening)
        self.handoff_status = "none"
        self.outcome = CallOutcome()
        self._inbox: asyncio.Queue[OutgoingMessage] = asyncio.Queue()
        self._push_cursor: int | None = None

    @property
    def events(self) -> list[PipelineEvent]:
        """The pipeline events of this call so far."""
        return list(self.pipeline.events)

    # --- the call's life ----------------------------------------------------------------------------------------

    async def run(self) -> CallOutcome:
        """Answers, converses until either side ends the call, and leaves no task behind."""
        log.info("call %s from %s answered", self.call.call_id, mask_phone(self.caller_mobile or self.call.caller or ""))
        await self._prove_caller()
        pump = asyncio.create_task(self._pump(), name=f"phone-pump-{self.call.call_id}")
        pushed = asyncio.create_task(self._watch_pushed(), name=f"phone-push-{self.call.call_id}")
        try:
            await self._converse()
        except Exception:  # a bug must still end with an apology, not dead air
            log.exception("call %s failed", self.call.call_id)
            self.outcome.reason = "error"
            await self._apologise()
        finally:
            for task in (pump, pushed):
                task.cancel()
            await asyncio.gather(pump, pushed, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.call.hang_up()
        log.info("call %s ended (%s, %d turns)", self.call.call_id, self.outcome.reason, self.outcome.turns)
        return self.outcome

    async def _prove_caller(self) -> None:
        """The trunk's caller ID shows the caller holds that mobile, as a code sent to it would."""
        if not self.caller_mobile:
            return
        try:
            await run_in_threadpool(identity.record_proof, self.conversation_id, "caller_id", phone=self.caller_mobile)
            # Kept (encrypted) with the conversation, so a reply or status change after the call reaches them by SMS.
            await run_in_threadpool(Vault.of(self.conversation_id).hold, "phone", self.caller_mobile)
        except Exception:
            log.exception("caller ID of %s could not be recorded", self.conversation_id)

    async def _pump(self) -> None:
        """Feeds the caller's audio and keys to the pipeline until the call ends."""
        try:
            async for event in self.call.events():
                if isinstance(event, AudioFrame):
                    self.pipeline.hear(event.pcm16)
                elif isinstance(event, KeyPress):
                    self.pipeline.key(event.key)
                elif isinstance(event, HungUp):
                    break
        finally:
            self.pipeline.end()

    async def _watch_pushed(self) -> None:
        """Staff replies and other pushed messages wake the line so they are spoken while the caller waits."""
        existing = await run_in_threadpool(conversations.messages_after, self.conversation_id, None)
        self._push_cursor = existing[-1].id if existing else None
        while True:
            await asyncio.sleep(self.push_poll_seconds)
            try:
                news = await run_in_threadpool(conversations.messages_after, self.conversation_id, self._push_cursor)
            except Exception:  # the database is busy: look again next time
                log.exception("pushed messages of %s could not be read", self.conversation_id)
                continue
            if news:
                # Spoken while the caller is on the line: no SMS needs to follow.
                await run_in_threadpool(sms_notices.read_up_to, self.conversation_id, news[-1].id)
            for message in news:
                self._push_cursor = message.id
                text = say("utter_phone_from_staff", text=message.text) if message.sender == "staff" else message.text
                buttons = tuple(Button(b.get("title", ""), b.get("payload", "")) for b in message.buttons)
                await self._inbox.put(OutgoingMessage(text, buttons, sender=message.sender))
            if news:
                self.pipeline.wake()

    # --- the conversation ---------------------------------------------------------------------------------------

    async def _converse(self) -> None:
        greeting = say("utter_phone_greeting")
        if await self._speak(greeting + spoken(self.last)) is SpeakOutcome.ENDED:
            return
        silent_turns = 0
        while True:
            heard = await self._listen()
            if isinstance(heard, Ended):
                return
            if isinstance(heard, Woken):
                await self._speak_pushed()
                continue
            if isinstance(heard, Silence):
                if self.handoff_status in ("waiting", "active"):
                    await self._speak(say("utter_phone_hold"))  # waiting for staff is not silence to end on
                    continue
                silent_turns += 1
                if silent_turns >= SILENT_TURNS_BEFORE_GOODBYE:
                    await self._speak(say("utter_phone_goodbye"), barge_in=False)
                    self.outcome.reason = "silence"
                    return
                await self._speak(say("utter_phone_still_there") + spoken(self.last))
                continue
            silent_turns = 0
            if isinstance(heard, Failure):
                await self._apologise()
                continue
            if await self._answer(heard) == "end":
                return

    async def _listen(self) -> Heard:
        # Free recognition at menus too: callers name services ("社保卡丢了") more often than keys.
        waiting = self.handoff_status in ("waiting", "active")
        return await self.pipeline.listen(digits=bool(self.last.number_slot),
                                          no_speech_ms=HOLD_PROMPT_MS if waiting else None,
                                          x_after=ID_X_AFTER_DIGITS if is_id_slot(self.last.number_slot) else None)

    async def _answer(self, heard: Keys | Utterance) -> str | None:
        """Acts on what the caller keyed or said; 'end' when the call is over (transferred or hung up)."""
        if isinstance(heard, Keys):
            return await self._keys(heard)
        if not heard.recognised:
            await self._speak(say("utter_phone_keypad_only") + spoken(self.last))
            return None
        text = heard.text.strip()
        if not text:
            await self._speak(say("utter_phone_not_heard") + spoken(self.last))
            return None
        if menus.says_any(text, menus.SLOWER_WORDS):
            self.rate = "slower"
            await self._speak(say("utter_phone_slower") + spoken(self.last))
            return None
        if menus.says_any(text, menus.REPEAT_WORDS):
            await self._repeat()
            return None
        if menus.asks_for_person(text):
            return await self._to_person()
        if self.last.number_slot:
            number = spoken_digits(text)
            if number:
                return await self._confirm_number(number)
        if self.last.choices:
            key = menus.spoken_key(text)
            choice = menus.choice_for_key(self.last.choices, key) if key else None
            if choice is not None:
                return await self._choose(choice)
        return await self._turn(text)

    async def _keys(self, heard: Keys) -> str | None:
        keys = heard.keys
        if keys == "*" and not heard.terminated:
            await self._repeat()
            return None
        if self.last.number_slot:
            if not keys and self.last.own_number and self.caller_mobile and heard.terminated:
                return await self._confirm_number(self.caller_mobile)
            if not keys:
                await self._speak(say("utter_phone_no_number"))
                return None
            return await self._confirm_number(keys)
        if keys == menus.HUMAN_KEY:
            return await self._to_person()
        choice = menus.choice_for_key(self.last.choices, keys)
        if choice is None:
            await self._speak(say("utter_phone_key_invalid") + spoken(self.last))
            return None
        return await self._choose(choice)

    async def _choose(self, choice: menus.Choice) -> str | None:
        if choice.payload == menus.HUMAN_PAYLOAD:
            return await self._to_person()
        return await self._turn(choice.payload)

    async def _repeat(self) -> None:
        await self._speak(spoken(self.last))

    async def _confirm_number(self, number: str) -> str | None:
        """Reads the number back in groups; 1 (or "对") sends it, 2 (or "不对") asks again."""
        question = self.last
        read_back = say("utter_phone_read_back", digits=read_aloud(number))
        for _ in range(CONFIRM_ATTEMPTS):
            if await self._speak(read_back) is SpeakOutcome.ENDED:
                return "end"
            heard = await self.pipeline.listen(grammar=menus.CONFIRM_GRAMMAR)
            if isinstance(heard, Ended):
                return "end"
            if isinstance(heard, Woken):
                await self._speak_pushed()
                continue
            answer = None
            if isinstance(heard, Keys):
                answer = {"1": True, "2": False}.get(heard.keys)
                if heard.keys == menus.HUMAN_KEY:
                    return await self._to_person()
            elif isinstance(heard, Utterance):
                answer = menus.confirmation(heard.text)
            if answer is True:
                return await self._turn(number)
            if answer is False:
                break
        self.last = question
        await self._speak(say("utter_phone_reenter") + spoken(question))
        return None

    async def _to_person(self) -> str | None:
        """Puts the caller through to staff when possible, else into the dialogue's handoff."""
        if self.staff_uri and await self._staff_available():
            if await self._speak(say("utter_phone_transferring"), barge_in=False) is SpeakOutcome.ENDED:
                return "end"
            self.pipeline.emit(EventType.STAGE_START, Stage.DIALOGUE, action="transfer")
            try:
                accepted = await self.call.transfer(self.staff_uri)
            except Exception:  # a failed transfer falls back to the queue
                log.exception("transfer of call %s failed", self.call.call_id)
                accepted = False
            self.pipeline.emit(EventType.STAGE_END, Stage.DIALOGUE, action="transfer", accepted=accepted)
            if accepted:
                self.outcome.reason, self.outcome.transferred_to = "transferred", self.staff_uri
                return "end"
            await self._speak(say("utter_phone_transfer_failed"))
        return await self._turn(menus.HUMAN_PAYLOAD)

    async def _staff_available(self) -> bool:
        try:
            return bool(await run_in_threadpool(self.staff_available))
        except Exception:  # without the database, the dialogue's handoff path decides
            log.exception("staff availability unknown")
            return False

    async def _turn(self, text: str) -> str | None:
        """One dialogue turn: the reply is spoken and becomes the prompt to repeat."""
        message = IncomingMessage(self.conversation_id, text, channel=CHANNEL, locale=self.locale)
        try:
            async with self.pipeline.stage(Stage.DIALOGUE, text=redact_text(text)):
                result = await self._while_thinking(self.conversations.handle(message))
        except Exception:  # the caller hears the apology, never dead air
            log.exception("dialogue turn of %s failed", self.conversation_id)
            await self._apologise()
            return None
        self.outcome.turns += 1
        self.handoff_status = result.state.handoff
        prompt = self._prompt_for(result)
        if prompt is None:
            await self._speak(say("utter_phone_passed_to_staff"))
            return None
        self.last = prompt
        outcome = await self._speak(spoken(prompt))
        return "end" if outcome is SpeakOutcome.ENDED else None

    async def _while_thinking(self, work: Awaitable[TurnResult]) -> TurnResult:
        """Awaits the dialogue; a slow answer gets a soft tone now and then, so the line never goes dead."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.thinking_after_s)
                if done:
                    return task.result()
                if self.pipeline.ended:
                    # The caller is gone: the turn still completes (it is recorded), nobody hears it.
                    return await task
                await self.pipeline.play_clip(self.prompts.thinking, barge_in=False, label="thinking", filler=True)
        finally:
            if not task.done():
                task.cancel()

    def _prompt_for(self, result: TurnResult) -> Prompt | None:
        if not result.messages:
            return None  # staff are serving the caller: their reply comes as a pushed message
        text = "".join(sentence(m.text) for m in result.messages if m.text)
        buttons = next((m.buttons for m in reversed(result.messages) if m.buttons), ())
        slot = result.state.requested_slot
        if is_number_slot(slot):
            return number_prompt(text, slot, self.caller_mobile)
        return Prompt(text, menus.choices_for(buttons))

    async def _speak_pushed(self) -> None:
        while not self._inbox.empty():
            message = self._inbox.get_nowait()
            if message.buttons:
                self.last = Prompt(message.text, menus.choices_for(message.buttons))
                await self._speak(spoken(self.last))
            else:
                await self._speak(message.text)

    # --- speaking -----------------------------------------------------------------------------------------------

    async def _speak(self, text: str, *, barge_in: bool = True) -> SpeakOutcome:
        return await self.pipeline.speak(speakable(text), rate=self.rate, barge_in=barge_in)

    async def _apologise(self) -> None:
        """The recorded apology (keypad or a person), or its synthesised words when no recording is there."""
        self.last = Prompt(say("utter_phone_apology"), menu_prompt(self.prompts.listening).choices)
        if self.prompts.apology is not None:
            await self.pipeline.play_clip(self.prompts.apology, label="utter_phone_apology")
        else:
            await self._speak(say("utter_phone_apology"))

