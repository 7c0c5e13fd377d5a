"""The form validators, run directly: a recorded tracker in, the slots set and what the person is told out."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import uuid
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import texts
from bot.actions.forms import FORMS
from bot.services import applications, conversations, identity
from bot.settings import REPO_ROOT

ID_NUMBER = "110101199003071233"      # born 1990-03-07
SENIOR_ID_NUMBER = "110101194005120024"  # born 1940-05-12
PHONE = "13812345678"


@functools.cache
def domain() -> dict[str, Any]:
    """The forms and slots of every domain file, merged as Rasa merges them (read once: parsing the YAML took
    longer than the turn each test runs)."""
    merged: dict[str, Any] = {"forms": {}, "slots": {}}
    for path in sorted((REPO_ROOT / "dialogues" / "domain").glob("*.yml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) or {}
        merged["forms"].update(data.get("forms") or {})
        merged["slots"].update(data.get("slots") or {})
    return merged


def answer(form: str, requested: str, text: str, *, intent: str = "inform", confidence: float = 0.95,
           slots: dict[str, Any] | None = None, entities: list[dict] | None = None,
           conversation_id: str | None = None, mapped: bool = True) -> Tracker:
    """The tracker a form's validation receives after the person answered `text` to the `requested` field.

    `mapped=False` is a message the slot mapping left out (the engine read it as a question).
    """
    message = {"text": text, "intent": {"name": intent, "confidence": confidence}, "entities": entities or [],
               "metadata": {"channel": "web"}}
    current = {"requested_slot": requested, **(slots or {})}
    events: list[dict[str, Any]] = [
        {"event": "user", "text": text, "parse_data": message},
        {"event": "slot", "name": "requested_slot", "value": requested},
        {"event": "action", "name": form},
    ]
    if mapped:
        events.append({"event": "slot", "name": requested, "value": text})
        current[requested] = text
    return Tracker(conversation_id or f"f-{uuid.uuid4().hex[:10]}", current, message, events, False, None,
                   {"name": form}, form)


def run(form: str, tracker: Tracker) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Runs the form's validation; returns the slots it set and the messages it sent."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(FORMS[form].run(dispatcher, tracker, domain()))
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}, dispatcher.messages


def said(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def payloads(messages: list[dict[str, Any]]) -> set[str]:
    return {b["payload"] for m in messages for b in m.get("buttons") or []}


# ---- common fields ---------------------------------------------------------------------------------

def test_a_valid_id_number_is_taken():
    slots, messages = run("residence_permit", answer("residence_permit", "id_number", ID_NUMBER))
    assert slots["id_number"] == ID_NUMBER and not messages


def test_a_phone_number_is_taken_however_it_is_spaced():
    slots, _ = run("residence_permit", answer("residence_permit", "phone", "138 1234 5678"))
    assert slots["phone"] == PHONE


def test_a_wrong_check_character_is_explained_and_the_id_number_asked_again():
    slots, messages = run("residence_permit", answer("residence_permit", "id_number", "110101199003071234"))
    assert slots["id_number"] is None
    assert messages and "身份证" in said(messages)
    assert slots["application_failures"] == {"id_number": 1}


def test_the_second_wrong_answer_offers_a_person_or_an_appointment():
    tracker = answer("residence_permit", "phone", "12345", slots={"application_failures": {"phone": 1}})
    slots, messages = run("residence_permit", tracker)
    assert slots["phone"] is None
    assert {"/request_human", "/book_appointment"} <= payloads(messages)


def test_a_right_answer_after_a_wrong_one_starts_counting_again():
    tracker = answer("residence_permit", "phone", PHONE, slots={"application_failures": {"phone": 1}})
    slots, _ = run("residence_permit", tracker)
    assert slots["phone"] == PHONE and slots["application_failures"] == {}


# ---- controls ----------------------------------------------------------------------------------------

def test_going_back_clears_the_previous_field_so_it_is_asked_again():
    tracker = answer("residence_permit", "phone", "上一步", intent="go_back",
                     slots={"full_name": "张建国", "id_number": ID_NUMBER})
    slots, messages = run("residence_permit", tracker)
    assert slots["id_number"] is None and slots["phone"] is None
    assert slots.get("full_name", "张建国") == "张建国"
    assert messages


def test_a_correction_names_the_field_to_ask_again():
    tracker = answer("residence_permit", "arrival_date", "改一下电话", intent="correct_field",
                     entities=[{"entity": "field", "value": "phone"}],
                     slots={"full_name": "张建国", "id_number": ID_NUMBER, "phone": PHONE, "address": "幸福路12号"})
    slots, messages = run("residence_permit", tracker)
    assert slots["phone"] is None and "手机号" in said(messages)


def test_a_correction_with_the_new_value_takes_it_at_once():
    filled = {"full_name": "张建国", "id_number": ID_NUMBER, "phone": PHONE, "address": "东城区幸福路12号",
              "arrival_date": "2023-05-01", "employer_or_school": ""}
    tracker = answer("residence_permit", "application_confirmed", "把电话改成13912345678", intent="correct_field",
                     entities=[{"entity": "field", "value": "phone"}], slots=filled)
    slots, _ = run("residence_permit", tracker)
    assert slots["phone"] == "13912345678" and slots["application_confirmed"] is None


def test_an_optional_field_can_be_skipped_but_a_required_one_cannot():
    slots, messages = run("residence_permit", answer("residence_permit", "employer_or_school", "跳过", intent="skip"))
    assert slots["employer_or_school"] == ""
    slots, messages = run("residence_permit", answer("residence_permit", "phone", "跳过", intent="skip"))
    assert slots["phone"] is None and "必填" in said(messages)


def test_the_summary_is_confirmed_with_yes_and_refused_with_no():
    slots, _ = run("residence_permit", answer("residence_permit", "application_confirmed", "确认", intent="affirm"))
    assert slots["application_confirmed"] is True
    slots, _ = run("residence_permit", answer("residence_permit", "application_confirmed", "/deny", intent="deny"))
    assert slots["application_confirmed"] is None


def test_a_clear_answer_the_engine_took_for_a_question_is_still_taken():
    tracker = answer("wage_arrears_complaint", "amount_owed", "三千五", intent="ask_fee", mapped=False)
    slots, _ = run("wage_arrears_complaint", tracker)
    assert slots["amount_owed"] == 3500


def test_a_real_question_in_the_middle_is_left_to_the_rules():
    tracker = answer("wage_arrears_complaint", "amount_owed", "要带什么材料", intent="ask_materials", mapped=False)
    slots, messages = run("wage_arrears_complaint", tracker)
    assert "amount_owed" not in slots and not messages


# ---- what the person told us before -----------------------------------------------------------------

def test_a_known_phone_is_offered_and_yes_takes_it():
    conversation_id = f"f-{uuid.uuid4().hex[:10]}"
    conversations.ensure(conversation_id, "web", "zh-CN")
    applications.submit(conversation_id, "web", "residence_permit",
                        {"full_name": "张建国", "id_number": ID_NUMBER, "phone": PHONE, "address": "东城区幸福路12号"})
    tracker = answer("senior_card", "phone", "是", intent="affirm", conversation_id=conversation_id)
    slots, _ = run("senior_card", tracker)
    assert slots["phone"] == PHONE
    tracker = answer("senior_card", "phone", "不是", intent="deny", conversation_id=conversation_id)
    slots, _ = run("senior_card", tracker)
    assert slots["phone"] is None and "phone" in slots["application_declined"]


# ---- each application's own checks ----------------------------------------------------------------

def test_senior_allowance_explains_the_minimum_age_from_the_id_number():
    slots, messages = run("senior_allowance", answer("senior_allowance", "id_number", ID_NUMBER))
    assert slots["id_number"] is None and "80" in said(messages)
    slots, _ = run("senior_allowance", answer("senior_allowance", "id_number", SENIOR_ID_NUMBER))
    assert slots["id_number"] == SENIOR_ID_NUMBER


def test_senior_card_takes_anyone_over_sixty():
    slots, messages = run("senior_card", answer("senior_card", "id_number", ID_NUMBER))
    assert slots["id_number"] is None and "60" in said(messages)


def test_residence_permit_needs_six_months_since_arrival():
    recent = (dt.date.today() - dt.timedelta(days=40)).strftime("%Y年%m月%d日")
    slots, messages = run("residence_permit", answer("residence_permit", "arrival_date", recent))
    assert slots["arrival_date"] is None and "6个月" in said(messages)
    slots, _ = run("residence_permit", answer("residence_permit", "arrival_date", "2023年5月1日"))
    assert slots["arrival_date"] == "2023-05-01"


def test_a_date_that_has_not_come_yet_is_refused_where_it_must_be_past():
    future = (dt.date.today() + dt.timedelta(days=30)).strftime("%Y年%m月%d日")
    slots, messages = run("social_security_card", answer("social_security_card", "loss_date", future))
    assert slots["loss_date"] is None and messages


def test_wage_arrears_take_chinese_numerals_and_send_old_arrears_to_arbitration():
    slots, _ = run("wage_arrears_complaint", answer("wage_arrears_complaint", "months_unpaid", "三个月"))
    assert slots["months_unpaid"] == 3
    slots, messages = run("wage_arrears_complaint", answer("wage_arrears_complaint", "months_unpaid", "30个月"))
    assert slots["months_unpaid"] is None and "仲裁" in said(messages)
    slots, _ = run("wage_arrears_complaint", answer("wage_arrears_complaint", "amount_owed", "一共欠了两万三"))
    assert slots["amount_owed"] == 23000


def test_medical_transfer_is_registered_where_one_is_insured():
    slots, messages = run("medical_transfer_registration",
                          answer("medical_transfer_registration", "insured_city", "上海"))
    assert slots["insured_city"] is None and "上海市" in said(messages)
    slots, _ = run("medical_transfer_registration",
                   answer("medical_transfer_registration", "destination_city", "上海"))
    assert slots["destination_city"] == "上海市"
    slots, _ = run("medical_transfer_registration",
                   answer("medical_transfer_registration", "transfer_reason", "退休后住外地"))
    assert slots["transfer_reason"] == "retired"


# ---- drafts --------------------------------------------------------------------------------------------

def test_every_answer_is_kept_as_a_draft():
    tracker = answer("residence_permit", "phone", PHONE, slots={"full_name": "张建国", "id_number": ID_NUMBER})
    run("residence_permit", tracker)
    draft = applications.draft_for(tracker.sender_id, "residence_permit")
    assert draft.values["phone"] == PHONE and draft.values["full_name"] == "张建国"


def test_a_draft_from_another_channel_is_picked_up_once_id_number_and_phone_match_in_a_proven_conversation():
    web, phone_line = f"f-{uuid.uuid4().hex[:10]}", f"f-{uuid.uuid4().hex[:10]}"
    id_number = "440303198506215513"
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    applications.save_draft(web, "web", "residence_permit", {"full_name": "李秀英", "id_number": id_number,
                                                               "phone": phone, "address": "南湖区光明街道5栋201"})
    # Caller ID on the phone line proves the caller holds the phone (test_forms_identity: the code in chat).
    identity.record_proof(phone_line, "caller_id", phone=phone)
    tracker = answer("residence_permit", "phone", phone, slots={"full_name": "李秀英", "id_number": id_number},
                     conversation_id=phone_line)
    slots, messages = run("residence_permit", tracker)
    assert slots["address"] == "南湖区光明街道5栋201"
    assert texts.text("utter_application_resumed_elsewhere", name="居住证") in said(messages)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_asks_its_fields_in_the_domain_order(form):
    required = domain()["forms"][form]["required_slots"]
    assert required == [*FORMS[form].fields, "application_confirmed"]
    assert all(hasattr(FORMS[form], f"validate_{slot}") for slot in required)
