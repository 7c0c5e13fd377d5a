"""Keys, numbers and menus as a caller meets them."""

from __future__ import annotations

import pytest

from bot import texts
from bot.conversation import Button
from channels.phone import menus
from channels.phone.keypad import groups, mobile_of, read_aloud, speakable, spoken_digits


def test_buttons_become_keys_with_a_person_always_on_zero():
    choices = menus.choices_for([Button("要带什么", "/ask_materials"), Button("找工作人员", "/request_human"),
                                 Button("在哪里办", "/ask_location_hours")])
    assert [(c.key, c.payload) for c in choices] == [("1", "/ask_materials"), ("0", "/request_human"),
                                                     ("2", "/ask_location_hours")]
    assert menus.read_options(choices) == "要带什么请按1，在哪里办请按2，找工作人员请按0。"
    # A reply without a person button still offers one.
    assert menus.read_options(choices[:1]).endswith(texts.text("utter_phone_option_human") + "。")


def test_the_top_menu_offers_the_most_asked_services():
    text, choices = menus.menu()
    assert text == texts.text("utter_phone_menu")
    assert choices[0].title == "社保卡" and choices[0].key == "1"
    assert choices[-1].key == "0" and choices[-1].payload == "/request_human"
    assert len({c.key for c in choices}) == len(choices)


@pytest.mark.parametrize(("said", "digits"), [
    ("幺三八 零零幺三 八零零零", "13800138000"), ("我的号码是138 0013 8000", "13800138000"),
    ("一一零一零五一九四九一二三一零零二叉", "11010519491231002X"), ("两百块", None), ("社保卡", None),
])
def test_spoken_numbers(said, digits):
    assert spoken_digits(said) == digits


@pytest.mark.parametrize(("said", "answer"), [("对", True), ("是的", True), ("一", True), ("不对", False),
                                             ("不是", False), ("二", False), ("什么", None)])
def test_spoken_confirmations(said, answer):
    assert menus.confirmation(said) is answer


def test_spoken_menu_keys_and_commands():
    assert menus.spoken_key("第二个") == "2" and menus.spoken_key("按3") == "3" and menus.spoken_key("社保卡") is None
    assert menus.asks_for_person("转人工") and menus.asks_for_person("人工")
    assert not menus.asks_for_person("工作人员几点上班")


def test_caller_numbers_and_groups():
    assert mobile_of("sip:+8613912345678@trunk.example") == "13912345678"
    assert mobile_of("sip:8001@pbx") is None
    assert groups("13800138000") == ["138", "0013", "8000"]
    assert groups("11010519491231002X") == ["110105", "19491231", "002X"]
    assert groups("12345") == ["12345"]
    assert read_aloud("13800138000") == "幺三八，零零幺三，八零零零"


def test_long_numbers_and_codes_in_replies_are_read_one_by_one():
    spoken = speakable("工作人员会打13800138000联系您，热线12345。您排在第1位，大约等4分钟。预约码 YY-7K3Q9P。")
    assert "幺三八，零零幺三，八零零零" in spoken and "幺二三四五" in spoken
    assert "第1位" in spoken and "4分钟" in spoken
    assert "Y Y，七 K 三 Q 九 P" in spoken
    assert speakable("申请编号 123-456-789") == "申请编号 幺二三，四五六，七八九"
