"""Errors raised by the speech package: each has a stable code, a message a person can act on, and the
HTTP status of the speech API's answer (422: the request cannot be served as sent; 503: this server cannot).
"""

from __future__ import annotations

from bot.errors import BianminError


class SpeechError(BianminError):
    """Base of every speech error: `code` is stable, `message` says what to do."""

    code = "speech_error"
    status = 503

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class ModelMissing(SpeechError):
    """A configured recognition model directory is absent or is not a vosk model."""

    code = "asr_model_missing"


class RecognitionUnavailable(SpeechError):
    """No recognition model is configured for the requested language."""

    code = "asr_unavailable"


class RecognitionFailed(SpeechError):
    """The recogniser itself failed on audio it accepted."""

    code = "asr_failed"


class GrammarInvalid(SpeechError):
    """A grammar has no phrase the model can recognise."""

    code = "asr_grammar_invalid"
    status = 422


class UnsupportedLanguage(SpeechError):
    """A provider was asked for a locale it does not declare."""

    code = "unsupported_language"
    status = 422


class UnsupportedSampleRate(SpeechError):
    """A provider was asked for a sample rate it does not declare."""

    code = "unsupported_sample_rate"
    status = 422


class AudioDecodeError(SpeechError):
    """Audio bytes could not be decoded into PCM."""

    code = "audio_undecodable"
    status = 422


class AudioTooLong(SpeechError):
    """Audio is longer than the accepted maximum."""

    code = "audio_too_long"
    status = 422


class FfmpegMissing(SpeechError):
    """The ffmpeg program needed to decode compressed audio is not installed."""

    code = "ffmpeg_missing"


class TextInvalid(SpeechError):
    """Text given to synthesis is empty or otherwise unusable."""

    code = "tts_text_invalid"
    status = 422


class VoiceUnavailable(SpeechError):
    """The configured synthesis voice is not installed."""

    code = "tts_voice_unavailable"


class SynthesisFailed(SpeechError):
    """The synthesis engine did not produce a complete audio file."""

    code = "tts_failed"


class ProviderUnknown(SpeechError):
    """A provider name in the configuration has no implementation."""

    code = "speech_provider_unknown"


class UnsupportedRate(SpeechError):
    """A speaking rate other than the declared ones was asked for."""

    code = "unsupported_rate"
    status = 422


class SpeechBusy(SpeechError):
    """Every decoding or recognition slot is taken; the client may try again after `retry_after` seconds."""

    code = "speech_busy"

    def __init__(self, message: str, *, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after
