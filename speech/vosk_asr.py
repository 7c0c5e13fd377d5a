"""Offline recognition with vosk: one loaded model per directory, one recogniser per stream, kept for the next one."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import functools
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from speech.audio import RECOGNITION_RATE, resample
from speech.errors import (
    GrammarInvalid,
    ModelMissing,
    RecognitionFailed,
    UnsupportedLanguage,
    UnsupportedSampleRate,
)
from speech.providers import (
    AudioClip,
    FinalResult,
    PartialResult,
    RecognitionStream,
    SpeechToText,
    Transcript,
    Word,
)

log = logging.getLogger(__name__)

ZH_MODEL_NAME = "vosk-model-small-cn-0.22"
ZH_MODEL_URL = "https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip"
UNKNOWN_WORD = "[unk]"
# Finished recognisers kept per locale, rate and grammar: about one per call that may be speaking at once.
IDLE_RECOGNISERS = 8

# Files every vosk model directory has (small models use HCLr+Gr, big ones HCLG).
_REQUIRED = ("am/final.mdl", "conf/model.conf")
_GRAPHS = (("graph/HCLG.fst",), ("graph/HCLr.fst", "graph/Gr.fst"))

# 0.2 s chunks: vosk checks for an utterance end after each call, so whole clips
# are fed the way a live stream would be and long answers come back in segments.
_CHUNK_SECONDS = 0.2

_models: dict[Path, object] = {}
_models_lock = threading.Lock()


def _missing_message(locale: str, path: Path, problem: str) -> str:
    return (
        f"The speech recognition model for {locale} {problem}: {path}. "
        f"Download {ZH_MODEL_NAME} from {ZH_MODEL_URL}, unzip it and either put the folder "
        f"at that path or set VOSK_MODEL_PATH to the unzipped folder "
        f"(it holds am/, conf/, graph/ and ivector/)."
    )


def check_model_dir(path: Path, locale: str = "zh-CN") -> Path:
    """Return the resolved model directory or raise ModelMissing saying how to fix it."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelMissing(_missing_message(locale, path, "is missing"))
    if not path.is_dir():
        raise ModelMissing(_missing_message(locale, path, "is not a folder"))
    absent = [name for name in _REQUIRED if not (path / name).is_file()]
    if not any(all((path / name).is_file() for name in graph) for graph in _GRAPHS):
        absent.append("graph/HCLG.fst or graph/HCLr.fst + graph/Gr.fst")
    if absent:
        raise ModelMissing(
            _missing_message(locale, path, f"is not a vosk model (missing {', '.join(absent)})")
        )
    return path.resolve()


def load_model(path: Path, locale: str = "zh-CN") -> Any:  # a vosk.Model: vosk has no types
    """The vosk model in a directory, loaded once per process and shared (loading takes seconds)."""
    path = check_model_dir(path, locale)
    with _models_lock:
        model = _models.get(path)
        if model is None:
            import vosk

            vosk.SetLogLevel(-1)
            try:
                model = vosk.Model(str(path))
            except Exception as err:  # vosk raises a bare Exception
                raise ModelMissing(
                    _missing_message(locale, path, "could not be loaded by vosk")
                ) from err
            _models[path] = model
    return model


def _join(words: list[str], locale: str) -> str:
    text = " ".join(w for w in words if w != UNKNOWN_WORD)
    if locale.split("-")[0] in ("zh", "ja"):
        # vosk separates Chinese words with spaces; written Chinese has none.
        text = re.sub(r"(?<=[^\x00-\x7f]) (?=[^\x00-\x7f])", "", text)
    return text


def _words(result: dict) -> list[Word]:
    return [
        Word(w["word"], float(w["start"]), float(w["end"]), float(w.get("conf", 1.0)))
        for w in result.get("result", [])
        if w["word"] != UNKNOWN_WORD
    ]


def _transcript(words: list[Word], text_words: list[str], locale: str) -> Transcript:
    confidence = sum(w.confidence for w in words) / len(words) if words else 0.0
    return Transcript(_join(text_words, locale), round(confidence, 4), tuple(words))


class _Recogniser:
    """A vosk KaldiRecognizer with its results turned into Transcript objects."""

    def __init__(self, model: Any, sample_rate: int, grammar_json: str | None, locale: str) -> None:
        import vosk

        try:
            if grammar_json is None:
                self._rec = vosk.KaldiRecognizer(model, sample_rate)
            else:
                self._rec = vosk.KaldiRecognizer(model, sample_rate, grammar_json)
            self._rec.SetWords(True)
        except Exception as err:
            raise RecognitionFailed(f"could not start a recogniser: {err}") from err
        self.locale = locale

    def accept(self, pcm16: bytes) -> tuple[bool, dict]:
        try:
            if self._rec.AcceptWaveform(pcm16):
                return True, json.loads(self._rec.Result())
            return False, json.loads(self._rec.PartialResult())
        except Exception as err:
            raise RecognitionFailed(f"recognition failed: {err}") from err

    def final(self) -> dict:
        try:
            return json.loads(self._rec.FinalResult())
        except Exception as err:
            raise RecognitionFailed(f"recognition failed: {err}") from err

    def to_transcript(self, result: dict) -> Transcript:
        words = _words(result)
        text_words = [w.text for w in words] if words else result.get("text", "").split()
        return _transcript(words, text_words, self.locale)


class VoskStream(RecognitionStream):
    """Live recognition of one stream; calls on it are serialised."""

    def __init__(self, recogniser: _Recogniser, executor: ThreadPoolExecutor,
                 release: Callable[[_Recogniser], None] | None = None) -> None:
        self._rec = recogniser
        self._executor = executor
        self._lock = threading.Lock()
        self._partial = ""
        self._release = release
        # Audio went in since the last final result: such a recogniser is not clean for another turn.
        self._dirty = False
        self._closed = False

    def accept(self, pcm16: bytes) -> PartialResult | FinalResult | None:
        """Feed PCM; return a final result at an utterance end, a changed partial, or None."""
        with self._lock:
            self._check_open()
            self._dirty = True
            ended, result = self._rec.accept(pcm16)
            if ended:
                self._partial = ""
                transcript = self._rec.to_transcript(result)
                return transcript if transcript.text else None
            partial = _join(result.get("partial", "").split(), self._rec.locale)
            if partial and partial != self._partial:
                self._partial = partial
                return PartialResult(partial)
            return None

    def finish(self) -> FinalResult:
        """Flush the remaining audio and return the last final result."""
        with self._lock:
            self._check_open()
            self._partial = ""
            transcript = self._rec.to_transcript(self._rec.final())
            self._dirty = False
            return transcript

    def close(self) -> None:
        """Hands a finished recogniser back for the next turn; one left mid-utterance is dropped."""
        # Called on the event loop: a recogniser still busy in its thread is dropped rather than waited for.
        self._closed = True
        if not self._lock.acquire(blocking=False):
            self._release = None
            return
        try:
            release, self._release = self._release, None
            if release is not None and not self._dirty:
                release(self._rec)
        finally:
            self._lock.release()

    def _check_open(self) -> None:
        # Work queued before close() must not touch a recogniser that another turn may have taken.
        if self._closed:
            raise RecognitionFailed("the recognition stream was closed")

    async def accept_async(self, pcm16: bytes) -> PartialResult | FinalResult | None:
        """Like accept, run in the recogniser's thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.accept, pcm16)

    async def finish_async(self) -> FinalResult:
        """Like finish, run in the recogniser's thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.finish)


class VoskRecogniser(SpeechToText):
    """vosk speech recognition for the locales whose model directories are given."""

    def __init__(
        self, model_paths: Mapping[str, Path], *, max_workers: int | None = None
    ) -> None:
        # Load at construction so a wrong path stops start-up with a clear message
        # instead of failing the first caller.
        self._models = {locale: load_model(Path(p), locale) for locale, p in model_paths.items()}
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers or os.cpu_count() or 2, thread_name_prefix="vosk"
        )
        # Finished recognisers by (locale, rate, grammar). A new one spends 0.5-1 s of CPU on the first
        # speech it hears (building its search graph) and its final result is slower; a used one is fast.
        self._idle: dict[tuple[str, int, str | None], list[_Recogniser]] = {}
        self._idle_lock = threading.Lock()

    @property
    def languages(self) -> frozenset[str]:
        """Locales with a loaded model."""
        return frozenset(self._models)

    @property
    def sample_rates(self) -> frozenset[int]:
        """Telephone and wideband rates; vosk resamples these itself."""
        return frozenset({8000, RECOGNITION_RATE})

    @property
    def formats(self) -> frozenset[str]:
        """Raw mono 16-bit PCM."""
        return frozenset({"pcm16"})

    def _model(self, locale: str) -> Any:
        try:
            return self._models[locale]
        except KeyError:
            raise UnsupportedLanguage(
                f"no recognition model for {locale}; configured: {', '.join(sorted(self._models)) or 'none'}"
            ) from None

    def grammar_json(self, grammar: list[str], locale: str = "zh-CN") -> str:
        """The vosk grammar for these phrases, keeping those whose words the model knows."""
        model = self._model(locale)
        known, unknown = [], []
        for phrase in grammar:
            words = phrase.split()
            if words and all(model.vosk_model_find_word(w) >= 0 for w in words):
                known.append(" ".join(words))
            else:
                unknown.append(phrase)
        if unknown:
            log.warning("grammar phrases with words the %s model lacks: %s", locale, unknown)
        if not known:
            raise GrammarInvalid(
                f"none of the grammar phrases {grammar!r} can be recognised by the {locale} model"
            )
        # Out-of-grammar speech then comes out as [unk] (dropped) instead of a forced menu word.
        if model.vosk_model_find_word(UNKNOWN_WORD) >= 0:
            known.append(UNKNOWN_WORD)
        return json.dumps(known, ensure_ascii=False)

    def _recogniser(self, sample_rate: int, grammar: list[str] | None, locale: str) -> _Recogniser:
        grammar_json = self.grammar_json(grammar, locale) if grammar is not None else None
        return _Recogniser(self._model(locale), sample_rate, grammar_json, locale)

    def open_stream(
        self, sample_rate: int, grammar: list[str] | None = None, *, locale: str = "zh-CN"
    ) -> VoskStream:
        """Start recognising one live stream of PCM16 at a declared sample rate."""
        if sample_rate not in self.sample_rates:
            raise UnsupportedSampleRate(
                f"streams must be {sorted(self.sample_rates)} Hz, got {sample_rate} Hz"
            )
        grammar_json = self.grammar_json(grammar, locale) if grammar is not None else None
        key = (locale, sample_rate, grammar_json)
        with self._idle_lock:
            idle = self._idle.get(key)
            recogniser = idle.pop() if idle else None
        if recogniser is None:
            recogniser = _Recogniser(self._model(locale), sample_rate, grammar_json, locale)
        return VoskStream(recogniser, self._executor, functools.partial(self._keep, key))

    def warm(self, pcm16: bytes, sample_rate: int, *, locale: str = "zh-CN") -> None:
        """Leaves a used recogniser for the locale and rate: the first caller's speech is then not held up."""
        stream = self.open_stream(sample_rate, locale=locale)
        stream.accept(pcm16)
        stream.finish()
        stream.close()

    def _keep(self, key: tuple[str, int, str | None], recogniser: _Recogniser) -> None:
        with self._idle_lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < IDLE_RECOGNISERS:
                idle.append(recogniser)

    def _transcribe_blocking(
        self, audio: AudioClip, grammar: list[str] | None, locale: str
    ) -> Transcript:
        pcm, rate = audio.pcm16, audio.sample_rate
        if rate not in self.sample_rates:
            pcm, rate = resample(pcm, rate, RECOGNITION_RATE), RECOGNITION_RATE
        rec = self._recogniser(rate, grammar, locale)
        step = int(rate * _CHUNK_SECONDS) * 2
        results = []
        for start in range(0, len(pcm), step):
            ended, result = rec.accept(pcm[start : start + step])
            if ended:
                results.append(result)
        results.append(rec.final())
        words = [w for r in results for w in _words(r)]
        text_words = [w.text for w in words] or [t for r in results for t in r.get("text", "").split()]
        return _transcript(words, text_words, locale)

    async def transcribe(
        self, audio: AudioClip, *, locale: str = "zh-CN", grammar: list[str] | None = None
    ) -> Transcript:
        """Recognise a whole clip in the thread pool, optionally restricted to a grammar."""
        self._model(locale)
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._transcribe_blocking, audio, grammar, locale
        )

    def close(self) -> None:
        """Stop the thread pool (models stay loaded for other recognisers)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
