"""The voice pipeline's stages on a fake line: real espeak-ng for prompts, real vosk for the caller."""

from __future__ import annotations

import asyncio

from speech.audio import resample
from speech.endpointing import EndpointConfig
from speech.errors import SynthesisFailed
from speech.pipeline import (
    EventType,
    Keys,
    PromptCache,
    Silence,
    SpeakOutcome,
    Stage,
    Utterance,
    VoicePipeline,
    response_latencies,
    spoken_pieces,
)
from speech.providers import AudioClip
from speech.service import SpeechService
from tests.fakes.phone_call import FakePhoneCall
from tests.fakes.recogniser import ScriptedRecogniser
from tests.speech.conftest import KO, korean, silence, tone

QUICK = EndpointConfig(no_speech_timeout_ms=2000)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def fed(call: FakePhoneCall, pipeline: VoicePipeline) -> asyncio.Task:
    """Pumps the fake call's events into the pipeline, as the call flow does."""

    async def pump():
        async for event in call.events():
            if hasattr(event, "pcm16"):
                pipeline.hear(event.pcm16)
            elif hasattr(event, "key"):
                pipeline.key(event.key)
            else:
                break
        pipeline.end()

    return asyncio.create_task(pump())


def test_a_reply_is_cut_into_sentences_with_a_short_first_piece():
    pieces = spoken_pieces("好的，正在为您转接工作人员，请稍候不要挂机谢谢您的耐心等待。您排在第1位。好。")
    assert pieces[0] == "好的，正在为您转接工作人员，"
    assert "".join(pieces) == "好的，正在为您转接工作人员，请稍候不要挂机谢谢您的耐心等待。您排在第1位。好。"
    assert spoken_pieces("  ") == []


def test_speaking_records_each_stage_with_timestamps(tts):
    async def scenario():
        call = FakePhoneCall(speed=50.0)
        pipeline = VoicePipeline(call, PromptCache(SpeechService(None, tts)), endpoint=QUICK, max_events=8)
        pump = await fed(call, pipeline)
        outcome = await pipeline.speak("您好。请问您要办什么事？")
        await call.hang_up()
        await pump
        return call, pipeline, outcome

    call, pipeline, outcome = run(scenario())
    assert outcome is SpeakOutcome.DONE
    assert [p.finished for p in call.played] == [True]  # short pieces are joined
    events = list(pipeline.events)
    assert len(events) <= 8  # the event log is bounded
    kinds = [e.type for e in events]
    assert kinds[:3] == [EventType.STAGE_START, EventType.PROMPT_START, EventType.FIRST_AUDIO]
    assert kinds[-1] is EventType.STAGE_END and events[-1].data["outcome"] == "done"
    assert all(e.stage is Stage.SPEAK for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_voice_over_a_prompt_stops_it_and_is_kept_for_listening(tts):
    async def scenario():
        call = FakePhoneCall(speed=4.0)
        pipeline = VoicePipeline(call, PromptCache(SpeechService(None, tts)), endpoint=QUICK)
        pump = await fed(call, pipeline)
        speaking = asyncio.create_task(pipeline.speak("请直接说您要办什么事，也可以按键选择，找工作人员请按0。"))
        await call.wait_until(lambda: call.played)
        call.say(tone(1.0, 8000, dbfs=-20) + silence(1.0, 8000))
        outcome = await speaking
        heard = await pipeline.listen()
        await call.hang_up()
        await pump
        return call, pipeline, outcome, heard

    call, pipeline, outcome, heard = run(scenario())
    assert outcome is SpeakOutcome.INTERRUPTED and not call.played[0].finished
    # Without a recogniser the utterance is still detected (the flow then offers the keypad).
    assert heard == Utterance("", 0.0, recognised=False)
    starts = [e for e in pipeline.events if e.type is EventType.SPEECH_START]
    assert starts and starts[0].data["at_ms"] <= 300  # the barge-in audio was not thrown away


def test_digits_are_collected_until_hash_and_a_star_starts_again(tts):
    async def scenario():
        call = FakePhoneCall(speed=50.0)
        pipeline = VoicePipeline(call, PromptCache(SpeechService(None, tts)), endpoint=QUICK, inter_digit_s=0.5)
        pump = await fed(call, pipeline)
        call.press("99*1380013#")
        first = await pipeline.listen(digits=True)
        call.press("12")
        second = await pipeline.listen(digits=True)  # no '#': taken after the inter-digit wait
        call.press("11010519491231002*#")
        with_x = await pipeline.listen(digits=True, x_after=17)
        call.press("7")
        menu = await pipeline.listen()
        third = await pipeline.listen()
        await call.hang_up()
        await pump
        return first, second, with_x, menu, third

    first, second, with_x, menu, third = run(scenario())
    assert with_x == Keys("11010519491231002X", terminated=True)
    assert first == Keys("1380013", terminated=True)
    assert second == Keys("12", terminated=False)
    assert menu == Keys("7")
    assert third == Silence()


class FailingSynthesis:
    asr = None

    def can_recognise(self, locale="zh-CN"):
        return False

    async def synthesize(self, *args, **kwargs):
        raise SynthesisFailed("espeak-ng crashed")


def test_failed_synthesis_plays_the_apology_recording():
    apology = AudioClip(tone(0.5, 8000), 8000)

    async def scenario():
        call = FakePhoneCall(speed=50.0)
        pipeline = VoicePipeline(call, PromptCache(FailingSynthesis()), apology=apology, endpoint=QUICK)
        pump = await fed(call, pipeline)
        outcome = await pipeline.speak("您好。")
        await call.hang_up()
        await pump
        return call, pipeline, outcome

    call, pipeline, outcome = run(scenario())
    assert outcome is SpeakOutcome.FAILED
    assert [p.pcm16 for p in call.played] == [apology.pcm16]
    assert any(e.type is EventType.ERROR and e.data["code"] == "tts_failed" for e in pipeline.events)


def test_streaming_recognition_with_a_grammar_the_model_lacks_falls_back_to_free_speech(recogniser, tts):
    speech = SpeechService(recogniser, tts)
    # A few words: long enough for the recogniser to report partial results before the end.
    words = resample(korean(tts, "엄마 아버지 라디오").pcm16, 16000, 8000)

    async def scenario():
        call = FakePhoneCall(speed=4.0)
        pipeline = VoicePipeline(call, PromptCache(speech), endpoint=QUICK, locale=KO)
        pump = await fed(call, pipeline)
        call.say(words)
        heard = await pipeline.listen(grammar=["对", "不对"])
        await call.hang_up()
        await pump
        return pipeline, heard

    pipeline, heard = run(scenario())
    assert isinstance(heard, Utterance) and "엄마" in heard.text
    recovered = [e for e in pipeline.events if e.type is EventType.ERROR]
    assert recovered and recovered[0].data["recovered"] is True
    assert any(e.type is EventType.PARTIAL for e in pipeline.events)
    final = next(e for e in pipeline.events if e.type is EventType.FINAL)
    assert final.data["text"] == heard.text


def test_response_latency_is_measured_from_the_end_of_speech():
    from speech.pipeline import PipelineEvent
    from types import MappingProxyType

    events = [PipelineEvent(EventType.SPEECH_END, 10.0, Stage.LISTEN, MappingProxyType({"trailing_s": 0.7})),
              PipelineEvent(EventType.FIRST_AUDIO, 10.4, Stage.SPEAK)]
    [(from_voice, from_detection)] = response_latencies(events)
    assert round(from_voice, 3) == 1.1 and round(from_detection, 3) == 0.4


def test_the_words_are_finished_while_the_endpointer_still_waits_for_silence(tts):
    order: list[str] = []

    class Recording(ScriptedRecogniser):
        def open_stream(self, sample_rate, grammar=None, *, locale="zh-CN"):
            stream = super().open_stream(sample_rate, grammar, locale=locale)
            finish = stream.finish

            def finish_recorded():
                order.append("finish")
                return finish()

            stream.finish = finish_recorded
            return stream

    speech = SpeechService(Recording(["社保卡"]), tts)

    async def scenario():
        call = FakePhoneCall(speed=4.0)
        pipeline = VoicePipeline(call, PromptCache(speech), endpoint=QUICK,
                                 on_event=lambda event: order.append(event.type.value))
        pump = await fed(call, pipeline)
        call.say(tone(0.6, 8000) + silence(1.5, 8000))
        heard = await pipeline.listen()
        await call.hang_up()
        await pump
        return heard

    heard = run(scenario())
    assert heard == Utterance("社保卡", 0.9)
    assert order.count("finish") == 1 and order.index("finish") < order.index(EventType.SPEECH_END.value)


def test_a_pause_shorter_than_the_silence_wait_keeps_every_word(recogniser, tts):
    speech = SpeechService(recogniser, tts)
    # espeak-ng's clips hold 0.3 s of silence before the word and about 1 s after it: cut to a pause of
    # 500 ms, past the point where the recogniser is finished early and short of the end of the turn.
    first, second = (resample(korean(tts, word).pcm16, 16000, 8000) for word in ("엄마", "라디오"))
    words = first[:8000 * 2 * 9 // 10] + silence(0.45, 8000) + second[8000 * 2 // 4:]

    async def scenario():
        call = FakePhoneCall(speed=2.0)
        pipeline = VoicePipeline(call, PromptCache(speech), endpoint=QUICK, locale=KO)
        pump = await fed(call, pipeline)
        call.say(words + silence(1.5, 8000))
        heard = await pipeline.listen()
        await call.hang_up()
        await pump
        return pipeline, heard

    pipeline, heard = run(scenario())
    # The test model hears the second word as something else, but hears it: words after the pause are not lost.
    assert isinstance(heard, Utterance) and heard.text.startswith("엄마") and len(heard.text.replace(" ", "")) > 2
    assert [e.type for e in pipeline.events].count(EventType.SPEECH_END) == 1
