"""Asking to be told by text message, as residents write it, and messages that only mention a text message."""

from __future__ import annotations

import asyncio

import pytest

from bot.engine.client import RasaClient
from bot.knowledge.catalogue import get_catalogue
from bot.settings import get_settings
from bot.understanding.combine import combine
from bot.understanding.pipeline import TEXTS_PAYLOAD, engine_input, read
from bot.understanding.search import ServiceMatcher
from bot.understanding.texts_wanted import asks_for_texts
from tests.fakes.rasa import FakeRasa

CATALOGUE = get_catalogue()
MATCHER = ServiceMatcher.from_catalogue(CATALOGUE)
KNOWN = set(CATALOGUE.services)

ASKS = [
    "有消息的话短信通知我吧",
    "有消息的话短新通知我吧",  # 短新, 短息, 段信, 短讯: slips of 短信
    "有消息短息告诉我",
    "段信通知我",
    "办下来了短讯通知我一声",
    "发个信息给我",
    "有结果了告诉我一声 发短信",
    "有结果了发信息告诉我",
    "用短信通知我",
    "我不会用手机上网 办好了给我发个信息",
    "俺不识字多 有信儿了给俺发个短信",
    "不用打电话 发短信通知我就行",
    "前一天给我个短信",
    "有消息就发到我手机上",
    "给我手机发条提醒",
    "我想收到短信提醒",
    "能不能短信提醒一下",
    "可以发短信通知吗",
    "要短信",
]
MENTIONS = [
    "验证码短信收不到怎么办",
    "短信里说的材料是什么",
    "短信上写的地址在哪",
    "我收到一条短信说社保卡做好了 去哪拿",
    "收到短信通知我去领证 在哪领",
    "短信通知我审核通过了 然后呢",
    "我没收到短信",
    "你们发来的短信是真的吗",
    "为什么老给我发短信",
    "发短信要钱吗",
    "给你们发短信能办吗",
    "能不能把要带的材料发个信息给我",
    "社保卡补办要带什么 有消息短信通知我",  # the question is answered first
    "别给我发短信了",
    "不要短信提醒",
    "不想收短信了",
    "取消短信提醒",
    "短信提醒不用了",
    "发微信告诉我",
    "有消息没有",
]


@pytest.mark.parametrize("text", ASKS)
def test_a_request_for_texts_is_recognised_however_it_is_written(text):
    assert asks_for_texts(text)


@pytest.mark.parametrize("text", MENTIONS)
def test_a_message_that_only_mentions_a_text_message_asks_for_none(text):
    assert not asks_for_texts(text)


def parse(intent: str, confidence: float, ranking=()):
    return {"intent": {"name": intent, "confidence": confidence}, "entities": [], "intent_ranking": list(ranking)}


@pytest.mark.parametrize("engine", [
    parse("nlu_fallback", 0.45, [{"name": "sms_opt_in", "confidence": 0.38}]),  # the condition confuses the engine
    parse("check_status", 0.7),  # "有结果了…" looks like a status question
    parse("affirm", 0.6),
])
def test_a_request_for_texts_is_read_as_one_whatever_the_engine_made_of_it(engine):
    result = combine(engine, "有消息的话短信通知我吧", MATCHER, KNOWN)
    assert result.intent == "sms_opt_in" and result.intent_confidence >= 0.9


def test_an_emergency_said_with_it_stays_an_emergency():
    assert combine(parse("emergency", 0.9), "救命 快来人 短信通知我家里人", MATCHER, KNOWN).intent == "emergency"


def test_a_request_for_texts_reaches_the_engine_as_the_buttons_payload():
    engine = FakeRasa()
    client = RasaClient(get_settings(), transport=engine.transport())
    assert asyncio.run(engine_input(client, "有结果了 告诉我一声 发短新")) == (TEXTS_PAYLOAD, None)
    assert asyncio.run(engine_input(client, "短信里说的材料是什么")) == ("短信里说的材料是什么", None)
    # A number in it is an answer a form may be waiting for: the engine reads the words.
    assert asyncio.run(engine_input(client, "13912345678 短信通知我"))[0] != TEXTS_PAYLOAD
    assert engine.received == []


def test_a_long_story_that_ends_asking_for_texts_is_read_as_that_request():
    engine = FakeRasa()
    engine.parse_result = parse("check_status", 0.8)
    client = RasaClient(get_settings(), transport=engine.transport())
    story = "我在工地上干活 白天手机顾不上看 这里的消息老是漏掉 居住证要是办下来了 麻烦发个短信给我"
    assert asyncio.run(engine_input(client, story)) == (TEXTS_PAYLOAD, None)
    assert asyncio.run(read(client, story)).understanding.intent == "sms_opt_in"


def test_a_story_the_engine_only_guesses_is_a_request_for_texts_is_read_for_its_question():
    # The engine's best guess under a fallback may be the request for texts; the story's words ask something else.
    class Guessing(FakeRasa):
        def handler(self, request):
            import json

            text = json.loads(request.content)["text"]
            self.parse_result = (parse("nlu_fallback", 0.45, [{"name": "sms_opt_in", "confidence": 0.26}])
                                 if "，" in text else parse("ask_eligibility", 0.8))
            return super().handler(request)

    client = RasaClient(get_settings(), transport=Guessing().transport())
    story = "我老伴去年冬天住了一个多月院 单子发票都一大沓在抽屉里 我也看不懂 现在还能不能拿去报"
    assert asyncio.run(read(client, story)).understanding.intent == "ask_eligibility"
