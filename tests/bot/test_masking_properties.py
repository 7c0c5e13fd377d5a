"""Any ID or mobile number, however a resident writes it, is masked before an event is stored or a line is logged.

Hypothesis writes the numbers the ways residents do (spaced, full-width, 〇一二, 壹贰叁, the radio digits
幺洞拐勾, with `·`, `-`, `/` or spaces between digits, inside a sentence) and checks that the digits never
survive, while everything else in the stored event (entities, timestamps, confidences) stays as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.privacy import RedactingFilter
from bot.services.redaction import _walk, replacer

# Under `make mutation` each planted bug reruns these tests: fewer, fixed examples keep that bounded and repeatable.
UNDER_MUTATION = bool(os.environ.get("MUTANT_UNDER_TEST"))
EXAMPLES = settings(max_examples=30 if UNDER_MUTATION else 300, deadline=None, derandomize=UNDER_MUTATION)
PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
             50, 51, 52, 53, 54, 61, 62, 63, 64, 65]
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
# Each way of writing a digit a resident uses; several forms may mix within one number.
FORMS = {
    "ascii": "0123456789",
    "full_width": "０１２３４５６７８９",
    "chinese": "〇一二三四五六七八九",
    "chinese_zero": "零一二三四五六七八九",
    "capital": "零壹贰叁肆伍陆柒捌玖",
    "radio": "洞幺两三四五六拐八勾",
}
SEPARATORS = ["", " ", "·", "-", "/", "  "]
_ASCII = {ch: str(digit) for form in FORMS.values() for digit, ch in enumerate(form)} | {"X": "X", "Ｘ": "X", "x": "X"}


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    """A valid 18-character ID number: a province, a real birth date, a sequence and the right check character."""
    born = draw(st.dates(dt.date(1900, 1, 1), dt.date(2024, 12, 31)))
    body = f"{draw(st.sampled_from(PROVINCES))}{draw(st.integers(0, 9999)):04d}{born:%Y%m%d}" \
           f"{draw(st.integers(0, 999)):03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS)) % 11]


mobile_numbers = st.builds(lambda prefix, rest: f"1{prefix}{rest:09d}", st.integers(3, 9), st.integers(0, 10**9 - 1))


@st.composite
def written(draw: st.DrawFn, number: str) -> str:
    """`number` as a resident might type or a transcript give it: one form, or a mix, with one kind of separator."""
    forms = draw(st.lists(st.sampled_from(sorted(FORMS)), min_size=1, max_size=2))
    separator = draw(st.sampled_from(SEPARATORS))
    chars = []
    for ch in number:
        chars.append(ch if ch == "X" else FORMS[draw(st.sampled_from(forms))][int(ch)])
    return separator.join(chars)


SENTENCES = st.sampled_from(["{}", "我的号码是{}", "身份证：{}，谢谢", "电话{}。", "是 {} 吗", "{}\n"])
# Text around a number that must come out unchanged (no digits, so no number can spill into it).
SURROUNDINGS = st.text(alphabet="我要办社保卡请问居住证，。？ abc", max_size=12)


def _digits_of(text: str) -> str:
    """Every digit in `text`, in whatever form, as ASCII: what an attacker could read back."""
    return "".join(_ASCII.get(ch, "") for ch in text)


def _exposed(number: str, text: str) -> bool:
    """Whether more of `number` than its first 3 and last 4 characters can be read in `text`.

    The sentences around the number hold no digit, so every digit in `text` comes from the number.
    """
    return len(_digits_of(text)) > 7


def _event(message: str) -> dict:
    return {
        "event": "user", "timestamp": 1717000000.25, "text": message,
        "parse_data": {
            "text": message,
            "intent": {"name": "inform", "confidence": 0.9731},
            "entities": [{"entity": "service", "value": "社保卡", "start": 0, "end": 3, "confidence_entity": 0.88}],
            "intent_ranking": [{"name": "inform", "confidence": 0.9731}, {"name": "greet", "confidence": 0.01}],
        },
        "input_channel": "web", "message_id": "m-1", "metadata": {"retries": 0, "flags": [True, None, 1.5]},
    }


def _without_text(event: dict) -> dict:
    copy = json.loads(json.dumps(event))
    copy.pop("text")
    copy["parse_data"].pop("text")
    return copy


@EXAMPLES
@given(number=st.one_of(id_numbers(), mobile_numbers), data=st.data(), sentence=SENTENCES,
       before=SURROUNDINGS, after=SURROUNDINGS)
def test_a_known_number_never_reaches_storage_and_the_rest_of_the_event_survives(number, data, sentence, before,
                                                                                  after):
    message = before + sentence.format(data.draw(written(number))) + after
    values = {"id_number": number} if len(number) == 18 else {"phone": number}
    stored = _walk(_event(message), replacer(values))
    assert not _exposed(number, stored["text"]) and not _exposed(number, stored["parse_data"]["text"])
    assert stored["text"].startswith(before.rstrip()[:1]) and stored["text"].endswith(after[-1:])
    assert _without_text(stored) == _without_text(_event(message))


@EXAMPLES
@given(number=st.one_of(id_numbers(), mobile_numbers), data=st.data(), sentence=SENTENCES)
def test_an_unknown_number_never_reaches_a_log(number, data, sentence):
    message = sentence.format(data.draw(written(number)))
    record = logging.LogRecord("bot", logging.INFO, __file__, 1, "heard %s", (message,), None)
    RedactingFilter().filter(record)
    assert not _exposed(number, record.getMessage())


@EXAMPLES
@given(number=st.one_of(id_numbers(), mobile_numbers), cut=st.integers(4, 10), data=st.data())
def test_a_number_split_across_two_messages_never_reaches_storage(number, cut, data):
    first, second = data.draw(written(number[:cut])), data.draw(written(number[cut:]))
    values = {"id_number": number} if len(number) == 18 else {"phone": number}
    replace = replacer(values)
    stored = [_walk(_event(f"号码是{first}"), replace), _walk(_event(f"{second}，就这些"), replace)]
    assert not _exposed(number, "".join(event["text"] for event in stored))


def test_walking_an_event_keeps_every_value_that_is_no_text():
    event = {"a": [1, 2.5, None, True, {"b": [0.75]}], "timestamp": 1.5, "n": None}
    assert _walk(event, replacer({"phone": "13812345678"})) == event


@EXAMPLES
@given(message_id=st.one_of(st.just("5b31d97e7c444402834856287b69edd0"),
                            st.binary(min_size=16, max_size=16).map(bytes.hex), mobile_numbers))
def test_a_message_id_survives_a_redaction_so_a_retried_message_is_still_found_by_it(message_id):
    # A random hex id often holds a run of digits shaped like a phone number ("…444402834856287…").
    event = {**_event("我的电话是13812345678"), "message_id": message_id}
    stored = _walk(event, replacer({"phone": "13812345678"}))
    assert stored["message_id"] == message_id and "13812345678" not in stored["text"]


def test_the_number_in_a_redacted_text_keeps_only_its_visible_ends():
    stored = _walk({"text": "电话138 1234 5678"}, replacer({"phone": "13812345678"}))
    assert stored == {"text": "电话138****5678"}
    assert re.search(r"1234", stored["text"]) is None


def test_a_one_character_name_and_a_short_address_are_not_masked_everywhere_they_appear():
    # Masking every 李 or every 青松路 in a conversation would hide words that are no one's personal data.
    replace = replacer({"full_name": "李", "address": "青松路"})
    assert replace("李先生问青松路怎么走") == "李先生问青松路怎么走"
    replace = replacer({"full_name": "李雷", "address": "松路9号"})
    assert replace("李雷住松路9号") == "李*住松路****", "four characters are an address"


def test_a_short_piece_of_a_known_number_is_left_and_a_longer_one_is_masked():
    replace = replacer({"phone": "13812345678"})
    assert replace("请到138号窗口") == "请到138号窗口", "three digits are too common to be the number"
    assert replace("尾号 5 6 7 8") == "尾号 ****"


def test_an_id_number_given_with_a_small_x_is_masked_however_its_x_is_written():
    replace = replacer({"id_number": "11010519491231002x"})
    assert replace("身份证 110105 1949 1231 002ｘ") == "身份证 110***********002X"
    assert replace("后几位 1231 002Ｘ") == "后几位 ********"


def test_with_no_known_values_other_numbers_are_masked_and_the_vaults_references_stay():
    replace = replacer({})
    # References of an ID number and a card have their lengths: masked, they would no longer resolve.
    assert replace("电话13812345678，引用001234567890123456，卡0000123456789012") == \
        "电话138****5678，引用001234567890123456，卡0000123456789012"


def test_a_known_number_spoken_with_a_digit_right_after_it_is_still_masked():
    # Twelve Chinese digits in a row are no personal number to the general rule: only the known value finds it.
    assert replacer({"phone": "13812345678"})("电话幺三八幺二三四五六七八九点前打我") == "电话138****5678九点前打我"
    assert replacer({"id_number": "11010519491231002X"})("身份证幺幺洞幺洞五幺九四九幺二三幺洞洞二x") == \
        "身份证110***********002X"


@EXAMPLES
@given(number=st.one_of(id_numbers(), mobile_numbers), data=st.data(), sentence=SENTENCES)
def test_redacting_a_stored_event_again_changes_nothing_more(number, data, sentence):
    # Events are redacted again when another application of the conversation is submitted, and by the migration.
    replace = replacer({"id_number": number} if len(number) == 18 else {"phone": number})
    once = replace(sentence.format(data.draw(written(number))))
    assert replace(once) == once


def test_the_visible_end_of_a_masked_number_stays_visible_when_redacted_again():
    replace = replacer({"id_number": "110101199003074514", "phone": "13812345678"})
    once = replace("身份证110101199003074514，电话 13812345678")
    assert once == "身份证110***********4514，电话 138****5678"
    assert replace(once) == once
    assert replace("尾号5678，身份证后四位4514") == "尾号****，身份证后四位****", "alone, a piece is still masked"
