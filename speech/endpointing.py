"""End-of-speech and barge-in detection on 20 ms frames of PCM16, by frame energy.

The trailing-silence default (700 ms) comes from a measurement (`benchmarks/speech.py`):
three Chinese sentences with commas, synthesised with espeak-ng at 140, 120, 100 and 80
words per minute (80 is about 95 characters a minute, slower than most elderly callers),
have their longest pause inside a sentence, below this module's -40 dBFS speech level, at
300, 360, 480 and 580 ms. A wait of 700 ms stays above the slowest of these, so a slow
caller is not cut off at a comma; vosk's own 500 ms would cut the two slowest.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np

from speech.audio import FRAME_MS
_FULL_SCALE = 32768.0
_SILENCE_DBFS = -100.0


def frame_levels(pcm16: bytes, sample_rate: int, frame_ms: int = FRAME_MS) -> np.ndarray:
    """RMS level in dBFS of each complete frame."""
    samples_per_frame = sample_rate * frame_ms // 1000
    x = np.frombuffer(pcm16, dtype="<i2").astype(np.float64)
    n = len(x) // samples_per_frame
    if n == 0:
        return np.empty(0)
    rms = np.sqrt(np.mean(x[: n * samples_per_frame].reshape(n, samples_per_frame) ** 2, axis=1))
    with np.errstate(divide="ignore"):
        return np.maximum(20 * np.log10(rms / _FULL_SCALE), _SILENCE_DBFS)


class _Framer:
    """Cuts arbitrary chunks into whole frames, keeping the remainder for the next chunk."""

    def __init__(self, sample_rate: int, frame_ms: int) -> None:
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self._bytes = sample_rate * frame_ms // 1000 * 2
        self._rest = b""

    def levels(self, pcm16: bytes) -> np.ndarray:
        return frame_levels(self.whole(pcm16), self.sample_rate, self.frame_ms)

    def whole(self, pcm16: bytes) -> bytes:
        """The whole frames of what came so far; the remainder waits for the next chunk."""
        data = self._rest + pcm16
        whole = len(data) // self._bytes * self._bytes
        self._rest = data[whole:]
        return data[:whole]


class _WebRtcFrames:
    """WebRTC's trained voice-activity detector (a GMM on six sub-bands) as a per-frame speech flag."""

    def __init__(self, sample_rate: int, frame_ms: int, aggressiveness: int) -> None:
        import webrtcvad  # loaded only when configured

        self._vad = webrtcvad.Vad(aggressiveness)
        self.sample_rate = sample_rate
        self._bytes = sample_rate * frame_ms // 1000 * 2

    def flags(self, frames: bytes) -> list[bool]:
        return [self._vad.is_speech(frames[i:i + self._bytes], self.sample_rate)
                for i in range(0, len(frames), self._bytes)]


class _NoiseFloor:
    """The background's level: the quietest moment of the last few seconds, for a threshold that follows it.

    Levels are first averaged (in power) over a few frames, so one lucky frame of noise does not
    pull the floor down; the minimum over a window longer than a run of speech without a pause is
    the noise between words (minimum statistics, as speech enhancers track noise).
    """

    def __init__(self, frame_ms: int, window_ms: int, smooth_ms: int) -> None:
        self._powers: deque[float] = deque(maxlen=max(1, smooth_ms // frame_ms))
        self._smoothed: deque[float] = deque(maxlen=max(1, window_ms // frame_ms))
        # The loudest moment so far: with the floor, how far the caller's voice stands out of the noise.
        self.peak = -math.inf

    def update(self, level_dbfs: float) -> float:
        """Take one frame's level; return the floor in dBFS."""
        self._powers.append(10 ** (level_dbfs / 10))
        self._smoothed.append(10 * math.log10(sum(self._powers) / len(self._powers)))
        self.peak = max(self.peak, self._smoothed[-1])
        return min(self._smoothed)


class _SustainedSpeech:
    """Counts speech frames, forgiving the short dips between syllables."""

    def __init__(self, frame_ms: int, max_gap_ms: int) -> None:
        self._max_gap = max(1, max_gap_ms // frame_ms)
        self.frames = 0
        self._gap = 0

    def update(self, is_speech: bool) -> int:
        if is_speech:
            self.frames += 1
            self._gap = 0
        else:
            self._gap += 1
            if self._gap > self._max_gap:
                self.frames = 0
        return self.frames

    def reset(self) -> None:
        self.frames = 0
        self._gap = 0


@dataclass(frozen=True)
class EndpointConfig:
    """Thresholds and waits of the end-of-speech detector (milliseconds, dBFS)."""

    frame_ms: int = FRAME_MS
    speech_threshold_dbfs: float = -40.0
    # Shorter bursts (a click, a cough, a line crackle) do not open an utterance.
    min_speech_ms: int = 120
    trailing_silence_ms: int = 700
    max_utterance_ms: int = 20_000
    # How long to wait for the caller to start before reporting that nobody spoke.
    no_speech_timeout_ms: int = 8_000
    # "energy": a frame above speech_threshold_dbfs is speech. "webrtc": WebRTC's trained detector must
    # also call it speech (aggressiveness 0-3); benchmarks/speech.py --vad compares the two on phone audio.
    detector: str = "energy"
    webrtc_aggressiveness: int = 2
    # Noise on the line: a frame is speech only if it also stands out of the background (the noise floor of
    # the last seconds) by a margin, a share of how far the caller's voice rose above that floor, kept
    # between the two bounds; so a caller in a street or a market is heard to stop, and a poor line errs
    # towards waiting. None: the fixed threshold alone (the detector before; benchmarks/speech.py --vad).
    noise_margin_db: float | None = 8.0
    min_noise_margin_db: float = 3.0
    noise_margin_share: float = 0.3
    noise_window_ms: int = 3000
    noise_smooth_ms: int = 100
    max_noise_floor_dbfs: float = -25.0
    # The wait when the noise sets the threshold: noise hides the quiet edges of syllables, so a pause
    # inside a sentence looks longer (at 80 wpm, 700 ms cut 5 of 12 sentences at 5 dB SNR; 1000 ms none).
    noisy_trailing_silence_ms: int = 1000


class EndpointKind(str, Enum):
    """What the endpointer noticed."""

    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"
    NO_SPEECH = "no_speech"


@dataclass(frozen=True)
class EndpointEvent:
    """One detection: its kind, when (ms from the first frame) and why it ended."""

    kind: EndpointKind
    at_ms: int
    reason: str = ""


class Endpointer:
    """Detects the start and end of one utterance in a stream of PCM16 chunks."""

    def __init__(self, sample_rate: int, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self._framer = _Framer(sample_rate, self.config.frame_ms)
        self._vad = (_WebRtcFrames(sample_rate, self.config.frame_ms, self.config.webrtc_aggressiveness)
                     if self.config.detector == "webrtc" else None)
        self.reset()

    def reset(self) -> None:
        """Forget everything and wait for a new utterance."""
        self._frame = 0
        self._start_frame: int | None = None
        self._last_speech_frame = -1
        self._onset = _SustainedSpeech(self.config.frame_ms, max_gap_ms=2 * self.config.frame_ms)
        self._run_start = 0
        self._wait_ms = self.config.trailing_silence_ms
        self._floor = _NoiseFloor(self.config.frame_ms, self.config.noise_window_ms, self.config.noise_smooth_ms)
        self.done = False
        self.events: list[EndpointEvent] = []

    @property
    def in_speech(self) -> bool:
        """Whether an utterance has started and not yet ended."""
        return self._start_frame is not None and not self.done

    def process(self, pcm16: bytes) -> list[EndpointEvent]:
        """Feed audio of any length; return the events it caused (nothing once done)."""
        new: list[EndpointEvent] = []
        frames = self._framer.whole(pcm16)
        levels = frame_levels(frames, self._framer.sample_rate, self.config.frame_ms)
        voiced = self._vad.flags(frames) if self._vad is not None and len(levels) else [True] * len(levels)
        for level, is_voice in zip(levels, voiced, strict=True):
            if self.done:
                break
            event = self._step(bool(level >= self._threshold(float(level))) and is_voice)
            if event is not None:
                new.append(event)
        self.events.extend(new)
        return new

    def _threshold(self, level: float) -> float:
        """The level a frame must reach to be speech: the fixed threshold, or the margin over the noise if higher."""
        cfg = self.config
        # Capped: a caller already talking when listening starts is not taken for the background.
        floor = min(self._floor.update(level), cfg.max_noise_floor_dbfs)
        if cfg.noise_margin_db is None:
            return cfg.speech_threshold_dbfs
        rise = cfg.noise_margin_share * (self._floor.peak - floor)
        noise = floor + min(cfg.noise_margin_db, max(cfg.min_noise_margin_db, rise))
        # A voice less than noise_margin_db / share (27 dB) out of the floor: a noisy line, whose noise sets the threshold.
        noisy = noise > cfg.speech_threshold_dbfs and rise < cfg.noise_margin_db
        self._wait_ms = max(cfg.trailing_silence_ms, cfg.noisy_trailing_silence_ms if noisy else 0)
        return max(cfg.speech_threshold_dbfs, noise)

    @property
    def trailing_wait_ms(self) -> int:
        """How long a silence ends the utterance now: longer while the line's noise sets the threshold."""
        return self._wait_ms

    def _ms(self, frame: int) -> int:
        return frame * self.config.frame_ms

    def _step(self, is_speech: bool) -> EndpointEvent | None:
        cfg, frame = self.config, self._frame
        self._frame += 1
        if self._start_frame is None:
            if is_speech and self._onset.frames == 0:
                self._run_start = frame
            if self._onset.update(is_speech) * cfg.frame_ms >= cfg.min_speech_ms:
                self._start_frame = self._run_start
                self._last_speech_frame = frame
                return EndpointEvent(EndpointKind.SPEECH_START, self._ms(self._run_start))
            if self._ms(frame + 1) >= cfg.no_speech_timeout_ms:
                self.done = True
                return EndpointEvent(EndpointKind.NO_SPEECH, self._ms(frame + 1), "timeout")
            return None
        if is_speech:
            self._last_speech_frame = frame
        if self._ms(frame + 1 - self._start_frame) >= cfg.max_utterance_ms:
            self.done = True
            return EndpointEvent(EndpointKind.SPEECH_END, self._ms(frame + 1), "max_length")
        if self._ms(frame - self._last_speech_frame) >= self._wait_ms:
            self.done = True
            return EndpointEvent(
                EndpointKind.SPEECH_END, self._ms(self._last_speech_frame + 1), "silence"
            )
        return None


class BargeInDetector:
    """Notices a caller talking over a prompt: speech above a threshold for long enough."""

    def __init__(
        self,
        sample_rate: int,
        *,
        threshold_dbfs: float = -35.0,
        min_speech_ms: int = 200,
        frame_ms: int = FRAME_MS,
    ) -> None:
        # Stricter than the endpointer: line echo of the prompt and room noise must not stop it.
        self.threshold_dbfs = threshold_dbfs
        self.min_speech_ms = min_speech_ms
        self._frame_ms = frame_ms
        self._framer = _Framer(sample_rate, frame_ms)
        self._speech = _SustainedSpeech(frame_ms, max_gap_ms=2 * frame_ms)
        self.triggered = False

    def process(self, pcm16: bytes) -> bool:
        """Feed caller audio heard while a prompt plays; True once the caller has barged in."""
        for level in self._framer.levels(pcm16):
            if self._speech.update(bool(level >= self.threshold_dbfs)) * self._frame_ms >= self.min_speech_ms:
                self.triggered = True
        return self.triggered

    def reset(self) -> None:
        """Arm again for the next prompt."""
        self._speech.reset()
        self.triggered = False
