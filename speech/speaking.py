"""Speaking on the voice line: a reply sentence by sentence, the caller's voice or a key stopping it."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from speech.endpointing import BargeInDetector
from speech.pipeline_events import (
    FRAME_MS,
    PRE_ROLL_MS,
    AudioInput,
    EndInput,
    EventType,
    KeyInput,
    LineInput,
    SpeakOutcome,
    Stage,
    WakeInput,
)
from speech.prompt_cache import spoken_pieces
from speech.providers import AudioClip, SpeakingRate
from speech.voice_line import LineSession


class Speaking(LineSession):
    """Speaking: prompts and replies played on the line, stopped by the caller's voice or a key."""

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
        kept: list[LineInput] = []
        recent: deque[LineInput] = deque(maxlen=max(1, PRE_ROLL_MS // FRAME_MS))
        while not self._inputs.empty():
            item = self._inputs.get_nowait()
            (recent if isinstance(item, AudioInput) else kept).append(item)
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
        if any(isinstance(item, EndInput) for item in self._pending):
            return "ended"
        if barge_in and any(isinstance(item, KeyInput) for item in self._pending):
            return "key"
        while True:
            item = await self._inputs.get()
            if isinstance(item, EndInput):
                self._pending.appendleft(item)
                return "ended"
            if isinstance(item, WakeInput):
                self._woken = True
                continue
            if isinstance(item, KeyInput):
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
