"""A pyttsx3-shaped engine that records every utterance and writes a short tone instead of speech."""

from __future__ import annotations

import math
import struct
import wave
from dataclasses import dataclass


@dataclass(frozen=True)
class FakeVoice:
    """What pyttsx3 lists for an installed voice."""

    id: str
    name: str


class RecordingTtsEngine:
    """Writes 50 ms of 440 Hz per character and keeps (text, voice, rate) of each utterance."""

    sample_rate = 22050

    def __init__(self, voice_ids: tuple[str, ...] = ("sit/cmn-latn-pinyin",)) -> None:
        self.voice_ids = voice_ids
        self.utterances: list[tuple[str, str, int]] = []
        self._properties: dict[str, object] = {"voice": voice_ids[0], "rate": 175}
        self._pending: tuple[str, str] | None = None

    def getProperty(self, name: str):  # noqa: N802 - pyttsx3's spelling
        if name == "voices":
            return [FakeVoice(v, v) for v in self.voice_ids]
        return self._properties[name]

    def setProperty(self, name: str, value) -> None:  # noqa: N802 - pyttsx3's spelling
        self._properties[name] = value

    def save_to_file(self, text: str, filename: str) -> None:
        self._pending = (text, filename)

    def runAndWait(self) -> None:  # noqa: N802 - pyttsx3's spelling
        text, filename = self._pending
        self._pending = None
        self.utterances.append((text, str(self._properties["voice"]), int(self._properties["rate"])))
        n = int(self.sample_rate * 0.05 * len(text))
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / self.sample_rate))) for i in range(n)
        )
        with wave.open(filename, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.sample_rate)
            out.writeframes(frames)

    def isBusy(self) -> bool:  # noqa: N802 - pyttsx3's spelling
        return False

    def stop(self) -> None:
        self._pending = None

    def endLoop(self) -> None:  # noqa: N802 - pyttsx3's spelling
        self._pending = None
