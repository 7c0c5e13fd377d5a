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


class ReadsBy(FakeRasa):
    """A fake engine that reads a text by the first of its (words, intent, confidence) rules that the text contains."""

    def __init__(self, rules: list[tuple[str, str, float]], otherwise: tuple[str, float]):
        super().__init__()
        self.rules, self.otherwise = rules, otherwise

    def handler(self, request):
        if request.url.path == "/model/parse":
            import json

            text = json.loads(request.content)["text"]
            intent, confidence = next(((i, c) for words, i, c in self.rules if words in text), self.otherwise)
            self.parse_result = {"intent": {"name": intent, "confidence": confidence}, "entities": [],
                                 "intent_ranking": []}
        return super().handler(request)


def read_with(engine: FakeRasa, story: str):
    return asyncio.run(read(RasaClient(get_settings(), transport=engine.transport()), story)).understanding


def test_the_last_question_of_a_story_is_the_one_answered_however_sure_the_engine_is_of_the_one_before():
    engine = ReadsBy([("多少钱", "ask_fee", 0.95)], ("ask_how_to_apply", 0.6))
    story = "我老家的房子要卖 买家要看不动产证明 我人在外地打工 这个证明多少钱 怎么开"
    understanding = read_with(engine, story)
    assert (understanding.public_intent, understanding.service) == ("ask_how_to_apply", "property_certificate")


def test_a_story_whose_question_asks_where_is_a_question_of_where_not_an_application():
    engine = ReadsBy([], ("start_application", 0.8))
    story = "我跟我哥合伙开的饭馆 营业执照上是他 现在他不干了 经营者得换成我 到哪去办变更"
    understanding = read_with(engine, story)
    assert (understanding.public_intent, understanding.service) == ("ask_location_hours", "business_license")


def test_a_story_that_ends_in_displeasure_after_its_question_is_a_complaint():
    engine = ReadsBy([("差什么", "ask_materials", 0.99)], ("complain", 0.7))
    story = "老年证的材料我送了两回了 到底还差什么 一趟趟让我来回跑 服务也太差了"
    assert read_with(engine, story).public_intent == "complain"


def test_a_story_of_someone_who_cannot_come_asks_how_it_is_done_without_coming():
    engine = ReadsBy([], ("ask_eligibility", 0.8))
    story = "我婆婆九十多了 耳朵背腿也不行 高龄津贴要本人去窗口吗 能不能上门来办"
    understanding = read_with(engine, story)
    assert (understanding.public_intent, understanding.service) == ("ask_how_to_apply", "senior_allowance")


def test_a_story_that_says_nothing_of_an_appointment_is_never_read_as_booking_or_changing_one():
    # The engine takes "能不能加急" and "…到哪去办变更" for a change of appointment.
    soaked_card = ReadsBy([("要多久", "ask_processing_time", 0.6), ("加急", "cancel_appointment", 0.9)],
                          ("ask_materials", 0.3))
    story = "身份证洗衣服的时候泡烂了 下礼拜要去外地考试 现在去补要多久 能不能加急"
    assert read_with(soaked_card, story).public_intent == "ask_processing_time"
    new_owner = ReadsBy([("合伙", "cancel_appointment", 0.4), ("，到哪去办变更", "cancel_appointment", 0.6)],
                        ("ask_location_hours", 0.35))
    story = "我跟我哥合伙开的饭馆 营业执照上是他 现在他不干了 经营者得换成我 到哪去办变更"
    assert read_with(new_owner, story).public_intent == "ask_location_hours"
