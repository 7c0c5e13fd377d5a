"""On the real stack, the channels' own proofs of a phone: the phone line's caller ID (a real SIP phone, baresip)
and a contact Telegram vouches for (the Bot API double). A draft started on web chat follows the person who holds
the phone on file, and nobody else.

One stack serves both: its phone line answers on a SIP port of this module's own, its Telegram channel polls
the Bot API double, its one-time codes go to the SMSC double.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

from bot import texts
from channels.phone.menus import choices_for
from bot.conversation import Button
from tests.channels.conftest import TOKEN
from tests.channels.phone.sip_client import Baresip, PortBlock, baresip_available
from tests.fakes.smsc import FakeSmsc
from tests.fakes.telegram_bot_api import FakeBotApi
from tests.speech.conftest import ko_model_path
from tests.stack.conftest import PORT_OFFSETS, Stack, smpp_settings, start_stack
from tests.stack.test_applications import answer_until_done, new_id, unique_person
from tests.stack.test_phone_line import Transcript, _run

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]

# A block of its own beside test_phone_line's (BASE_PORT + 0…99), so the two never share a port.
BASE_PORT = 25000 + 100 * (int(os.environ.get("TEST_PORT_OFFSET", "10")) - 10) + 100
SIP_PORT = BASE_PORT + 1
RTP_PORTS = (BASE_PORT + 10, BASE_PORT + 39)
CALLER_PORTS = PortBlock(BASE_PORT + 40)
LINE_URI = f"sip:service@127.0.0.1:{SIP_PORT}"
RESUMED = "已经接上了"


@pytest.fixture(scope="module")
def bot_api() -> Iterator[FakeBotApi]:
    """The Bot API double the stack's Telegram channel polls."""
    api = FakeBotApi(TOKEN)
    api.start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def channels_stack(tmp_path_factory: pytest.TempPathFactory, bot_api: FakeBotApi, smsc: FakeSmsc) -> Iterator[Stack]:
    """The assistant with its phone line and its Telegram channel on, codes to the SMSC double."""
    workdir = tmp_path_factory.mktemp("identity-channels")
    settings = {"SIP_LISTEN": f"127.0.0.1:{SIP_PORT}", "SIP_RTP_PORTS": f"{RTP_PORTS[0]}-{RTP_PORTS[1]}",
                "SPEECH_CACHE_DIR": str(workdir / "speech-cache"),
                "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": bot_api.root, "TELEGRAM_MODE": "polling"}
    if baresip_available():
        settings["VOSK_MODEL_PATH"] = str(ko_model_path())
    running = start_stack(workdir, port_offset=PORT_OFFSETS["identity_channels"], **settings,
                          **smpp_settings(smsc))
    yield running
    running.stop()


def web_draft(stack: Stack, opening: str, stop_at: str) -> dict[str, str]:
    """A person who starts an application on web chat, answers up to `stop_at` and leaves it unfinished."""
    person = {**unique_person(), "full_name": "欧阳秀兰"}  # not the example name the questions give
    web = new_id()
    reply, _ = answer_until_done(stack, web, stack.chat(web, opening), person, stop_at=stop_at)
    assert reply["state"]["requested_slot"] == stop_at
    stack.chat(web, "先不办了")
    return person


# ---- the phone line: the caller's own number ---------------------------------------------------------------

needs_baresip = pytest.mark.skipif(not baresip_available(), reason="baresip is not installed (setup-system.sh --test)")


def call_and_apply(stack: Stack, workdir, caller_number: str) -> tuple[list[str], list[str]]:
    """A baresip call from `caller_number`: 1 (社保卡), then the key read out for 现在申请; what the line said."""
    transcript = Transcript(stack)

    async def scenario():
        async with Baresip(workdir / "caller", CALLER_PORTS, user=caller_number) as caller:
            await caller.dial(LINE_URI, timeout=15)
            await asyncio.sleep(2.0)
            await caller.press("1")
            answered = len([t for t in await transcript.wait_for("bot") if t])
            buttons = [Button(b["title"], b["payload"]) for b in transcript.buttons()]
            await caller.press(next(c.key for c in choices_for(buttons) if c.title == "现在申请"))
            await transcript.wait_for("user", count=2)
            await transcript.wait_for("bot", count=answered + 2)
            await asyncio.sleep(1.0)  # the rest of the turn's messages
            await caller.hang_up()
            return transcript.said("user"), [t for t in transcript.said("bot") if t]

    return _run(scenario)


@needs_baresip
def test_a_call_from_the_phone_on_file_resumes_the_draft_started_on_web_chat(channels_stack, tmp_path):
    person = web_draft(channels_stack, "社保卡丢了 帮我补办一张", stop_at="address")
    user, bot = call_and_apply(channels_stack, tmp_path, person["phone"])
    assert user[1] == '/start_application{"service": "social_security_card"}'
    spoken = "\n".join(bot)
    assert RESUMED in spoken, bot
    # Name, ID number and phone came with the draft: the line goes on with the address.
    assert texts.text("utter_question_full_name") not in spoken
    assert texts.text("utter_question_social_security_card_address") in spoken, bot


@needs_baresip
def test_a_call_from_another_number_is_not_offered_the_draft(channels_stack, tmp_path):
    person = web_draft(channels_stack, "社保卡丢了 帮我补办一张", stop_at="address")
    stranger = f"137{uuid.uuid4().int % 10**8:08d}"
    _, bot = call_and_apply(channels_stack, tmp_path, stranger)
    spoken = "\n".join(bot)
    assert RESUMED not in spoken and person["full_name"] not in spoken
    assert texts.text("utter_question_full_name") in spoken, bot
    # The draft stayed where it was: the phone's holder still picks it up.
    _, owner = call_and_apply(channels_stack, tmp_path / "owner", person["phone"])
    assert RESUMED in "\n".join(owner), owner


# ---- Telegram: a contact Telegram vouches for ----------------------------------------------------------------

class TelegramUser:
    """One Telegram user writing to the bot through the Bot API double."""

    def __init__(self, bot_api: FakeBotApi) -> None:
        self.api = bot_api
        self.id = 10**9 + uuid.uuid4().int % 10**9

    def received(self) -> list[str]:
        return self.api.sent_texts(self.id)

    def send(self, text: str, expect: str | None = None) -> list[str]:
        """Sends a text; waits for `expect` in a new message (or any new message); the new messages."""
        return self._after(self.api.text_update(self.id, text), expect)

    def share_contact(self, phone_number: str, contact_user_id: int | None, expect: str) -> list[str]:
        """Shares a contact: the own one (the request-contact button) or someone else's card."""
        return self._after(self.api.contact_update(self.id, phone_number, contact_user_id), expect)

    def _after(self, update: dict, expect: str | None) -> list[str]:
        before = len(self.received())
        self.api.add_update(update)
        self.api.wait_for(lambda: any(expect in t for t in self.received()[before:]) if expect
                          else len(self.received()) > before, timeout=60)
        return self.received()[before:]

    def fill_until_the_code_is_offered(self, person: dict[str, str]) -> None:
        """Starts the residence permit and gives name, ID number and phone: a draft on that phone exists elsewhere."""
        self.send("帮我办居住证", expect=texts.text("utter_question_full_name"))
        self.send(person["full_name"])
        self.send(person["id_number"])
        sent = self.send(person["phone"], expect=texts.text("utter_telegram_share_contact"))
        assert RESUMED not in "\n".join(sent), "knowing the numbers resumes nothing"
        offer = [c for c in self.api.called("sendMessage") if int(c.params["chat_id"]) == self.id
                 and c.params.get("text") == texts.text("utter_telegram_share_contact")][-1]
        assert offer.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True


def test_sharing_ones_own_contact_resumes_the_draft_started_on_web_chat(channels_stack, bot_api, smsc):
    person = web_draft(channels_stack, "帮我办居住证", stop_at="employer_or_school")
    resident = TelegramUser(bot_api)
    resident.fill_until_the_code_is_offered(person)
    resident.share_contact(f"+86{person['phone']}", resident.id, expect=texts.text("utter_telegram_contact_confirmed"))
    # The question still open is the address; once answered, the rest of the draft comes along.
    after = resident.send(person["address"], expect=texts.text("utter_ask_employer_or_school"))
    assert any(RESUMED in t for t in after), after
    assert not any(texts.text("utter_ask_arrival_date") in t for t in after), after


def test_a_contact_of_someone_elses_number_is_refused_and_resumes_nothing(channels_stack, bot_api, smsc):
    person = web_draft(channels_stack, "帮我办居住证", stop_at="employer_or_school")
    resident = TelegramUser(bot_api)
    resident.fill_until_the_code_is_offered(person)
    # A forwarded contact card: Telegram names another user (or none) as the number's owner.
    resident.share_contact(f"+86{person['phone']}", resident.id + 1, expect=texts.text("utter_telegram_contact_not_own"))
    resident.share_contact(f"+86{person['phone']}", None, expect=texts.text("utter_telegram_contact_not_own"))
    after = resident.send(person["address"], expect=texts.text("utter_ask_arrival_date"))
    assert RESUMED not in "\n".join(after), "the arrival date the draft holds is asked for again"
    assert texts.text("utter_telegram_contact_confirmed") not in resident.received()


def test_a_contact_shared_before_applying_brings_the_draft_at_once(channels_stack, bot_api, smsc):
    person = web_draft(channels_stack, "帮我办居住证", stop_at="employer_or_school")
    resident = TelegramUser(bot_api)
    resident.share_contact(f"+86{person['phone']}", resident.id, expect=texts.text("utter_telegram_contact_confirmed"))
    started = resident.send("帮我办居住证", expect=RESUMED)
    assert texts.text("utter_question_full_name") not in started
