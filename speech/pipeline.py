"""The voice line as explicit stages: listen (end of speech) → recognise → dialogue → speak.

Modelled on Home Assistant's assist_pipeline: a `Stage` enum, frozen `PipelineEvent`s with
timestamps, one event callback, and each call's events kept (bounded) for debugging and tests.
The pipeline knows nothing of SIP or of the dialogue engine: a transport feeds it the caller's
audio and keys (`hear`, `key`, `end`) and lends it a line to play on (`VoiceLine`); the call flow
decides what to say and runs the dialogue stage through `stage()`. A PBX media stream can feed
the same pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Protocol

from speech.endpointing import BargeInDetector, EndpointConfig, Endpointer, EndpointKind, frame_levels
from speech.errors import GrammarInvalid, SpeechError, SynthesisFailed
from speech.providers import AudioClip, FinalResult, PartialResult, RecognitionStream, SpeakingRate

log = logging.getLogger(__name__)

FRAME_MS = 20
# Audio kept from before the detected start of speech, so the first syllable reaches the recogniser.
PRE_ROLL_MS = 300
# The recogniser is fed in 100 ms chunks: fewer thread hops than one per 20 ms frame.
FEED_MS = 100
# After a key, how long to wait for the next one before taking what was keyed.
INTER_DIGIT_S = 8.0
MAX_EVENTS = 2000
# Of the trailing silence, only this much goes to the recogniser (it needs a little to close a word).
RECOGNISED_SILENCE_MS = 400
# A reply is spoken sentence by sentence (the next one is synthesised while one plays);
# a long first sentence is cut at a comma so the caller hears something sooner.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])")
_FIRST_PIECE_CHARS = 24
_MIN_PIECE_CHARS = 6


class Stage(str, Enum):
    """The stages of one exchange on the voice line."""

    LISTEN = "listen"
    RECOGNISE = "recognise"
    DIALOGUE = "dialogue"
    SPEAK = "speak"


class EventType(str, Enum):
    """What a pipeline event reports."""

    STAGE_START = "stage_start"
    STAGE_END = "stage_end"
    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"
    NO_SPEECH = "no_speech"
    PARTIAL = "partial"
    FINAL = "final"
    KEY = "key"
    PROMPT_START = "prompt_start"
    FIRST_AUDIO = "first_audio"
    PROMPT_END = "prompt_end"
    BARGE_IN = "barge_in"
    ERROR = "error"
    ENDED = "ended"


@dataclass(frozen=True)
class PipelineEvent:
    """One thing that happened on the line, with its monotonic time in seconds."""

    type: EventType
    at: float
    stage: Stage | None = None
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


# --- what the caller did, as listen() reports it ---------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    """The caller said something; `recognised` is False when no recogniser could read it."""

    text: str
    confidence: float = 0.0
    recognised: bool = True


@dataclass(frozen=True)
class Keys:
    """Keys the caller pressed: one key for a menu, or digits (ended by '#' when `terminated`)."""

    keys: str
    terminated: bool = False


@dataclass(frozen=True)
class Silence:
    """The caller said nothing within the wait."""


@dataclass(frozen=True)
class Woken:
    """Something outside the call (a staff reply) asked for the line while the caller was quiet."""


@dataclass(frozen=True)
class Ended:
    """The call is over."""


@dataclass(frozen=True)
class Failure:
    """A stage failed; the flow apologises and offers the keypad or a person."""

    stage: Stage
    code: str
    message: str


Heard = Utterance | Keys | Silence | Woken | Ended | Failure


class SpeakOutcome(str, Enum):
    """How a prompt ended."""

    DONE = "done"
    INTERRUPTED = "interrupted"
    ENDED = "ended"
    FAILED = "failed"


# --- the transport's side ------------------------------------------------------------------------------------


class VoiceLine(Protocol):
    """Where prompts are played: `channels.phone.call.PhoneCall` is one."""

    sample_rate: int

    async def play(self, pcm16: bytes) -> bool:
        """Plays at real-time pace; False when stopped or hung up."""

    def stop_playing(self) -> None:
        """Stops the prompt at once."""


class Synthesis(Protocol):
    """What the pipeline needs of speech.service.SpeechService."""

    asr: Any

    def can_recognize(self, locale: str = "zh-CN") -> bool:
        """Whether recognition is available."""

    async def synthesize(self, text: str, locale: str = "zh-CN", rate: SpeakingRate = "slow",
                         sample_rate: int = 16000) -> AudioClip:
        """Speaks the text."""


@dataclass(frozen=True)
class _Audio:
    pcm16: bytes


@dataclass(frozen=True)
class _Key:
    key: str


@dataclass(frozen=True)
class _Wake:
    pass


@dataclass(frozen=True)
class _End:
    pass


_Input = _Audio | _Key | _Wake | _End


class PromptCache:
    """Fixed prompts rendered once (at start) and kept in memory at the line's rate, so they play at once."""

    def __init__(self, speech: Synthesis | None, sample_rate: int = 8000, locale: str = "zh-CN") -> None:
        self.speech = speech
        self.sample_rate = sample_rate
        self.locale = locale
        self._clips: dict[tuple[str, str], AudioClip] = {}

    def get(self, text: str, rate: SpeakingRate) -> AudioClip | None:
        """The rendered prompt, or None when it was not rendered."""
        return self._clips.get((text.strip(), rate))

    def put(self, text: str, rate: SpeakingRate, clip: AudioClip) -> None:
        """Keeps a rendered prompt."""
        self._clips[(text.strip(), rate)] = clip

    async def clip(self, text: str, rate: SpeakingRate) -> AudioClip:
        """The prompt from memory, or synthesised now; raises SpeechError when synthesis fails."""
        cached = self.get(text, rate)
        if cached is not None:
            return cached
        if self.speech is None:
            raise SynthesisFailed("speech synthesis is switched off", code="tts_unavailable")
        return await self.speech.synthesize(text, self.locale, rate, self.sample_rate)

    async def warm(self, texts: Iterable[str], rates: Sequence[SpeakingRate]) -> list[str]:
        """Renders the prompts piece by piece, as speak() says them; returns the pieces that failed."""
        failed = []
        pieces = dict.fromkeys(piece for text in texts for piece in spoken_pieces(text))
        for text in pieces:
            for rate in rates:
                if self.get(text, rate) is not None:
                    continue
                try:
                    self.put(text, rate, await self.clip(text, rate))
                except Exception as err:  # noqa: BLE001 - a prompt that cannot be rendered must not stop the start
                    log.warning("prompt %r could not be rendered: %s", text, err)
                    failed.append(text)
        rendered = next((clip for clip in self._clips.values()), None)
        if rendered is not None:
            await self.warm_recognition(rendered)
        return failed

    async def warm_recognition(self, clip: AudioClip) -> None:
        """Runs a recogniser over a rendered prompt once and leaves it for the first caller.

        A new recogniser spends 0.5-1 s of CPU on the first speech it hears; without this the first
        caller's end of speech would be detected (and answered) that much later.
        """
        speech = self.speech
        if speech is None or clip.sample_rate != self.sample_rate or not speech.can_recognize(self.locale):
            return
        try:
            await asyncio.to_thread(speech.asr.warm, clip.pcm16, self.sample_rate, locale=self.locale)
        except SpeechError as err:
            log.warning("the recogniser could not be warmed: %s", err)


def spoken_pieces(text: str) -> list[str]:
    """A reply cut into the pieces synthesised one by one: sentences, the first one short."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        sentence = sentence.strip()
        if not sentence:
            continue
        if pieces and len(pieces[-1]) < _MIN_PIECE_CHARS:
            pieces[-1] += sentence
        else:
            pieces.append(sentence)
    if pieces and len(pieces[0]) > _FIRST_PIECE_CHARS:
        cut = next((i + 1 for i, ch in enumerate(pieces[0]) if ch in "，,：:" and i + 1 >= _MIN_PIECE_CHARS
                    and len(pieces[0]) - i - 1 >= _MIN_PIECE_CHARS), None)
        if cut is not None:
            pieces[0:1] = [pieces[0][:cut], pieces[0][cut:]]
    return pieces


def response_latencies(events: Iterable[PipelineEvent]) -> list[tuple[float, float]]:
    """For each utterance: (seconds from the caller's last sound, seconds from the detected end) to the first answer audio."""
    result, pending = [], None
    for event in events:
        if event.type is EventType.SPEECH_END:
            pending = event
        elif event.type is EventType.FIRST_AUDIO and pending is not None:
            detected = event.at - pending.at
            result.append((detected + pending.data.get("trailing_s", 0.0), detected))
            pending = None
    return result


class VoicePipeline:
    """The stages of one call: feed it the caller's audio and keys, then listen() and speak() in turn."""

    def __init__(
        self,
        line: VoiceLine,
        prompts: PromptCache,
        *,
        apology: AudioClip | None = None,
        locale: str = "zh-CN",
        endpoint: EndpointConfig | None = None,
        on_event: Callable[[PipelineEvent], None] | None = None,
        max_events: int = MAX_EVENTS,
        inter_digit_s: float = INTER_DIGIT_S,
    ) -> None:
        self.line = line
        self.prompts = prompts
        self.apology = apology
        self.locale = locale
        self.sample_rate = line.sample_rate
        self.endpoint = endpoint or EndpointConfig()
        self.on_event = on_event
        self.events: deque[PipelineEvent] = deque(maxlen=max_events)
        self.inter_digit_s = inter_digit_s
        self._inputs: asyncio.Queue[_Input] = asyncio.Queue()
        # Inputs taken out of the queue during a prompt but meant for the next listen().
        self._pending: deque[_Input] = deque()
        self._woken = False
        self.ended = False
        # The last moments of caller audio heard during a prompt.
        self._tail: deque[_Input] = deque()
        self._frame_bytes = self.sample_rate * FRAME_MS // 1000 * 2

    # --- input from the transport -----------------------------------------------------------------------------

    def hear(self, pcm16: bytes) -> None:
        """The caller's audio (any length of PCM16 at the line's rate)."""
        self._inputs.put_nowait(_Audio(pcm16))

    def key(self, key: str) -> None:
        """A key the caller pressed."""
        self._inputs.put_nowait(_Key(key))

    def wake(self) -> None:
        """Asks a quiet listen() to return Woken (a pushed message waits to be spoken)."""
        self._inputs.put_nowait(_Wake())

    def end(self) -> None:
        """The call ended; every stage returns at once."""
        self._inputs.put_nowait(_End())

    async def _next(self, timeout: float | None = None) -> _Input | None:
        if self._pending:
            return self._pending.popleft()
        if timeout is None:
            return await self._inputs.get()
        try:
            return await asyncio.wait_for(self._inputs.get(), max(timeout, 0.0))
        except asyncio.TimeoutError:
            return None

    # --- events -----------------------------------------------------------------------------------------------

    def emit(self, type_: EventType, stage: Stage | None = None, **data: Any) -> PipelineEvent:
        """Records an event and hands it to the callback (a failing callback never stops the call)."""
        event = PipelineEvent(type_, time.monotonic(), stage, MappingProxyType(data))
        self.events.append(event)
        if type_ is EventType.ENDED:
            self.ended = True
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # noqa: BLE001 - debugging hooks must not break a call
                log.exception("pipeline event callback failed")
        return event

    @contextlib.asynccontextmanager
    async def stage(self, stage: Stage, **data: Any) -> AsyncIterator[None]:
        """Brackets work of a stage (the flow runs the dialogue in it) with start, end and error events."""
        self.emit(EventType.STAGE_START, stage, **data)
        started = time.monotonic()
        try:
            yield
        except Exception as err:
            self.emit(EventType.ERROR, stage, code=getattr(err, "code", type(err).__name__),
                      message=str(getattr(err, "message", err)))
            raise
        finally:
            self.emit(EventType.STAGE_END, stage, seconds=round(time.monotonic() - started, 4))

    # --- speak ------------------------------------------------------------------------------------------------

    async def speak(self, text: str, *, rate: SpeakingRate = "slow", barge_in: bool = True) -> SpeakOutcome:
        """Speaks the text sentence by sentence; a key or the caller's voice stops it when barge_in is on."""
        if self.ended:
            return SpeakOutcome.ENDED
        pieces = spoken_pieces(text)
        if not pieces:
            return SpeakOutcome.DONE
        self._drop_stale_audio()
        self.emit(EventType.STAGE_START, Stage.SPEAK, text=text, rate=rate)
        self.emit(EventType.PROMPT_START, Stage.SPEAK, text=text)
        watcher = asyncio.create_task(self._watch(barge_in))
        synth = asyncio.create_task(self.prompts.clip(pieces[0], rate))
        outcome, first = SpeakOutcome.DONE, True
        try:
            for index in range(len(pieces)):
                await asyncio.wait({synth, watcher}, return_when=asyncio.FIRST_COMPLETED)
                if watcher.done():
                    outcome = self._interrupted(watcher.result())
                    break
                try:
                    clip = synth.result()
                except Exception as err:  # noqa: BLE001 - whatever broke synthesis, the caller hears the apology
                    self.emit(EventType.ERROR, Stage.SPEAK, code=getattr(err, "code", type(err).__name__),
                              message=str(getattr(err, "message", err)))
                    outcome = await self._play_apology(watcher, first)
                    break
                if index + 1 < len(pieces):
                    synth = asyncio.create_task(self.prompts.clip(pieces[index + 1], rate))
                outcome = await self._play(clip, watcher, first)
                first = False
                if outcome is not SpeakOutcome.DONE:
                    break
        finally:
            for task in (synth, watcher):
                if not task.done():
                    task.cancel()
            await asyncio.gather(synth, watcher, return_exceptions=True)
            self._keep_tail(watcher)
        self.emit(EventType.PROMPT_END, Stage.SPEAK, outcome=outcome.value)
        self.emit(EventType.STAGE_END, Stage.SPEAK, outcome=outcome.value)
        return outcome

    def _drop_stale_audio(self) -> None:
        """Audio that queued up while the assistant was thinking is old by now; keys and the end are kept."""
        kept: list[_Input] = []
        recent: deque[_Input] = deque(maxlen=max(1, PRE_ROLL_MS // FRAME_MS))
        while not self._inputs.empty():
            item = self._inputs.get_nowait()
            (recent if isinstance(item, _Audio) else kept).append(item)
        for item in [*kept, *recent]:
            self._inputs.put_nowait(item)

    async def play_clip(self, clip: AudioClip, *, barge_in: bool = True, label: str = "",
                        filler: bool = False) -> SpeakOutcome:
        """Plays recorded audio (the shipped apology; a `filler` tone while the caller waits) as a prompt."""
        if self.ended:
            return SpeakOutcome.ENDED
        self.emit(EventType.PROMPT_START, Stage.SPEAK, text=label, recorded=True, filler=filler)
        watcher = asyncio.create_task(self._watch(barge_in))
        try:
            outcome = await self._play(clip, watcher, not filler)
        finally:
            if not watcher.done():
                watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            self._keep_tail(watcher)
        self.emit(EventType.PROMPT_END, Stage.SPEAK, outcome=outcome.value, recorded=True)
        return outcome

    async def _play_apology(self, watcher: asyncio.Task, first: bool) -> SpeakOutcome:
        if self.apology is None:
            return SpeakOutcome.FAILED
        outcome = await self._play(self.apology, watcher, first, recorded=True)
        return SpeakOutcome.FAILED if outcome is SpeakOutcome.DONE else outcome

    async def _play(self, clip: AudioClip, watcher: asyncio.Task, first: bool, recorded: bool = False) -> SpeakOutcome:
        if clip.sample_rate != self.sample_rate:
            from speech.audio import resample_clip

            clip = resample_clip(clip, self.sample_rate)
        if first:
            self.emit(EventType.FIRST_AUDIO, Stage.SPEAK, recorded=recorded)
        player = asyncio.create_task(self.line.play(clip.pcm16))
        try:
            await asyncio.wait({player, watcher}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self.line.stop_playing()
            player.cancel()
            raise
        if watcher.done():
            self.line.stop_playing()
            await asyncio.gather(player, return_exceptions=True)
            return self._interrupted(watcher.result())
        try:
            finished = player.result()
        except Exception as err:  # noqa: BLE001 - a broken transport ends the prompt, the flow decides
            self.emit(EventType.ERROR, Stage.SPEAK, code="play_failed", message=str(err))
            return SpeakOutcome.FAILED
        if finished:
            return SpeakOutcome.DONE
        # Stopped from outside: a hang-up, unless the watcher says otherwise in a moment.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(watcher), 0.2)
        return self._interrupted(watcher.result()) if watcher.done() else SpeakOutcome.INTERRUPTED

    def _interrupted(self, why: str) -> SpeakOutcome:
        if why == "ended":
            if not self.ended:
                self.emit(EventType.ENDED, Stage.SPEAK)
            return SpeakOutcome.ENDED
        self.emit(EventType.BARGE_IN, Stage.SPEAK, by=why)
        return SpeakOutcome.INTERRUPTED

    async def _watch(self, barge_in: bool) -> str:
        """Reads the caller's input while a prompt plays: 'key', 'voice' or 'ended' once the prompt must stop."""
        detector = BargeInDetector(self.sample_rate)
        self._tail = deque(maxlen=max(1, PRE_ROLL_MS // FRAME_MS))
        # Input already waiting for the next listen(): a hang-up ends the prompt, a key stops it.
        if any(isinstance(item, _End) for item in self._pending):
            return "ended"
        if barge_in and any(isinstance(item, _Key) for item in self._pending):
            return "key"
        while True:
            item = await self._inputs.get()
            if isinstance(item, _End):
                self._pending.appendleft(item)
                return "ended"
            if isinstance(item, _Wake):
                self._woken = True
                continue
            if isinstance(item, _Key):
                self._pending.append(item)
                if barge_in:
                    return "key"
                continue
            self._tail.append(item)
            if barge_in and detector.process(item.pcm16):
                # The caller's first words go to the next listen() instead of being lost.
                self._pending.extend(self._tail)
                self._tail.clear()
                return "voice"

    def _keep_tail(self, watcher: asyncio.Task) -> None:
        # Audio heard at the very end of a prompt may be the start of an answer.
        tail = self._tail
        if tail and not (watcher.done() and not watcher.cancelled() and watcher.result() == "voice"):
            self._pending.extend(tail)
        self._tail = deque()

    # --- listen and recognise ---------------------------------------------------------------------------------

    async def listen(
        self,
        *,
        grammar: list[str] | None = None,
        digits: bool = False,
        no_speech_ms: int | None = None,
        x_after: int | None = None,
    ) -> Heard:
        """Waits for the caller: an utterance (recognised), keys (digits up to '#' when `digits`), silence or the end.

        With `x_after`, '*' after that many digits is the letter X (the last character of some ID numbers).
        """
        if self.ended:
            return Ended()
        if self._woken:
            self._woken = False
            return Woken()
        config = self.endpoint
        if no_speech_ms is not None:
            config = EndpointConfig(**{**config.__dict__, "no_speech_timeout_ms": no_speech_ms})
        self.emit(EventType.STAGE_START, Stage.LISTEN, digits=digits, grammar=bool(grammar))
        heard = await self._listen(config, grammar, digits, x_after)
        self.emit(EventType.STAGE_END, Stage.LISTEN, heard=type(heard).__name__)
        return heard

    async def _listen(self, config: EndpointConfig, grammar: list[str] | None, digits: bool,
                      x_after: int | None) -> Heard:
        endpointer = Endpointer(self.sample_rate, config)
        pre_roll: deque[bytes] = deque(maxlen=max(1, PRE_ROLL_MS // FRAME_MS))
        recogniser: _Recognition | None = None
        keys, key_deadline, quiet_ms = "", 0.0, 0
        # A transport that sends nothing while the caller is quiet (silence suppression) still times out.
        deadline = time.monotonic() + config.no_speech_timeout_ms / 1000 + 1.0
        try:
            while True:
                if keys:
                    timeout = key_deadline - time.monotonic()
                    if timeout <= 0:
                        return Keys(keys, terminated=False)
                elif endpointer.in_speech:
                    timeout = config.max_utterance_ms / 1000
                else:
                    timeout = deadline - time.monotonic()
                item = await self._next(timeout)
                if item is None:
                    if keys:
                        return Keys(keys, terminated=False)
                    if endpointer.in_speech and recogniser is not None:
                        return await recogniser.final(self, reason="stalled")
                    self.emit(EventType.NO_SPEECH, Stage.LISTEN, reason="no_audio")
                    return Silence()
                if isinstance(item, _End):
                    self.emit(EventType.ENDED, Stage.LISTEN)
                    return Ended()
                if isinstance(item, _Wake):
                    if keys or endpointer.in_speech:
                        self._woken = True
                        continue
                    return Woken()
                if isinstance(item, _Key):
                    self.emit(EventType.KEY, Stage.LISTEN, key=item.key)
                    if not digits or item.key == "*" and not keys:
                        return Keys(item.key)
                    if item.key == "#":
                        return Keys(keys, terminated=True)
                    if item.key == "*":
                        if x_after is not None and len(keys) == x_after:
                            keys += "X"  # a resident ID's check character, which a keypad lacks
                        else:
                            keys = ""  # '*' while keying starts the number again
                        key_deadline = time.monotonic() + self.inter_digit_s
                        continue
                    keys += item.key
                    key_deadline = time.monotonic() + self.inter_digit_s
                    continue
                if keys:
                    continue  # once keying started, speech is not listened to
                was_in_speech = endpointer.in_speech
                for event in endpointer.process(item.pcm16):
                    if event.kind is EndpointKind.SPEECH_START:
                        self.emit(EventType.SPEECH_START, Stage.LISTEN, at_ms=event.at_ms)
                        recogniser = await self._open_recognition(grammar)
                        if isinstance(recogniser, Failure):
                            return recogniser
                        failure = await recogniser.feed(self, b"".join(pre_roll) + item.pcm16)
                        if failure is not None:
                            return failure
                    elif event.kind is EndpointKind.SPEECH_END:
                        # The caller's last sound was a trailing-silence wait before this moment.
                        trailing = config.trailing_silence_ms / 1000 if event.reason == "silence" else 0.0
                        # Input still queued behind this frame: how far listening lags behind the caller.
                        self.emit(EventType.SPEECH_END, Stage.LISTEN, reason=event.reason, trailing_s=trailing,
                                  queued=self._inputs.qsize())
                        return await recogniser.final(self, reason=event.reason)
                    elif event.kind is EndpointKind.NO_SPEECH:
                        self.emit(EventType.NO_SPEECH, Stage.LISTEN, reason=event.reason)
                        return Silence()
                if not endpointer.in_speech:
                    pre_roll.append(item.pcm16)
                    continue
                quiet_ms = quiet_ms + FRAME_MS if _is_quiet(item.pcm16, self.sample_rate, config) else 0
                # The end of the wait for a slow speaker holds nothing to recognise: skipping it keeps
                # the recogniser caught up, so the final result comes at once when the wait is over.
                if was_in_speech and recogniser is not None and quiet_ms <= RECOGNISED_SILENCE_MS:
                    failure = await recogniser.feed(self, item.pcm16)
                    if failure is not None:
                        return failure
                if was_in_speech and recogniser is not None and quiet_ms >= RECOGNISED_SILENCE_MS:
                    # The caller paused: their words are finished now, while the endpointer still waits,
                    # so the text is ready when the wait ends (vosk's final takes 0.1-0.3 s).
                    recogniser.settle(self)
        finally:
            if recogniser is not None and not isinstance(recogniser, Failure):
                recogniser.close()

    async def _open_recognition(self, grammar: list[str] | None) -> _Recognition | Failure:
        self.emit(EventType.STAGE_START, Stage.RECOGNISE, grammar=bool(grammar))
        speech = self.prompts.speech
        if speech is None or not speech.can_recognize(self.locale):
            return _Recognition(None, self.sample_rate)
        # Making a recogniser takes about 100 ms of CPU: off the event loop, so other calls' audio and turns go on.
        open_stream = functools.partial(speech.asr.open_stream, self.sample_rate, locale=self.locale)
        try:
            try:
                stream = await asyncio.to_thread(open_stream, grammar)
            except GrammarInvalid as err:
                # The model lacks the grammar's words: free recognition still works.
                self.emit(EventType.ERROR, Stage.RECOGNISE, code=err.code, message=err.message, recovered=True)
                stream = await asyncio.to_thread(open_stream, None)
        except SpeechError as err:
            return self._recognition_failed(err)
        return _Recognition(stream, self.sample_rate)

    def _recognition_failed(self, err: SpeechError) -> Failure:
        self.emit(EventType.ERROR, Stage.RECOGNISE, code=err.code, message=err.message)
        self.emit(EventType.STAGE_END, Stage.RECOGNISE, failed=True)
        return Failure(Stage.RECOGNISE, err.code, err.message)


def _is_quiet(pcm16: bytes, sample_rate: int, config: EndpointConfig) -> bool:
    levels = frame_levels(pcm16, sample_rate, config.frame_ms)
    return bool(len(levels)) and bool((levels < config.speech_threshold_dbfs).all())


class _Recognition:
    """One utterance's streaming recogniser: chunks in, partial events out, the final text at the end."""

    def __init__(self, stream: RecognitionStream | None, sample_rate: int) -> None:
        self.stream = stream
        self._chunk = sample_rate * FEED_MS // 1000 * 2
        self._buffer = b""
        self._finals: list[str] = []
        self._confidences: list[float] = []
        # Audio went in since the stream's last final result.
        self._fed = False
        self._settling: asyncio.Task | None = None

    async def feed(self, pipeline: VoicePipeline, pcm16: bytes) -> Failure | None:
        if self.stream is None:
            return None
        failure = await self._settled(pipeline)
        if failure is not None or self.stream is None:
            return failure
        self._buffer += pcm16
        self._fed = True
        while len(self._buffer) >= self._chunk:
            chunk, self._buffer = self._buffer[: self._chunk], self._buffer[self._chunk:]
            try:
                result = await self.stream.accept_async(chunk)
            except SpeechError as err:
                self.stream = None
                return pipeline._recognition_failed(err)
            self._note(pipeline, result)
        return None

    def _note(self, pipeline: VoicePipeline, result: PartialResult | FinalResult | None) -> None:
        if isinstance(result, PartialResult):
            pipeline.emit(EventType.PARTIAL, Stage.RECOGNISE, text=result.text)
        elif result is not None and result.text:
            # vosk's own (shorter) end of utterance inside the caller's turn: keep it and go on.
            self._finals.append(result.text)
            self._confidences.append(result.confidence)

    def settle(self, pipeline: VoicePipeline) -> None:
        """Starts the final result of what was fed so far; speech that follows goes on in the same stream."""
        if self.stream is None or self._settling is not None or not self._fed:
            return
        self._settling = asyncio.ensure_future(self._finish(pipeline))

    async def _finish(self, pipeline: VoicePipeline) -> None:
        if self._buffer:
            chunk, self._buffer = self._buffer, b""
            self._note(pipeline, await self.stream.accept_async(chunk))
        self._fed = False
        last = await self.stream.finish_async()
        if last.text:
            self._finals.append(last.text)
            self._confidences.append(last.confidence)

    async def _settled(self, pipeline: VoicePipeline) -> Failure | None:
        """Waits for a final result started by settle(), so the stream's calls keep their order."""
        task, self._settling = self._settling, None
        if task is None:
            return None
        try:
            await task
        except SpeechError as err:
            self.stream = None
            return pipeline._recognition_failed(err)
        return None

    async def final(self, pipeline: VoicePipeline, reason: str) -> Utterance | Failure:
        if self.stream is None:
            pipeline.emit(EventType.FINAL, Stage.RECOGNISE, text="", recognised=False)
            pipeline.emit(EventType.STAGE_END, Stage.RECOGNISE)
            return Utterance("", 0.0, recognised=False)
        started, settled_early = time.monotonic(), self._settling is not None
        failure = await self._settled(pipeline)
        if failure is not None:
            return failure
        try:
            if self._fed or self._buffer or not self._finals:
                settled_early = False
                await self._finish(pipeline)
        except SpeechError as err:
            self.stream = None
            return pipeline._recognition_failed(err)
        self.close()
        text = "".join(self._finals)
        confidence = round(sum(self._confidences) / len(self._confidences), 4) if self._confidences else 0.0
        pipeline.emit(EventType.FINAL, Stage.RECOGNISE, text=text, confidence=confidence, reason=reason,
                      seconds=round(time.monotonic() - started, 4), settled_early=settled_early)
        pipeline.emit(EventType.STAGE_END, Stage.RECOGNISE)
        return Utterance(text, confidence)

    def close(self) -> None:
        if self._settling is not None:
            self._settling.cancel()
            self._settling = None
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.close()
