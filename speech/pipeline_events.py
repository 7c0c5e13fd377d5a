"""The voice line's vocabulary: stages, events, what the caller did and what the transport feeds in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from speech.audio import FRAME_MS as FRAME_MS  # the one frame length, as the pipeline's modules import it

# Audio kept from before the detected start of speech, so the first syllable reaches the recogniser.
PRE_ROLL_MS = 300


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



# --- what the transport feeds in (queued, read by listen() and by speak()'s watcher) ----------------------------


@dataclass(frozen=True)
class AudioInput:
    pcm16: bytes


@dataclass(frozen=True)
class KeyInput:
    key: str


@dataclass(frozen=True)
class WakeInput:
    pass


@dataclass(frozen=True)
class EndInput:
    pass


LineInput = AudioInput | KeyInput | WakeInput | EndInput


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

