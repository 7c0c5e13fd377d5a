"""A recogniser that hears what the test scripted: each utterance, whatever its audio, is the next text."""

from __future__ import annotations

from collections import deque

from speech.providers import AudioClip, FinalResult, PartialResult, RecognitionStream, SpeechToText, Transcript


class ScriptedRecogniser(SpeechToText):
    """Stands in for vosk where the words matter (Chinese commands) and the test model cannot say them."""

    def __init__(self, texts: list[str], locale: str = "zh-CN") -> None:
        self.script = deque(texts)
        self.locale = locale
        self.grammars: list[list[str] | None] = []

    @property
    def languages(self) -> frozenset[str]:
        return frozenset({self.locale})

    @property
    def sample_rates(self) -> frozenset[int]:
        return frozenset({8000, 16000})

    @property
    def formats(self) -> frozenset[str]:
        return frozenset({"pcm16"})

    def _next(self) -> Transcript:
        text = self.script.popleft() if self.script else ""
        return Transcript(text, 0.9 if text else 0.0)

    async def transcribe(self, audio: AudioClip, *, locale: str = "zh-CN", grammar=None) -> Transcript:
        return self._next()

    def open_stream(self, sample_rate: int, grammar=None, *, locale: str = "zh-CN") -> RecognitionStream:
        self.grammars.append(grammar)
        return _ScriptedStream(self)


class _ScriptedStream(RecognitionStream):
    def __init__(self, owner: ScriptedRecogniser) -> None:
        self.owner = owner

    def accept(self, pcm16: bytes) -> PartialResult | FinalResult | None:
        return None

    def finish(self) -> FinalResult:
        return self.owner._next()

    async def accept_async(self, pcm16: bytes) -> PartialResult | FinalResult | None:
        return None

    async def finish_async(self) -> FinalResult:
        return self.finish()
