"""Pinyin, English words and voice-transcript pauses are turned into the Chinese the engine knows."""

from __future__ import annotations

import pytest

from bot.understanding.rewrite import mark_pauses, pinyin_to_chinese, rewrite


@pytest.mark.parametrize("typed, expected", [
    ("laonianzheng zai nali ban", "老年证在哪里办"),
    ("shebaoka buban yao duo jiu", "社保卡补办要多久"),
    ("我想办shebaoka", "我想办社保卡"),
    ("dibao shenqing tiaojian", "低保申请条件"),
])
def test_toneless_pinyin_becomes_chinese(typed, expected):
    assert rewrite(typed) == expected


@pytest.mark.parametrize("typed, expected", [
    ("我的ID card丢了", "我的身份证丢了"),
    ("boss欠我三个月salary 去哪里complain", "老板欠我三个月工资去哪里投诉"),
])
def test_common_english_words_become_chinese(typed, expected):
    assert rewrite(typed) == expected


@pytest.mark.parametrize("text", ["asdfgh", "qwerty", "card123", "ok2"])
def test_latin_that_is_not_pinyin_is_left_alone(text):
    assert pinyin_to_chinese(text) == text


def test_pauses_between_clauses_of_a_transcript_become_commas():
    assert mark_pauses("我老伴去年住了院 单子都留着 不晓得咋个报") == "我老伴去年住了院，单子都留着，不晓得咋个报"
    assert mark_pauses("我 想 办 社保卡") == "我 想 办 社保卡", "spaced-out words are not clauses"


def test_button_payloads_pass_unchanged():
    assert rewrite('/ask_fee{"service": "id_card"}') == '/ask_fee{"service": "id_card"}'


@pytest.mark.parametrize("said, expected", [
    ("身份证冇咗 点样补办", "身份证没有了，怎么补办"),       # 粤语: 点样 asks how, not for a result
    ("老细唔出粮 去边度投诉", "老板不发工资，去哪里投诉"),
    ("佗位会使做养老金认证", "哪里可以做养老金认证"),          # 闽南
    ("手机上么样弄", "手机上怎么弄"),                          # 湖北
    ("恁给说说咋办", "你给说说怎么办"),                        # 河南 / 山东
    ("我申请嘅嘢搞掂未", "我申请的东西办好没有"),
])
def test_dialect_words_of_many_regions_become_mandarin(said, expected):
    assert rewrite(said) == expected


@pytest.mark.parametrize("text", ["审核怎么样了", "有什么事", "几点办公"])
def test_mandarin_that_contains_a_dialect_word_stays_as_it_is(text):
    assert rewrite(text) == text


def test_hesitations_do_not_hide_the_pauses_of_a_transcript():
    assert (rewrite("嗯 孩子上学 那个 学校要 嗯 无房证明 就是 查房产的那个 去哪开")
            == "孩子上学，学校要，无房证明，查房产的，去哪开")


@pytest.mark.parametrize("typed, expected", [("no", "不是"), ("yes", "是的")])
def test_english_yes_and_no_become_chinese(typed, expected):
    assert rewrite(typed) == expected


@pytest.mark.parametrize("typed, expected", [
    ("泥好", "你好"), ("您号", "您好"), ("布是", "不是"), ("在见", "再见"), ("蟹蟹", "谢谢"),
])
def test_a_short_reply_typed_with_characters_of_the_same_sound_is_that_reply(typed, expected):
    assert rewrite(typed) == expected


@pytest.mark.parametrize("word", ["步行", "可疑", "社保", "你们好"])
def test_a_real_word_that_sounds_like_a_reply_stays(word):
    assert rewrite(word) == word


def test_one_syllable_of_pinyin_is_read_only_as_a_whole_message():
    assert rewrite("dui") == "对"
    assert rewrite("a") == "a"
    assert rewrite("shebaoka dui").startswith("社保卡")


def test_a_northern_r_ending_in_pinyin_is_er():
    assert rewrite("laonianzheng zai nar ban") == "老年证在哪儿办"
