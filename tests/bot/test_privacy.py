"""Personal numbers stay out of sight: masked on screen, redacted in logs, encrypted at rest."""

from __future__ import annotations

import io
import logging
import re

import pytest
from bot.privacy import (FieldCipher, FieldDecryptError, RedactingFilter, field_cipher_key, generate_key,
                         install_redaction, mask_address, mask_id_number, mask_name, mask_phone, redact_text)

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


# The shapes that made redaction try every stretch of digit groups (seconds per message before it was
# bounded): each is 2,000 characters, the longest message a resident can send. The time limit only stops
# a hang; the assertions check what comes out. Their speed is in benchmarks/redaction.py.
WORST_SHAPES = {
    "digit and X alternating": "1X" * 1000,
    "digits split by single spaces": "1 " * 1000,
    "digits split by dashes": "1-" * 1000,
    "digits split by every separator": "".join(f"{i % 10}{sep}" for i, sep in
                                               zip(range(1000), " -－‐–—_.．\u3000\t" * 100)),
    "Chinese digits split by spaces": "一 " * 1000,
    "Arabic and Chinese digits glued": "1一" * 1000,
    "ones then an X every fourteen": "1 1 1 1 1 1 1 1 1 1 1 1 1X " * 72,
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("shape", WORST_SHAPES, ids=list(WORST_SHAPES))
def test_a_message_of_the_worst_shape_is_redacted_without_leaving_a_long_digit_stretch(shape):
    text = WORST_SHAPES[shape][:2000]
    redacted = redact_text(text)
    assert len(redacted) <= len(text)
    # Apart from the masks (a few digits, stars, the last four), no stretch of 15 or more digits stays
    # visible, spaced or not, that could be a card or an ID number.
    unmasked = re.sub(r"[0-9]{0,4}\*+[0-9X]{4}", "#", redacted)
    assert not re.search(r"(?:[0-9０-９一][ \t\u3000\-－‐–—_.．]{0,3}){15}", unmasked)


@pytest.mark.timeout(10)
def test_digit_and_x_alternating_is_no_personal_number_and_stays_as_it_is():
    assert redact_text("1X" * 1000) == "1X" * 1000


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


@pytest.mark.parametrize("token", ["not a token", "gAAAAA" + "x" * 40, "令牌"])
def test_rotating_a_token_no_key_made_fails_with_the_decrypt_error(token):
    with pytest.raises(FieldDecryptError, match="could not be decrypted with the configured keys"):
        FieldCipher(generate_key()).rotate(token)
    with pytest.raises(FieldDecryptError, match="could not be decrypted with the configured keys"):
        FieldCipher(generate_key()).decrypt(token)


def test_rotating_moves_a_token_to_the_current_key():
    old, new = generate_key(), generate_key()
    token = FieldCipher(old).encrypt(PHONE)
    rotated = FieldCipher(new, [old]).rotate(token)
    assert FieldCipher(new).decrypt(rotated) == PHONE
    with pytest.raises(FieldDecryptError):
        FieldCipher(old).decrypt(rotated)
