"""The voice line as explicit stages: listen (end of speech) → recognise → dialogue → speak.

Modelled on Home Assistant's assist_pipeline: a `Stage` enum, frozen `PipelineEvent`s with
timestamps, one event callback, and each call's events kept (bounded) for debugging and tests.
The pipeline knows nothing of SIP or of the dialogue engine: a transport feeds it the caller's
audio and keys (`hear`, `key`, `end`) and lends it a line to play on (`VoiceLine`); the call flow
decides what to say and runs the dialogue stage through `stage()`. A PBX media stream can feed
the same pipeline.
"""

from __future__ import annotations

from speech.audio import FRAME_MS
from speech.listening import Listening
from speech.pipeline_events import (
    PRE_ROLL_MS,
    Ended,
    EventType,
    Failure,
    Heard,
    Keys,
    PipelineEvent,
    Silence,
    SpeakOutcome,
    Stage,
    Utterance,
    Woken,
    response_latencies,
)
from speech.prompt_cache import PromptCache, Synthesis, spoken_pieces
from speech.speaking import Speaking
from speech.voice_line import MAX_EVENTS, VoiceLine

__all__ = [
    "FRAME_MS",
    "MAX_EVENTS",
    "PRE_ROLL_MS",
    "Ended",
    "EventType",
    "Failure",
    "Heard",
    "Keys",
    "PipelineEvent",
    "PromptCache",
    "Silence",
    "SpeakOutcome",
    "Stage",
    "Synthesis",
    "Utterance",
    "VoiceLine",
    "VoicePipeline",
    "Woken",
    "response_latencies",
    "spoken_pieces",
]


class VoicePipeline(Speaking, Listening):
    """The stages of one call: feed it the caller's audio and keys (hear, key, end), then listen() and speak() in turn."""
