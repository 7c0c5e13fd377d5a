"""The speech façade the gateway and the channels use: bytes in, text out; text in, WAV out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from speech.admission import Slots
from speech.audio import RECOGNITION_RATE, decode_audio, write_wav
from speech.errors import ProviderUnknown, RecognitionUnavailable, SynthesisFailed
from speech.providers import (
    AudioClip,
    SpeakingRate,
    SpeechToText,
    TextToSpeech,
    Transcript,
)
from speech.vosk_asr import ZH_MODEL_NAME

MAX_AUDIO_SECONDS = 60.0
# ffmpeg processes at once: each takes a core for a moment; more would only slow every decode down.
MAX_DECODES = 4
# Uploads being decoded or recognised at once; the next is told to come back rather than queued.
MAX_RECOGNITIONS = 8
_NO_PROVIDER = (None, "", "none")


def build_recogniser(provider: str | None, model_paths: Mapping[str, Path | str | None] | None) -> SpeechToText | None:
    """The configured recogniser, or None when no model path is set."""
    if provider in _NO_PROVIDER:
        return None
    if provider != "vosk":
        raise ProviderUnknown(f"unknown speech recognition provider {provider!r}; use 'vosk'")
    paths = {locale: Path(p) for locale, p in (model_paths or {}).items() if p}
    if not paths:
        return None
    from speech.vosk_asr import VoskRecogniser

    return VoskRecogniser(paths)


def build_synthesizer(provider: str | None, cache_dir: Path,
                      keep_in_cache: Callable[[str], bool] | None = None) -> TextToSpeech | None:
    """The configured synthesiser, or None when synthesis is switched off; `keep_in_cache` says which texts may be kept."""
    if provider in _NO_PROVIDER:
        return None
    if provider != "pyttsx3":
        raise ProviderUnknown(f"unknown speech synthesis provider {provider!r}; use 'pyttsx3'")
    from speech.pyttsx3_tts import Pyttsx3Synthesizer

    return Pyttsx3Synthesizer(Path(cache_dir), keep_in_cache=keep_in_cache)


class SpeechService:
    """Recognition of uploaded audio and synthesis of answers, over whichever providers are configured."""

    def __init__(
        self,
        asr: SpeechToText | None,
        tts: TextToSpeech | None,
        *,
        max_seconds: float = MAX_AUDIO_SECONDS,
        max_decodes: int = MAX_DECODES,
        max_recognitions: int = MAX_RECOGNITIONS,
    ) -> None:
        self.asr = asr
        self.tts = tts
        self.max_seconds = max_seconds
        self.decodes = Slots(max_decodes, "audio decodes")
        self.recognitions = Slots(max_recognitions, "recognitions")

    @classmethod
    def from_settings(
        cls,
        *,
        asr_provider: str | None = "vosk",
        tts_provider: str | None = "pyttsx3",
        model_paths: Mapping[str, Path | str | None] | None = None,
        cache_dir: Path | str = Path("var/speech-cache"),
        max_seconds: float = MAX_AUDIO_SECONDS,
        max_decodes: int = MAX_DECODES,
        max_recognitions: int = MAX_RECOGNITIONS,
        keep_in_cache: Callable[[str], bool] | None = None,
    ) -> SpeechService:
        """Build from plain settings; an unset model path leaves recognition off, a wrong one raises ModelMissing."""
        return cls(
            build_recogniser(asr_provider, model_paths),
            build_synthesizer(tts_provider, Path(cache_dir), keep_in_cache),
            max_seconds=max_seconds,
            max_decodes=max_decodes,
            max_recognitions=max_recognitions,
        )

    def can_recognise(self, locale: str = "zh-CN") -> bool:
        """Whether a recognition model is loaded for the locale."""
        return self.asr is not None and locale in self.asr.languages

    def _recogniser(self, locale: str) -> SpeechToText:
        if not self.can_recognise(locale):
            raise RecognitionUnavailable(
                f"speech recognition for {locale} is not configured: set VOSK_MODEL_PATH "
                f"to the unzipped {ZH_MODEL_NAME} folder and restart"
            )
        assert self.asr is not None  # can_recognise says so
        return self.asr

    async def transcribe_bytes(
        self,
        data: bytes,
        content_type: str,
        locale: str = "zh-CN",
        grammar: list[str] | None = None,
    ) -> Transcript:
        """Decode an upload (WAV, WebM, Ogg, MP3) and recognise it; at most max_seconds long.

        SpeechBusy when max_recognitions uploads (or max_decodes ffmpeg decodes) are already under way.
        """
        asr = self._recogniser(locale)
        with self.recognitions.hold():
            clip = await decode_audio(
                data, content_type, sample_rate=RECOGNITION_RATE, max_seconds=self.max_seconds,
                decoders=self.decodes,
            )
            return await asr.transcribe(clip, locale=locale, grammar=grammar)

    async def synthesize(
        self, text: str, locale: str = "zh-CN", rate: SpeakingRate = "slow", sample_rate: int = 16000
    ) -> AudioClip:
        """Speak the text as PCM at the given rate (8000 for the phone line)."""
        if self.tts is None:
            raise SynthesisFailed("speech synthesis is switched off", code="tts_unavailable")
        return await self.tts.synthesize(text, locale=locale, rate=rate, sample_rate=sample_rate)

    async def synthesize_wav(
        self, text: str, locale: str = "zh-CN", rate: SpeakingRate = "slow", sample_rate: int = 16000
    ) -> bytes:
        """Speak the text as a WAV file."""
        return write_wav(await self.synthesize(text, locale, rate, sample_rate))

    def close(self) -> None:
        """Release the providers' worker threads."""
        for provider in (self.asr, self.tts):
            close = getattr(provider, "close", None)
            if close is not None:
                close()
