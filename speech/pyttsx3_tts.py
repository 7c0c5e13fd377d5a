"""Offline synthesis with pyttsx3 over espeak-ng, made reliable and cached on disk."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
import uuid
import wave
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from speech.audio import read_wav, resample_clip, write_wav
from speech.errors import (
    AudioDecodeError,
    SynthesisFailed,
    TextInvalid,
    UnsupportedLanguage,
    UnsupportedRate,
    UnsupportedSampleRate,
    VoiceUnavailable,
)
from speech.providers import AudioClip, SpeakingRate, TextToSpeech

# espeak-ng's plain `cmn` voice on Debian 12 reads every character as English-spelled
# pinyin ("she four bao three ..."); `cmn-latn-pinyin` says the Mandarin syllables.
DEFAULT_VOICES: dict[str, str] = {"zh-CN": "cmn-latn-pinyin"}
# Words per minute as espeak counts them. With cmn-latn-pinyin, 140 gives about
# 165 Chinese characters a minute, 175 (espeak's default) about 210: slow is for
# elderly listeners, normal for the web, slower (about 130 characters a minute) for a
# caller who asks "说慢点".
RATES_WPM: dict[str, int] = {"slower": 110, "slow": 140, "normal": 175}
OUTPUT_RATES = frozenset({8000, 16000, 22050})

# libespeak-ng keeps one voice, one rate and one audio callback per process, so every
# engine in the process must take turns, whichever thread or instance drives it.
_ESPEAK_LOCK = threading.Lock()
_POLL_S = 0.005
_SETTLE_S = 2.0
_DROPPED_S = 0.2
_ATTEMPTS = 3
_WARM_UP_TEXT = "1"


def _quiet_print(*args, **kwargs) -> None:
    """Swallow the driver's per-file progress line."""


def espeak_engine() -> Any:  # a pyttsx3 Engine: pyttsx3 has no types
    """The process's pyttsx3 espeak engine, without the driver's stdout chatter."""
    try:
        import pyttsx3
        from pyttsx3.drivers import espeak as espeak_driver

        # The driver prints "Audio saved to …" for every file; on a phone server that is
        # noise in the service log, so its module-level print is replaced.
        espeak_driver.print = _quiet_print
        return pyttsx3.init("espeak")
    except Exception as err:
        raise SynthesisFailed(
            f"could not start espeak-ng through pyttsx3 ({err}); install it with "
            "`apt-get install espeak-ng libespeak-ng1`"
        ) from err


def espeak_idle() -> bool:
    """Whether libespeak-ng has nothing left in its command queue."""
    from pyttsx3.drivers import _espeak

    return not _espeak.IsPlaying()


def _wav_complete(path: Path) -> bool:
    """Whether the file holds a WAV header and every frame that header announces."""
    try:
        size = path.stat().st_size
        with wave.open(str(path), "rb") as src:
            expected = src.getnframes() * src.getsampwidth() * src.getnchannels()
        return expected > 0 and size >= 44 + expected
    except (OSError, EOFError, wave.Error):
        return False


class Pyttsx3Synthesizer(TextToSpeech):
    """Text to speech through pyttsx3's espeak driver, one engine on one worker thread."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        voices: Mapping[str, str] | None = None,
        rates_wpm: Mapping[str, int] | None = None,
        timeout_s: float = 30.0,
        cache_max_files: int = 5000,
        engine_factory: Callable[[], object] | None = None,
        engine_idle: Callable[[], bool] | None = None,
        keep_in_cache: Callable[[str], bool] | None = None,
    ) -> None:
        self._cache_dir = Path(cache_dir)
        # Audio named by a hash of its text: a text with a personal value is never kept, or the file name
        # would let anyone confirm a guessed phone number.
        self._keep_in_cache = keep_in_cache or (lambda _text: True)
        self._tmp_dir = self._cache_dir / "tmp"
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        self._voices = dict(voices or DEFAULT_VOICES)
        self._rates = {**RATES_WPM, **(rates_wpm or {})}
        self._timeout_s = timeout_s
        self._cache_max_files = cache_max_files
        self._writes = 0
        self._factory = engine_factory or espeak_engine
        self._engine_idle = engine_idle or (espeak_idle if engine_factory is None else lambda: True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")
        self._engine: Any = None  # a pyttsx3 Engine, made on the synthesis thread
        # Start the engine now so a missing espeak-ng or voice stops start-up, not a caller.
        try:
            self._voice_ids = self._executor.submit(self._prepare).result()
        except BaseException:
            self._executor.shutdown(wait=False)
            raise

    @property
    def languages(self) -> frozenset[str]:
        """Locales with a configured voice."""
        return frozenset(self._voices)

    @property
    def voices(self) -> dict[str, str]:
        """The espeak-ng voice used for each locale."""
        return dict(self._voices)

    @property
    def sample_rates(self) -> frozenset[int]:
        """Telephone, recognition and espeak's native rate."""
        return OUTPUT_RATES

    def _prepare(self) -> dict[str, str]:
        with _ESPEAK_LOCK:
            self._engine = self._factory()
            installed = [v.id.lower() for v in self._engine.getProperty("voices")]
            ids = {}
            for locale, name in self._voices.items():
                wanted = name.lower()
                match = next((i for i in installed if i == wanted or i.endswith("/" + wanted)), None)
                if match is None:
                    raise VoiceUnavailable(
                        f"espeak-ng voice {name!r} for {locale} is not installed; "
                        "install espeak-ng-data (`apt-get install espeak-ng`)"
                    )
                ids[locale] = match
            self._warm_up()
        return ids

    def _warm_up(self) -> None:
        # A new pyttsx3 engine queues property changes until its first utterance has
        # run, so one throw-away utterance makes later changes take effect at once.
        path = self._tmp_dir / f"warm-{uuid.uuid4().hex}.wav"
        try:
            self._render(_WARM_UP_TEXT, path)
        finally:
            path.unlink(missing_ok=True)

    def _wait_idle(self) -> None:
        # espeak applies property changes from its own command queue, and pyttsx3 cancels
        # whatever that queue still holds when the next utterance starts: start only once
        # the queue is empty, or the utterance (and the change) is silently lost.
        deadline = time.monotonic() + _SETTLE_S
        while not self._engine_idle():
            if time.monotonic() > deadline:
                raise SynthesisFailed(f"espeak-ng stayed busy for {_SETTLE_S:g} s")
            time.sleep(_POLL_S)

    def _render(self, text: str, path: Path) -> AudioClip:
        for _ in range(_ATTEMPTS):
            self._wait_idle()
            if self._render_once(text, path):
                try:
                    return read_wav(path.read_bytes())
                except AudioDecodeError as err:
                    raise SynthesisFailed(f"espeak-ng wrote an unreadable file: {err.message}") from err
        raise SynthesisFailed(f"espeak-ng dropped the utterance {_ATTEMPTS} times")

    def _render_once(self, text: str, path: Path) -> bool:
        """Speak into the file; False if the engine finished without writing it."""
        engine = self._engine
        failure: list[BaseException] = []

        def run() -> None:
            try:
                engine.runAndWait()
            except BaseException as err:  # noqa: BLE001 - reported to the waiting thread, which raises it
                failure.append(err)

        engine.save_to_file(text, str(path))
        # runAndWait can return before espeak has written the file, or never return if
        # espeak drops the end event, so it runs aside while this thread watches the file.
        runner = threading.Thread(target=run, name="tts-run", daemon=True)
        runner.start()
        deadline = time.monotonic() + self._timeout_s
        idle_since, last_size = None, -1
        while True:
            if failure:
                raise SynthesisFailed(f"espeak-ng failed: {failure[0]}") from failure[0]
            now = time.monotonic()
            finished = not runner.is_alive() and not engine.isBusy()
            if finished and _wav_complete(path):
                size = path.stat().st_size
                if size == last_size:
                    return True
                last_size = size
            elif finished:
                # The end of an utterance writes its file before the engine turns idle,
                # so an idle engine with no file has dropped this one.
                idle_since = idle_since or now
                if now - idle_since > _DROPPED_S:
                    return False
            if now > deadline:
                self._abandon(engine)
                raise SynthesisFailed(f"espeak-ng wrote no complete audio within {self._timeout_s:g} s")
            time.sleep(_POLL_S)

    @staticmethod
    def _abandon(engine: Any) -> None:
        # Leave the engine usable for the next caller even though this utterance is lost.
        for stop in (engine.stop, engine.endLoop):
            try:
                stop()
            except Exception:  # noqa: BLE001 - the engine may already be idle
                pass

    def _confirm(self, engine: Any, voice_id: str, wpm: int) -> None:
        # The rate reaches espeak through its command queue a moment later, and pyttsx3
        # may hold changes back altogether: speak only once both are in force.
        deadline = time.monotonic() + _SETTLE_S
        while True:
            voice, rate = str(engine.getProperty("voice")).lower(), engine.getProperty("rate")
            if voice == voice_id and rate == wpm:
                return
            if time.monotonic() > deadline:
                raise SynthesisFailed(
                    f"espeak-ng did not take voice {voice_id!r} at {wpm} wpm (has {voice!r} at {rate})"
                )
            time.sleep(_POLL_S)

    def _synthesize_blocking(self, text: str, voice_id: str, wpm: int) -> AudioClip:
        with _ESPEAK_LOCK:
            engine = self._engine
            if engine.isBusy():
                self._warm_up()
            engine.setProperty("voice", voice_id)
            engine.setProperty("rate", wpm)
            self._confirm(engine, voice_id, wpm)
            path = self._tmp_dir / f"{uuid.uuid4().hex}.wav"
            try:
                return self._render(text, path)
            finally:
                path.unlink(missing_ok=True)

    def cache_path(self, text: str, voice_id: str, wpm: int, sample_rate: int) -> Path:
        """Where the audio for this text, voice, rate and sample rate is kept."""
        key = hashlib.sha256("\x1f".join((text, voice_id, str(wpm), str(sample_rate))).encode()).hexdigest()
        return self._cache_dir / key[:2] / f"{key}.wav"

    @staticmethod
    def _read_cache(path: Path) -> AudioClip | None:
        try:
            clip = read_wav(path.read_bytes())
        except (OSError, AudioDecodeError):
            return None
        os.utime(path)  # most recently used survives pruning
        return clip

    def _write_cache(self, path: Path, clip: AudioClip) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp_dir / f"{uuid.uuid4().hex}.part"
        tmp.write_bytes(write_wav(clip))
        os.replace(tmp, path)
        self._writes += 1
        if self._writes % 100 == 0:
            self._prune()

    def _prune(self) -> None:
        files = [p for p in self._cache_dir.glob("??/*.wav")]
        if len(files) <= self._cache_max_files:
            return
        files.sort(key=lambda p: p.stat().st_mtime)
        for old in files[: len(files) - self._cache_max_files]:
            old.unlink(missing_ok=True)

    async def synthesize(
        self,
        text: str,
        *,
        locale: str = "zh-CN",
        rate: SpeakingRate = "slow",
        sample_rate: int = 16000,
    ) -> AudioClip:
        """Speak the text in the locale's voice; repeated requests come from the disk cache."""
        if not text or not text.strip():
            raise TextInvalid("there is no text to speak")
        if locale not in self._voice_ids:
            raise UnsupportedLanguage(f"no synthesis voice for {locale}")
        if rate not in self._rates:
            raise UnsupportedRate(f"rate must be one of {sorted(self._rates)}, got {rate!r}")
        if sample_rate not in OUTPUT_RATES:
            raise UnsupportedSampleRate(f"sample rate must be one of {sorted(OUTPUT_RATES)}")
        text = text.strip()
        voice_id, wpm = self._voice_ids[locale], self._rates[rate]
        path = self.cache_path(text, voice_id, wpm, sample_rate)
        cached = await asyncio.to_thread(self._read_cache, path)
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        raw = await loop.run_in_executor(self._executor, self._synthesize_blocking, text, voice_id, wpm)
        clip = await asyncio.to_thread(resample_clip, raw, sample_rate)
        if self._keep_in_cache(text):
            await asyncio.to_thread(self._write_cache, path, clip)
        return clip

    def close(self) -> None:
        """Stop the worker thread."""
        self._executor.shutdown(wait=True)
