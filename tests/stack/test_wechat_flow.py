"""A follower does through WeChat what the widget offers, with the real stack and the WeChat API double.

Questions, an application to its reference, a status question, a person (staff replies arrive through the
customer-service API), a rating, and an appointment; choices are answered by their number, as WeChat has no
buttons. What the form asks next is read from Rasa's tracker, as the test's own view; the follower sees text.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import xmltodict

from bot import texts
from bot.services.applications import find_reference
from tests.fakes.wechat_api import FakeWeChatApi, event_xml, signed_query, text_xml
from tests.stack.conftest import PORT_OFFSETS, Stack, start_stack
from tests.stack.test_applications import ANSWERS, unique_person
from tests.stack.test_handoff_flow import Desk

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def wechat_api() -> Iterator[FakeWeChatApi]:
    double = FakeWeChatApi()
    double.start()
    yield double
    double.stop()


@pytest.fixture(scope="module")
def wechat_stack(tmp_path_factory: pytest.TempPathFactory, wechat_api: FakeWeChatApi) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("wechat-stack"), port_offset=PORT_OFFSETS["wechat"], **wechat_api.settings())
    yield running
    running.stop()


class Follower:
    """One WeChat user writing to the account."""

    def __init__(self, stack: Stack, api: FakeWeChatApi):
        self.stack = stack
        self.api = api
        self.openid = f"oWx{uuid.uuid4().hex[:20]}"

    def says(self, text: str) -> str:
        """Sends a text message; returns the answer ("" when there is none), passive or, when slow, pushed."""
        before = len(self.api.sent_texts(self.openid))
        reply = self._post(text_xml(self.openid, text))
        if reply == texts.text("utter_wechat_working"):
            return self.api.wait_for_texts(self.openid, before + 1, timeout=60)[before]
        return reply

    def pushed(self, needle: str) -> str:
        """The first customer-service message that contains `needle` (waiting for it)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = [t for t in self.api.sent_texts(self.openid) if needle in t]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no pushed message with {needle!r}: {self.api.sent_texts(self.openid)}")

    def follows(self) -> str:
        return self._post(event_xml(self.openid, "subscribe"))

    def _post(self, xml: str) -> str:
        response = httpx.post(f"{self.stack.base_url}/wechat", params=signed_query(), content=xml.encode(),
                              timeout=30)
        assert response.status_code == 200, response.text
        return "" if response.text == "success" else xmltodict.parse(response.text)["xml"]["Content"]

    def requested(self) -> str | None:
        """The field the form asks for now (the test's view through Rasa's tracker)."""
        env = self.stack.env
        tracker = httpx.get(f"http://127.0.0.1:{env['RASA_PORT']}/conversations/wechat:{self.openid}/tracker",
                            params={"token": env.get("RASA_TOKEN", "dev-rasa-token")}, timeout=10).json()
        return tracker["slots"].get("requested_slot") if tracker.get("active_loop", {}).get("name") else None


def number_of(reply: str, title: str) -> str:
    """The number of the numbered choice whose title contains `title`."""
    found = re.search(rf"^(\d)\. [^\n]*{re.escape(title)}", reply, re.MULTILINE)
    assert found, f"no choice {title!r} in: {reply}"
    return found.group(1)


def test_questions_an_application_and_its_status_through_wechat(wechat_stack, wechat_api):
    follower = Follower(wechat_stack, wechat_api)
    assert "便民助手" in follower.follows()
    reply = follower.says("社保卡丢了要带什么")
    assert "身份证" in reply and "请回复数字选择" in reply

    answers = unique_person()
    reply = follower.says("帮我办居住证")
    for _ in range(15):
        slot = follower.requested()
        if slot is None:
            break
        reply = follower.says(answers.get(slot, ANSWERS.get(slot, "确认")))
    reference = find_reference(reply)
    assert reference, f"no reference in: {reply}"
    assert answers["id_number"] not in reply

    status = follower.says(f"查一下{reference}办得怎么样了")
    assert "受理" in status or "审核" in status or "办理" in status


def test_a_person_answers_through_the_customer_service_api_and_the_follower_rates(wechat_stack, wechat_api):
    follower = Follower(wechat_stack, wechat_api)
    desk = Desk(wechat_stack)
    follower.says("居住证怎么办理")
    reply = follower.says("我要找工作人员")
    assert "工作人员" in reply
    queued = desk.waiting_for(f"wechat:{follower.openid}")
    assert queued["channel"] == "wechat"
    assert desk.post(f"/handoffs/{queued['id']}/accept").status_code == 200
    desk.post(f"/handoffs/{queued['id']}/messages", {"text": "您好，我是窗口的工作人员，请讲。"})
    assert follower.pushed("【工作人员】") == "【工作人员】您好，我是窗口的工作人员，请讲。"
    assert follower.says("我的居住证快过期了") == "", "the assistant stays silent while staff answer"

    desk.post(f"/handoffs/{queued['id']}/close", {"resolution_note": "已说明续签"})
    rating = follower.pushed("不满意")
    assert "请回复数字选择" in rating
    assert len([t for t in wechat_api.sent_texts(follower.openid) if t.startswith("【工作人员】")]) == 1
    follower.says(number_of(rating, "不满意"))
    assert "负责人" in follower.says("等了好久才有人回")


def test_an_appointment_through_wechat(wechat_stack, wechat_api):
    follower = Follower(wechat_stack, wechat_api)
    follower.says("社保卡丢了怎么补")
    reply = follower.says("我想预约去大厅办")
    for _ in range(8):
        slot = follower.requested()
        if slot is None:
            break
        if slot == "appointment_district":
            reply = follower.says(number_of(reply, "东城区") if "东城区" in reply else "东城区")
        elif slot == "appointment_slot":
            reply = follower.says(number_of(reply, "星期"))
        elif slot == "appointment_name":
            reply = follower.says("张建国")
        elif slot == "appointment_phone":
            reply = follower.says("13812345678")
        else:
            reply = follower.says(number_of(reply, "社保卡") if "社保卡" in reply else "社保卡")
    assert re.search(r"[A-Z]{2}-[A-Z0-9]{6}", reply), f"no confirmation code in: {reply}"
    assert "13812345678" not in reply
