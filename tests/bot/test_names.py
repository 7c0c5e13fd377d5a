"""Names a person gives of themselves in a sentence are found; place names and ordinary words are not names."""

from __future__ import annotations

import pytest

from bot.names import COMMON_SURNAMES, names_in_text


def found(text: str) -> list[str]:
    return [text[start:end] for start, end in names_in_text(text)]


@pytest.mark.parametrize(("text", "name"), [
    ("我叫张三丰，身份证110105194912310021", "张三丰"),
    ("我叫张三丰身份证号是110105194912310021", "张三丰"),
    ("我叫王五想办社保卡", "王五"),
    ("我叫王五家住青松路12号", "王五"),
    ("我是欧阳明月", "欧阳明月"),
    ("姓名：李四", "李四"),
    ("姓名 李四 电话13812345678", "李四"),
    ("我的名字叫司马光。", "司马光"),
    ("名字是覃小燕", "覃小燕"),
    ("本人是刘德华，电话138", "刘德华"),
    ("你好，我是王小明，想办居住证", "王小明"),
])
def test_a_name_given_in_a_sentence_is_found(text, name):
    assert found(text) == [name]


@pytest.mark.parametrize("text", [
    "我是来办社保卡的", "我是江苏人", "我是黄埔区的", "我是武汉来的", "我是高龄老人", "本人身份证丢了",
    "我是刘先生", "我叫王师傅来修", "社保卡丢了怎么补", "张三丰的社保卡还没到", "我是王", "我叫车来接我",
    "居住证怎么办理", "我是退休职工",
])
def test_words_that_are_not_a_name_given_are_left_alone(text):
    assert found(text) == []


def test_the_surnames_are_the_household_registers_hundred_commonest():
    assert len(COMMON_SURNAMES) == len(set(COMMON_SURNAMES)) == 100
