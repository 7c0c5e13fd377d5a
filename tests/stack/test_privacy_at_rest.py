"""Every flow that takes a personal number or name, on the real stack; then no value is anywhere on disk in clear.

The stack runs with its own database, logs and speech cache. Each person has an ID
number, a mobile number, a name and an address no other test uses; after finished and
unfinished applications on every form, status lookups, a booking, a call-back, a
handoff with staff replies, a name given unasked and a phone call that keys an ID
number, the database file, its write-ahead log, the logs and the
speech cache are searched for each of them, in every encoding they could be written in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.conversation import IncomingMessage
from bot.knowledge.catalogue import get_catalogue
from bot.services import appointments
from bot.services.handoff import tracker_events
from bot.services.vault import REFERENCE
from bot.settings import REPO_ROOT
from channels.phone.prompts import PhonePrompts
from speech.pyttsx3_tts import Pyttsx3Synthesizer
from speech.service import SpeechService
from tests.stack.conftest import PORT_OFFSETS, Stack, start_stack, this_process_on
from tests.stack.test_applications import OPENINGS, answer_until_done, text_of
from tests.stack.test_phone_call import keypad_call, said

pytestmark = pytest.mark.stack

SURNAMES = ["司马", "欧阳", "诸葛", "上官", "东方", "慕容", "尉迟", "公孙"]
GIVEN = "晓云峰岚翠柏松竹梅兰菊玉霞涛澜"
USED: list[dict[str, str]] = []


def person() -> dict[str, str]:
    """Answers with an ID number, phone, name and address no other test uses, remembered for the search."""
    n = uuid.uuid4().int
    body = f"4403031985{n % 9 + 1:02d}{n // 10 % 28 + 1:02d}{n // 1000 % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    rng = random.Random(n)
    values = {"id_number": body + check, "phone": f"186{n // 10**7 % 10**8:08d}",
              "full_name": rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, 2)),
              "address": f"北山区青松路{n % 900 + 100}号院{n // 7 % 9 + 1}栋{n // 11 % 900 + 100}室"}
    USED.append(values)
    return values


def senior(values: dict[str, str]) -> dict[str, str]:
    """The same person born in 1940, old enough for the senior services."""
    body = "1101011940" + values["id_number"][10:17]
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    values["id_number"] = body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    return values


def new_id() -> str:
    return f"p-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[Stack]:
    """The assistant with its own database, logs and speech cache, so the search sees only this test's data.

    This test process uses the database too: the phone call runs its flow here, as the SIP line does in the stack.
    """
    workdir = tmp_path_factory.mktemp("privacy")
    own = f"sqlite:///{workdir / 'bianmin.db'}"
    with this_process_on(own):
        running = start_stack(workdir, port_offset=PORT_OFFSETS["privacy_at_rest"], database_url=own, speech_cache_dir=str(workdir / "speech-cache"))
        yield running
        running.stop()


@pytest.fixture(scope="module")
def phone_prompts(private_stack: Stack) -> Iterator[PhonePrompts]:
    """The phone line's prompts, synthesised into the stack's speech cache (which the search covers)."""
    synth = Pyttsx3Synthesizer(Path(private_stack.env["SPEECH_CACHE_DIR"]))
    rendered = PhonePrompts(SpeechService(None, synth))
    assert asyncio.run(rendered.warm()) == []
    yield rendered
    synth.close()


def staff_headers(stack: Stack) -> dict[str, str]:
    username = f"desk{uuid.uuid4().hex[:6]}"
    subprocess.run([sys.executable, "-m", "bot.cli", "staff", "--username", username, "--password",
                    "correct-horse-battery", "--role", "supervisor"], cwd=REPO_ROOT, env=stack.env, check=True,
                   capture_output=True)
    response = httpx.post(f"{stack.base_url}/api/staff/login",
                          json={"username": username, "password": "correct-horse-battery"}, timeout=10)
    return {"Authorization": f"Bearer {response.json()['token']}"}


def apply(stack: Stack, service_id: str, values: dict[str, str], stop_at: str | None = None) -> dict:
    opening, answers = OPENINGS[service_id]
    conversation_id = new_id()
    reply = stack.chat(conversation_id, opening)
    reply, _ = answer_until_done(stack, conversation_id, reply, {**answers, **values}, stop_at=stop_at)
    if stop_at:
        stack.chat(conversation_id, "先不办了")
    return reply


def keyed_call(stack: Stack, prompts: PhonePrompts, caller: dict[str, str]) -> list[str]:
    """A call that asks for a social security card and keys the ID number on the keypad; what the line said.

    The caller's first words (what they want, their name) reach the dialogue as the recogniser would pass them
    on; then a key of the menu is a question in the middle of the form, and the ID number is asked again.
    """
    call_id = f"privacy-{uuid.uuid4().hex[:8]}"

    async def scenario() -> list[str]:
        rasa, call, flow, task = keypad_call(stack, prompts, call_id, f"sip:{caller['phone']}@127.0.0.1")
        for words in ("社保卡丢了 帮我补办一张", caller["full_name"]):
            await flow.conversations.handle(IncomingMessage(flow.conversation_id, words, channel="phone"))
        await call.wait_until(lambda: call.played, 10)
        call.press("1")                                           # 社保卡: answered, and the ID number asked again
        await call.wait_until(lambda: flow.last.number_slot == "id_number", 60)
        call.press(caller["id_number"].replace("X", "*") + "#")  # * is the X that ends some ID numbers
        await call.wait_until(lambda: "您输入的是" in said(flow)[-1], 20)
        turns = flow.outcome.turns
        call.press("1")                                           # yes, that number
        await call.wait_until(lambda: flow.outcome.turns > turns, 60)
        call.hang_up_caller()
        await asyncio.wait_for(task, 20)
        await rasa.close()
        return said(flow)

    return asyncio.run(scenario())


def spellings(value: str) -> set[bytes]:
    """The ways a value could be written to disk: UTF-8, JSON's \\u escapes, UTF-16 (SQLite text can be)."""
    escaped = value.encode("ascii", "backslashreplace").decode().replace("\\x", "\\u00").encode()
    return {value.encode("utf-8"), escaped, value.encode("utf-16-le")}


def test_the_answer_to_a_name_question_after_a_gateway_restart_reaches_the_engine_as_a_reference(private_stack):
    stack, values, conversation_id = private_stack, person(), new_id()
    reply = stack.chat(conversation_id, OPENINGS["social_security_card"][0])
    assert reply["state"]["requested_slot"] == "full_name", text_of(reply)
    stack.kill("gateway")
    stack.wait_healthy()
    reply = stack.chat(conversation_id, values["full_name"])
    assert reply["state"]["requested_slot"] == "id_number", text_of(reply)
    typed = [event["text"] for event in tracker_events(conversation_id) if event.get("event") == "user"]
    assert len(typed) == 2 and REFERENCE.fullmatch(typed[1]), typed
    assert values["full_name"] not in str(tracker_events(conversation_id))


def test_no_personal_value_of_any_flow_is_anywhere_on_disk_in_clear(private_stack, phone_prompts):
    stack = private_stack
    headers = staff_headers(stack)

    # Finished and unfinished applications on every form.
    for service_id in sorted(OPENINGS):
        make = senior if service_id in ("senior_allowance", "senior_card") else (lambda v: v)
        done = apply(stack, service_id, make(person()))
        assert done["state"]["application_reference"], text_of(done)
        draft = apply(stack, service_id, make(person()), stop_at="application_confirmed")
        assert not draft["state"]["application_reference"]

    # A status lookup from another conversation, by reference and phone, and by ID number and phone.
    looked_up = person()
    reference = apply(stack, "residence_permit", looked_up)["state"]["application_reference"]
    reply = stack.chat(new_id(), f"我的居住证办到哪一步了 {reference} {looked_up['phone']}")
    assert reference in text_of(reply)
    stranger = new_id()
    stack.chat(stranger, "查一下我的申请进度")
    stack.chat(stranger, f"身份证{looked_up['id_number']} 手机{looked_up['phone']}")

    # A booking at a centre, with a name and a phone.
    booker, booking = person(), new_id()
    centre = get_catalogue().centres["xinhua_street_centre"]
    day = dt.date.today() + dt.timedelta(days=15)
    while not appointments.day_slots(centre, day):
        day += dt.timedelta(days=1)
    start = appointments.day_slots(centre, day)[0][0]
    stack.chat(booking, '/book_appointment{"service": "social_security_card"}')
    stack.chat(booking, '/inform{"district": "东城区"}')
    slot = appointments.slot_key(centre.id, start)
    reply = stack.chat(booking, f'/inform{{"appointment_slot": "{slot}"}}')
    assert reply["state"]["requested_slot"] == "appointment_name", text_of(reply)
    stack.chat(booking, booker["full_name"])
    reply = stack.chat(booking, booker["phone"])
    assert reply["state"]["appointment_reference"], text_of(reply)

    # A call-back, the number spaced as people type it.
    caller, callback = person(), new_id()
    stack.chat(callback, "转人工")
    stack.chat(callback, "/request_callback")
    phone = caller["phone"]
    stack.chat(callback, f"我的手机是 {phone[:3]} {phone[3:7]} {phone[7:]}")
    reply = stack.chat(callback, '/inform{"time_window": "morning"}')
    assert f"{phone[:3]}****{phone[7:]}" in text_of(reply)

    # A handoff: numbers before and while a person serves, and a staff reply that repeats one.
    talker, talk = person(), new_id()
    stack.chat(talk, "居住证怎么办理")
    stack.chat(talk, f"我的身份证是{talker['id_number']}")
    stack.chat(talk, "我要找工作人员")
    waiting = [h for h in httpx.get(f"{stack.base_url}/api/staff/handoffs", params={"status": "waiting"},
                                    headers=headers, timeout=10).json() if h["conversation_id"] == talk]
    handoff_id = waiting[0]["id"]
    assert httpx.post(f"{stack.base_url}/api/staff/handoffs/{handoff_id}/accept", headers=headers,
                      timeout=10).status_code == 200
    stack.chat(talk, f"我的电话是{talker['phone']}，住在{talker['address']}")
    assert httpx.post(f"{stack.base_url}/api/staff/handoffs/{handoff_id}/messages", headers=headers, timeout=10,
                      json={"text": f"好的，稍后打{talker['phone']}联系您"}).status_code == 200
    shown = httpx.get(f"{stack.base_url}/api/staff/handoffs/{handoff_id}", headers=headers, timeout=10).json()
    transcript = "\n".join(line["text"] for line in shown["transcript"])
    assert talker["id_number"] not in transcript and talker["phone"] not in transcript
    assert talker["address"] not in transcript, "an address typed to staff is masked too"
    assert talker["id_number"][-4:] in transcript, "staff still see the masked number"
    unmasked = httpx.get(f"{stack.base_url}/api/staff/handoffs/{handoff_id}", params={"unmask": "true"},
                         headers=headers, timeout=10).json()
    assert talker["id_number"] in "\n".join(line["text"] for line in unmasked["transcript"])
    httpx.post(f"{stack.base_url}/api/staff/handoffs/{handoff_id}/close", headers=headers, timeout=10)

    # A name and an ID number given unasked, in one sentence.
    introduced = person()
    stack.chat(new_id(), f"我叫{introduced['full_name']}，身份证{introduced['id_number']}，想问社保卡丢了怎么补")

    # A phone call that keys an ID number.
    spoken = keyed_call(stack, phone_prompts, person())
    assert any("您输入的是" in line for line in spoken), spoken

    database = Path(stack.env["DATABASE_URL"].removeprefix("sqlite:///"))
    places = [database, database.with_name(database.name + "-wal"), stack.log_path,
              *(p for p in (Path(stack.env["SPEECH_CACHE_DIR"])).rglob("*") if p.is_file())]
    contents = {path: path.read_bytes() for path in places if path.exists()}
    assert database in contents and stack.log_path in contents
    found = [(path.name, field) for values in USED for field, value in values.items()
             for path, content in contents.items() if any(s in content for s in spellings(value))]
    assert not found, f"personal values in clear: {found}"
