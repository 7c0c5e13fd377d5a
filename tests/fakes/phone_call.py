"""A hand-written PhoneCall for call-flow tests: fed the caller's audio and keys, records what was played.

Like an RTP stream it sends a 20 ms frame of the caller's line all the time (silence unless the
test gave speech), at `speed` times real time, so end-of-speech and no-speech waits run as they
would on a real call, only faster.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np

from channels.phone.call import FRAME_MS, AudioFrame, CallEvent, HungUp, KeyPress, PhoneCall


@dataclass
class Played:
    """One play() call: the audio given, how much of it went out, when it started, whether it finished."""

    pcm16: bytes
    started_at: float
    sent_bytes: int = 0
    finished: bool = False

    @property
    def seconds_sent(self) -> float:
        return self.sent_bytes / 2 / 8000

    @property
    def seconds(self) -> float:
        return len(self.pcm16) / 2 / 8000


@dataclass
class FakePhoneCall(PhoneCall):
    """The test speaks with say()/press()/hang_up_caller(); play(), transfer() and hang_up() are recorded."""

    call_id: str = "fake-call-1"
    caller: str = "13800138000"
    sample_rate: int = 8000
    speed: float = 1.0
    transfer_accepted: bool = True
    played: list[Played] = field(default_factory=list)
    transfers: list[str] = field(default_factory=list)
    hung_up_by_assistant: bool = False
    hung_up_by_caller: bool = False

    def __post_init__(self) -> None:
        self._script: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._ended = asyncio.Event()
        self._changed = asyncio.Event()
        self.frame_bytes = self.sample_rate * FRAME_MS // 1000 * 2

    # --- the test's side: what the caller does ------------------------------------------------------------------

    def say(self, pcm16: bytes) -> None:
        """Queues speech (PCM16 at 8 kHz); it goes out frame by frame after what was queued before."""
        self._script.put_nowait(pcm16)

    def press(self, keys: str) -> None:
        """Queues key presses, each as one event."""
        for key in keys:
            self._script.put_nowait(key)

    def hang_up_caller(self) -> None:
        """The caller puts the phone down."""
        self._script.put_nowait(None)
        self.hung_up_by_caller = True
        self._ended.set()
        self._stop.set()
        self._notify()

    # --- PhoneCall ---------------------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[CallEvent]:
        silence = b"\0" * self.frame_bytes
        frame_s = FRAME_MS / 1000 / self.speed
        next_at = time.monotonic()
        pending = b""
        while not self._ended.is_set() or not self._script.empty():
            if not pending and not self._script.empty():
                item = self._script.get_nowait()
                if item is None:
                    yield HungUp()
                    return
                if isinstance(item, str):
                    yield KeyPress(item)
                    continue
                pending = item
            if pending:
                frame, pending = pending[: self.frame_bytes], pending[self.frame_bytes:]
                frame = frame.ljust(self.frame_bytes, b"\0")
            else:
                frame = silence
            yield AudioFrame(frame)
            next_at += frame_s
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        yield HungUp()

    async def play(self, pcm16: bytes) -> bool:
        record = Played(pcm16, time.monotonic())
        self.played.append(record)
        self._notify()
        self._stop.clear()
        if self._ended.is_set():
            return False
        frame_s = FRAME_MS / 1000 / self.speed
        for start in range(0, len(pcm16), self.frame_bytes):
            if self._stop.is_set():
                return False
            record.sent_bytes = min(len(pcm16), start + self.frame_bytes)
            await asyncio.sleep(frame_s)
        record.finished = True
        self._notify()
        return True

    def stop_playing(self) -> None:
        self._stop.set()

    async def transfer(self, target: str) -> bool:
        self.transfers.append(target)
        self._notify()
        return self.transfer_accepted

    async def hang_up(self) -> None:
        if not self._ended.is_set():
            self.hung_up_by_assistant = True
        self._ended.set()
        self._stop.set()
        self._notify()

    @property
    def active(self) -> bool:
        return not self._ended.is_set()

    # --- what the test looks at --------------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        """Waits until the condition holds, or fails the test after the timeout."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {timeout} s; played {len(self.played)} prompts")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
            except TimeoutError:
                pass

    async def wait_for_prompts(self, count: int, timeout: float = 20.0) -> None:
        """Waits until `count` prompts have finished or been stopped."""
        await self.wait_until(lambda: sum(1 for p in self.played if p.finished) >= count, timeout)


def loudness_dbfs(pcm16: bytes) -> float:
    """RMS level of PCM16 in dBFS (-100 for digital silence)."""
    x = np.frombuffer(pcm16, dtype="<i2").astype(np.float64)
    if not len(x):
        return -100.0
    rms = float(np.sqrt(np.mean(x**2)))
    return max(20 * np.log10(rms / 32768), -100.0) if rms > 0 else -100.0
