"""Names and addresses a conversation gave are held back wherever they appear again in it."""

from __future__ import annotations

import uuid

from bot.services.vault import REFERENCE, Vault, reveal_for


def _vault() -> Vault:
    return Vault.of(f"test-known-{uuid.uuid4().hex}")


def test_a_given_name_and_address_are_replaced_by_references_and_come_back_as_written():
    vault = _vault()
    said = "我叫欧阳明月，住北山区青松路27号院，电话13812345678"
    held = vault.hold_known(said, [("full_name", "欧阳明月"), ("address", "北山区青松路27号院")])
    assert "欧阳明月" not in held and "青松路" not in held and "13812345678" not in held
    assert reveal_for(vault.conversation_id)(held) == said
    assert not vault.is_empty


def test_a_single_character_or_empty_value_is_never_held():
    vault = _vault()
    held = vault.hold_known("欧先生来了", [("full_name", "欧"), ("address", "")])
    assert held == "欧先生来了" and vault.is_empty


def test_the_longer_of_two_overlapping_values_is_replaced_whole():
    vault = _vault()
    vault.hold("full_name", "欧阳")
    vault.hold("full_name", "欧阳明月")
    held = vault.hold_known("欧阳明月来办")
    assert held.endswith("来办") and "欧阳" not in held
    assert reveal_for(vault.conversation_id)(held) == "欧阳明月来办"
    assert held.count(vault.hold("full_name", "欧阳明月")) == 1


def test_values_of_other_kinds_are_not_replaced_as_words():
    vault = _vault()
    reference = vault.hold("phone", "13812345678")
    assert REFERENCE.fullmatch(reference)
    assert vault.hold_known("号码是13812345678，欧阳来") .startswith("号码是")
    assert "欧阳来" in vault.hold_known("欧阳来")


def test_an_answer_is_at_most_120_characters_and_never_a_button_press():
    from bot.services.vault import looks_like_an_answer

    assert looks_like_an_answer("北" * 120) and not looks_like_an_answer("北" * 121)
    assert not looks_like_an_answer("/stop") and not looks_like_an_answer("   ")
    assert looks_like_an_answer(" 欧阳明月 ")


def test_a_reference_shaped_number_the_vault_does_not_hold_is_left_as_it_is():
    vault = _vault()
    phone = vault.hold("phone", "13812345678")
    stranger = next(r for r in ("10000000000", "10000000001") if r != phone)
    assert vault.reveal(f"{phone} {stranger}") == f"13812345678 {stranger}"
    assert vault.masked(stranger) == stranger
    assert _vault().reveal(stranger) == stranger


def test_staff_see_the_name_and_address_behind_a_reference_masked_and_nothing_for_nothing():
    vault = _vault()
    name, address = vault.hold("full_name", "欧阳明月"), vault.hold("address", "北山区青松路27号院2栋301")
    assert vault.masked(f"{name}住{address}") == "欧***住北山区青松路****"
    assert vault.masked("") == ""


def test_a_two_character_name_is_held_and_replaced_wherever_it_is_read_back():
    # Most Chinese names are two characters long: the shortest that is held back.
    vault = _vault()
    held = vault.hold_known("李雷，您的预约已确认", [("full_name", "李雷")])
    assert "李雷" not in held and reveal_for(vault.conversation_id)(held) == "李雷，您的预约已确认"
    later = _vault()
    later.hold("full_name", "韩梅")
    assert "韩梅" not in later.hold_known("韩梅您好")


def test_a_held_number_inside_a_longer_number_that_is_no_personal_number_is_left_whole():
    # Only names and addresses are replaced as words; numbers where they read as one, or a receipt number that
    # happens to contain a phone's digits would reach the person broken.
    vault = _vault()
    vault.hold("phone", "13812345678")
    assert vault.hold_known("受理编号413812345678") == "受理编号413812345678"


def test_staff_see_an_address_held_back_masked_even_when_it_reads_as_no_address_in_text():
    vault = _vault()
    address = vault.hold("address", "青松小区三单元502室")
    assert vault.masked(f"住在{address}") == "住在青松小区****"
