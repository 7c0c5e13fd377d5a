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
