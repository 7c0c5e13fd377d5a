"""Ages however said, "cannot come" questions, question words and everyday tasks: small readers the understanding relies on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.understanding.access import cannot_come
from bot.understanding.ages import chinese_number, spoken_ages
from bot.understanding.combine import combine
from bot.understanding.question_words import asked_kind
from bot.understanding.search import ServiceMatcher

pytestmark = pytest.mark.timeout(60)
_DIGITS = "零一二三四五六七八九"


def chinese(n: int) -> str:
    """How a number from 10 to 119 is written in characters (85 -> 八十五)."""
    if n >= 100:
        rest = n - 100
        return "一百" + ("" if rest == 0 else ("零" + _DIGITS[rest] if rest < 10 else "一" + chinese(rest)))
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + ("" if ones == 0 else _DIGITS[ones])


@given(st.integers(min_value=10, max_value=119))
def test_every_age_written_in_characters_is_read_as_its_number(n):
    assert chinese_number(chinese(n)) == n


@given(st.integers(min_value=60, max_value=119), st.sampled_from(["了", "岁", "岁了", "多岁", ""]))
def test_an_older_persons_age_becomes_its_decade(age, after):
    said = f"我爸今年{chinese(age)}{after} 听说有钱领"
    assert f"{age // 10 * 10}岁" in spoken_ages(said)


@given(st.integers(min_value=1, max_value=59))
def test_younger_ages_stay_as_they_are(age):
    said = f"孩子今年{chinese(age) if age >= 10 else _DIGITS[age]}岁了"
    assert spoken_ages(said) == said


@pytest.mark.parametrize("text", ["欠了八千多", "一千来块", "干了二十多天", "八十块钱", "九十天", "拨打12333",
                                  "交了十五年", "八十多块钱"])
def test_amounts_durations_and_numbers_are_not_ages(text):
    assert spoken_ages(text) == text


@pytest.mark.parametrize(("text", "service"), [
    ("我爸八十五了 听说有钱领 怎么弄", "senior_allowance"),
    ("俺爹都八十好几了 上了岁数国家给钱", "senior_allowance"),
    ("我妈七十了 想办个坐公交不要钱的卡", "senior_card"),
])
def test_a_relative_and_an_age_name_the_service(text, service):
    assert ServiceMatcher.from_catalogue().match(text)[0].service_id == service


@pytest.mark.parametrize("text", ["他腿脚不好去不了怎么办", "能上门办吗", "能让我儿子代办吗", "我在外地回不去 能委托别人吗",
                                  "家里人能替他办吗"])
def test_cannot_come_is_seen(text):
    assert cannot_come(text)


@pytest.mark.parametrize("text", ["住院花了三万多怎么报", "腿脚不好 能吃低保吗", "社保卡怎么补", "去哪里办"])
def test_a_situation_alone_is_not_cannot_come(text):
    assert not cannot_come(text)


@pytest.mark.parametrize(("text", "kind"), [
    ("这个卡去哪里办", "ask_location_hours"), ("一个月能发多少钱", "ask_fee"), ("大概要多久能办下来", "ask_processing_time"),
    ("要带啥东西", "ask_materials"), ("在哪办 要带啥", None),
    ("养老金怎么领", "ask_how_to_apply"), ("这个怎么停掉", "ask_how_to_apply"), ("住院的钱怎么报", "ask_how_to_apply"),
    ("社保卡在哪办 怎么办", "ask_location_hours"), ("要带啥 怎么申请", "ask_materials"),
    ("外地人能不能办 怎么办", "ask_eligibility"), ("你们怎么办事的", None), ("办得怎么样了", None),
    ("辞职了公积金还能取不", "ask_eligibility"), ("我家这情况能不能吃低保", "ask_eligibility"),
    ("灵活就业交社保能不能选档次", "ask_fee"), ("能不能告诉我在哪办", "ask_location_hours"),
    ("坐车不要钱的那个卡在哪办", "ask_location_hours"),
])
def test_question_words_name_one_kind_of_question_or_none(text, kind):
    assert asked_kind(text) == kind


def _parse(intent: str, confidence: float = 0.7) -> dict:
    return {"intent": {"name": intent, "confidence": confidence}, "entities": []}


@pytest.mark.parametrize("text", ["帮我写一首诗", "帮我订一张去重庆的火车票", "帮我申请一个微信号",
                                  "帮我给房东写个条子"])
def test_an_everyday_task_is_out_of_scope_even_when_read_as_an_application(text):
    matcher = ServiceMatcher.from_catalogue()
    assert combine(_parse("start_application"), text, matcher, set(matcher.catalogue.services)).intent == "out_of_scope"


@pytest.mark.parametrize("text", ["红烧排骨怎么做", "饺子咋包", "有没有简单的家常菜谱", "排骨汤要煮几个小时"])
def test_cooking_is_out_of_scope_whatever_the_engine_read(text):
    matcher = ServiceMatcher.from_catalogue()
    assert combine(_parse("ask_how_to_apply"), text, matcher, set(matcher.catalogue.services)).intent == "out_of_scope"


def test_a_short_message_naming_a_service_the_engine_is_unsure_about_is_a_question_about_it():
    matcher = ServiceMatcher.from_catalogue()
    known = set(matcher.catalogue.services)
    assert combine(_parse("check_status", 0.3), "提取公积金", matcher, known).intent == "ask_how_to_apply"
    assert combine(_parse("check_status", 0.3), "公积金取要钱吗", matcher, known).intent == "ask_fee"
    assert combine(_parse("check_status", 0.8), "提取公积金", matcher, known).intent == "check_status"
    assert combine(_parse("stop", 0.3), "不办公积金了", matcher, known).intent == "stop"


def test_an_application_for_a_service_stays_an_application():
    matcher = ServiceMatcher.from_catalogue()
    result = combine(_parse("start_application"), "帮我申请居住证", matcher, set(matcher.catalogue.services))
    assert (result.intent, result.service) == ("start_application", "residence_permit")


def test_question_words_decide_when_the_engine_is_unsure_not_when_it_is_sure():
    matcher = ServiceMatcher.from_catalogue()
    known = set(matcher.catalogue.services)
    text = "居住证要带啥东西"
    assert combine(_parse("ask_how_to_apply", 0.6), text, matcher, known).intent == "ask_materials"
    assert combine(_parse("ask_how_to_apply", 0.99), text, matcher, known).intent == "ask_how_to_apply"


@pytest.mark.parametrize(("intent", "text"), [
    ("request_human", "我妈瘫在床上去不了 你们能派个人来家里吗"),
    ("start_application", "社保卡让我闺女替我去领行不行"),
    ("ask_location_hours", "老年证能委托邻居代领吗"),
    ("ask_eligibility", "我在住院 家属去办可以吗"),
])
def test_someone_who_cannot_come_asks_how_it_is_done_without_coming(intent, text):
    matcher = ServiceMatcher.from_catalogue()
    assert combine(_parse(intent), text, matcher, set(matcher.catalogue.services)).intent == "ask_how_to_apply"


def test_cannot_come_keeps_a_request_for_a_person_and_a_question_of_what_to_bring():
    matcher = ServiceMatcher.from_catalogue()
    known = set(matcher.catalogue.services)
    assert combine(_parse("request_human"), "我去不了 给我转人工", matcher, known).intent == "request_human"
    assert combine(_parse("ask_materials"), "上门办身份证的话要准备啥", matcher, known).intent == "ask_materials"


def test_why_someone_cannot_come_is_no_service():
    matcher = ServiceMatcher.from_catalogue()
    known = set(matcher.catalogue.services)
    condition = combine(_parse("ask_how_to_apply"), "我妈腿脚不好行动不便 派人上门办行不行", matcher, known)
    assert (condition.intent, condition.service) == ("ask_how_to_apply", None)
    named = combine(_parse("ask_how_to_apply"), "我妈腿脚不好行动不便 残疾证派人上门办行不行", matcher, known)
    assert named.service == "disability_certificate"
