"""What every stage of the voice line shares: the line, the caller's queued input, and the event record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from types import MappingProxyType
from typing import Any, Protocol

from speech.endpointing import EndpointConfig
from speech.pipeline_events import (
    FRAME_MS,
    AudioInput,
    EndInput,
    EventType,
    KeyInput,
    LineInput,
    PipelineEvent,
    Stage,
    WakeInput,
)
from speech.prompt_cache import PromptCache
from speech.providers import AudioClip

log = logging.getLogger(__name__)

MAX_EVENTS = 2000
# After a key, how long to wait for the next one before taking what was keyed.
INTER_DIGIT_S = 8.0


class VoiceLine(Protocol):
    """Where prompts are played: `channels.phone.call.PhoneCall` is one."""

    sample_rate: int

    async def play(self, pcm16: bytes) -> bool:
        """Plays at real-time pace; False when stopped or hung up."""

    def stop_playing(self) -> None:
        """Stops the prompt at once."""


class LineSession:
    """One call's shared state; VoicePipeline adds speaking and listening to it."""

    def __init__(
        self,
        line: VoiceLine,
        prompts: PromptCache,
        *,
        apology: AudioClip | None = None,
        locale: str = "zh-CN",
        endpoint: EndpointConfig | None = None,
        on_event: Callable[[PipelineEvent], None] | None = None,
        max_events: int = MAX_EVENTS,
        inter_digit_s: float = INTER_DIGIT_S,
    ) -> None:
        self.line = line
        self.prompts = prompts
        self.apology = apology
        self.locale = locale
        self.sample_rate = line.sample_rate
        self.endpoint = endpoint or EndpointConfig()
        self.on_event = on_event
        self.events: deque[PipelineEvent] = deque(maxlen=max_events)
        self.inter_digit_s = inter_digit_s
        self._inputs: asyncio.Queue[LineInput] = asyncio.Queue()
        # Inputs taken out of the queue during a prompt but meant for the next listen().
        self._pending: deque[LineInput] = deque()
        self._woken = False
        self.ended = False
        # The last moments of caller audio heard during a prompt.
        self._tail: deque[LineInput] = deque()
        self._frame_bytes = self.sample_rate * FRAME_MS // 1000 * 2

    # --- input from the transport -----------------------------------------------------------------------------

    def hear(self, pcm16: bytes) -> None:
        """The caller's audio (any length of PCM16 at the line's rate)."""
        self._inputs.put_nowait(AudioInput(pcm16))

    def key(self, key: str) -> None:
        """A key the caller pressed."""
        self._inputs.put_nowait(KeyInput(key))

    def wake(self) -> None:
        """Asks a quiet listen() to return Woken (a pushed message waits to be spoken)."""
        self._inputs.put_nowait(WakeInput())

    def end(self) -> None:
        """The call ended; every stage returns at once."""
        self._inputs.put_nowait(EndInput())

    async def _next(self, timeout: float | None = None) -> LineInput | None:
        if self._pending:
            return self._pending.popleft()
        if timeout is None:
            return await self._inputs.get()
        try:
            return await asyncio.wait_for(self._inputs.get(), max(timeout, 0.0))
        except TimeoutError:
            return None

    # --- events -----------------------------------------------------------------------------------------------

    def emit(self, type_: EventType, stage: Stage | None = None, **data: Any) -> PipelineEvent:
        """Records an event and hands it to the callback (a failing callback never stops the call)."""
        event = PipelineEvent(type_, time.monotonic(), stage, MappingProxyType(data))
        self.events.append(event)
        if type_ is EventType.ENDED:
            self.ended = True
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("pipeline event callback failed")
        return event

    @contextlib.asynccontextmanager
    async def stage(self, stage: Stage, **data: Any) -> AsyncIterator[None]:
        """Brackets work of a stage (the flow runs the dialogue in it) with start, end and error events."""
        self.emit(EventType.STAGE_START, stage, **data)
        started = time.monotonic()
        try:
            yield
        except Exception as err:
            self.emit(EventType.ERROR, stage, code=getattr(err, "code", type(err).__name__),
                      message=str(getattr(err, "message", err)))
            raise
        finally:
            self.emit(EventType.STAGE_END, stage, seconds=round(time.monotonic() - started, 4))
