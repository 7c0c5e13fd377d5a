"""Personal numbers stay out of sight: masked on screen, redacted in logs, encrypted at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import re
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.privacy import (FieldCipher, FieldDecryptError, RedactingFilter, field_cipher_key, generate_key,
                         install_redaction, mask_address, mask_id_number, mask_name, mask_phone, personal_numbers,
                         redact_text)
from tests.bot.redaction_shapes import WORST_SHAPES

ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"


# ---- masks --------------------------------------------------------------------------------------

def test_an_id_number_shows_only_its_first_three_and_last_four_characters():
    assert mask_id_number("110101199003074514") == "110***********4514"
    assert mask_id_number("11010519491231002x") == "110***********002X"


def test_a_phone_number_shows_only_its_first_three_and_last_four_digits():
    assert mask_phone(PHONE) == "138****5678"
    assert mask_phone("138 1234 5678") == "138****5678"


def test_a_name_shows_only_the_family_name():
    assert mask_name("张建国") == "张**"
    assert mask_name("阿卜杜·热合曼") == "阿**·***"


@pytest.mark.parametrize("address, masked", [
    ("北京市海淀区中关村大街27号院3号楼502室", "北京市海淀区中关村大街****"),
    ("南湖区光明街道5栋201", "南湖区光明街道****"),
    ("上海市浦东新区张江镇祖冲之路899号", "上海市浦东新区张江镇祖冲之路****"),
    ("广州市天河区阳光小区三号楼", "广州市天河区****"),
])
def test_an_address_keeps_the_district_and_street_and_hides_the_door(address, masked):
    assert mask_address(address) == masked


# ---- redaction of free text --------------------------------------------------------------------

@pytest.mark.parametrize("text, hidden", [
    (f"身份证{ID_NUMBER}", ID_NUMBER),
    ("身份证 110105 19491231 002x", "19491231"),
    ("身份证 １１０１０５１９４９１２３１００２Ｘ", "１９４９１２３１"),
    (f"电话{PHONE}请回电", "12345678"),
    ("电话 +86 138-1234-5678", "1234"),
    ("电话 138 1234 5678", "1234"),
    ("电话 幺三八 幺二三四 五六七八", "幺二三四"),
    ("电话１３８１２３４５６７８", "１２３４"),
    ("卡号 6222 0212 3456 7890 123", "3456"),
])
def test_personal_numbers_are_masked_in_free_text_however_they_are_written(text, hidden):
    redacted = redact_text(text)
    assert hidden not in redacted
    assert "*" in redacted


def test_redaction_keeps_the_recognisable_ends_and_the_rest_of_the_text():
    assert redact_text(f"张先生的身份证{ID_NUMBER}，手机{PHONE}。") == "张先生的身份证110***********002X，手机138****5678。"


def test_a_phone_number_glued_to_a_chinese_numeral_is_still_masked():
    assert redact_text(f"第一{PHONE}") == "第一138****5678"


def test_dates_references_and_times_are_left_alone():
    text = "申请编号 BM-20240305-0001，2024-03-05 12:30:00 受理，第3个窗口，共两个人"
    assert redact_text(text) == text


def test_redacting_twice_changes_nothing_more():
    once = redact_text(f"{ID_NUMBER} {PHONE}")
    assert redact_text(once) == once


# The shapes of tests/bot/redaction_shapes.py that hold no personal number: redaction leaves them as they are.
# (Twelve-digit groups are masked only in whole groups, and no run of them is as long as a personal number.)
LOOK_ALIKES = ("digit and X alternating", "twelve-digit groups", "ordinary Chinese text")


# The time limit only stops a hang; the assertions check what comes out. Their speed is in
# benchmarks/redaction.py.
@pytest.mark.timeout(10)
@pytest.mark.parametrize("shape", [name for name in WORST_SHAPES if name not in LOOK_ALIKES])
def test_a_message_of_the_worst_shape_is_redacted_without_leaving_a_long_digit_stretch(shape):
    text = WORST_SHAPES[shape]
    redacted = redact_text(text)
    assert len(redacted) <= len(text)
    # Apart from the masks (a few digits, stars, the last four), no stretch of 15 or more digits stays
    # visible, spaced or not, that could be a card or an ID number.
    unmasked = re.sub(r"[0-9]{0,4}\*+[0-9X]{4}", "#", redacted)
    assert not re.search(r"(?:[0-9０-９一][ \t\u3000\-－‐–—_.．]{0,3}){15}", unmasked)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("shape", LOOK_ALIKES)
def test_a_worst_shape_that_holds_no_personal_number_stays_as_it_is(shape):
    assert redact_text(WORST_SHAPES[shape]) == WORST_SHAPES[shape]


@pytest.mark.timeout(10)
def test_a_long_run_of_spaced_digits_is_masked_in_card_length_pieces_keeping_the_last_four():
    assert redact_text("1 " * 38) == ("*" * 15 + "1111 ") * 2


@pytest.mark.timeout(10)
@pytest.mark.parametrize("filler", ["1X" * 400, "1 " * 400, "一 " * 400, "1一" * 400, "12345678901234X" * 50])
def test_a_personal_number_after_a_long_worst_shape_is_still_masked(filler):
    for number, hidden in ((ID_NUMBER, "19491231"), (PHONE, "1234"), ("6222021234567890123", "3456")):
        redacted = redact_text(f"{filler}，号码：{number}。")
        assert hidden not in redacted.split("号码")[-1]
        assert redacted.endswith(number[-4:] + "。")


# ---- logging ------------------------------------------------------------------------------------

@pytest.fixture
def captured_logger():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.privacy.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_an_id_number_passed_as_a_log_argument_never_reaches_the_log(captured_logger):
    logger, stream = captured_logger
    logger.info("application from %s, phone %s, again %d", ID_NUMBER, PHONE, int(PHONE))
    logger.info("values %s", {"id_number": ID_NUMBER, "phone": PHONE})
    logger.info(f"inline {ID_NUMBER}")
    written = stream.getvalue()
    assert ID_NUMBER not in written and PHONE not in written
    assert "110***********002X" in written and "138****5678" in written


def test_a_traceback_in_the_log_is_redacted_too(captured_logger):
    logger, stream = captured_logger
    try:
        raise ValueError(f"no person with ID {ID_NUMBER}")
    except ValueError:
        logger.exception("lookup failed")
    written = stream.getvalue()
    assert "ValueError" in written and ID_NUMBER not in written


def test_values_passed_as_extras_are_redacted(captured_logger):
    logger, stream = captured_logger
    # The fixture's own handler: a handler another test left on this logger must not take the formatter.
    handler = next(h for h in logger.handlers if getattr(h, "stream", None) is stream)
    handler.setFormatter(logging.Formatter("%(message)s caller=%(caller)s"))
    logger.info("callback requested", extra={"caller": PHONE})
    assert PHONE not in stream.getvalue() and "138****5678" in stream.getvalue()


def test_a_log_call_with_broken_arguments_is_still_redacted_and_written(captured_logger):
    logger, stream = captured_logger
    logger.info("wrong placeholder %d", PHONE)
    written = stream.getvalue()
    assert "wrong placeholder" in written and PHONE not in written


def test_install_redaction_covers_records_from_child_loggers_once():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    redacting = None
    try:
        redacting = install_redaction()
        install_redaction()
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        child = logging.getLogger("tests.privacy.child")
        child.setLevel(logging.INFO)
        child.info("caller %s", PHONE)
        assert "138****5678" in stream.getvalue() and PHONE not in stream.getvalue()
    finally:
        root.removeHandler(handler)
        for other in root.handlers:  # leave the test runner's own handlers as they were
            other.removeFilter(redacting)


# ---- encryption at rest ------------------------------------------------------------------------

def test_a_field_survives_encryption_and_the_stored_text_does_not_show_it():
    cipher = FieldCipher(generate_key())
    token = cipher.encrypt("张建国 11010519491231002X")
    assert "11010519491231002X" not in token and "张建国" not in token
    assert cipher.decrypt(token) == "张建国 11010519491231002X"


def test_encrypting_the_same_value_twice_gives_different_texts():
    cipher = FieldCipher(generate_key())
    assert cipher.encrypt(PHONE) != cipher.encrypt(PHONE)


def test_an_altered_ciphertext_is_rejected():
    cipher = FieldCipher(generate_key())
    token = cipher.encrypt(PHONE)
    raw = bytearray(token.encode())
    middle = len(raw) // 2
    raw[middle] = ord("A") if raw[middle] != ord("A") else ord("B")
    with pytest.raises(FieldDecryptError):
        cipher.decrypt(raw.decode())
    with pytest.raises(FieldDecryptError):
        cipher.decrypt("not a token")


def test_a_value_encrypted_with_another_key_cannot_be_read():
    token = FieldCipher(generate_key()).encrypt(PHONE)
    with pytest.raises(FieldDecryptError):
        FieldCipher(generate_key()).decrypt(token)


def test_after_a_key_change_old_values_are_still_read_and_can_be_moved_to_the_new_key():
    old_key, new_key = generate_key(), generate_key()
    old_token = FieldCipher(old_key).encrypt(PHONE)
    rotated = FieldCipher(new_key, old_keys=[old_key])
    assert rotated.decrypt(old_token) == PHONE
    moved = rotated.rotate(old_token)
    assert FieldCipher(new_key).decrypt(moved) == PHONE
    with pytest.raises(FieldDecryptError):
        FieldCipher(old_key).decrypt(rotated.encrypt(PHONE))


def test_a_fingerprint_finds_the_same_person_without_revealing_the_number():
    key = generate_key()
    cipher = FieldCipher(key)
    fingerprint = cipher.fingerprint(ID_NUMBER)
    assert fingerprint == FieldCipher(key).fingerprint(ID_NUMBER)
    assert fingerprint != cipher.fingerprint("110101199003074514")
    assert fingerprint != FieldCipher(generate_key()).fingerprint(ID_NUMBER)
    assert len(fingerprint) == 64 and ID_NUMBER not in fingerprint


def test_during_a_key_change_rows_fingerprinted_under_the_old_key_are_still_found():
    old_key, new_key = generate_key(), generate_key()
    stored = FieldCipher(old_key).fingerprint(ID_NUMBER)
    candidates = FieldCipher(new_key, old_keys=[old_key]).lookup_fingerprints(ID_NUMBER)
    assert candidates[0] == FieldCipher(new_key).fingerprint(ID_NUMBER)
    assert stored in candidates


def test_a_malformed_key_is_refused_with_how_to_make_one():
    with pytest.raises(ValueError, match="generate_key"):
        FieldCipher("too-short")


def test_a_passphrase_setting_is_turned_into_a_stable_key_and_a_real_key_is_kept():
    derived = field_cipher_key("dev-field-key")
    assert derived == field_cipher_key("dev-field-key") != field_cipher_key("other-passphrase")
    FieldCipher(derived).decrypt(FieldCipher(derived).encrypt(PHONE))
    key = generate_key()
    assert field_cipher_key(key) == key
    assert field_cipher_key(key.rstrip("=")) == key


def test_the_cipher_never_shows_its_key():
    key = generate_key()
    assert key not in repr(FieldCipher(key))


def test_install_redaction_also_covers_the_handlers_of_named_loggers_that_do_not_propagate():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    named = logging.getLogger("tests.privacy.uvicorn-like")
    named.addHandler(handler)
    named.propagate = False
    try:
        install_redaction(["tests.privacy.uvicorn-like"])
        named.warning("caller %s", PHONE)
        assert "138****5678" in stream.getvalue() and PHONE not in stream.getvalue()
    finally:
        named.removeHandler(handler)


DECRYPT_ERROR = "^a stored personal field could not be decrypted with the configured keys$"


@pytest.mark.parametrize("token", ["not a token", "gAAAAA" + "x" * 40, "令牌"])
def test_rotating_a_token_no_key_made_fails_with_the_decrypt_error(token):
    with pytest.raises(FieldDecryptError, match=DECRYPT_ERROR):
        FieldCipher(generate_key()).rotate(token)
    with pytest.raises(FieldDecryptError, match=DECRYPT_ERROR):
        FieldCipher(generate_key()).decrypt(token)


def test_rotating_moves_a_token_to_the_current_key():
    old, new = generate_key(), generate_key()
    token = FieldCipher(old).encrypt(PHONE)
    rotated = FieldCipher(new, [old]).rotate(token)
    assert FieldCipher(new).decrypt(rotated) == PHONE
    with pytest.raises(FieldDecryptError):
        FieldCipher(old).decrypt(rotated)


# ---- each kind of number, exactly as it comes out -----------------------------------------------

@pytest.mark.parametrize("text, redacted, kinds", [
    ("身份证 11010519491231002x", "身份证 110***********002X", ["id_number"]),
    ("一代证 110105491231002", "一代证 ***********1002", ["card"]),
    ("手机 8613812345678", "手机 86138****5678", ["phone"]),
    ("手机 +86 138 1234 5678", "手机 +86138****5678", ["phone"]),
    ("手机 0086 138 1234 5678", "手机 0086138****5678", ["phone"]),
    ("卡号 6222021234567890123", "卡号 ***************0123", ["card"]),
    ("卡号 62220212345678901", "卡号 *************8901", ["card"]),
    ("卡号 6222 0212 3456 7890", "卡号 ************7890", ["card"]),
    ("编号 123413812345678", "编号 ***********5678", ["card"]),  # 15 digits ending like a mobile: no 0086 in front
    # Not a personal number: an order number of a mobile's length, a time stamp, 13 digits not after 86,
    # a 15-character number ending in X (no card has an X).
    ("订单号 12345678901", "订单号 12345678901", []),
    ("时间 20240305123000", "时间 20240305123000", []),
    ("编号 1234567890123", "编号 1234567890123", []),
    ("编号 2213812345678", "编号 2213812345678", []),  # its last 11 digits read as a mobile, but 22 is not 86
    ("编号 123456789012", "编号 123456789012", []),
    ("护照 12345678901234X", "护照 12345678901234X", []),
])
def test_each_kind_of_personal_number_is_found_and_masked_exactly(text, redacted, kinds):
    assert redact_text(text) == redacted
    spans = personal_numbers(text)
    assert [span.kind for span in spans] == kinds
    for span in spans:
        assert redacted[span.start:span.start + len(span.masked)] == span.masked
        assert text[:span.start] == redacted[:span.start] and text[span.end:] == redacted[span.start + len(span.masked):]


def test_text_without_numbers_comes_back_as_it_is():
    assert redact_text("") == "" and personal_numbers("") == []
    assert redact_text("请问居住证怎么办？") == "请问居住证怎么办？"


@pytest.mark.parametrize("phone, masked", [
    ("010-6552-8888", "010****8888"), ("１３８-1234_5678", "138****5678"), ("65528888", "****8888"),
    ("12345", "*2345"), ("8888", "****"), ("", ""),
])
def test_a_phone_of_any_length_shows_at_most_its_last_four_digits(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize("number, masked", [("12345678", "123*5678"), ("1234567", "*******"), ("", "")])
def test_a_number_too_short_to_hide_its_middle_is_hidden_whole(number, masked):
    assert mask_id_number(number) == masked


@pytest.mark.parametrize("name, masked", [("  李雷 ", "李*"), ("李", "李"), ("", ""), (None, "")])
def test_a_name_is_trimmed_and_keeps_only_its_first_character(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize("address, masked", [
    ("北京市海淀区", "北京市海淀区"),  # nothing below the district: nothing to hide
    ("海淀区青松路", "海淀区青松路"),
    ("中关村大街1号", "中关村大街****"),
    ("某某村3组", "某某村****"),
    ("阳光花园12号", "阳光花园****"),  # no district or street named: what comes before the door number
    ("阳光花园", "阳****"),  # nor a door number: a third of it
    ("阳光花园东门", "阳光****"),
    ("  ", ""), ("", ""),
    ("ＸＸ区青松路１２号", "XX区青松路****"),
])
def test_an_address_without_a_street_or_a_door_number_still_hides_something(address, masked):
    assert mask_address(address) == masked


# ---- logging, every part of a record -------------------------------------------------------------

def test_a_record_keeps_its_own_fields_and_only_text_extras_are_rewritten():
    record = logging.LogRecord("bot", logging.INFO, __file__, 7, "caller %s", (PHONE,), None)
    record.attempts, record.caller = 3, PHONE
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "caller 138****5678" and record.args is None
    assert record.attempts == 3 and record.caller == "138****5678"
    assert record.lineno == 7 and record.name == "bot" and record.levelno == logging.INFO


def test_the_filter_itself_formats_and_redacts_a_traceback_before_any_handler_does():
    # The first handler to format a record would write the traceback in clear: the filter formats it first.
    try:
        raise ValueError(f"no person with ID {ID_NUMBER}")
    except ValueError:
        record = logging.LogRecord("bot", logging.ERROR, __file__, 1, "lookup failed", None, sys.exc_info())
    RedactingFilter().filter(record)
    assert record.exc_text.startswith("Traceback") and "ValueError: no person with ID 110***********002X" in record.exc_text
    assert ID_NUMBER not in logging.Formatter().format(record)


def test_a_stack_and_an_already_formatted_traceback_are_redacted():
    record = logging.LogRecord("bot", logging.ERROR, __file__, 1, "failed", None, None)
    record.exc_text = f"Traceback: ValueError: {ID_NUMBER}"
    record.stack_info = f"Stack (most recent call last): lookup({PHONE})"
    RedactingFilter().filter(record)
    assert record.exc_text == "Traceback: ValueError: 110***********002X"
    assert record.stack_info == "Stack (most recent call last): lookup(138****5678)"


def test_install_redaction_reuses_the_filter_a_handler_already_has():
    stream = io.StringIO()
    first, second = logging.StreamHandler(stream), logging.StreamHandler(stream)
    existing = RedactingFilter()
    first.addFilter(existing)
    named = logging.getLogger("tests.privacy.two-handlers")
    named.addHandler(first)
    named.addHandler(second)
    already = [f for h in logging.getLogger().handlers for f in h.filters if isinstance(f, RedactingFilter)]
    redacting = None
    try:
        redacting = install_redaction(["tests.privacy.two-handlers"])
        # One filter for all: the root's if it has one (it is looked at first), else the one found here.
        assert redacting is (already[0] if already else existing)
        assert first.filters == [existing] and second.filters == [redacting]
    finally:
        named.removeHandler(first)
        named.removeHandler(second)
        if not already:
            for handler in logging.getLogger().handlers:
                handler.removeFilter(redacting)


# ---- keys --------------------------------------------------------------------------------------

def test_a_key_with_spaces_around_it_or_without_padding_is_the_same_key():
    key = generate_key()
    token = FieldCipher(key).encrypt(PHONE)
    assert FieldCipher(f"  {key}\n").decrypt(token) == PHONE
    assert FieldCipher(key.rstrip("=")).decrypt(token) == PHONE


@pytest.mark.parametrize("key", [
    base64.b64encode(bytes([251] * 32)).decode(),  # standard base64 (+ and /): not the url-safe form asked for
    base64.urlsafe_b64encode(bytes(31)).decode(),  # 31 bytes
    base64.urlsafe_b64encode(bytes(33)).decode(),  # 33 bytes
    "",
])
def test_a_key_of_the_wrong_form_or_length_is_refused(key):
    with pytest.raises(ValueError, match="32 bytes in url-safe base64"):
        FieldCipher(key)


def test_an_old_key_of_the_wrong_form_is_named_by_its_position():
    with pytest.raises(ValueError, match="old field encryption key #2"):
        FieldCipher(generate_key(), [generate_key(), "too-short"])
    with pytest.raises(ValueError, match="^the field encryption key must"):
        FieldCipher("too-short", [generate_key()])


def test_an_empty_setting_is_refused_rather_than_stretched_into_a_key():
    with pytest.raises(ValueError, match="the field encryption key is empty"):
        field_cipher_key("")


def test_a_passphrase_is_stretched_into_a_key_with_scrypt():
    # The key of the development passphrase is fixed: data encrypted with it must stay readable after an upgrade.
    raw = hashlib.scrypt(b"dev-field-key", salt=b"bianmin-assistant field encryption key", n=2 ** 14, r=8, p=1,
                         dklen=32)
    assert field_cipher_key("dev-field-key") == base64.urlsafe_b64encode(raw).decode("ascii")


def test_the_cipher_says_how_many_keys_it_holds():
    assert repr(FieldCipher(generate_key(), [generate_key()])) == "FieldCipher(<2 key(s)>)"


@pytest.mark.parametrize("token", [None, "gAAAAAé"])
def test_a_stored_value_that_is_no_text_or_not_ascii_fails_with_the_decrypt_error(token):
    with pytest.raises(FieldDecryptError):
        FieldCipher(generate_key()).decrypt(token)
    with pytest.raises(FieldDecryptError):
        FieldCipher(generate_key()).rotate(token)


def test_fingerprints_are_keyed_with_a_key_derived_from_the_field_key_not_the_key_itself():
    key = generate_key()
    raw = base64.urlsafe_b64decode(key)
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"bianmin-assistant field fingerprint v1").derive(raw)
    expected = hmac.new(derived, ID_NUMBER.encode("utf-8"), hashlib.sha256).hexdigest()
    assert FieldCipher(key).fingerprint(ID_NUMBER) == expected
    assert FieldCipher(key, [generate_key()]).lookup_fingerprints(ID_NUMBER)[0] == expected
