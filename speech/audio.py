"""Audio utilities: resampling, G.711 (PCMU/PCMA), WAV files and decoding of uploaded audio."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import tempfile
import wave

import numpy as np
import soxr

from speech.admission import Slots
from speech.errors import AudioDecodeError, AudioTooLong, FfmpegMissing
from speech.providers import AudioClip

TELEPHONY_RATE = 8000
RECOGNITION_RATE = 16000
# The length of one audio frame everywhere: RTP packets, the voice pipeline, end-of-speech detection.
FRAME_MS = 20


def _samples(pcm16: bytes) -> np.ndarray:
    return np.frombuffer(pcm16, dtype="<i2")


def _to_pcm16(samples: np.ndarray) -> bytes:
    return np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()


def resample(pcm16: bytes, from_rate: int, to_rate: int) -> bytes:
    """Band-limited resampling of mono PCM16 from one sample rate to another (libsoxr, high quality)."""
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError("sample rates must be positive")
    if from_rate == to_rate or not pcm16:
        return pcm16
    # soxr's HQ preset: flat to 91 % of the new Nyquist frequency, over 100 dB of stop band, and
    # 30-100 times faster than the numpy windowed sinc it replaced (benchmarks/speech.py --resampling).
    out = soxr.resample(_samples(pcm16), from_rate, to_rate, quality="HQ")
    return out.astype("<i2", copy=False).tobytes()


def resample_clip(clip: AudioClip, to_rate: int) -> AudioClip:
    """The clip at another sample rate."""
    return AudioClip(resample(clip.pcm16, clip.sample_rate, to_rate), to_rate)


# G.711 as in ITU-T G.711 and the Sun reference code that audioop also followed:
# μ-law works on 14-bit magnitudes, A-law on 13-bit ones.
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = np.searchsorted(_ULAW_SEGMENT_ENDS, magnitude)
    code = (np.minimum(seg, 7) << 4) | ((magnitude >> (np.minimum(seg, 7) + 1)) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return _by_unsigned_index((code ^ mask).astype(np.uint8))


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude)
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    code = (np.minimum(seg, 7) << 4) | ((magnitude >> shift) & 0x0F)
    code = np.where(seg >= 8, 0x7F, code)
    return _by_unsigned_index((code ^ mask).astype(np.uint8))


def _by_unsigned_index(table_from_min: np.ndarray) -> np.ndarray:
    # Reorder so that the table is indexed by the sample's bits read as uint16.
    return np.roll(table_from_min, -32768)


_ULAW_DECODE = _ulaw_decode_table()
_ALAW_DECODE = _alaw_decode_table()
_ULAW_ENCODE = _ulaw_encode_table()
_ALAW_ENCODE = _alaw_encode_table()


def pcm16_to_ulaw(pcm16: bytes) -> bytes:
    """Encode PCM16 as G.711 μ-law (RTP payload PCMU)."""
    return _ULAW_ENCODE[_samples(pcm16).view(np.uint16)].tobytes()


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 μ-law (PCMU) to PCM16."""
    return _ULAW_DECODE[np.frombuffer(data, np.uint8)].astype("<i2").tobytes()


def pcm16_to_alaw(pcm16: bytes) -> bytes:
    """Encode PCM16 as G.711 A-law (RTP payload PCMA)."""
    return _ALAW_ENCODE[_samples(pcm16).view(np.uint16)].tobytes()


def alaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 A-law (PCMA) to PCM16."""
    return _ALAW_DECODE[np.frombuffer(data, np.uint8)].astype("<i2").tobytes()


def write_wav(clip: AudioClip) -> bytes:
    """A mono 16-bit WAV file holding the clip."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(clip.sample_rate)
        out.writeframes(clip.pcm16)
    return buffer.getvalue()


def read_wav(data: bytes) -> AudioClip:
    """The PCM of an 8- or 16-bit WAV file, mixed down to mono."""
    try:
        with wave.open(io.BytesIO(data), "rb") as src:
            channels, width, rate = src.getnchannels(), src.getsampwidth(), src.getframerate()
            frames = src.readframes(src.getnframes())
    except (wave.Error, EOFError) as err:
        raise AudioDecodeError(f"not a readable PCM WAV file: {err}") from err
    if width == 2:
        samples = np.frombuffer(frames[: len(frames) // 2 * 2], "<i2").astype(np.float32)
    elif width == 1:
        samples = (np.frombuffer(frames, np.uint8).astype(np.float32) - 128) * 256
    else:
        raise AudioDecodeError(f"WAV with {8 * width}-bit samples is not supported; send 16-bit PCM")
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    return AudioClip(_to_pcm16(samples), rate)


def _is_wav(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WAVE"


def _check_length(clip: AudioClip, max_seconds: float | None) -> AudioClip:
    # A few milliseconds of slack: encoders pad the last frame.
    if max_seconds is not None and clip.duration > max_seconds + 0.05:
        raise AudioTooLong(
            f"audio is {clip.duration:.1f} s long; at most {max_seconds:g} s is accepted"
        )
    if not clip.pcm16:
        raise AudioDecodeError("the audio holds no samples")
    return clip


async def decode_audio(
    data: bytes,
    content_type: str = "",
    *,
    sample_rate: int = RECOGNITION_RATE,
    max_seconds: float | None = None,
    decoders: Slots | None = None,
) -> AudioClip:
    """Decode WAV, WebM/Opus, Ogg/Opus, MP3 (anything ffmpeg reads) into mono PCM16 at a rate.

    With `decoders`, at most that many ffmpeg processes run at once; SpeechBusy when all are taken.
    """
    if not data:
        raise AudioDecodeError("the upload is empty")
    if _is_wav(data):
        try:
            clip = read_wav(data)
        except AudioDecodeError:
            clip = None  # e.g. float or extensible WAV: ffmpeg reads those
        if clip is not None:
            _check_length(clip, max_seconds)
            return _check_length(resample_clip(clip, sample_rate), max_seconds)
    with decoders.hold() if decoders is not None else contextlib.nullcontext():
        pcm = await _ffmpeg_decode(data, content_type, sample_rate, max_seconds)
    return _check_length(AudioClip(pcm, sample_rate), max_seconds)


_FFMPEG_TIMEOUT_S = 30


async def _ffmpeg_decode(
    data: bytes, content_type: str, sample_rate: int, max_seconds: float | None
) -> bytes:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise FfmpegMissing(
            "ffmpeg is needed to decode compressed audio (WebM, Ogg, MP3); "
            "install it, e.g. `apt-get install ffmpeg`"
        )
    # A file rather than a pipe: MP4/M4A uploads (Safari) keep their index at the end.
    fd, path = tempfile.mkstemp(suffix=".audio")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path]
        if max_seconds is not None:
            # Decode just past the limit so an over-long upload is detected without decoding all of it.
            args += ["-t", f"{max_seconds + 1:g}"]
        args += ["-vn", "-ac", "1", "-ar", str(sample_rate), "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1"]
        try:
            process = await asyncio.create_subprocess_exec(
                *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
        except OSError as err:
            raise FfmpegMissing(f"ffmpeg at {ffmpeg} could not be started: {err}") from err
        try:
            out, stderr = await asyncio.wait_for(process.communicate(), _FFMPEG_TIMEOUT_S)
        except TimeoutError as timeout:
            process.kill()
            await process.wait()
            raise AudioDecodeError("decoding the audio took too long") from timeout
    finally:
        os.unlink(path)
    if process.returncode != 0:
        detail = stderr.decode("utf-8", "replace").strip().splitlines()
        kind = content_type or "unknown type"
        raise AudioDecodeError(
            f"could not decode the audio ({kind}): {detail[-1] if detail else 'ffmpeg failed'}"
        )
    return out[: len(out) // 2 * 2]
