"""Personal values reach the dialogue engine only as references; actions see the real values, staff see masks."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rasa_sdk import Action
from rasa_sdk.events import SlotSet
from sqlalchemy import text

from bot.actions.vaulted import VaultedExecutor
from bot.db.models import VaultEntry
from bot.db.session import get_engine, unit_of_work
from bot.services import vault as vault_module
from bot.services.vault import (REFERENCE, Vault, holds_references, masked_for, must_hold_back, reveal_for,
                                shield_message)

ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"
CARD = "6222021234567890123"


def conversation() -> str:
    return f"test-vault-{uuid.uuid4().hex}"


def test_numbers_become_references_of_their_own_shape_and_the_person_sees_them_again():
    cid = conversation()
    said = f"身份证 110105 19491231 002x，电话{PHONE}，卡号{CARD}"
    held = shield_message(cid, said, None)
    assert "19491231" not in held and "12345678" not in held and "34567890" not in held
    references = REFERENCE.findall(held)
    assert [len(r) for r in references] == [18, 11, 16]
    assert references[0].startswith("00") and references[1].startswith("10") and references[2].startswith("0000")
    assert reveal_for(cid)(held) == said, "given back exactly as written, spaces included"


def test_the_vault_stores_values_encrypted():
    cid = conversation()
    shield_message(cid, f"电话{PHONE}", None)
    with get_engine().connect() as connection:
        stored = connection.execute(text("SELECT value FROM vault_entries WHERE conversation_id = :c"),
                                    {"c": cid}).scalars().all()
    assert len(stored) == 1 and PHONE not in stored[0]


def test_a_reference_means_nothing_in_another_conversation():
    held = shield_message(conversation(), f"电话{PHONE}", None)
    assert reveal_for(conversation())(held) == held


def test_holding_back_twice_changes_nothing_more_and_reuses_the_reference():
    cid = conversation()
    once = shield_message(cid, f"{ID_NUMBER} 和 {PHONE}", None)
    assert shield_message(cid, once, None) == once
    assert shield_message(cid, f"还是{PHONE}", None) == "还是" + REFERENCE.findall(once)[1]


@pytest.mark.parametrize("asked_for", ["full_name", "appointment_name", "address"])
def test_the_answer_to_a_name_or_address_question_becomes_one_reference(asked_for):
    cid = conversation()
    answer = "我叫欧阳明月" if asked_for != "address" else "北山区青松路12号院2栋301"
    held = shield_message(cid, answer, asked_for)
    assert REFERENCE.fullmatch(held) and reveal_for(cid)(held) == answer


@pytest.mark.parametrize("request_text", ["转人工", "不办了", "算了", "要带什么材料", "在哪里办", "我要找工作人员",
                                          "取消", "着火了 救命", "怎么填？"])
def test_a_request_while_a_name_is_asked_reaches_the_engine_as_it_is(request_text):
    assert shield_message(conversation(), request_text, "full_name") == request_text


def test_other_answers_are_not_held_back_whole():
    assert shield_message(conversation(), "张家口的工地", "work_site") == "张家口的工地"


def test_staff_see_masks_unless_they_unmask():
    cid = conversation()
    name = shield_message(cid, "欧阳明月", "full_name")
    numbers = shield_message(cid, f"电话{PHONE}", None)
    stored = f"姓名{name}，{numbers}"
    assert masked_for(cid)(stored) == "姓名欧***，电话138****5678"
    assert masked_for(cid, unmask=True)(stored) == f"姓名欧阳明月，电话{PHONE}"


@settings(max_examples=60, deadline=None)
@given(separator=st.sampled_from(["", " ", "-", "  ", "　"]), before=st.text(alphabet="我的号码是，。", max_size=6),
       digits=st.integers(min_value=10**8, max_value=10**9 - 1))
def test_no_mobile_number_reaches_the_engine_however_spaced(separator, before, digits):
    phone = f"13{digits}"
    spaced = separator.join([phone[:3], phone[3:7], phone[7:]])
    held = shield_message(conversation(), before + spaced, None)
    assert phone[3:7] not in held.replace(separator, "") or REFERENCE.search(held)
    assert phone not in held.replace(separator, "").replace(" ", "")


class ActionRecordFullName(Action):
    """Reads the name and ID number like a validator and reads them back."""

    seen: dict[str, str] = {}

    def name(self) -> str:
        return "action_test_record_full_name"

    def run(self, dispatcher, tracker, domain):
        ActionRecordFullName.seen = {"text": tracker.latest_message["text"], "slot": tracker.get_slot("full_name")}
        dispatcher.utter_message(text=f"请确认：姓名欧阳明月，身份证号{ID_NUMBER}")
        return [SlotSet("full_name", "欧阳明月"), SlotSet("id_number", ID_NUMBER)]


def test_actions_see_the_real_values_and_what_they_send_back_is_held_back():
    cid = conversation()
    said = shield_message(cid, f"身份证{ID_NUMBER}", None)
    name_reference = shield_message(cid, "我叫欧阳明月", "full_name")
    executor = VaultedExecutor()
    executor.register_action(ActionRecordFullName())
    tracker = {"sender_id": cid, "slots": {"full_name": name_reference}, "latest_message": {"text": said},
               "events": [], "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": None}
    call = {"next_action": "action_test_record_full_name", "tracker": tracker, "domain": {}}
    result = asyncio.run(executor.run(call))

    assert ActionRecordFullName.seen == {"text": f"身份证{ID_NUMBER}", "slot": "我叫欧阳明月"}
    stored = str(result.events) + str(result.responses)
    assert "欧阳明月" not in stored and "19491231" not in stored
    reveal = reveal_for(cid)
    assert reveal(result.responses[0]["text"]) == f"请确认：姓名欧阳明月，身份证号{ID_NUMBER}"
    assert {e["name"]: reveal(e["value"]) for e in result.events} == {"full_name": "欧阳明月", "id_number": ID_NUMBER}
    assert Vault.of(cid).masked(result.responses[0]["text"]) == "请确认：姓名欧***，身份证号110***********002X"


def test_an_address_typed_to_staff_in_free_text_is_masked_for_them():
    shown = masked_for(conversation())("我的电话是13812345678，住在北山区青松路659号院5栋232室，谢谢")
    assert shown == "我的电话是138****5678，住在北山区青松路****，谢谢"


def test_a_name_given_unasked_in_a_sentence_is_held_back_with_the_numbers_in_it():
    cid = conversation()
    said = f"我叫张三丰，身份证{ID_NUMBER}，想问社保卡怎么补"
    held = shield_message(cid, said, None)
    assert "张三丰" not in held and ID_NUMBER not in held
    assert held.startswith("我叫") and held.endswith("，想问社保卡怎么补"), "the rest reaches the engine as it is"
    assert [len(r) for r in REFERENCE.findall(held)] == [8, 18]
    assert reveal_for(cid)(held) == said
    assert "张**" in masked_for(cid)(held), "staff see the family name only"


def test_a_name_given_unasked_without_any_number_is_held_back_too():
    cid = conversation()
    held = shield_message(cid, "我叫张三丰，想办居住证", None)
    assert "张三丰" not in held and held.startswith("我叫") and held.endswith("，想办居住证")
    assert reveal_for(cid)(held) == "我叫张三丰，想办居住证"


def test_two_names_in_one_message_are_both_held_back_and_the_text_between_them_stays():
    cid = conversation()
    said = "我叫张三丰，我是李秀英。"
    held = shield_message(cid, said, None)
    assert "张三丰" not in held and "李秀英" not in held and "，我是" in held
    assert reveal_for(cid)(held) == said


def test_messages_with_nothing_personal_skip_the_vault_and_its_database():
    assert not must_hold_back("社保卡怎么补办", None)
    assert not must_hold_back("转人工", "full_name"), "a request while a name is asked"
    assert must_hold_back("欧阳明月", "full_name") and must_hold_back(f"电话{PHONE}", None)
    assert must_hold_back("我叫张三丰", None)
    assert not holds_references(["您好，请问办什么业务？", "", "社保卡"])
    assert holds_references(["您好", "电话10123456789"])


def test_a_reference_already_taken_is_drawn_again(monkeypatch):
    cid = conversation()
    vault = Vault.of(cid)
    first = vault.hold("full_name", "欧阳明月")
    # Another process of the same conversation took the next reference meanwhile (this vault does not know it).
    taken_elsewhere = "20000001"
    with unit_of_work() as session:
        session.add(VaultEntry(conversation_id=cid, reference=taken_elsewhere, kind="address", value="北山区"))
    drawn = iter([first, taken_elsewhere, "20000002"])
    monkeypatch.setattr(vault_module, "_new_reference", lambda kind: next(drawn))
    assert vault.hold("full_name", "李秀英") == "20000002"
    assert Vault.of(cid).reveal("20000002") == "李秀英"


def test_when_no_free_reference_is_found_the_vault_says_so(monkeypatch):
    vault = Vault.of(conversation())
    taken = vault.hold("full_name", "欧阳明月")
    monkeypatch.setattr(vault_module, "_new_reference", lambda kind: taken)
    with pytest.raises(RuntimeError, match="^no free vault reference after several tries$"):
        vault.hold("full_name", "李秀英")
