"""What residents type or a transcript gives is cleaned the same way everywhere."""

from __future__ import annotations


import pytest

from bot.knowledge.catalogue import KNOWLEDGE_BASE_DIR
from bot.understanding.normalise import normalise


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [
        ("請問殘疾證怎麼辦理？", "请问残疾证怎么办理？"),
        ("我的養老金這個月沒有發", "我的养老金这个月没有发"),
        ("乾淨的衣服", "干净的衣服"),
        ("ＩＤ号码１２３", "id号码123"),
        ("SheBaoKa", "shebaoka"),
        ("我 想 办 社保卡", "我想办社保卡"),  # a speech transcript's word spaces
        ("she bao ka", "she bao ka"),  # spaces between pinyin words carry meaning
        ("社保卡  丢了，，，怎么办？？？", "社保卡丢了，怎么办？"),
        ("！！你好", "你好"),
        ("《居住证暂行条例》说的", "居住证暂行条例说的"),
    ],
)
def test_script_width_case_and_punctuation_are_unified(typed, cleaned):
    assert normalise(typed) == cleaned


@pytest.mark.parametrize(
    ("spoken", "cleaned"),
    [
        ("嗯，那个，我想问一下社保卡", "我想问一下社保卡"),
        ("呃我想办那个居住证", "我想办居住证"),
        ("就是说我身份证丢了", "我身份证丢了"),
        ("我就是要办低保", "我要办低保"),
        ("然后呢，怎么交费啊", "怎么交费"),
        ("这个那个，高龄津贴", "高龄津贴"),
        ("每年都要刷脸那个", "每年都要刷脸"),
        ("额，我想问", "我想问"),
    ],
)
def test_spoken_fillers_are_removed(spoken, cleaned):
    assert normalise(spoken) == cleaned


@pytest.mark.parametrize(
    "sentence",
    [
        "哪个窗口可以办",  # 哪个 asks which one; it is not the filler 那个
        "这个月的养老金没到",
        "那个时候办的证",
        "额度是多少",
        "他是我的成就是什么",
        "迁就一下",
        "这不就是社保卡吗",
    ],
)
def test_words_that_contain_filler_characters_stay(sentence):
    assert normalise(sentence) == sentence


@pytest.mark.parametrize(
    ("stutter", "cleaned"),
    [
        ("啊啊啊啊我的身份证丢了", "我的身份证丢了"),
        ("请问请问请问社保卡怎么办", "请问社保卡怎么办"),
        ("我我我想办低保", "我想办低保"),
        ("谢谢谢谢", "谢谢"),
        ("好的好的好的", "好的"),
    ],
)
def test_stutters_repeated_three_times_collapse(stutter, cleaned):
    assert normalise(stutter) == cleaned


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("电话13888888888", "电话13888888888"),
        ("我的电话是一三八八八八八一二三四", "我的电话是一三八八八八八一二三四"),
        ("11010519491231002x", "11010519491231002X"),  # the ID check letter keeps its case
        ("3.5元", "3.5元"),
        ("9:30到17:00", "9:30到17:00"),
        ("2024-05-01", "2024-05-01"),
        ("我八十八岁", "我八十八岁"),
    ],
)
def test_digits_and_numbers_are_kept(text, cleaned):
    assert normalise(text) == cleaned


def test_button_payloads_pass_through_unchanged():
    payload = '/ask_fee{"service":"id_card"}'
    assert normalise(payload) == payload


def test_only_fillers_leave_nothing():
    assert normalise("嗯嗯") == ""
    assert normalise("   ") == ""
    assert normalise("") == ""


def _corpus() -> list[str]:
    lines = [
        "嗯，那个，就是说我想问一下那个社保卡丢了怎么补办啊",
        "請問請問請問身份證丟了怎麼補辦？？？",
        "好啊好啊好",
        "那个那个那个啊啊啊",
        "ＡＢＣ　ｄｅｆ　社保卡",
        "就是就是就是",
        "呃呃呃然后呢然后呢然后呢",
        "身份证号11010519491231002x，电话138-0000-0000。",
    ]
    for path in sorted(KNOWLEDGE_BASE_DIR.glob("**/*.yml")):
        lines += [line.strip(" -") for line in path.read_text("utf-8").splitlines() if line.strip()]
    return lines


def test_normalising_twice_changes_nothing():
    for line in _corpus():
        once = normalise(line)
        assert normalise(once) == once, line


def test_normalising_twice_changes_nothing_for_any_mix_of_fillers_stutters_and_scripts():
    import random

    pieces = ["那个", "这个", "嗯", "啊", "就是", "就是说", "然后呢", "然后", "哦", "额", "，", "。", "？", "!", " ",
              "社保", "卡", "请问", "好", "谢", "1", "x", "Ｃ", "\u3000", "哪个", "月", "時", "辦", "...", "-", "/",
              ":", "是", "不", "成", "就", "乾", "淨", "麼", "甚", "11010519491231002", "八八"]
    generator = random.Random(20261122)
    for _ in range(20_000):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(1, 14)))
        once = normalise(text)
        assert normalise(once) == once, text


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [
        ("乾隆皇帝", "乾隆皇帝"),  # the phrase table keeps 乾 in a name; the character table alone makes it 干
        ("乾淨", "干净"),
        ("甚麼時候辦", "什么时候办"),
        ("頭髮", "头发"),
    ],
)
def test_traditional_characters_are_converted_by_phrase_where_the_phrase_decides(typed, cleaned):
    assert normalise(typed) == cleaned


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [
        ("社保卡。。。", "社保卡"),
        ("第一句。第二句", "第一句。第二句"),
        ("完了...", "完了"),
        ("我要.办", "我要。办"),
        ("你好~", "你好"),
        ("你好？。", "你好？"),
        ("你好，。请问", "你好。请问"),
        ("??你好", "你好"),
        ("社保卡丢了，", "社保卡丢了"),
        ("-办", "办"),
        ("x.", "x"),
        ("a.com", "a.com"),
        ("3.5元", "3.5元"),
        ("2024/5/1", "2024/5/1"),
        ("9:30到", "9:30到"),
        ("138-1234-5678", "138-1234-5678"),
        ("地址:北京", "地址，北京"),
        ("北京/上海", "北京上海"),
        ("a/b", "a/b"),
        ("a-", "a"),
    ],
)
def test_full_stops_and_symbols_end_a_clause_except_between_letters_or_digits(typed, cleaned):
    assert normalise(typed) == cleaned


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [
        ("  前后空格  ", "前后空格"),
        ("我\t想\n办", "我想办"),
        ("a  b", "a b"),
        ("a\u3000b", "a b"),
        ("   ", ""),
        ("", ""),
    ],
)
def test_whitespace_is_trimmed_and_collapsed(typed, cleaned):
    assert normalise(typed) == cleaned


def test_a_stutter_of_a_doubled_word_keeps_the_word_and_numerals_are_never_collapsed():
    assert normalise("谢谢谢谢谢谢") == "谢谢"
    assert normalise("哈哈哈哈") == "哈哈"
    assert normalise("办办办证") == "办证"
    assert normalise("一一一一") == "一一一一"


def test_the_check_letter_of_an_id_number_stays_upper_case():
    assert normalise("11010119900307123x") == "11010119900307123X"
    assert normalise("身份证11010119900307123x。") == "身份证11010119900307123X"
    assert normalise("110101199003071234x") == "110101199003071234x"  # 18 digits then x: no ID number
