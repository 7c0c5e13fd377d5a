"""Real vosk recognition with the small Korean test model, fed speech synthesised by espeak-ng."""

from __future__ import annotations

import asyncio
import time

import pytest

from speech.audio import resample
from speech.errors import GrammarInvalid, ModelMissing, RecognitionFailed, UnsupportedLanguage
from speech.providers import AudioClip, FinalResult, PartialResult
from speech.vosk_asr import VoskRecogniser, load_model
from tests.speech.conftest import KO, korean

YES_NO = ["네", "아니요"]
DIGITS = ["일", "이", "삼", "사", "오"]


# Words this small model hears in espeak-ng's Korean every time (12 of 12 syntheses each;
# espeak adds random noise, so other words come and go).
@pytest.mark.parametrize(
    ("word", "speed"), [("엄마", "slow"), ("엄마", "normal"), ("라디오", "slow"), ("라디오", "normal"), ("아버지", "slow")]
)
def test_spoken_words_are_recognised(recogniser, tts, word, speed):
    transcript = asyncio.run(recogniser.transcribe(korean(tts, word, speed=speed), locale=KO))
    assert word in transcript.text.split()
    assert 0 < transcript.confidence <= 1
    assert [w.text for w in transcript.words] == transcript.text.split()
    assert all(0 <= w.start < w.end for w in transcript.words)


def test_a_stream_gives_partial_results_then_a_final_one(recogniser, tts):
    clip = korean(tts, "아버지")
    stream = recogniser.open_stream(16000, locale=KO)
    results = []
    for start in range(0, len(clip.pcm16), 640):  # 20 ms packets, as from a phone line
        result = stream.accept(clip.pcm16[start : start + 640])
        if result is not None:
            results.append(result)
    final = stream.finish()
    partials = [r for r in results if isinstance(r, PartialResult)]
    assert partials, "no partial result while the word was being spoken"
    finals = [r for r in results if isinstance(r, FinalResult)] + [final]
    assert "아버지" in " ".join(f.text for f in finals).split()


@pytest.mark.parametrize(("word", "grammar"), [("엄마", None), ("네", YES_NO), ("아니요", YES_NO)])
def test_telephone_rate_streams_are_recognised(recogniser, tts, word, grammar):
    narrow = resample(korean(tts, word).pcm16, 16000, 8000)
    stream = recogniser.open_stream(8000, grammar, locale=KO)

    async def run():
        finals = []
        for start in range(0, len(narrow), 320):
            result = await stream.accept_async(narrow[start : start + 320])
            if isinstance(result, FinalResult):
                finals.append(result)
        return finals + [await stream.finish_async()]

    assert word in " ".join(f.text for f in asyncio.run(run())).split()


@pytest.mark.parametrize("word", YES_NO)
def test_yes_no_grammar_hears_the_answer(recogniser, tts, word):
    transcript = asyncio.run(recogniser.transcribe(korean(tts, word), locale=KO, grammar=YES_NO))
    assert transcript.text == word


@pytest.mark.parametrize("digit", ["이", "사", "오"])
def test_digit_grammar_hears_the_digit(recogniser, tts, digit):
    transcript = asyncio.run(recogniser.transcribe(korean(tts, digit), locale=KO, grammar=DIGITS))
    assert transcript.text == digit


def test_grammar_restricts_what_can_come_out(recogniser, tts):
    clip = korean(tts, "엄마")
    free = asyncio.run(recogniser.transcribe(clip, locale=KO))
    restricted = asyncio.run(recogniser.transcribe(clip, locale=KO, grammar=YES_NO))
    assert "엄마" in free.text
    assert set(restricted.text.split()) <= set(YES_NO)


def test_grammar_the_model_cannot_say_is_refused(recogniser):
    with pytest.raises(GrammarInvalid):
        recogniser.grammar_json(["zzzqqq", "xyzzy"], KO)
    assert recogniser.grammar_json(["네", "zzzqqq"], KO) == '["네"]'


def test_an_unconfigured_language_is_refused(recogniser, tts):
    with pytest.raises(UnsupportedLanguage):
        asyncio.run(recogniser.transcribe(korean(tts, "네"), locale="zh-CN"))


def test_recognition_does_not_block_other_callers(recogniser, tts):
    clip = AudioClip(korean(tts, "엄마 아버지 라디오").pcm16 * 2, 16000)

    async def run():
        gaps, last = [], time.monotonic()
        task = asyncio.create_task(recogniser.transcribe(clip, locale=KO))
        while not task.done():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
        await task
        return gaps

    gaps = asyncio.run(run())
    # A blocked loop would stall for the whole recognition; a busy machine delays a tick a little.
    assert len(gaps) > 5 and max(gaps) < max(0.3, sum(gaps) / 4)


def test_the_model_is_loaded_once_and_shared(ko_model):
    first = load_model(ko_model)
    again = VoskRecogniser({KO: ko_model})
    assert load_model(ko_model) is first
    again.close()


def test_a_missing_model_says_where_to_put_the_chinese_model(tmp_path):
    with pytest.raises(ModelMissing) as caught:
        VoskRecogniser({"zh-CN": tmp_path / "models" / "vosk-model-small-cn-0.22"})
    message = caught.value.message
    assert caught.value.code == "asr_model_missing"
    for needed in ("VOSK_MODEL_PATH", "vosk-model-small-cn-0.22", str(tmp_path / "models"), "is missing"):
        assert needed in message


def test_a_folder_that_is_not_a_model_is_named_as_such(tmp_path):
    (tmp_path / "am").mkdir()
    with pytest.raises(ModelMissing) as caught:
        VoskRecogniser({"zh-CN": tmp_path})
    assert "not a vosk model" in caught.value.message
    assert "conf/model.conf" in caught.value.message


def test_a_finished_stream_hands_its_recogniser_to_the_next_turn_and_an_unfinished_one_does_not(recogniser, tts):
    narrow = resample(korean(tts, "엄마").pcm16, 16000, 8000)
    texts, recognisers = [], []
    for _ in range(2):
        stream = recogniser.open_stream(8000, locale=KO)
        recognisers.append(stream._rec)
        stream.accept(narrow)
        texts.append(stream.finish().text)
        stream.close()
    assert recognisers[0] is recognisers[1]  # the second turn skipped building a new search graph
    assert texts == ["엄마", "엄마"]
    with pytest.raises(RecognitionFailed):
        stream.accept(narrow)  # a closed stream no longer reaches the recogniser, which may serve another turn
    talking = recogniser.open_stream(8000, locale=KO)
    talking.accept(narrow)
    talking.close()  # hung up mid-utterance: its half-heard audio must not reach the next caller
    assert recogniser.open_stream(8000, locale=KO)._rec is not talking._rec
