"""Applications as stored: references people can read aloud, drafts that follow the person, statuses staff change."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text

from bot.db.models import Application
from bot.db.session import unit_of_work
from bot.errors import Conflict, InvalidRequest, NotFound
from bot.services import applications, audit, conversations, identity, people

ID_NUMBER = "110101199003071233"
PHONE = "13812345678"
DETAILS = {"full_name": "张建国", "id_number": ID_NUMBER, "phone": PHONE, "address": "东城区幸福路12号3单元502",
           "arrival_date": "2023-05-01", "employer_or_school": "示例市宏达建筑公司"}


def new_conversation() -> str:
    conversation_id = f"c-{uuid.uuid4().hex[:10]}"
    conversations.ensure(conversation_id, "web", "zh-CN")
    return conversation_id


def other_person() -> dict:
    """Details of a new person: a valid ID number (GB 11643 check character) and a phone of their own."""
    n = uuid.uuid4().int
    body = f"32010619560{n % 9 + 1}{n // 10 % 28 + 1:02d}{n // 1000 % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    return {**DETAILS, "id_number": body + check, "phone": f"139{n // 10**7 % 10**8:08d}"}


# ---- reference numbers ----------------------------------------------------------------------------

def test_a_reference_is_nine_digits_read_in_three_groups():
    reference = applications.new_reference()
    assert reference.isdigit() and len(reference) == 9 and reference[0] != "0"
    shown = applications.display_reference(reference)
    assert shown == f"{reference[:3]}-{reference[3:6]}-{reference[6:]}"
    assert applications.find_reference(f"我的编号是 {shown.replace('-', ' ')} 帮我查一下") == reference


def test_a_mistyped_reference_is_caught_by_its_check_digit():
    reference = applications.new_reference()
    for position in range(9):
        for digit in "0123456789":
            if digit != reference[position]:
                typo = reference[:position] + digit + reference[position + 1:]
                assert not applications.reference_is_valid(typo)
    for position in range(8):
        if reference[position] != reference[position + 1]:
            swapped = (reference[:position] + reference[position + 1] + reference[position]
                       + reference[position + 2:])
            assert not applications.reference_is_valid(swapped)


# ---- drafts --------------------------------------------------------------------------------------

def test_a_draft_keeps_the_answers_and_stores_personal_fields_only_encrypted():
    conversation_id = new_conversation()
    applications.save_draft(conversation_id, "web", "residence_permit", DETAILS)
    assert applications.draft_for(conversation_id, "residence_permit").values == DETAILS
    with unit_of_work() as session:
        row = session.execute(text("SELECT * FROM applications WHERE conversation_id = :c"),
                              {"c": conversation_id}).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    for value in (ID_NUMBER, PHONE, DETAILS["address"], DETAILS["full_name"]):
        assert value not in stored


def test_a_draft_moves_to_another_channel_only_with_the_same_id_number_and_the_phone_proven():
    person = other_person()
    web, phone_call = new_conversation(), new_conversation()
    applications.save_draft(web, "web", "residence_permit", {**person, "employer_or_school": None})
    assert applications.resume_elsewhere(phone_call, "residence_permit", person["id_number"], "13000000000") is None
    # Knowing both numbers is not enough: only holding the phone is.
    assert applications.resume_elsewhere(phone_call, "residence_permit", person["id_number"], person["phone"]) is None
    assert applications.draft_elsewhere_exists(phone_call, "residence_permit", person["id_number"], person["phone"])
    assert applications.draft_for(web, "residence_permit") is not None
    identity.record_proof(phone_call, "caller_id", phone=person["phone"])
    moved = applications.resume_elsewhere(phone_call, "residence_permit", person["id_number"], person["phone"])
    assert moved is not None and moved.values["address"] == person["address"]
    assert applications.draft_for(phone_call, "residence_permit") is not None
    assert applications.draft_for(web, "residence_permit") is None


def test_holding_the_phone_on_file_alone_brings_the_one_draft_on_it_here():
    person = other_person()
    web, caller, stranger = new_conversation(), new_conversation(), new_conversation()
    applications.save_draft(web, "web", "residence_permit", {**person, "employer_or_school": None})
    identity.record_proof(stranger, "caller_id", phone="13000000000")
    assert applications.resume_by_proven_phone(stranger, "residence_permit") is None
    assert applications.resume_by_proven_phone(new_conversation(), "residence_permit") is None, "nothing proven"
    identity.record_proof(caller, "caller_id", phone=person["phone"])
    assert applications.resume_by_proven_phone(caller, "social_security_card") is None, "another service"
    moved = applications.resume_by_proven_phone(caller, "residence_permit")
    assert moved is not None and moved.values["full_name"] == person["full_name"]
    assert applications.draft_for(web, "residence_permit") is None


def test_two_drafts_on_one_phone_are_left_for_the_id_number_to_tell_apart():
    person, relative = other_person(), other_person()
    relative["phone"] = person["phone"]
    for who in (person, relative):
        applications.save_draft(new_conversation(), "web", "residence_permit", who)
    caller = new_conversation()
    identity.record_proof(caller, "caller_id", phone=person["phone"])
    assert applications.resume_by_proven_phone(caller, "residence_permit") is None
    assert applications.resume_elsewhere(caller, "residence_permit", person["id_number"], person["phone"]) is not None


# ---- submissions and status ------------------------------------------------------------------------

def test_submitting_gives_a_reference_and_staff_see_the_application_masked():
    person = other_person()
    conversation_id = new_conversation()
    applications.save_draft(conversation_id, "web", "residence_permit", person)
    reference = applications.submit(conversation_id, "web", "residence_permit", person)
    assert applications.reference_is_valid(reference)
    assert applications.draft_for(conversation_id, "residence_permit") is None
    listed = {v.reference: v for v in applications.staff_list("submitted")}
    view = listed[applications.display_reference(reference)]
    assert person["id_number"] not in view.id_number and view.id_number.endswith(person["id_number"][-4:])
    assert person["phone"] not in view.phone and view.full_name != person["full_name"]


def test_a_status_change_is_pushed_to_the_conversation_the_person_applied_from():
    person = other_person()
    conversation_id = new_conversation()
    reference = applications.submit(conversation_id, "web", "residence_permit", person)
    applications.change_status(applications.display_reference(reference), "under_review", None, "li")
    applications.change_status(reference, "more_materials_needed", "请补交租房合同", "li")
    pushed = conversations.messages_after(conversation_id, None)
    assert [m.sender for m in pushed] == ["assistant", "assistant"]
    assert applications.display_reference(reference) in pushed[-1].text
    assert "请补交租房合同" in pushed[-1].text
    assert [s.status for s in applications.for_conversation(conversation_id)] == ["more_materials_needed"]


def test_statuses_follow_the_clerks_order():
    person = other_person()
    reference = applications.submit(new_conversation(), "web", "senior_card", person)
    with pytest.raises(Conflict):
        applications.change_status(reference, "ready_for_collection", None, "li")
    with pytest.raises(InvalidRequest):
        applications.change_status(reference, "lost", None, "li")
    with pytest.raises(NotFound):
        applications.change_status("100-000-000", "approved", None, "li")
    applications.change_status(reference, "rejected", "不符合条件", "li")
    with pytest.raises(Conflict):
        applications.change_status(reference, "approved", None, "li")


def test_a_reference_and_phone_tell_the_status_only():
    person = other_person()
    reference = applications.submit(new_conversation(), "web", "social_security_card", person)
    applications.change_status(reference, "more_materials_needed", "请补交户口本首页", "li")
    later = new_conversation()
    assert applications.identify(later, "13000000000", reference=reference) == []
    found = applications.identify(later, person["phone"], reference=reference)
    assert [(f.service_id, f.status, f.note) for f in found] == [("social_security_card", "more_materials_needed", None)]
    assert people.known_for(later) is None, "a status question links nobody"


def test_an_id_number_and_phone_list_applications_only_once_the_phone_is_proven():
    person = other_person()
    applications.submit(new_conversation(), "web", "social_security_card", person)
    later = new_conversation()
    assert applications.identify(later, person["phone"], id_number=person["id_number"]) == []
    identity.record_proof(later, "telegram_contact", phone=person["phone"])
    found = applications.identify(later, person["phone"], id_number=person["id_number"])
    assert [f.service_id for f in found] == ["social_security_card"]


def test_a_submission_from_an_unproven_conversation_leaves_the_person_on_file_as_it_was():
    person = other_person()
    first = new_conversation()
    applications.submit(first, "web", "residence_permit", person)
    stranger = new_conversation()
    changed = {**person, "phone": "13700000000", "address": "别处路1号"}
    reference = applications.submit(stranger, "web", "senior_card", changed)
    assert people.phone_on_file(person["id_number"]) == person["phone"]
    assert people.known_for(stranger) is None
    assert people.known_for(first).address == person["address"]
    shown = applications.display_reference(reference)
    assert any(e.subject == f"application:{shown}" and e.action == "unverified_submission"
               for e in audit.recent(staff_username="resident"))
    assert any(v.reference == shown for v in applications.staff_list("submitted")), "the submission is kept"


def test_submitting_remembers_the_person_for_the_next_application_in_the_conversation():
    person = other_person()
    conversation_id = new_conversation()
    applications.submit(conversation_id, "web", "residence_permit", person)
    known = people.known_for(conversation_id)
    assert (known.full_name, known.id_number, known.phone, known.address) == (
        person["full_name"], person["id_number"], person["phone"], person["address"])
    assert people.identify(new_conversation(), person["id_number"], "13000000000") is None


def test_submitted_applications_wait_for_redaction_until_marked():
    person = other_person()
    conversation_id = new_conversation()
    applications.submit(conversation_id, "web", "residence_permit", person)
    jobs = applications.awaiting_redaction(conversation_id)
    assert len(jobs) == 1 and jobs[0].values["id_number"] == person["id_number"]
    applications.mark_redacted(jobs[0].application_id)
    assert applications.awaiting_redaction(conversation_id) == []
    with unit_of_work() as session:
        assert session.scalars(select(Application.redacted_at).where(
            Application.id == jobs[0].application_id)).one() is not None


def test_the_same_turn_run_again_gets_its_submission_not_a_second_one():
    person = other_person()
    conversation_id = new_conversation()
    applications.save_draft(conversation_id, "web", "residence_permit", person)
    first = applications.submit(conversation_id, "web", "residence_permit", person, turn_key="m-1")
    again = applications.submit(conversation_id, "web", "residence_permit", person, turn_key="m-1")
    later = applications.submit(conversation_id, "web", "residence_permit", person, turn_key="m-2")
    assert again == first and later != first
    with unit_of_work() as session:
        submitted = session.scalars(select(Application).where(Application.conversation_id == conversation_id,
                                                              Application.status == "submitted")).all()
    assert len(submitted) == 2
