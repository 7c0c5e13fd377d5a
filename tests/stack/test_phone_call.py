"""Phone calls through the real dialogue engine: the call flow in this process, Rasa and the actions in the stack.

The fake phone stands in for the SIP line (the SIP tests drive a real SIP client); everything
behind it is real: the trained model, the action server, the database, espeak-ng.
"""

from __future__ import annotations

import asyncio

import pytest

from bot import texts
from bot.conversation import ConversationService
from bot.engine.client import RasaClient
from bot.settings import load_settings
from channels.phone.flow import CallFlow
from channels.phone.prompts import PhonePrompts
from speech.endpointing import EndpointConfig
from speech.pyttsx3_tts import Pyttsx3Synthesizer
from speech.service import SpeechService
from tests.fakes.phone_call import FakePhoneCall
from tests.stack.conftest import PORT_OFFSETS, start_stack, this_process_on

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def phone_stack(tmp_path_factory: pytest.TempPathFactory, database: str):
    """The assistant on a database of its own that this test process uses too, so the call flow here and the
    actions there share it; fresh, so staff logged in by earlier tests do not count as on duty."""
    workdir = tmp_path_factory.mktemp("phone-stack")
    own = f"sqlite:///{workdir / 'phone.db'}"
    with this_process_on(own):
        running = start_stack(workdir, port_offset=PORT_OFFSETS["phone_call"], database_url=own)
        yield running
        running.stop()


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory):
    synth = Pyttsx3Synthesizer(tmp_path_factory.mktemp("phone-stack-tts"))
    rendered = PhonePrompts(SpeechService(None, synth))
    assert asyncio.run(rendered.warm()) == []
    yield rendered
    synth.close()


def said(flow: CallFlow) -> list[str]:
    return [e.data.get("text", "") for e in flow.events if e.type.value == "prompt_start"]


def key_for(flow: CallFlow, title: str) -> str:
    """The key the last prompt offered for a button title."""
    return next(c.key for c in flow.last.choices if c.title == title)


def keypad_call(phone_stack, prompts, call_id: str, caller: str):
    """A fake call from `caller` into the stack with nobody on duty, its flow already running."""
    settings = load_settings(rasa_port=int(phone_stack.env["RASA_PORT"]), chat_timeout_seconds=20)
    rasa = RasaClient(settings)
    call = FakePhoneCall(call_id=call_id, caller=caller, speed=40.0)
    flow = CallFlow(call, ConversationService(rasa), prompts, endpoint=EndpointConfig(no_speech_timeout_ms=30000),
                    staff_available=lambda: False, push_poll_seconds=0.2)
    return rasa, call, flow, asyncio.create_task(flow.run())


def test_keypad_alone_asks_a_question_then_books_a_call_back(phone_stack, prompts):
    async def scenario():
        rasa, call, flow, task = keypad_call(phone_stack, prompts, "stack-cb-1", "sip:13912345678@127.0.0.1")
        turns = lambda: flow.outcome.turns  # noqa: E731 - read again at each look

        async def press(key: str, done_turns: int) -> None:
            call.press(key)
            await call.wait_until(lambda: turns() >= done_turns, 60)

        await call.wait_until(lambda: call.played, 10)
        await press("1", 1)                           # 社保卡
        answer = said(flow)[-1]
        await press("0", 2)                           # a person: nobody is on duty
        await press(key_for(flow, "请工作人员回电"), 3)
        assert flow.last.number_slot == "callback_phone" and flow.last.own_number
        call.press("#")                               # the number this call comes from
        await call.wait_until(lambda: "您输入的是" in said(flow)[-1], 20)
        await press("1", 4)
        await press(key_for(flow, "上午（9点到12点）"), 5)
        call.hang_up_caller()
        await asyncio.wait_for(task, 20)
        await rasa.close()
        return flow, answer

    flow, answer = asyncio.run(scenario())
    assert "社保卡" in answer and "请按1" in answer
    booked = said(flow)[-1]
    assert "已经记下了" in booked, said(flow)
    from bot.db.models import StaffTask
    from bot.db.session import unit_of_work

    with unit_of_work() as session:
        tasks = [t for t in session.query(StaffTask).all() if t.conversation_id == "phone:stack-cb-1"]
    assert len(tasks) == 1


def test_keypad_alone_books_an_appointment_on_the_calling_number(phone_stack, prompts):
    async def scenario():
        rasa, call, flow, task = keypad_call(phone_stack, prompts, "stack-appt-1", "sip:13912345679@127.0.0.1")
        turns = lambda: flow.outcome.turns  # noqa: E731 - read again at each look

        async def press(key: str) -> None:
            done = turns() + 1
            call.press(key)
            await call.wait_until(lambda: turns() >= done, 60)

        def offered(word: str) -> str:
            return next(c.key for c in flow.last.choices if word in c.title)

        await call.wait_until(lambda: call.played, 10)
        await press("1")                                  # 社保卡
        await press("0")                                  # a person: nobody is on duty, a visit is offered
        await press(offered("预约"))
        await press(flow.last.choices[0].key)             # the first district offered
        await press(flow.last.choices[0].key)             # the first free slot
        assert flow.last.number_slot == "appointment_phone" and flow.last.own_number, said(flow)[-1]
        call.press("#")                                   # the number this call comes from
        await call.wait_until(lambda: "您输入的是" in said(flow)[-1], 20)
        await press("1")                                  # yes, that number
        await call.wait_until(lambda: flow.outcome.turns and "预约" in " ".join(said(flow)[-3:]), 20)
        call.hang_up_caller()
        await asyncio.wait_for(task, 20)
        await rasa.close()
        return flow

    flow = asyncio.run(scenario())
    from bot.db.models import Appointment
    from bot.db.session import unit_of_work

    with unit_of_work() as session:
        booked = [a for a in session.query(Appointment).all() if a.conversation_id == "phone:stack-appt-1"]
    assert len(booked) == 1, said(flow)
    assert booked[0].channel == "phone" and booked[0].service_id == "social_security_card"
    spoken = " ".join(said(flow)[-3:])
    assert "预约好了" in spoken and "预约码" in spoken, spoken


def test_a_caller_waiting_for_staff_hears_the_staff_members_reply(phone_stack, prompts):
    from tests.stack.test_handoff_flow import Desk

    desk = Desk(phone_stack)

    async def scenario():
        settings = load_settings(rasa_port=int(phone_stack.env["RASA_PORT"]), chat_timeout_seconds=20)
        rasa = RasaClient(settings)
        call = FakePhoneCall(call_id="stack-staff-1", speed=40.0)
        # No staff line configured: the caller is queued through the dialogue engine.
        flow = CallFlow(call, ConversationService(rasa), prompts, push_poll_seconds=0.2)
        task = asyncio.create_task(flow.run())
        await call.wait_until(lambda: call.played, 10)
        call.press("0")
        await call.wait_until(lambda: flow.outcome.turns == 1, 60)
        assert flow.handoff_status == "waiting"
        handoff = await asyncio.to_thread(desk.waiting_for, "phone:stack-staff-1")
        assert handoff["channel"] == "phone"
        assert (await asyncio.to_thread(desk.post, f"/handoffs/{handoff['id']}/accept")).status_code == 200
        reply = await asyncio.to_thread(desk.post, f"/handoffs/{handoff['id']}/messages", {"text": "您好，我是窗口的小李。"})
        assert reply.status_code == 200, reply.text
        await call.wait_until(lambda: any("小李" in t for t in said(flow)), 30)
        call.hang_up_caller()
        await asyncio.wait_for(task, 20)
        await rasa.close()
        return flow

    flow = asyncio.run(scenario())
    assert texts.text("utter_phone_from_staff", text="您好，我是窗口的小李。") in said(flow)
