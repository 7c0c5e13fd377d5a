"""How the engine's intent and the catalogue matcher are combined into one understanding."""

from __future__ import annotations

from bot.understanding.combine import combine
from bot.knowledge.catalogue import get_catalogue
from bot.understanding.search import ServiceMatcher

CATALOGUE = get_catalogue()
MATCHER = ServiceMatcher.from_catalogue(CATALOGUE)
KNOWN = set(CATALOGUE.services)


def parse(intent: str, confidence: float = 0.9, entities=(), ranking=()):
    return {"intent": {"name": intent, "confidence": confidence}, "entities": list(entities),
            "intent_ranking": list(ranking)}


def test_the_matcher_finds_the_service_the_engine_missed():
    result = combine(parse("ask_materials"), "暂住证要带什么", MATCHER, KNOWN)
    assert (result.public_intent, result.service) == ("ask_materials", "residence_permit")


def test_a_held_document_the_engine_tagged_yields_to_the_service_asked_about():
    tagged = [{"entity": "service", "value": "residence_permit", "confidence_entity": 0.99}]
    result = combine(parse("ask_eligibility", 0.9, tagged), "孩子转学要什么条件，我们有居住证", MATCHER, KNOWN)
    assert result.service == "school_enrollment"
    untagged_topic = combine(parse("ask_materials", 0.9, tagged), "办居住证要什么材料", MATCHER, KNOWN)
    assert untagged_topic.service == "residence_permit"


def test_when_the_engine_and_the_catalogue_disagree_about_the_service_both_are_offered():
    tagged = [{"entity": "service", "value": "unemployment_benefit", "confidence_entity": 0.7}]
    result = combine(parse("ask_materials", 0.9, tagged), "办社保卡要带什么", MATCHER, KNOWN)
    assert result.service == "social_security_card"
    assert result.ambiguous and set(result.candidates) == {"social_security_card", "unemployment_benefit"}


def test_a_bare_service_name_is_a_question_about_it():
    result = combine(parse("out_of_scope", 0.6), "低保", MATCHER, KNOWN)
    assert (result.public_intent, result.service) == ("ask_how_to_apply", "minimum_living_allowance")


def test_keyboard_mashing_is_out_of_scope_even_when_the_engine_is_fairly_sure():
    result = combine(parse("affirm", 0.84), "asdfgh", MATCHER, KNOWN)
    assert (result.public_intent, result.service) == ("out_of_scope", None)


def test_a_follow_up_keeps_the_conversation_service_over_a_weak_sound_alike():
    result = combine(parse("ask_fee"), "要钱吗", MATCHER, KNOWN, context_service="residence_permit")
    assert result.service == "residence_permit"


def test_a_clearly_named_other_service_replaces_the_context():
    result = combine(parse("ask_fee"), "那身份证补办要钱吗", MATCHER, KNOWN, context_service="residence_permit")
    assert result.service == "id_card"


def test_a_fallback_keeps_a_plausible_real_intent():
    ranking = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "ask_fee", "confidence": 0.4}]
    result = combine(parse("nlu_fallback", 0.45, ranking=ranking), "社保卡贵不贵", MATCHER, KNOWN)
    assert result.public_intent == "ask_fee"


def test_button_payloads_are_taken_as_they_are():
    entities = [{"entity": "service", "value": "id_card"}]
    result = combine(parse("ask_fee", 1.0, entities), '/ask_fee{"service": "id_card"}', MATCHER, KNOWN)
    assert (result.intent, result.service, result.service_confidence) == ("ask_fee", "id_card", 1.0)


def test_engine_finer_intents_are_reported_with_vocabulary_names():
    assert combine(parse("emergency"), "救命啊有人晕倒了", MATCHER, KNOWN).public_intent == "request_human"


def test_a_transcript_of_nothing_but_hesitations_is_out_of_scope():
    result = combine(parse("affirm", 0.83), "嗯 嗯 那个 呃", MATCHER, KNOWN)
    assert (result.public_intent, result.service) == ("out_of_scope", None)


def test_a_bare_spoken_yes_is_kept():
    assert combine(parse("affirm", 0.8), "嗯嗯", MATCHER, KNOWN).public_intent == "affirm"


def test_of_two_services_residents_mix_up_the_weaker_one_named_too_is_offered():
    result = combine(parse("ask_how_to_apply"), "我妈九十了要去做认证吗", MATCHER, KNOWN)
    assert result.service == "senior_allowance"
    assert result.candidates == ("senior_allowance", "pension_qualification")


def test_services_that_are_not_mixed_up_are_not_offered_for_a_weak_mention():
    result = combine(parse("ask_materials"), "孩子上学要什么材料，我们有居住证", MATCHER, KNOWN)
    assert (result.service, result.candidates) == ("school_enrollment", ())


def test_asking_how_far_a_request_has_got_is_a_status_question_even_in_an_angry_story():
    for text in ("申请交了快两个月 能不能帮我看看审批到哪了", "我上回投诉的事有人处理没有", "低保批下来了没"):
        assert combine(parse("complain", 0.7), text, MATCHER, KNOWN).public_intent == "check_status", text
    assert combine(parse("ask_eligibility", 0.7), "低保还能办没", MATCHER, KNOWN).public_intent == "ask_eligibility"
    assert combine(parse("complain", 0.95), "审批到哪了都不告诉我 什么态度", MATCHER, KNOWN).public_intent == "complain"


def test_a_status_question_with_its_numbers_after_it_is_not_taken_for_a_bare_service_name():
    # The numbers make the engine read an answer to a question ("inform"); the service is named too.
    text = "我的居住证办到哪一步了 567-954-882 13812345678"
    assert combine(parse("inform", 0.88), text, MATCHER, KNOWN).public_intent == "check_status"


def test_whether_it_was_done_at_all_is_a_status_question():
    for text in ("今年的生存认证到底办没办上", "上个月交的申请审没审", "补贴批没批下来", "我那个申请有没有办好"):
        assert combine(parse("ask_how_to_apply", 0.7), text, MATCHER, KNOWN).public_intent == "check_status", text
    assert combine(parse("ask_how_to_apply", 0.7), "这个证怎么办", MATCHER, KNOWN).public_intent == "ask_how_to_apply"


def test_a_status_question_read_as_an_application_or_a_correction_is_a_status_question():
    # "我投诉过了，想知道…" looks like a new complaint to file, or like correcting a field of a form.
    for intent in ("start_application", "correct_field"):
        result = combine(parse(intent, 0.7), "上个月交的工伤材料 想问问有人处理没有", MATCHER, KNOWN)
        assert result.public_intent == "check_status", intent


def test_a_bare_service_name_keeps_the_engines_doubt():
    # The reading of a clause the engine is sure of must be able to win over it.
    result = combine(parse("nlu_fallback", 0.45), "无房证明", MATCHER, KNOWN)
    assert result.public_intent == "ask_how_to_apply" and result.intent_confidence == 0.45


def test_displeasure_with_the_office_is_a_complaint_however_sure_the_engine_is_of_a_question():
    for text, intent in (("残疾补贴三个月没发了 打电话也没人接 你们到底会不会办事", "ask_how_to_apply"),
                         ("一个证办了一个月 天天让我来回跑 服务太差了", "ask_materials"),
                         ("有个事想投述你们窗口", "request_human"),
                         ("打电话问居住证的事 一个推一个 踢皮球", "ask_location_hours")):
        assert combine(parse(intent, 0.99), text, MATCHER, KNOWN).public_intent == "complain", text


def test_wishes_and_complaints_about_an_employer_are_not_complaints_about_the_office():
    for text, intent in (("居住证要带什么 别让我来回跑", "ask_materials"),
                         ("免得白跑一趟 社保卡能网上办吗", "ask_eligibility"),
                         ("老板欠薪三个月 我要投诉他", "start_application")):
        assert combine(parse(intent, 0.8), text, MATCHER, KNOWN).public_intent == intent, text


def test_a_complaint_about_the_office_is_about_no_service_its_story_only_describes():
    described = combine(parse("complain", 0.8), "为了来办事被扣工资 你们什么态度", MATCHER, KNOWN)
    assert (described.public_intent, described.service) == ("complain", None)
    named = combine(parse("complain", 0.8), "居住证窗口的人态度太差了", MATCHER, KNOWN)
    assert (named.public_intent, named.service) == ("complain", "residence_permit")


def test_an_appointment_already_made_with_a_new_time_is_a_change_not_a_new_booking():
    for text in ("礼拜三那个号我去不了了 换到礼拜五", "之前约的公积金那个号作废吧", "预约好的时间有冲突 往后延两天"):
        assert combine(parse("book_appointment", 0.8), text, MATCHER, KNOWN).public_intent == "cancel_appointment", text
    assert combine(parse("book_appointment", 0.8), "帮我约个号 下礼拜去", MATCHER, KNOWN).public_intent == "book_appointment"


def test_a_visit_asked_for_without_a_word_of_change_is_a_booking_though_the_service_is_to_be_changed():
    for text in ("明天上午去办残疾证 给我排个号", "周四去窗口换社保卡 先挂个号"):
        assert combine(parse("cancel_appointment", 0.8), text, MATCHER, KNOWN).public_intent == "book_appointment", text
    for text in ("预约的时间改一下", "约的那个号帮我取消"):
        assert combine(parse("cancel_appointment", 0.8), text, MATCHER, KNOWN).public_intent == "cancel_appointment", text


def test_one_weak_phrase_alone_is_a_guess_the_person_is_asked_to_confirm():
    # "生意" hints at a business licence, "外地户口" at a residence permit: nothing else names a service.
    story = "我在餐馆洗碗干了八个月，老板娘说生意不好，现在店都关门了，人也找不到，你们管不管这个"
    for text, guess in (("外地户口的也能办吗", "residence_permit"), (story, "business_license")):
        result = combine(parse("ask_eligibility", 0.9), text, MATCHER, KNOWN)
        assert result.service == guess and result.ambiguous and result.candidates[0] == guess


def test_a_weak_phrase_with_the_engines_tag_or_a_named_service_is_answered():
    tagged = [{"entity": "service", "value": "residence_permit", "confidence_entity": 0.9}]
    assert not combine(parse("ask_eligibility", 0.9, tagged), "外地户口的也能办吗", MATCHER, KNOWN).ambiguous
    named = combine(parse("ask_eligibility", 0.9), "外地户口能办居住证吗", MATCHER, KNOWN)
    assert (named.service, named.ambiguous) == ("residence_permit", False)
    # The conversation is about a service already: the follow-up stays with it.
    follow_up = combine(parse("ask_eligibility", 0.9), "外地户口的也能办吗", MATCHER, KNOWN,
                        context_service="social_security_card")
    assert (follow_up.service, follow_up.ambiguous) == ("social_security_card", False)



def test_a_newborns_household_registration_asks_whether_the_birth_registration_is_meant():
    # Both are done for a newborn: the household registration (落户) and, before it, the birth registration.
    for text in ("孙子刚满月 户口还没上 先要做个什么登记", "孩子刚出生 户口还没上 要做什么登记"):
        result = combine(parse("ask_how_to_apply", 0.8), text, MATCHER, KNOWN)
        assert result.service == "household_registration"
        assert result.ambiguous and set(result.candidates) == {"household_registration", "birth_registration"}
    adult = combine(parse("ask_how_to_apply", 0.8), "户口还没上 要做什么登记", MATCHER, KNOWN)
    assert (adult.service, adult.candidates) == ("household_registration", ())


def test_how_far_it_has_got_is_a_status_question_however_sure_the_engine_is_of_an_answer_after_it():
    text = "我的居住证办到哪一步了 144-698-390 18612345678"
    for reading in ("inform", "start_application"):  # what the numbers after the question make the engine read
        result = combine(parse(reading, 0.99), text, MATCHER, KNOWN)
        assert (result.public_intent, result.service) == ("check_status", "residence_permit")
    sure_question = combine(parse("ask_materials", 0.95), "办到哪一步了还要带什么", MATCHER, KNOWN)
    assert sure_question.public_intent == "ask_materials"
