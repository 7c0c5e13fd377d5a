"""Prompts rendered once and kept at the line's rate, and a reply cut into pieces spoken one by one."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from speech.errors import SpeechError, SynthesisFailed
from speech.providers import AudioClip, SpeakingRate

log = logging.getLogger(__name__)

# A reply is spoken sentence by sentence (the next one is synthesised while one plays);
# a long first sentence is cut at a comma so the caller hears something sooner.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])")
_FIRST_PIECE_CHARS = 24
_MIN_PIECE_CHARS = 6


class Synthesis(Protocol):
    """What the pipeline needs of speech.service.SpeechService."""

    asr: Any

    def can_recognise(self, locale: str = "zh-CN") -> bool:
        """Whether recognition is available."""

    async def synthesize(self, text: str, locale: str = "zh-CN", rate: SpeakingRate = "slow",
                         sample_rate: int = 16000) -> AudioClip:
        """Speaks the text."""



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
        if speech is None or clip.sample_rate != self.sample_rate or not speech.can_recognise(self.locale):
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

