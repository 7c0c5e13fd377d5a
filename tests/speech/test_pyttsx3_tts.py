"""Real pyttsx3/espeak-ng synthesis: the Mandarin voice, slow speech, the cache, many callers at once."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import numpy as np
import pytest

from speech.errors import TextInvalid, UnsupportedRate, VoiceUnavailable
from speech.endpointing import frame_levels
from speech.pyttsx3_tts import DEFAULT_VOICES, Pyttsx3Synthesizer
from tests.fakes.tts_engine import RecordingTtsEngine
from tests.speech.conftest import KO

QUESTION = "社保卡在哪里办理"


def phonemes(voice: str, text: str) -> str:
    """What espeak-ng will say, as its phoneme mnemonics."""
    return subprocess.run(
        ["espeak-ng", "-v", voice, "-x", "-q", text], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_the_chinese_voice_says_mandarin_syllables_not_spelled_letters():
    said = phonemes(DEFAULT_VOICES["zh-CN"], "社保卡")
    # Mandarin syllables carry tone numbers (s.'o-51 p'Au35 kh'A214); a switch to English
    # reading pinyin aloud shows up as "(en)" with letter names ("SE55f'o@55" = "she four").
    assert "(en)" not in said
    assert "kh'A" in said and "p'Au" in said
    assert len([s for s in said.split("_|") if s.strip()]) == 3


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_the_plain_cmn_voice_would_spell_the_characters_in_english():
    assert "(en)" in phonemes("cmn", "社保卡")


def speech_seconds(pcm: bytes, rate: int) -> float:
    levels = frame_levels(pcm, rate)
    return float(np.count_nonzero(levels > -40) * 0.02)


def speech_span(pcm: bytes) -> tuple[int, int]:
    """First and last 20 ms frame with speech in it."""
    loud = np.nonzero(frame_levels(pcm, 16000) > -40)[0]
    return int(loud[0]), int(loud[-1])


def test_a_question_is_spoken_audibly_at_a_plausible_length(tts):
    clip = asyncio.run(tts.synthesize(QUESTION))
    assert clip.sample_rate == 16000
    assert 1.5 < clip.duration < 6.0
    assert speech_seconds(clip.pcm16, 16000) > 1.0
    assert np.abs(np.frombuffer(clip.pcm16, "<i2")).max() > 3000


def test_slow_speech_for_elderly_callers_is_slower_than_normal(tts):
    slow = asyncio.run(tts.synthesize(QUESTION, rate="slow"))
    normal = asyncio.run(tts.synthesize(QUESTION, rate="normal"))
    assert slow.duration > normal.duration * 1.15


def test_telephone_output_has_the_same_length_at_8_khz(tts):
    wide = asyncio.run(tts.synthesize(QUESTION, sample_rate=16000))
    narrow = asyncio.run(tts.synthesize(QUESTION, sample_rate=8000))
    assert narrow.sample_rate == 8000
    assert narrow.duration == pytest.approx(wide.duration, abs=0.01)


def test_twenty_callers_at_once_each_get_their_own_sentence(tts, tmp_path):
    # espeak adds random noise and a pause of varying length at the end, so the same text
    # never gives the same bytes twice; the requests differ in length, voice and speed
    # instead, so a swapped, cut or mixed-up answer shows where its speech starts and ends.
    chinese, korean_words = "请带好身份证原件到三号窗口", "엄마 아버지 라디오 엄마 아버지 라디오 엄마 아버지 라디오 엄마".split()
    requests = [(chinese[: n + 2], "zh-CN", ("slow", "normal")[n % 2]) for n in range(10)]
    requests += [(" ".join(korean_words[: n + 1]), KO, ("normal", "slow")[n % 2]) for n in range(10)]
    reference = Pyttsx3Synthesizer(tmp_path / "reference", voices={**DEFAULT_VOICES, KO: "ko"})
    try:

        async def one_by_one():
            return [await reference.synthesize(t, locale=loc, rate=r) for t, loc, r in requests]

        expected = [speech_span(clip.pcm16) for clip in asyncio.run(one_by_one())]
    finally:
        reference.close()

    async def all_at_once():
        return await asyncio.gather(*(tts.synthesize(t, locale=loc, rate=r) for t, loc, r in requests))

    got = asyncio.run(all_at_once())
    assert len({clip.pcm16 for clip in got}) == 20
    for (text, locale, rate), clip, want in zip(requests, got, expected):
        start, end = speech_span(clip.pcm16)
        assert abs(start - want[0]) <= 1 and abs(end - want[1]) <= 1, f"{text!r} ({locale}, {rate}) came out wrong"


def test_a_repeated_prompt_is_served_from_the_cache_without_the_engine(tmp_path):
    engine = RecordingTtsEngine()
    synth = Pyttsx3Synthesizer(tmp_path, engine_factory=lambda: engine)
    try:
        warm_up = len(engine.utterances)
        first = asyncio.run(synth.synthesize("请说出您要办理的业务"))
        second = asyncio.run(synth.synthesize("请说出您要办理的业务"))
        assert second == first
        assert len(engine.utterances) == warm_up + 1
        asyncio.run(synth.synthesize("请说出您要办理的业务", rate="normal"))
        asyncio.run(synth.synthesize("请说出您要办理的业务", sample_rate=8000))
        assert [u[2] for u in engine.utterances[warm_up:]] == [140, 175, 140]
        assert {u[1] for u in engine.utterances[warm_up:]} == {"sit/cmn-latn-pinyin"}
    finally:
        synth.close()
    again = Pyttsx3Synthesizer(tmp_path, engine_factory=lambda: engine)
    try:
        count = len(engine.utterances)
        assert asyncio.run(again.synthesize("请说出您要办理的业务")) == first
        assert len(engine.utterances) == count  # the cache is on disk and outlives a restart
    finally:
        again.close()


def test_a_text_with_a_personal_value_is_spoken_but_never_kept_in_the_cache(tmp_path):
    engine = RecordingTtsEngine()
    synth = Pyttsx3Synthesizer(tmp_path, engine_factory=lambda: engine, keep_in_cache=lambda text: "1381" not in text)
    try:
        spoken = asyncio.run(synth.synthesize("我们会打13812345678联系您"))
        asyncio.run(synth.synthesize("请说出您要办理的业务"))
    finally:
        synth.close()
    assert spoken.pcm16
    kept = list(tmp_path.glob("??/*.wav"))
    assert len(kept) == 1 and kept[0] == synth.cache_path("请说出您要办理的业务", *kept_key(synth))


def kept_key(synth: Pyttsx3Synthesizer) -> tuple[str, int, int]:
    return synth._voice_ids["zh-CN"], synth._rates["slow"], 16000


def test_empty_text_and_unknown_rates_are_refused(tts):
    with pytest.raises(TextInvalid):
        asyncio.run(tts.synthesize("   "))
    with pytest.raises(UnsupportedRate):
        asyncio.run(tts.synthesize(QUESTION, rate="fast"))


def test_a_voice_that_is_not_installed_stops_start_up(tmp_path):
    with pytest.raises(VoiceUnavailable) as caught:
        Pyttsx3Synthesizer(tmp_path, voices={"zh-CN": "no-such-voice"})
    assert "espeak-ng" in caught.value.message
