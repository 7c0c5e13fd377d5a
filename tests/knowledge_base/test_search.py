"""The matcher finds the service a resident means, however they write or say it."""

from __future__ import annotations

import pytest

from bot.understanding.pinyin import fuzzy_syllable, segment_pinyin
from bot.understanding.search import ServiceMatch, ServiceMatcher
from tests.knowledge_base.conftest import needs_real_catalogue


def best(matcher: ServiceMatcher, text: str) -> str | None:
    matches = matcher.match(text)
    return matches[0].service_id if matches else None


# ------------------------------------------------------------------ each way of matching (fixture catalogue)


def test_an_alias_inside_a_sentence_is_an_exact_match(fixture_matcher):
    [match] = fixture_matcher.match("你好，我想办个钓鱼证，去哪里办")
    assert match == ServiceMatch("fishing_permit", match.score, "钓鱼证", "exact")
    assert match.score >= 0.95


def test_toneless_pinyin_is_understood_alone_and_inside_chinese(fixture_matcher):
    assert fixture_matcher.match("diaoyuzheng")[0].method == "pinyin"
    assert best(fixture_matcher, "我要办diaoyuzheng") == "fishing_permit"
    assert best(fixture_matcher, "diao yu zheng zen me ban") == "fishing_permit"
    assert best(fixture_matcher, "我想办钓yu证") == "fishing_permit"


def test_a_homophone_from_a_pinyin_keyboard_or_a_transcript_is_understood(fixture_matcher):
    [match] = fixture_matcher.match("调鱼正在哪办")
    assert (match.service_id, match.method) == ("fishing_permit", "homophone")


def test_a_southern_accent_near_homophone_is_understood_less_surely(fixture_matcher):
    [match] = fixture_matcher.match("diao yu zen")  # zh said as z, -eng as -en
    assert (match.service_id, match.method) == ("fishing_permit", "near_homophone")
    assert match.score < fixture_matcher.match("diao yu zheng")[0].score


def test_one_extra_or_missing_character_is_a_typo(fixture_matcher):
    assert fixture_matcher.match("我要办钓鱼的证")[0].method == "typo"
    assert best(fixture_matcher, "我想办养犬登记") == "dog_licence"  # name without 证
    assert best(fixture_matcher, "钓鱼许证怎么办") == "fishing_permit"


def test_a_description_without_a_name_is_matched_by_keywords(fixture_matcher):
    [match] = fixture_matcher.match("我最近养了一条小狗")
    assert (match.service_id, match.method) == ("dog_licence", "keyword")


def test_two_services_described_together_are_both_returned(fixture_matcher):
    matches = fixture_matcher.match("养了条狗，周末想去河边钓鱼")
    assert {m.service_id for m in matches} == {"dog_licence", "fishing_permit"}
    assert abs(matches[0].score - matches[1].score) < 0.08


def test_a_service_named_as_a_document_to_bring_is_not_what_the_person_wants(fixture_matcher):
    matches = fixture_matcher.match("办狗证要带身份证吗")
    assert matches[0].service_id == "dog_licence"
    assert all(m.score < matches[0].score - 0.2 for m in matches[1:])


def test_two_services_named_as_topics_are_both_returned(fixture_matcher):
    assert {m.service_id for m in fixture_matcher.match("身份证和钓鱼证")} == {"resident_id", "fishing_permit"}


def test_a_shorter_name_inside_a_longer_name_of_another_service_does_not_count(catalogue_copy):
    from bot.knowledge.catalogue import load_catalogue
    from tests.knowledge_base.test_catalogue import edit

    edit(catalogue_copy / "services" / "dog_licence.yml", lambda d: d["aliases"].append("钓鱼证狗牌"))
    matcher = ServiceMatcher(load_catalogue(catalogue_copy))
    assert [m.service_id for m in matcher.match("钓鱼证狗牌")] == ["dog_licence"]


def test_ordinary_words_close_to_a_name_are_not_typos(fixture_matcher):
    assert fixture_matcher.match("我的身份是学生") == []


def test_limit_caps_the_number_of_matches(fixture_matcher):
    assert len(fixture_matcher.match("身份证和钓鱼证", limit=1)) == 1
    assert fixture_matcher.match("身份证和钓鱼证", limit=0) == []


def test_matches_are_frozen_values():
    match = ServiceMatch("dog_licence", 0.9, "狗证", "exact")
    with pytest.raises(AttributeError):
        match.score = 1.0  # type: ignore[misc]


def test_pinyin_helpers_split_typed_pinyin_and_blur_accents():
    assert [s for s, _, _ in segment_pinyin("shebaoka")] == ["she", "bao", "ka"]
    assert fuzzy_syllable("zheng") == fuzzy_syllable("zen")
    assert fuzzy_syllable("nan") == fuzzy_syllable("lang")
    assert fuzzy_syllable("fu") == fuzzy_syllable("hu")
    assert fuzzy_syllable("zhong") != fuzzy_syllable("zhon")  # -ong is not -on


def test_from_catalogue_reuses_the_matcher_of_the_same_catalogue(fixture_catalogue):
    first = ServiceMatcher.from_catalogue(fixture_catalogue)
    assert ServiceMatcher.from_catalogue(fixture_catalogue) is first


# ------------------------------------------------------------------ the real catalogue


@needs_real_catalogue
@pytest.mark.parametrize(
    ("text", "service"),
    [
        # names and aliases in sentences
        ("我的社保卡不见了怎么补", "social_security_card"),
        ("请问高龄津贴每个月多少钱", "senior_allowance"),
        ("异地就医备案怎么弄", "medical_transfer_registration"),
        ("公积金能不能拿来交房租", "housing_fund_withdrawal"),
        ("上班路上被车撞了算不算工伤", "work_injury"),
        # Traditional characters
        ("請問殘疾證怎麼辦理", "disability_certificate"),
        ("我要辦理居住證", "residence_permit"),
        ("戶口遷移需要什麼", "household_registration"),
        # toneless pinyin, alone or mixed
        ("我想办shebaoka", "social_security_card"),
        ("ju zhu zheng zen me ban", "residence_permit"),
        ("wo yao ban shen fen zheng", "id_card"),
        ("gongjijin", "housing_fund_withdrawal"),
        # homophones and accent slips
        ("申请高龄进贴", "senior_allowance"),
        ("我想问一下生于登记", "birth_registration"),
        ("我要报工上", "work_injury"),
        ("老年人忧待证怎么办", "senior_card"),
        ("我想办森育登记", "birth_registration"),
        ("灵活旧业参保", "flexible_employment_insurance"),
        # one character wrong, missing or extra
        ("异地就备案", "medical_transfer_registration"),
        ("社保的卡丢了", "social_security_card"),
        ("养老金领取资格人证", "pension_qualification"),
        ("个体工商户登", "business_license"),
        # descriptions
        ("老板不给钱", "wage_arrears_complaint"),
        ("干了活拿不到钱", "wage_arrears_complaint"),
        ("老板拖了我三个月工资", "wage_arrears_complaint"),
        ("孩子上学", "school_enrollment"),
        ("孩子要转学到这边读初中", "school_enrollment"),
        ("在外地看病", "medical_transfer_registration"),
        ("我要去北京看病医保怎么办", "medical_transfer_registration"),
        ("房子的证明", "property_certificate"),
        ("查一下我名下有几套房", "property_certificate"),
        ("每年都要刷脸那个", "pension_qualification"),
        ("我爸的退休金这个月停了", "pension_qualification"),
        ("我妈今年九十岁能领什么补贴", "senior_allowance"),
        ("我六十五了坐车能免费吗", "senior_card"),
        ("厂子倒闭了我们能领什么钱", "unemployment_benefit"),
        ("被裁员了能领钱吗", "unemployment_benefit"),
        ("家里很困难没有收入", "minimum_living_allowance"),
        ("我没有单位想自己交养老保险", "flexible_employment_insurance"),
        ("我老婆怀孕了要办什么", "birth_registration"),
        ("我儿子是脑瘫能办个证吗", "disability_certificate"),
        ("想开个早餐店要办什么手续", "business_license"),
        ("在厂里被机器夹断了手指", "work_injury"),
        ("我是外地的在这里打工要办什么证", "residence_permit"),
        ("住院花了两万块医保没刷上能报吗", "medical_reimbursement"),
        ("我想把户口迁到我老公这边", "household_registration"),
        ("身份证快过期了要换", "id_card"),
        # spoken, with fillers
        ("嗯那个就是说我想问一下那个养老金认证", "pension_qualification"),
    ],
)
def test_real_services_are_found_however_residents_put_it(real_matcher, text, service):
    assert best(real_matcher, text) == service, real_matcher.match(text)


@needs_real_catalogue
@pytest.mark.parametrize(
    ("text", "services"),
    [
        ("在外地住院的钱怎么报", {"medical_transfer_registration", "medical_reimbursement"}),
        ("我的社保卡和身份证都丢了", {"social_security_card", "id_card"}),
        ("我在工地干活摔伤了老板还不给钱", {"work_injury", "wage_arrears_complaint"}),
    ],
)
def test_close_candidates_are_both_returned_so_the_assistant_can_ask(real_matcher, text, services):
    matches = real_matcher.match(text)
    assert {m.service_id for m in matches[:2]} == services
    assert matches[0].score - matches[1].score <= 0.08


@needs_real_catalogue
def test_a_document_to_bring_does_not_become_the_topic(real_matcher):
    matches = real_matcher.match("办居住证要带身份证吗")
    assert matches[0].service_id == "residence_permit"
    assert all(m.score <= matches[0].score - 0.2 for m in matches[1:])


@needs_real_catalogue
def test_a_document_the_person_already_holds_is_background(real_matcher):
    matches = real_matcher.match("孩子要上小学了，要什么条件，居住证我们都有")
    assert matches[0].service_id == "school_enrollment", matches


@needs_real_catalogue
@pytest.mark.parametrize("text, topic, held", [
    ("孩子转学要啥条件，我们有居住证", "school_enrollment", "residence_permit"),
    ("我拿着身份证，想问问社保卡在哪办", "social_security_card", "id_card"),
    ("社保卡我早办了，养老金资格认证怎么做", "pension_qualification", "social_security_card"),
    ("帮我申请失业金，身份证号都准备好了", "unemployment_benefit", "id_card"),
])
def test_a_document_the_person_says_they_hold_is_background_even_when_not_a_listed_material(
        real_matcher, text, topic, held):
    matches = real_matcher.match(text)
    assert matches[0].service_id == topic, matches
    assert [m.background for m in matches if m.service_id == held] in ([True], []), matches


@needs_real_catalogue
def test_a_verb_ending_the_clause_before_a_name_does_not_make_it_held(real_matcher):
    matches = real_matcher.match("社保卡早办了养老金资格认证怎么做")
    assert matches[0].service_id == "pension_qualification"
    assert not matches[0].background


@needs_real_catalogue
def test_a_word_next_to_a_name_without_its_first_character_is_not_a_typo(real_matcher):
    assert "minimum_living_allowance" not in {m.service_id for m in real_matcher.match("自由职业参保申请多久生效")}


@needs_real_catalogue
@pytest.mark.parametrize(
    "text",
    ["asdfgh 啊啊啊", "今天天气怎么样", "我想吃火锅", "哈哈哈", "你们几点下班", "我要转人工", "谢谢你", "12345",
     "老人家想问一下", "居住地在哪里", "我的身份是学生", "/greet"],
)
def test_messages_about_no_service_match_nothing(real_matcher, text):
    assert real_matcher.match(text) == []


@needs_real_catalogue
def test_scores_are_between_zero_and_one_and_best_first(real_matcher):
    for text in ["社保卡", "我在工地干活摔伤了老板还不给钱", "在外地住院的钱怎么报", "sfz"]:
        matches = real_matcher.match(text)
        assert matches
        assert all(0 < m.score <= 1 for m in matches)
        assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


@needs_real_catalogue
def test_a_message_at_the_length_limit_still_finds_every_service_it_names(real_matcher):
    # How fast: benchmarks/text_speed.py.
    message = "我想问一下身份证社保卡居住证的事情，" * 110  # about 2000 characters
    matches = real_matcher.match(message)
    assert {m.service_id for m in matches} == {"id_card", "social_security_card", "residence_permit"}
