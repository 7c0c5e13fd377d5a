"""Listening on the voice line: end of speech, keys, and the streaming recogniser of one utterance."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque

from speech.endpointing import EndpointConfig, Endpointer, EndpointKind, frame_levels
from speech.errors import GrammarInvalid, SpeechError
from speech.pipeline_events import (
    FRAME_MS,
    PRE_ROLL_MS,
    Ended,
    EndInput,
    EventType,
    Failure,
    Heard,
    KeyInput,
    Keys,
    Silence,
    Stage,
    Utterance,
    WakeInput,
    Woken,
)
from speech.providers import FinalResult, PartialResult, RecognitionStream
from speech.voice_line import LineSession

# The recogniser is fed in 100 ms chunks: fewer thread hops than one per 20 ms frame.
FEED_MS = 100
# Of the trailing silence, only this much goes to the recogniser (it needs a little to close a word).
RECOGNISED_SILENCE_MS = 400


class Listening(LineSession):
    """Listening: the caller's utterance or keys, recognised as they come."""

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
                if isinstance(item, EndInput):
                    self.emit(EventType.ENDED, Stage.LISTEN)
                    return Ended()
                if isinstance(item, WakeInput):
                    if keys or endpointer.in_speech:
                        self._woken = True
                        continue
                    return Woken()
                if isinstance(item, KeyInput):
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
                        opened = await self._open_recognition(grammar)
                        if isinstance(opened, Failure):
                            return opened
                        recogniser = opened
                        failure = await recogniser.feed(self, b"".join(pre_roll) + item.pcm16)
                        if failure is not None:
                            return failure
                    elif event.kind is EndpointKind.SPEECH_END:
                        # The caller's last sound was a trailing-silence wait before this moment.
                        trailing = endpointer.trailing_wait_ms / 1000 if event.reason == "silence" else 0.0
                        # Input still queued behind this frame: how far listening lags behind the caller.
                        self.emit(EventType.SPEECH_END, Stage.LISTEN, reason=event.reason, trailing_s=trailing,
                                  queued=self._inputs.qsize())
                        assert recogniser is not None  # speech ends only after it started
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
        if speech is None or not speech.can_recognise(self.locale):
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

    async def feed(self, pipeline: Listening, pcm16: bytes) -> Failure | None:
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

    def _note(self, pipeline: Listening, result: PartialResult | FinalResult | None) -> None:
        if isinstance(result, PartialResult):
            pipeline.emit(EventType.PARTIAL, Stage.RECOGNISE, text=result.text)
        elif result is not None and result.text:
            # vosk's own (shorter) end of utterance inside the caller's turn: keep it and go on.
            self._finals.append(result.text)
            self._confidences.append(result.confidence)

    def settle(self, pipeline: Listening) -> None:
        """Starts the final result of what was fed so far; speech that follows goes on in the same stream."""
        if self.stream is None or self._settling is not None or not self._fed:
            return
        self._settling = asyncio.ensure_future(self._finish(pipeline))

    async def _finish(self, pipeline: Listening) -> None:
        stream = self.stream
        assert stream is not None  # settle starts this only with a stream
        if self._buffer:
            chunk, self._buffer = self._buffer, b""
            self._note(pipeline, await stream.accept_async(chunk))
        self._fed = False
        last = await stream.finish_async()
        if last.text:
            self._finals.append(last.text)
            self._confidences.append(last.confidence)

    async def _settled(self, pipeline: Listening) -> Failure | None:
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

    async def final(self, pipeline: Listening, reason: str) -> Utterance | Failure:
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
