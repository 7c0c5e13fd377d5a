"""The call flow with a fake phone, real espeak-ng and vosk, and the real conversation service over a fake Rasa."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot import texts
from bot.db.models import VaultEntry
from bot.db.session import unit_of_work
from bot.services import conversations
from bot.services.vault import REFERENCE
from channels.phone.keypad import read_aloud
from channels.phone.prompts import PhonePrompts, shipped_apology
from speech.errors import SynthesisFailed
from speech.pipeline import EventType, Stage
from speech.service import SpeechService
from tests.channels.phone.conftest import SPEED, caller_speech
from tests.fakes.phone_call import FakePhoneCall, loudness_dbfs
from tests.fakes.rasa import FakeRasa
from tests.speech.conftest import silence, tone

ANSWER = {"recipient_id": "x", "text": "补办社保卡要带身份证原件。",
          "buttons": [{"title": "要带什么", "payload": "/ask_materials"},
                      {"title": "在哪里办", "payload": "/ask_location_hours"},
                      {"title": "找工作人员", "payload": "/request_human"}]}


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def prompts_started(line) -> list[str]:
    return [e.data.get("text", "") for e in line.flow.events if e.type is EventType.PROMPT_START]


async def greeted(line) -> None:
    """Starts the call and waits for the first audio of the greeting."""
    await line.start()
    await line.call.wait_until(lambda: line.call.played, 5)


def test_the_greeting_is_audible_at_once(line):
    async def scenario():
        call_line = line()
        await call_line.start()
        await call_line.call.wait_until(lambda: call_line.call.played, 5)
        first = call_line.call.played[0]
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line, first

    call_line, first = run(scenario())
    events = call_line.flow.events
    start = next(e for e in events if e.type is EventType.PROMPT_START)
    audio = next(e for e in events if e.type is EventType.FIRST_AUDIO)
    # The greeting comes from the prompt cache: no synthesis between answering and sound.
    assert audio.at - start.at < 0.2
    assert loudness_dbfs(first.pcm16) > -35
    assert first.seconds > 1.0
    assert texts.text("utter_phone_greeting") in start.data["text"]
    assert "社保卡请按1" in start.data["text"] and "找工作人员请按0" in start.data["text"]


def test_a_key_reaches_the_payload_of_its_button(line):
    async def scenario():
        call_line = line(FakeRasa(replies=[ANSWER]))
        await greeted(call_line)
        call_line.call.press("1")  # the top menu: 社保卡
        await call_line.call.wait_until(lambda: len(call_line.sent()) == 1)
        await call_line.call.wait_until(lambda: "在哪里办请按2" in " ".join(prompts_started(call_line)))
        call_line.call.press("2")  # the answer's second button
        await call_line.call.wait_until(lambda: len(call_line.sent()) == 2)
        call_line.call.press("5")  # no such choice
        await call_line.call.wait_until(
            lambda: any(texts.text("utter_phone_key_invalid") in t for t in prompts_started(call_line)))
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    assert call_line.sent() == ["社保卡怎么办理", "/ask_location_hours"]
    sent = call_line.rasa.messages_sent()
    assert all(m["sender"] == "phone:fake-call-1" for m in sent)
    assert sent[0]["metadata"]["channel"] == "phone"


def held_back(sent: str) -> str:
    """The number the engine received a reference for (it never receives the number itself)."""
    assert REFERENCE.fullmatch(sent), f"{sent!r} reached the engine in clear"
    with unit_of_work() as session:
        return session.scalars(select(VaultEntry.value).where(VaultEntry.reference == sent)).one()


def test_a_number_keyed_with_hash_is_read_back_then_sent(line):
    rasa = FakeRasa(replies=[{"recipient_id": "x", "text": "请告诉我您的身份证号码。"}],
                    slots={"requested_slot": "id_number"}, active_loop="senior_card")

    async def scenario():
        call_line = line(rasa)
        await greeted(call_line)
        call_line.call.press("3")
        await call_line.call.wait_until(lambda: len(call_line.sent()) == 1)
        await call_line.call.wait_until(
            lambda: any(texts.text("utter_phone_id_x_hint") in t for t in prompts_started(call_line)))
        call_line.call.press("11010519491231002")
        call_line.call.press("*#")  # '*' after 17 digits is the X some ID numbers end with
        await call_line.call.wait_until(lambda: any("您输入的是" in t for t in prompts_started(call_line)))
        call_line.call.press("1")
        await call_line.call.wait_until(lambda: len(call_line.sent()) == 2)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    assert held_back(call_line.sent()[1]) == "11010519491231002X"
    read_back = next(t for t in prompts_started(call_line) if "您输入的是" in t)
    # Read digit by digit in three groups: county, birth date, the last four.
    assert read_aloud("11010519491231002X") in read_back
    assert read_back.count(texts.text("utter_phone_digit_group_separator")) >= 2
    # The number reaches the event log only masked.
    dialogue = [e for e in call_line.flow.events if e.type is EventType.STAGE_START and e.stage is Stage.DIALOGUE]
    assert "11010519491231002X" not in str([dict(e.data) for e in dialogue])


def test_a_wrong_read_back_asks_for_the_number_again(line):
    rasa = FakeRasa(replies=[{"recipient_id": "x", "text": "请告诉我您的手机号。"}], slots={"requested_slot": "phone"},
                    active_loop="residence_permit")

    async def scenario():
        call_line = line(rasa)
        await greeted(call_line)
        call_line.call.press("1")
        await call_line.call.wait_until(lambda: len(call_line.sent()) == 1)
        call_line.call.press("13900001111#")
        await call_line.call.wait_until(lambda: any("您输入的是" in t for t in prompts_started(call_line)))
        call_line.call.press("2")
        await call_line.call.wait_until(
            lambda: any(texts.text("utter_phone_reenter") in t for t in prompts_started(call_line)))
        call_line.call.press("13900002222#")
        await call_line.call.wait_until(lambda: sum("您输入的是" in t for t in prompts_started(call_line)) == 2)
        call_line.call.press("1")
        await call_line.call.wait_until(lambda: len(call_line.sent()) == 2)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    assert held_back(run(scenario()).sent()[1]) == "13900002222"


def test_star_repeats_the_last_prompt(line):
    async def scenario():
        call_line = line(FakeRasa(replies=[ANSWER]))
        await greeted(call_line)
        call_line.call.press("1")
        await call_line.call.wait_until(lambda: len(prompts_started(call_line)) == 2)
        call_line.call.press("*")
        await call_line.call.wait_until(lambda: len(prompts_started(call_line)) == 3)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    said = prompts_started(call_line)
    assert said[2] == said[1] and ANSWER["text"] in said[1]
    assert len(call_line.sent()) == 1  # a repeat never bothers the dialogue engine


def test_the_caller_talking_over_a_prompt_stops_it(line, synthesizer):
    async def scenario():
        call_line = line(FakeRasa(replies=[ANSWER]), call=FakePhoneCall(speed=2.0))
        await greeted(call_line)
        await asyncio.sleep(0.5)  # a second of the greeting at twice real time
        call_line.call.say(await caller_speech(synthesizer, "엄마"))
        await call_line.call.wait_until(lambda: call_line.sent(), 30)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    greeting = call_line.call.played[0]
    assert not greeting.finished and greeting.seconds_sent < greeting.seconds / 2
    assert any(e.type is EventType.BARGE_IN and e.data["by"] == "voice" for e in call_line.flow.events)
    # What the caller said over the prompt went through the real recogniser to the dialogue.
    assert "엄마" in call_line.sent()[0]


def test_a_key_stops_a_prompt_at_once(line):
    async def scenario():
        call_line = line(FakeRasa(replies=[ANSWER]), call=FakePhoneCall(speed=1.0))
        await greeted(call_line)
        await asyncio.sleep(0.3)
        call_line.call.press("1")
        await call_line.call.wait_until(lambda: call_line.sent())
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    assert call_line.call.played[0].seconds_sent < 1.0
    assert any(e.type is EventType.BARGE_IN and e.data["by"] == "key" for e in call_line.flow.events)


def test_hanging_up_mid_prompt_ends_the_flow_and_leaves_no_task(line):
    async def scenario():
        before = asyncio.all_tasks()
        call_line = line(call=FakePhoneCall(speed=1.0))
        await greeted(call_line)
        await asyncio.sleep(0.2)
        call_line.call.hang_up_caller()
        outcome = await call_line.finish(5)
        await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() - before if not t.done()]
        return call_line, outcome, left

    call_line, outcome, left = run(scenario())
    assert left == []
    assert outcome.reason == "hung_up"
    assert not call_line.call.played[0].finished
    assert any(e.type is EventType.ENDED for e in call_line.flow.events)


def test_a_quiet_caller_is_prompted_again_then_told_goodbye(line):
    async def scenario():
        call_line = line()
        await call_line.start()
        return call_line, await call_line.finish(60)

    call_line, outcome = run(scenario())
    said = prompts_started(call_line)
    assert texts.text("utter_phone_still_there") in said[1]
    assert said[-1] == texts.text("utter_phone_goodbye")
    assert outcome.reason == "silence" and call_line.call.hung_up_by_assistant


def test_with_the_engine_down_the_caller_hears_the_way_to_a_person(line):
    async def scenario():
        call_line = line(FakeRasa(down=True))
        await greeted(call_line)
        call_line.call.press("1")
        await call_line.call.wait_until(lambda: len(prompts_started(call_line)) == 2)
        await call_line.call.wait_until(lambda: call_line.call.played[-1].finished or len(call_line.call.played) > 2)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    said = prompts_started(call_line)[1]
    assert said.startswith("系统正忙") and "找工作人员请按0" in said
    # This answer was rendered before the call: it plays without waiting for synthesis.
    assert call_line.flow.prompts.cache.get(said.split("。")[0] + "。", "slow") is not None


class BrokenConversations:
    """A dialogue core that fails outright (the database is gone, a bug)."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle(self, message):
        self.calls += 1
        raise RuntimeError("database is locked")


def test_a_failing_dialogue_core_gets_the_apology_prompt(line):
    async def scenario():
        call_line = line()
        call_line.flow.conversations = BrokenConversations()
        await greeted(call_line)
        call_line.call.press("1")
        await call_line.call.wait_until(lambda: len(call_line.call.played) >= 2)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    apology = call_line.flow.prompts.apology
    assert call_line.call.played[1].pcm16 == apology.pcm16
    assert any(e.type is EventType.ERROR and e.stage is Stage.DIALOGUE for e in call_line.flow.events)


class BrokenSynthesis:
    """A synthesiser that always fails, as when espeak-ng is missing; recognition is left as configured."""

    def __init__(self, speech: SpeechService) -> None:
        self.asr = speech.asr

    def can_recognise(self, locale: str = "zh-CN") -> bool:
        return self.asr is not None

    async def synthesize(self, text, locale="zh-CN", rate="slow", sample_rate=16000):
        raise SynthesisFailed("espeak-ng is not installed")


def test_with_synthesis_broken_the_shipped_apology_plays_and_keys_still_work(line, speech):
    async def scenario():
        broken = PhonePrompts(BrokenSynthesis(speech))
        assert await broken.warm()  # nothing could be rendered
        call_line = line(FakeRasa(replies=[ANSWER]), prompts=broken)
        await greeted(call_line)
        await call_line.call.wait_until(lambda: call_line.call.played[0].finished, 10)
        call_line.call.press("1")
        await call_line.call.wait_until(lambda: call_line.sent())
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    shipped = shipped_apology()
    assert call_line.call.played[0].pcm16 == shipped.pcm16
    assert loudness_dbfs(shipped.pcm16) > -35 and shipped.sample_rate == 8000
    assert call_line.sent() == ["社保卡怎么办理"]


def test_zero_transfers_to_staff_when_someone_is_on_duty(line):
    async def scenario():
        call_line = line(staff_uri="sip:staff@127.0.0.1:25160", staff_available=lambda: True)
        await greeted(call_line)
        call_line.call.press("0")
        return call_line, await call_line.finish()

    call_line, outcome = run(scenario())
    assert call_line.call.transfers == ["sip:staff@127.0.0.1:25160"]
    assert outcome.reason == "transferred"
    assert texts.text("utter_phone_transferring") in prompts_started(call_line)
    assert call_line.sent() == []


def test_a_refused_transfer_falls_back_to_the_queue(line):
    async def scenario():
        call_line = line(staff_uri="8001", staff_available=lambda: True,
                         call=FakePhoneCall(speed=SPEED, transfer_accepted=False))
        await greeted(call_line)
        call_line.call.press("0")
        await call_line.call.wait_until(lambda: call_line.sent())
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    assert call_line.call.transfers == ["8001"]
    assert call_line.sent() == ["/request_human"]
    assert texts.text("utter_phone_transfer_failed") in prompts_started(call_line)


def test_nobody_on_duty_books_a_call_back_on_the_callers_own_number(line):
    unstaffed = {"recipient_id": "x", "text": texts.text("utter_handoff_unstaffed", position=1),
                 "buttons": texts.buttons("utter_handoff_unstaffed")}
    rasa = FakeRasa(replies=[unstaffed])

    async def scenario():
        call_line = line(rasa, staff_uri="sip:staff@127.0.0.1:25160", staff_available=lambda: False)
        await greeted(call_line)
        call_line.call.press("0")
        await call_line.call.wait_until(lambda: len(call_line.sent()) == 1)
        await call_line.call.wait_until(lambda: "请工作人员回电请按2" in " ".join(prompts_started(call_line)))
        rasa.replies = [{"recipient_id": "x", "text": texts.text("utter_ask_callback_phone")}]
        rasa.slots, rasa.active_loop = {"requested_slot": "callback_phone"}, "callback_form"
        call_line.call.press("2")
        await call_line.call.wait_until(lambda: len(call_line.sent()) == 2)
        await call_line.call.wait_until(
            lambda: any(texts.text("utter_phone_own_number_hint") in t for t in prompts_started(call_line)))
        call_line.call.press("#")  # "just press # for the number you are calling from"
        await call_line.call.wait_until(lambda: any("您输入的是" in t for t in prompts_started(call_line)))
        call_line.call.press("1")
        await call_line.call.wait_until(lambda: len(call_line.sent()) == 3)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    assert call_line.call.transfers == []
    assert call_line.sent()[:2] == ["/request_human", "/request_callback"]
    assert held_back(call_line.sent()[2]) == "13800138000"


def test_a_staff_reply_is_spoken_while_the_caller_waits(line):
    queued = {"recipient_id": "x", "text": texts.text("utter_handoff_queued", position=1, minutes=4),
              "buttons": texts.buttons("utter_handoff_queued")}

    async def scenario():
        call_line = line(FakeRasa(replies=[queued]), call=FakePhoneCall(call_id="push-1", speed=SPEED))
        await greeted(call_line)
        call_line.call.press("0")
        await call_line.call.wait_until(lambda: call_line.sent())
        await asyncio.sleep(0.3)
        await asyncio.to_thread(conversations.push, "phone:push-1", "staff", "您好，我是窗口的小王，请讲。")
        await call_line.call.wait_until(lambda: any("小王" in t for t in prompts_started(call_line)), 10)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    said = [t for t in prompts_started(call_line) if "小王" in t][0]
    assert said == texts.text("utter_phone_from_staff", text="您好，我是窗口的小王，请讲。")


@pytest.mark.parametrize("word", ["엄마"])
def test_spoken_words_reach_the_dialogue_through_real_recognition(line, synthesizer, word):
    async def scenario():
        call_line = line(FakeRasa(replies=[ANSWER]))
        await greeted(call_line)
        await call_line.call.wait_until(lambda: call_line.call.played[-1].finished, 10)
        call_line.call.say(await caller_speech(synthesizer, word))
        await call_line.call.wait_until(lambda: call_line.sent(), 30)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    assert word in call_line.sent()[0]
    kinds = [e.type for e in call_line.flow.events]
    assert kinds.index(EventType.SPEECH_START) < kinds.index(EventType.SPEECH_END) < kinds.index(EventType.FINAL)



# --- Chinese voice commands, with a scripted recogniser (the test model knows no Chinese) -----------------------

def scripted(synthesizer, texts_heard: list[str]):
    from tests.fakes.recogniser import ScriptedRecogniser

    recogniser = ScriptedRecogniser(texts_heard)
    rendered = PhonePrompts(SpeechService(recogniser, synthesizer))
    assert asyncio.run(rendered.warm()) == []
    return rendered, recogniser


def utterance() -> bytes:
    """Half a second of something loud enough to be speech, then a pause."""
    return tone(0.6, 8000, dbfs=-20) + silence(0.2, 8000)


async def speak_after_prompt(call_line, count: int) -> None:
    """Waits until `count` prompts have started and the last one finished, then says something."""
    await call_line.call.wait_until(lambda: len(prompts_started(call_line)) >= count
                                    and call_line.call.played and call_line.call.played[-1].finished, 20)
    call_line.call.say(utterance())


def rates(call_line) -> list[str]:
    return [e.data["rate"] for e in call_line.flow.events if e.type is EventType.STAGE_START and e.stage is Stage.SPEAK]


def test_saying_slower_repeats_the_prompt_at_a_slower_rate(line, synthesizer):
    rendered, _ = scripted(synthesizer, ["说慢点", "再说一遍"])

    async def scenario():
        call_line = line(FakeRasa(replies=[ANSWER]), prompts=rendered)
        await greeted(call_line)
        call_line.call.press("1")
        await speak_after_prompt(call_line, 2)
        await call_line.call.wait_until(lambda: len(prompts_started(call_line)) >= 3)
        await speak_after_prompt(call_line, 3)
        await call_line.call.wait_until(lambda: len(prompts_started(call_line)) >= 4)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    said = prompts_started(call_line)
    assert said[2] == texts.text("utter_phone_slower") + said[1]
    assert said[3] == said[1]  # "再说一遍" repeats without the engine
    assert rates(call_line)[:2] == ["slow", "slow"] and rates(call_line)[2:] == ["slower", "slower"]
    assert call_line.sent() == ["社保卡怎么办理"]


def test_a_spoken_number_is_read_back_and_a_spoken_yes_sends_it(line, synthesizer):
    rendered, recogniser = scripted(synthesizer, ["幺三八 零零幺三 八零零零", "对"])
    rasa = FakeRasa(replies=[{"recipient_id": "x", "text": "请告诉我您的手机号。"}], slots={"requested_slot": "phone"},
                    active_loop="residence_permit")

    async def scenario():
        call_line = line(rasa, prompts=rendered)
        await greeted(call_line)
        call_line.call.press("6")
        await speak_after_prompt(call_line, 2)
        await call_line.call.wait_until(lambda: any("您输入的是" in t for t in prompts_started(call_line)))
        await speak_after_prompt(call_line, 3)
        await call_line.call.wait_until(lambda: len(call_line.sent()) == 2)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    assert call_line.sent()[0] == "居住证怎么办理" and held_back(call_line.sent()[1]) == "13800138000"
    # The yes/no answer was heard with the confirmation grammar.
    assert recogniser.grammars[-1] and "对" in recogniser.grammars[-1]


def test_saying_transfer_to_a_person_puts_the_caller_through(line, synthesizer):
    rendered, _ = scripted(synthesizer, ["转人工"])

    async def scenario():
        call_line = line(prompts=rendered, staff_uri="sip:desk@127.0.0.1:25161", staff_available=lambda: True)
        await greeted(call_line)
        call_line.call.say(utterance())
        return call_line, await call_line.finish()

    call_line, outcome = run(scenario())
    assert call_line.call.transfers == ["sip:desk@127.0.0.1:25161"] and outcome.reason == "transferred"


def test_without_a_recogniser_the_line_asks_for_keys_only(line, synthesizer):
    keypad_only = PhonePrompts(SpeechService(None, synthesizer))
    assert asyncio.run(keypad_only.warm()) == []

    async def scenario():
        call_line = line(FakeRasa(replies=[ANSWER]), prompts=keypad_only)
        await greeted(call_line)
        await call_line.call.wait_until(lambda: call_line.call.played[-1].finished, 10)
        call_line.call.say(tone(0.6, 8000, dbfs=-20))
        await call_line.call.wait_until(lambda: len(prompts_started(call_line)) >= 2)
        call_line.call.press("1")
        await call_line.call.wait_until(lambda: call_line.sent())
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    said = prompts_started(call_line)
    assert texts.text("utter_phone_keypad_only") in said[0] and texts.text("utter_phone_menu") not in said[0]
    assert said[1].startswith(texts.text("utter_phone_keypad_only"))
    assert call_line.sent() == ["社保卡怎么办理"]


class SlowConversations:
    """A dialogue core that takes its time before answering."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def handle(self, message):
        from bot.conversation import ChatState, OutgoingMessage, TurnResult

        await asyncio.sleep(self.seconds)
        return TurnResult(message.sender_id, (OutgoingMessage("社保卡补办要带身份证原件。"),), ChatState())


def test_a_slow_answer_is_bridged_by_a_soft_tone_not_silence(line):
    async def scenario():
        call_line = line(thinking_after_s=0.2)
        call_line.flow.conversations = SlowConversations(1.2)
        await greeted(call_line)
        call_line.call.press("1")
        await call_line.call.wait_until(lambda: any("身份证原件" in t for t in prompts_started(call_line)), 10)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    call_line = run(scenario())
    tone_clip = call_line.flow.prompts.thinking
    tones = [p for p in call_line.call.played if p.pcm16 == tone_clip.pcm16]
    assert len(tones) >= 2 and loudness_dbfs(tone_clip.pcm16) > -40
    # The tone is not the answer: the response latency is measured to the answer's first audio.
    fillers = [e for e in call_line.flow.events if e.type is EventType.PROMPT_START and e.data.get("filler")]
    assert len(fillers) == len(tones)


def test_the_trunks_caller_id_proves_the_caller_holds_that_mobile_and_an_extension_proves_nothing(line):
    """The mobile is also kept (encrypted) for texting a staff reply or a status change after the call."""
    from bot.services import identity, sms_notices

    async def scenario(caller: str):
        call_line = line(call=FakePhoneCall(speed=SPEED, caller=caller, call_id=f"caller-id-{caller}"))
        await greeted(call_line)
        call_line.call.hang_up_caller()
        await call_line.finish()
        return call_line

    mobile = run(scenario("sip:+8613912346789@trunk.example.cn"))
    assert identity.holds_phone(mobile.flow.conversation_id, "13912346789")
    assert sms_notices.phone_of(mobile.flow.conversation_id) == "13912346789"
    extension = run(scenario("sip:8001@pbx.example.cn"))
    assert not identity.holds_phone(extension.flow.conversation_id, "13912346789")
    assert sms_notices.phone_of(extension.flow.conversation_id) is None
