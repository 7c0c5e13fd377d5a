"""A rambling message is read for the request in its last clauses; the service comes from all of it."""

from __future__ import annotations

import asyncio

from bot.engine.client import RasaClient
from bot.settings import get_settings
from bot.understanding.pipeline import clauses, engine_input, question_focus, read
from tests.fakes.rasa import FakeRasa


class ParseByText(FakeRasa):
    """A fake engine that is sure about materials only when the question stands alone."""

    def handler(self, request):
        if request.url.path == "/model/parse":
            import json

            text = json.loads(request.content)["text"]
            sure = text.startswith("我也不知道")
            self.parse_result = {"intent": {"name": "ask_materials" if sure else "complain",
                                            "confidence": 0.95 if sure else 0.5},
                                 "entities": [], "intent_ranking": []}
        return super().handler(request)


RAMBLING = "我在这边打工五年了 一直租房子住 孩子明年要上学 老师说要有居住证 我也不知道 要准备啥材料"


def test_the_last_clauses_decide_and_the_whole_message_names_the_service():
    engine = ParseByText()
    client = RasaClient(get_settings(), transport=engine.transport())
    reading = asyncio.run(read(client, RAMBLING))
    assert reading.understanding.public_intent == "ask_materials"
    assert reading.understanding.service == "residence_permit"
    assert reading.text == "我也不知道，要准备什么材料"


def test_short_messages_reach_the_engine_without_an_extra_parse():
    engine = FakeRasa()
    client = RasaClient(get_settings(), transport=engine.transport())
    text, hint = asyncio.run(engine_input(client, "社保卡在哪办"))
    assert (text, hint) == ("社保卡在哪办", None)
    assert engine.received == []


def test_a_rambling_message_reaches_the_engine_as_its_focus_with_the_service_hint():
    engine = ParseByText()
    client = RasaClient(get_settings(), transport=engine.transport())
    text, hint = asyncio.run(engine_input(client, RAMBLING))
    assert (text, hint) == ("我也不知道，要准备什么材料", "residence_permit")


class SureOfLastClause(FakeRasa):
    """A fake engine that reads the story as eligibility, and is surest of the last clause alone."""

    def handler(self, request):
        if request.url.path == "/model/parse":
            import json

            text = json.loads(request.content)["text"]
            if text == "要去哪里申请":
                intent, confidence = "ask_location_hours", 0.97
            elif "，" in text and text.endswith("要去哪里申请") and not text.startswith("我离婚"):
                intent, confidence = "ask_eligibility", 0.6
            else:
                intent, confidence = "ask_eligibility", 0.7
            self.parse_result = {"intent": {"name": intent, "confidence": confidence},
                                 "entities": [], "intent_ranking": []}
        return super().handler(request)


def test_the_surest_of_the_whole_its_last_two_clauses_and_its_last_clause_decides():
    engine = SureOfLastClause()
    client = RasaClient(get_settings(), transport=engine.transport())
    story = "我离婚好几年了 一个人带孩子 日子过不下去了 听人说可以申请低保 要去哪里申请"
    reading = asyncio.run(read(client, story))
    assert reading.understanding.public_intent == "ask_location_hours"
    assert reading.understanding.service == "minimum_living_allowance"
    assert reading.text == "要去哪里申请"


def test_of_two_services_named_as_clearly_the_later_one_is_the_topic_of_a_story():
    engine = FakeRasa()
    client = RasaClient(get_settings(), transport=engine.transport())
    story = "钱包在菜场丢了 里头有身份证和社保卡 身份证我儿子帮我办 社保卡我自己去补 怎么补"
    understanding = asyncio.run(read(client, story)).understanding
    assert understanding.service == "social_security_card"
    assert set(understanding.candidates) == {"social_security_card", "id_card"}


class YesNoAtTheEnd(FakeRasa):
    """A fake engine that reads a story's last clause as a sure 'no'."""

    def handler(self, request):
        if request.url.path == "/model/parse":
            import json

            text = json.loads(request.content)["text"]
            intent, confidence = ("deny", 0.9) if text == "要不要本人去" else ("ask_location_hours", 0.6)
            self.parse_result = {"intent": {"name": intent, "confidence": confidence},
                                 "entities": [], "intent_ranking": []}
        return super().handler(request)


def test_a_story_ending_in_a_yes_or_no_question_is_not_read_as_a_bare_no():
    engine = YesNoAtTheEnd()
    client = RasaClient(get_settings(), transport=engine.transport())
    story = "我们买了套二手房 听同事说公积金可以提出来还房贷 但不知道去哪办 要不要本人去"
    understanding = asyncio.run(read(client, story)).understanding
    assert understanding.public_intent == "ask_location_hours"
    assert understanding.service == "housing_fund_withdrawal"


def test_a_question_ending_in_mei_you_is_the_focus_and_a_count_or_a_place_told_is_not():
    story = "我们几个在厂里干了半年，老板娘前几天说先欠着，孩子在医院等着呢，之前投诉的处理了没有，我也不懂"
    parts = clauses(story)
    assert parts[question_focus(parts)] == "之前投诉的处理了没有"


def test_a_document_the_person_says_they_lack_is_no_question():
    parts = clauses("想问问去投诉要准备什么，合同我没有")
    assert question_focus(parts) == 0
