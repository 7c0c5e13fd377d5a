"""Provider interfaces: what a recogniser or a synthesiser declares and the one async call each offers."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Literal

# "slower" is for a caller who asks the phone line to speak more slowly.
SpeakingRate = Literal["slower", "slow", "normal"]


@dataclass(frozen=True)
class AudioClip:
    """Mono signed 16-bit little-endian PCM with its sample rate."""

    pcm16: bytes
    sample_rate: int

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {self.sample_rate}")
        if len(self.pcm16) % 2:
            raise ValueError("16-bit PCM must have an even number of bytes")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.pcm16) / 2 / self.sample_rate


@dataclass(frozen=True)
class Word:
    """One recognised word with its timing (seconds) and confidence (0..1)."""

    text: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class Transcript:
    """A final recognition result: the text, its confidence (0..1) and the words."""

    text: str
    confidence: float
    words: tuple[Word, ...] = field(default_factory=tuple)


# A stream's final result is the same shape as a whole-clip transcript.
FinalResult = Transcript


@dataclass(frozen=True)
class PartialResult:
    """The recogniser's current guess while the caller is still speaking."""

    text: str


class RecognitionStream(abc.ABC):
    """One caller's turn of audio, fed in chunks; close() once it is over."""

    @abc.abstractmethod
    def accept(self, pcm16: bytes) -> PartialResult | FinalResult | None:
        """Feed PCM; return a final result at an utterance end, a changed partial, or None."""

    @abc.abstractmethod
    def finish(self) -> FinalResult:
        """Flush the remaining audio and return the last final result."""

    @abc.abstractmethod
    async def accept_async(self, pcm16: bytes) -> PartialResult | FinalResult | None:
        """Like accept, run off the event loop."""

    @abc.abstractmethod
    async def finish_async(self) -> FinalResult:
        """Like finish, run off the event loop."""

    def close(self) -> None:  # noqa: B027 - an optional hook: streams with nothing to release keep it
        """The caller's turn is over: the stream is not fed again (a recogniser may be kept for the next one)."""


class SpeechToText(abc.ABC):
    """A recogniser: declares languages, sample rates and formats; transcribes clips and streams."""

    def warm(self, pcm16: bytes, sample_rate: int, *, locale: str = "zh-CN") -> None:  # noqa: B027 - optional
        """Recognises some audio once and throws the text away, so that the first real stream starts fast."""

    @property
    @abc.abstractmethod
    def languages(self) -> frozenset[str]:
        """Locales this recogniser has a model for."""

    @property
    @abc.abstractmethod
    def sample_rates(self) -> frozenset[int]:
        """Sample rates accepted without resampling."""

    @property
    @abc.abstractmethod
    def formats(self) -> frozenset[str]:
        """Audio encodings accepted (containers are decoded before reaching a provider)."""

    @abc.abstractmethod
    async def transcribe(
        self, audio: AudioClip, *, locale: str = "zh-CN", grammar: list[str] | None = None
    ) -> Transcript:
        """Recognise a whole clip, optionally restricted to the grammar's phrases."""

    @abc.abstractmethod
    def open_stream(
        self, sample_rate: int, grammar: list[str] | None = None, *, locale: str = "zh-CN"
    ) -> RecognitionStream:
        """Start recognising one live audio stream."""


class TextToSpeech(abc.ABC):
    """A synthesiser: declares languages, voices and sample rates; turns text into audio."""

    @property
    @abc.abstractmethod
    def languages(self) -> frozenset[str]:
        """Locales this synthesiser has a voice for."""

    @property
    @abc.abstractmethod
    def voices(self) -> dict[str, str]:
        """The voice used for each locale."""

    @property
    @abc.abstractmethod
    def sample_rates(self) -> frozenset[int]:
        """Output sample rates this synthesiser produces."""

    def close(self) -> None:  # noqa: B027 - an optional hook: only synthesisers holding a thread need it
        """Releases what the synthesiser holds, such as its worker thread."""

    @abc.abstractmethod
    async def synthesize(
        self,
        text: str,
        *,
        locale: str = "zh-CN",
        rate: SpeakingRate = "slow",
        sample_rate: int = 16000,
    ) -> AudioClip:
        """Speak the text in the locale's voice at the given speaking rate."""
