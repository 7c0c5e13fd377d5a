"""Audio utilities: G.711 for the phone line, resampling, WAV and decoding of uploads."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import warnings

import numpy as np
import pytest

from speech import audio
from speech.errors import AudioDecodeError, AudioTooLong, FfmpegMissing
from speech.providers import AudioClip
from tests.speech.conftest import silence, tone

ALL_PCM = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))


def pcm(values) -> bytes:
    return np.array(values, dtype="<i2").tobytes()


def samples(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2")


@pytest.mark.parametrize(
    ("code", "value"), [(0x00, -32124), (0x80, 32124), (0xFF, 0), (0x7F, 0), (0xF0, 120), (0x70, -120), (0xEF, 132)]
)
def test_ulaw_decodes_reference_values(code, value):
    assert samples(audio.ulaw_to_pcm16(bytes([code])))[0] == value


@pytest.mark.parametrize(("code", "value"), [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256)])
def test_alaw_decodes_reference_values(code, value):
    assert samples(audio.alaw_to_pcm16(bytes([code])))[0] == value


def test_g711_encodes_silence_and_full_scale_to_reference_codes():
    assert audio.pcm16_to_ulaw(pcm([0, 32767, -32768])) == bytes([0xFF, 0x80, 0x00])
    assert audio.pcm16_to_alaw(pcm([0, 32767, -32768])) == bytes([0xD5, 0xAA, 0x2A])


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(audio.pcm16_to_ulaw, audio.ulaw_to_pcm16), (audio.pcm16_to_alaw, audio.alaw_to_pcm16)],
)
def test_g711_round_trip_is_exact_on_codes_and_close_on_samples(encode, decode):
    decoded = decode(ALL_CODES)
    assert decode(encode(decoded)) == decoded
    error = np.abs(samples(decode(encode(ALL_PCM))).astype(int) - samples(ALL_PCM))
    magnitude = np.abs(samples(ALL_PCM).astype(int))
    # Logarithmic quantisation: the error grows with the level but stays within ~1/16 of it.
    assert np.all(error <= np.maximum(magnitude / 16, 64) + 1)


def test_g711_matches_the_standard_library_codec_where_it_still_exists():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    assert audio.pcm16_to_ulaw(ALL_PCM) == audioop.lin2ulaw(ALL_PCM, 2)
    assert audio.pcm16_to_alaw(ALL_PCM) == audioop.lin2alaw(ALL_PCM, 2)
    assert audio.ulaw_to_pcm16(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert audio.alaw_to_pcm16(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def dominant_frequency(data: bytes, rate: int) -> float:
    x = samples(data).astype(float)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[spectrum.argmax()])


def rms(data: bytes) -> float:
    return float(np.sqrt(np.mean(samples(data).astype(float) ** 2)))


@pytest.mark.parametrize(("src", "dst"), [(22050, 16000), (22050, 8000), (8000, 16000), (16000, 8000), (48000, 16000)])
def test_resampling_keeps_duration_pitch_and_loudness(src, dst):
    original = tone(2.0, src, freq=440)
    out = audio.resample(original, src, dst)
    assert len(samples(out)) == 2 * dst
    assert abs(dominant_frequency(out, dst) - 440) < 2
    assert rms(out) == pytest.approx(rms(original), rel=0.02)


def test_downsampling_to_telephone_rate_removes_what_the_line_cannot_carry():
    # A 6 kHz whistle cannot exist at 8 kHz; without filtering it would fold down to 2 kHz.
    out = audio.resample(tone(1.0, 22050, freq=6000), 22050, 8000)
    assert rms(out) < rms(tone(1.0, 22050, freq=6000)) / 100


def test_wav_round_trip_and_stereo_is_mixed_to_mono():
    clip = AudioClip(tone(0.5, 16000), 16000)
    assert audio.read_wav(audio.write_wav(clip)) == clip
    left = samples(tone(0.1, 8000, dbfs=-6))
    stereo = np.stack([left, np.zeros_like(left)], axis=1).astype("<i2").tobytes()
    wav = _wav_bytes(stereo, channels=2, rate=8000)
    mono = audio.read_wav(wav)
    assert mono.sample_rate == 8000 and mono.duration == pytest.approx(0.1)
    assert np.abs(samples(mono.pcm16) - left / 2).max() <= 1


def _wav_bytes(frames: bytes, channels: int, rate: int) -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def encode_with_ffmpeg(clip: AudioClip, fmt: list[str], tmp_path) -> bytes:
    src = tmp_path / "in.wav"
    src.write_bytes(audio.write_wav(clip))
    dst = tmp_path / "out.bin"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(src), *fmt, str(dst)], check=True)
    return dst.read_bytes()


BROWSER_FORMATS = {
    "audio/webm": ["-c:a", "libopus", "-f", "webm"],
    "audio/ogg": ["-c:a", "libopus", "-f", "ogg"],
    "audio/mpeg": ["-c:a", "libmp3lame", "-f", "mp3"],
}


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")
@pytest.mark.parametrize("content_type", sorted(BROWSER_FORMATS))
def test_browser_and_telegram_recordings_decode_to_pcm_at_the_asked_rate(content_type, tmp_path):
    data = encode_with_ffmpeg(AudioClip(tone(1.5, 48000, freq=500), 48000), BROWSER_FORMATS[content_type], tmp_path)
    clip = asyncio.run(audio.decode_audio(data, content_type, sample_rate=16000))
    assert clip.sample_rate == 16000
    assert clip.duration == pytest.approx(1.5, abs=0.1)
    assert abs(dominant_frequency(clip.pcm16, 16000) - 500) < 5


def test_wav_upload_at_another_rate_is_resampled():
    data = audio.write_wav(AudioClip(tone(1.0, 44100), 44100))
    clip = asyncio.run(audio.decode_audio(data, "audio/wav", sample_rate=8000))
    assert (clip.sample_rate, len(clip.pcm16)) == (8000, 16000)


def test_garbage_is_refused_as_undecodable():
    with pytest.raises(AudioDecodeError) as caught:
        asyncio.run(audio.decode_audio(b"this is not audio at all" * 10, "audio/webm"))
    assert caught.value.code == "audio_undecodable"
    with pytest.raises(AudioDecodeError):
        asyncio.run(audio.decode_audio(b"", "audio/wav"))


def test_audio_over_the_limit_is_refused():
    data = audio.write_wav(AudioClip(silence(61, 8000), 8000))
    with pytest.raises(AudioTooLong) as caught:
        asyncio.run(audio.decode_audio(data, "audio/wav", max_seconds=60))
    assert "60" in caught.value.message


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")
def test_compressed_audio_over_the_limit_is_refused(tmp_path):
    data = encode_with_ffmpeg(AudioClip(tone(62, 16000), 16000), BROWSER_FORMATS["audio/ogg"], tmp_path)
    with pytest.raises(AudioTooLong):
        asyncio.run(audio.decode_audio(data, "audio/ogg", max_seconds=60))


def test_missing_ffmpeg_is_named_with_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FfmpegMissing) as caught:
        asyncio.run(audio.decode_audio(b"OggS" + b"\0" * 100, "audio/ogg"))
    assert "apt-get install ffmpeg" in caught.value.message
