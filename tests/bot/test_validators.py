"""What residents type or say for their ID number, phone, dates, amounts, name and address, as a clerk would check it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.validators import (Invalid, ParsedDate, Valid, age_on, birth_date_from_id, parse_address, parse_amount,
                            parse_count, parse_date, parse_full_name, parse_id_number, parse_mobile, sex_from_id)

TODAY = dt.date(2024, 6, 15)
PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
             50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83]


def check_character(first_17: str) -> str:
    """GB 11643-1999: a1 = (12 - (sum of a_i * W_i) mod 11) mod 11 with W_i = 2^(i-1) mod 11, 10 written X."""
    total = sum(int(digit) * (2 ** (18 - position) % 11) for position, digit in enumerate(first_17, start=1))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def make_id(region: str, born: str, sequence: str) -> str:
    body = region + born + sequence
    return body + check_character(body)


# A man born 1 January 1990 in Beijing's Dongcheng district, and a woman born 29 February 1992 in Wuhan.
MAN = make_id("110101", "19900101", "123")
LEAP_WOMAN = make_id("420106", "19920229", "024")
PUBLISHED_EXAMPLE = "11010519491231002X"  # the example printed in GB 11643-1999


def rejected(result: object) -> str:
    assert isinstance(result, Invalid), result
    return result.code


# ---- ID number ----------------------------------------------------------------------------------

def test_the_published_example_id_number_is_accepted():
    assert parse_id_number(PUBLISHED_EXAMPLE, TODAY) == Valid(PUBLISHED_EXAMPLE)


@pytest.mark.parametrize("said", [
    "11010519491231002x",
    "我的身份证号是 110105 19491231 002X",
    "110105-19491231-002X",
    "１１０１０５１９４９１２３１００２Ｘ",
    "幺幺零幺零五幺九四九幺二三幺零零二叉",
    "一一零一零五一九四九一二三一零零二X，就是这个",
])
def test_an_id_number_is_recognised_however_it_was_typed_or_said(said):
    assert parse_id_number(said, TODAY) == Valid(PUBLISHED_EXAMPLE)


def test_a_wrong_check_character_is_refused():
    wrong = PUBLISHED_EXAMPLE[:17] + "3"
    assert rejected(parse_id_number(wrong, TODAY)) == "id_checksum"


def test_a_birth_date_that_does_not_exist_is_refused_even_with_a_matching_check_character():
    assert rejected(parse_id_number(make_id("110101", "19900230", "123"), TODAY)) == "id_birth_date"


def test_a_birth_date_in_the_future_is_refused():
    assert rejected(parse_id_number(make_id("110101", "20250101", "123"), TODAY)) == "id_birth_date"


def test_a_birth_year_before_1900_is_refused():
    assert rejected(parse_id_number(make_id("110101", "18991231", "123"), TODAY)) == "id_birth_date"


def test_an_unknown_province_code_is_refused():
    assert rejected(parse_id_number(make_id("990101", "19900101", "123"), TODAY)) == "id_region"


def test_residence_permits_of_hong_kong_macao_and_taiwan_residents_are_accepted():
    for region in ("810000", "820000", "830000"):
        number = make_id(region, "19900101", "123")
        assert parse_id_number(number, TODAY) == Valid(number)


@pytest.mark.parametrize("said, length", [("11010519491231002", "17"), ("1101051949123100211", "19")])
def test_a_number_with_too_few_or_too_many_digits_is_refused_with_its_length(said, length):
    result = parse_id_number(said, TODAY)
    assert rejected(result) == "id_length" and length in result.detail


def test_an_x_anywhere_but_at_the_end_is_refused():
    assert rejected(parse_id_number("11010X194912310021", TODAY)) == "id_format"


def test_an_answer_without_any_number_is_refused():
    assert rejected(parse_id_number("我不记得了", TODAY)) == "id_missing"
    assert rejected(parse_id_number("   ", TODAY)) == "empty"


def test_the_id_number_is_found_next_to_a_phone_number():
    assert parse_id_number(f"身份证 {MAN} 电话 13812345678", TODAY) == Valid(MAN)


def test_the_refusal_never_repeats_the_number():
    result = parse_id_number(PUBLISHED_EXAMPLE[:17] + "3", TODAY)
    assert PUBLISHED_EXAMPLE[:6] not in result.detail


def test_birth_date_age_and_sex_are_read_from_the_number():
    assert birth_date_from_id(MAN) == dt.date(1990, 1, 1)
    assert sex_from_id(MAN) == "male"
    assert sex_from_id(LEAP_WOMAN) == "female"
    assert age_on(MAN, dt.date(2019, 12, 31)) == 29
    assert age_on(MAN, dt.date(2020, 1, 1)) == 30


def test_someone_born_on_29_february_turns_older_on_1_march_in_other_years():
    assert age_on(LEAP_WOMAN, dt.date(2022, 2, 28)) == 29
    assert age_on(LEAP_WOMAN, dt.date(2022, 3, 1)) == 30
    assert age_on(LEAP_WOMAN, dt.date(2024, 2, 29)) == 32


def test_reading_a_birth_date_from_something_that_is_no_id_number_fails_loudly():
    with pytest.raises(ValueError):
        birth_date_from_id("12345")


valid_ids = st.builds(
    lambda province, area, born, sequence: make_id(f"{province:02d}{area:04d}", f"{born:%Y%m%d}", f"{sequence:03d}"),
    st.sampled_from(PROVINCES), st.integers(0, 9999),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY), st.integers(0, 999))


@settings(max_examples=300)
@given(valid_ids)
def test_any_well_formed_id_number_is_accepted(number):
    assert parse_id_number(number, TODAY) == Valid(number)
    spaced = f"{number[:6]} {number[6:14]} {number[14:].lower()}"
    assert parse_id_number(spaced, TODAY) == Valid(number)


@settings(max_examples=300)
@given(valid_ids, st.integers(0, 17), st.data())
def test_changing_any_one_character_of_an_id_number_is_noticed(number, position, data):
    choices = "0123456789X" if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in choices if c != number[position]]))
    changed = number[:position] + replacement + number[position + 1:]
    result = parse_id_number(changed, TODAY)
    assert isinstance(result, Invalid)
    region_ok = int(changed[:2]) in PROVINCES
    try:
        born_ok = dt.date(1900, 1, 1) <= dt.datetime.strptime(changed[6:14], "%Y%m%d").date() <= TODAY
    except ValueError:
        born_ok = False
    if region_ok and born_ok:
        assert result.code == "id_checksum"


@settings(max_examples=200)
@given(valid_ids, st.integers(0, 15))
def test_swapping_two_neighbouring_digits_of_an_id_number_is_noticed(number, position):
    if number[position] == number[position + 1]:
        return
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2:]
    assert isinstance(parse_id_number(swapped, TODAY), Invalid)


# ---- mobile phone -------------------------------------------------------------------------------

@pytest.mark.parametrize("said", [
    "13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "+8613812345678", "0086 13812345678",
    "86-138-1234-5678", "我的号码是13812345678", "１３８１２３４５６７８", "幺三八幺二三四五六七八", "一三八 一二三四 五六七八",
])
def test_a_mobile_number_is_recognised_however_it_was_typed_or_said(said):
    assert parse_mobile(said) == Valid("13812345678")


@pytest.mark.parametrize("said", ["12812345678", "11012345678", "010-12345678", "02087654321"])
def test_numbers_that_are_no_mainland_mobile_are_refused_for_their_prefix(said):
    assert rejected(parse_mobile(said)) == "phone_prefix"


@pytest.mark.parametrize("said", ["12345", "1381234567", "138123456789", "138 1234 5678 9"])
def test_a_mobile_number_with_a_digit_too_few_or_too_many_is_refused(said):
    assert rejected(parse_mobile(said)) == "phone_length"


def test_an_answer_without_digits_is_not_taken_for_a_phone_number():
    assert rejected(parse_mobile("没有手机")) == "phone_missing"


# ---- dates --------------------------------------------------------------------------------------

@pytest.mark.parametrize("said, day, precision", [
    ("2024年3月5日", dt.date(2024, 3, 5), "day"),
    ("2024-03-05", dt.date(2024, 3, 5), "day"),
    ("2024/3/5", dt.date(2024, 3, 5), "day"),
    ("20240305", dt.date(2024, 3, 5), "day"),
    ("二零二三年十二月二十五号", dt.date(2023, 12, 25), "day"),
    ("2023.5", dt.date(2023, 5, 1), "month"),
    ("2023年5月", dt.date(2023, 5, 1), "month"),
    ("去年三月", dt.date(2023, 3, 1), "month"),
    ("今年3月来的", dt.date(2024, 3, 1), "month"),
    ("三个月前", dt.date(2024, 3, 1), "month"),
    ("半年前", dt.date(2023, 12, 1), "month"),
    ("上个月", dt.date(2024, 5, 1), "month"),
    ("10天前", dt.date(2024, 6, 5), "day"),
    ("昨天", dt.date(2024, 6, 14), "day"),
    ("前年", dt.date(2022, 1, 1), "year"),
])
def test_dates_are_understood_relative_to_today(said, day, precision):
    result = parse_date(said, TODAY)
    assert isinstance(result, Valid) and isinstance(result.value, ParsedDate)
    assert result.value == day and result.value.precision == precision


def test_a_date_is_usable_wherever_a_date_is():
    value = parse_date("2024年3月5日", TODAY).value
    assert isinstance(value, dt.date) and value.isoformat() == "2024-03-05"


def test_a_day_that_does_not_exist_is_refused():
    assert rejected(parse_date("2023年2月29日", TODAY)) == "date_impossible"


def test_a_future_date_is_refused_where_it_must_be_past_and_taken_otherwise():
    assert rejected(parse_date("2024年7月1日", TODAY, must_be_past=True)) == "date_future"
    assert rejected(parse_date("明年3月", TODAY, must_be_past=True)) == "date_future"
    assert parse_date("2024年7月1日", TODAY) == Valid(dt.date(2024, 7, 1))


def test_today_and_the_current_month_count_as_past():
    assert parse_date("2024年6月15日", TODAY, must_be_past=True) == Valid(TODAY)
    assert parse_date("今年6月", TODAY, must_be_past=True) == Valid(dt.date(2024, 6, 1))


def test_a_day_without_a_year_asked_about_the_past_means_the_last_such_day():
    assert parse_date("12月1日", TODAY, must_be_past=True) == Valid(dt.date(2023, 12, 1))
    assert parse_date("3月5日", TODAY, must_be_past=True) == Valid(dt.date(2024, 3, 5))


def test_words_without_a_date_are_refused():
    assert rejected(parse_date("不记得了", TODAY)) == "date_not_found"
    assert rejected(parse_date("1899年5月", TODAY)) == "date_impossible"


@pytest.mark.parametrize("said, day, precision", [
    ("三个星期前", dt.date(2024, 5, 25), "day"),
    ("3个星期前", dt.date(2024, 5, 25), "day"),
    ("3星期前", dt.date(2024, 5, 25), "day"),
    ("两个礼拜前", dt.date(2024, 6, 1), "day"),
    ("2周前", dt.date(2024, 6, 1), "day"),
    ("5日前", dt.date(2024, 6, 10), "day"),
    ("三天以前", dt.date(2024, 6, 12), "day"),
    ("两年之前", dt.date(2022, 1, 1), "year"),
    ("大前天", dt.date(2024, 6, 12), "day"),
    ("前天", dt.date(2024, 6, 13), "day"),
    ("今日", TODAY, "day"),
    ("今天", TODAY, "day"),
    ("昨日", dt.date(2024, 6, 14), "day"),
    ("上上个月", dt.date(2024, 4, 1), "month"),
    ("本月", dt.date(2024, 6, 1), "month"),
    ("这个月", dt.date(2024, 6, 1), "month"),
    ("去年3月5日", dt.date(2023, 3, 5), "day"),
    ("去年3月份", dt.date(2023, 3, 1), "month"),
    ("大前年", dt.date(2021, 1, 1), "year"),
    ("去年", dt.date(2023, 1, 1), "year"),
    ("2019年", dt.date(2019, 1, 1), "year"),
    ("5月", dt.date(2024, 5, 1), "month"),
    ("5月3号", dt.date(2024, 5, 3), "day"),
    ("2024.3.5", dt.date(2024, 3, 5), "day"),
    ("十五个月前", dt.date(2023, 3, 1), "month"),
])
def test_every_way_of_saying_a_past_date_is_understood(said, day, precision):
    result = parse_date(said, TODAY)
    assert isinstance(result, Valid) and isinstance(result.value, ParsedDate)
    assert (result.value, result.value.precision) == (day, precision)


def test_weeks_before_today_cross_the_month_and_year():
    assert parse_date("三个星期前", dt.date(2024, 1, 10)) == Valid(dt.date(2023, 12, 20))
    assert parse_date("两个月前", dt.date(2024, 1, 10)) == Valid(dt.date(2023, 11, 1))


def test_the_earliest_year_taken_is_1900():
    assert parse_date("1900年1月1日", TODAY) == Valid(dt.date(1900, 1, 1))
    assert rejected(parse_date("1899年12月31日", TODAY)) == "date_impossible"


def test_a_date_keeps_its_precision_through_pickling_and_repr():
    import pickle

    value = parse_date("2023年5月", TODAY).value
    copy = pickle.loads(pickle.dumps(value))
    assert copy == value and copy.precision == "month"
    assert repr(value) == "ParsedDate(2023-05-01, precision='month')"


def test_an_empty_answer_is_no_date():
    assert rejected(parse_date("   ", TODAY)) == "empty"
    assert rejected(parse_date("2023年13月", TODAY)) == "date_impossible"
    assert rejected(parse_date("20230230", TODAY)) == "date_impossible"


def test_a_past_date_without_a_year_that_does_not_exist_last_year_stays_refused_as_future():
    assert rejected(parse_date("明天", dt.date(2024, 6, 15), must_be_past=True)) == "date_not_found"
    assert rejected(parse_date("2024年6月16日", TODAY, must_be_past=True)) == "date_future"


# ---- amounts and counts -------------------------------------------------------------------------

@pytest.mark.parametrize("said, amount", [
    ("3500", "3500"), ("3,500元", "3500"), ("３５００块", "3500"), ("三千五", "3500"), ("三千五百块", "3500"),
    ("1.2万", "12000"), ("一万二", "12000"), ("两万", "20000"), ("一共欠了两万三", "23000"),
    ("一千零五十元", "1050"), ("我一个月三千五", "3500"), ("3万5", "35000"), ("一点五万", "15000"),
    ("2,345.50元", "2345.50"), ("大概五百块钱左右", "500"),
])
def test_amounts_are_read_in_digits_or_chinese_numerals(said, amount):
    assert parse_amount(said) == Valid(Decimal(amount))


def test_an_estimate_is_not_taken_for_an_exact_amount():
    assert rejected(parse_amount("三千多")) == "amount_vague"


@pytest.mark.parametrize("said", ["0", "-500", "负五百"])
def test_an_amount_must_be_positive(said):
    assert rejected(parse_amount(said)) == "amount_not_positive"


def test_an_answer_without_a_figure_is_refused():
    assert rejected(parse_amount("不清楚")) == "amount_not_number"
    assert rejected(parse_amount("12.345")) == "amount_precision"


@pytest.mark.parametrize("said, count", [
    ("三个月", 3), ("3个月", 3), ("半年", 6), ("一年", 12), ("一年半", 18), ("一年零三个月", 15), ("十二个月", 12),
    ("欠了两个月", 2),
])
def test_counts_of_months_are_read_in_digits_words_and_years(said, count):
    assert parse_count(said) == Valid(count)


@pytest.mark.parametrize("said, code", [
    ("十几个月", "count_vague"), ("三个多月", "count_vague"), ("两个半月", "count_not_whole"),
    ("0个月", "count_too_small"), ("不知道", "count_not_number"),
])
def test_counts_that_are_not_a_whole_number_are_refused(said, code):
    assert rejected(parse_count(said)) == code


def test_a_count_above_the_limit_is_refused():
    assert rejected(parse_count("30个月", maximum=24)) == "count_too_large"


@pytest.mark.parametrize("said, amount", [
    ("一亿两千万", "120000000"), ("一亿", "100000000"), ("两千万", "20000000"), ("押金1000，房租500元", "500"),
    ("1000块押金，房租500", "1000"), ("一百零一", "101"), ("十块", "10"), ("十万元", "100000"), ("十五万", "150000"), ("0.01元", "0.01"), ("3 500", "3500"),
    ("五万零五百", "50500"),
])
def test_large_amounts_and_the_one_marked_in_yuan_are_read(said, amount):
    assert parse_amount(said) == Valid(Decimal(amount))


@pytest.mark.parametrize("said, code", [
    ("三四千", "amount_not_number"), ("五六百块", "amount_not_number"), ("几百块", "amount_not_number"),
    ("三千来块", "amount_vague"), ("", "empty"), ("0.001", "amount_precision"),
])
def test_a_range_or_an_estimate_is_not_taken_for_an_amount(said, code):
    assert rejected(parse_amount(said)) == code


@pytest.mark.parametrize("said, code", [
    ("二十来个月", "count_vague"), ("几个月", "count_vague"), ("三四个月", "count_vague"), ("五六年", "count_vague"), ("", "empty"),
    ("-3个月", "count_too_small"),
])
def test_a_vague_count_is_refused(said, code):
    assert rejected(parse_count(said)) == code


def test_the_count_limits_are_inclusive():
    assert parse_count("24个月", maximum=24) == Valid(24)
    assert rejected(parse_count("25个月", maximum=24)) == "count_too_large"
    assert parse_count("2个月", minimum=2) == Valid(2)
    assert rejected(parse_count("1个月", minimum=2)) == "count_too_small"
    assert parse_count("600个月") == Valid(600)
    assert rejected(parse_count("601个月")) == "count_too_large"


@pytest.mark.parametrize("said, count", [("两年半", 30), ("三年", 36), ("一个半月", None), ("2年零1个月", 25)])
def test_years_in_a_count_become_months(said, count):
    result = parse_count(said)
    if count is None:
        assert rejected(result) == "count_not_whole"
    else:
        assert result == Valid(count)


# ---- names and addresses ------------------------------------------------------------------------

@pytest.mark.parametrize("said, name", [
    ("张建国", "张建国"), ("我叫张三", "张三"), ("名字是 李秀英。", "李秀英"), ("我的名字是：欧阳娜娜", "欧阳娜娜"),
    ("张 建 国", "张建国"), ("阿卜杜·热合曼", "阿卜杜·热合曼"), ("买买提・艾力", "买买提·艾力"),
])
def test_chinese_names_are_taken_without_the_words_around_them(said, name):
    assert parse_full_name(said) == Valid(name)


@pytest.mark.parametrize("said, code", [
    ("", "empty"), ("我叫", "empty"), ("张", "name_too_short"), ("张三123", "name_not_chinese"),
    ("Zhang San", "name_not_chinese"), ("·热合曼", "name_format"), ("张王李赵刘陈杨", "name_too_long"),
])
def test_answers_that_are_no_name_are_refused(said, code):
    assert rejected(parse_full_name(said)) == code


def test_an_address_is_taken_without_the_words_around_it():
    assert parse_address("我住在 北京市东城区幸福路12号。") == Valid("北京市东城区幸福路12号")
    assert parse_address("地址是：南湖区光明街道5栋201") == Valid("南湖区光明街道5栋201")


@pytest.mark.parametrize("said, code", [
    ("", "empty"), ("幸福路", "address_too_short"), ("12345 Main St", "address_not_chinese"),
])
def test_answers_that_are_no_address_are_refused(said, code):
    assert rejected(parse_address(said)) == code


def test_an_address_keeps_one_space_where_several_were_typed():
    assert parse_address("北京市  东城区\t幸福路12号") == Valid("北京市 东城区 幸福路12号")


def test_the_address_length_limits_are_five_and_a_hundred_and_twenty_characters():
    assert parse_address("东城区幸福") == Valid("东城区幸福")
    assert parse_address("东城区幸") == Invalid("address_too_short", "4 characters")
    assert parse_address("幸" * 120) == Valid("幸" * 120)
    assert parse_address("幸" * 121) == Invalid("address_too_long", "121 characters")


def test_birth_date_and_sex_are_read_from_a_number_written_with_a_small_or_full_width_x():
    assert birth_date_from_id("11010519491231002x") == dt.date(1949, 12, 31)
    assert sex_from_id("１１０１０５１９４９１２３１００２ｘ") == "female"
    with pytest.raises(ValueError, match="^not an 18-character ID number$"):
        sex_from_id("11010519491231002")
    with pytest.raises(ValueError, match="^the ID number holds no real birth date$"):
        birth_date_from_id("110105194913310021")


def test_a_vague_count_says_whether_it_was_an_estimate_or_a_range():
    assert parse_count("几个月") == Invalid("count_vague", "an estimate")
    assert parse_count("三四个月") == Invalid("count_vague", "a range")


@pytest.mark.parametrize("said, day, precision", [
    ("十月五号", dt.date(2024, 10, 5), "day"), ("二十天前", dt.date(2024, 5, 26), "day"),
    ("三十个月前", dt.date(2021, 12, 1), "month"),
])
def test_chinese_numbers_ending_in_ten_are_read_in_dates(said, day, precision):
    result = parse_date(said, TODAY)
    assert result == Valid(day) and result.value.precision == precision


def test_a_count_of_one_is_taken_by_default_and_spaces_inside_a_count_are_ignored():
    assert parse_count("1个月") == Valid(1)
    assert rejected(parse_count("0个月")) == "count_too_small"
    assert parse_count("1 2 个月") == Valid(12)
    assert parse_count("两 年") == Valid(24)


def test_spaces_inside_a_spoken_or_typed_date_are_ignored():
    assert parse_date("2024 年 3 月 5 日", TODAY) == Valid(dt.date(2024, 3, 5))
    assert parse_date("三 个 月 前", TODAY) == Valid(dt.date(2024, 3, 1))
