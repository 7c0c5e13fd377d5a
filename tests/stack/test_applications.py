"""Applying through the chat, held as real conversations with the real stack (trained model, actions, database).

Each test answers whatever `state.requested_slot` asks for, as a client of the
public chat API would, and checks what a person would notice: the questions,
the explanations, the summary, the reference, the status, the pushed news.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from bot.settings import REPO_ROOT

pytestmark = pytest.mark.stack

TODAY = dt.date.today()
ID_NUMBER = "110101199003071233"
SENIOR_ID_NUMBER = "110101194005120024"
PHONE = "13812345678"
ANSWERS = {
    "full_name": "张建国",
    "id_number": ID_NUMBER,
    "phone": PHONE,
    "address": "东城区幸福路12号3单元502",
    "arrival_date": "2023年5月1日",
    "employer_or_school": "示例市宏达建筑公司",
    "loss_date": f"{(TODAY - dt.timedelta(days=20)):%Y年%m月%d日}",
    "employer": "宏达建筑公司",
    "work_site": "南湖区新城工地",
    "months_unpaid": "3个月",
    "amount_owed": "12000元",
    "insured_city": "示例市",
    "destination_city": "上海市",
    "transfer_reason": "退休后住外地",
    "start_date": f"{(TODAY + dt.timedelta(days=10)):%Y年%m月%d日}",
    "application_confirmed": "确认",
}
SENIOR = {**ANSWERS, "full_name": "王秀英", "id_number": SENIOR_ID_NUMBER}
OPENINGS = {
    "residence_permit": ("帮我办居住证", ANSWERS),
    "senior_allowance": ("我要给我妈申请高龄津贴", SENIOR),
    "senior_card": ("帮我爸办个老年证", SENIOR),
    "social_security_card": ("社保卡丢了 帮我补办一张", ANSWERS),
    "wage_arrears_complaint": ("老板欠我工资 我要投诉", ANSWERS),
    "medical_transfer_registration": ("我要办异地就医备案", ANSWERS),
}
# The best case: the opening message, one answer per field, and the confirmation.
TURNS_AT_BEST = {
    "residence_permit": 8,
    "senior_allowance": 6,
    "senior_card": 6,
    "social_security_card": 7,
    "wage_arrears_complaint": 10,
    "medical_transfer_registration": 10,
}


def text_of(reply: dict) -> str:
    return "\n".join(m["text"] for m in reply["messages"])


def payloads(reply: dict) -> set[str]:
    return {b["payload"] for m in reply["messages"] for b in m["buttons"]}


def new_id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def unique_person() -> dict[str, str]:
    """Answers with an ID number and phone no other test uses (for searching the disk for them)."""
    n = uuid.uuid4().int
    body = f"4403031985{n % 9 + 1:02d}{n // 10 % 28 + 1:02d}{n // 1000 % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    return {**ANSWERS, "id_number": body + check, "phone": f"186{n // 10**7 % 10**8:08d}"}


def answer_until_done(stack, conversation_id: str, reply: dict, answers: dict[str, str],
                      stop_at: str | None = None) -> tuple[dict, int]:
    """Answers whatever is asked until the form ends (or `stop_at` is asked); returns the last reply and turns."""
    turns = 0
    while reply["state"]["form"] and reply["state"]["requested_slot"] != stop_at:
        slot = reply["state"]["requested_slot"]
        assert slot in answers, f"asked for an unexpected field {slot}: {text_of(reply)}"
        reply = stack.chat(conversation_id, answers[slot])
        turns += 1
        assert turns <= 20, f"the form does not end: {text_of(reply)}"
    return reply, turns


def staff_token(stack) -> str:
    """A staff account in the stack's database, and a token for it."""
    username = f"clerk{uuid.uuid4().hex[:6]}"
    code = ("from bot.services import staff; import sys; "
            f"staff.create_or_update('{username}', 'correct-horse-battery', 'staff'); "
            f"print(staff.login('{username}', 'correct-horse-battery'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=stack.env, check=True,
                            capture_output=True, text=True)
    return result.stdout.strip().splitlines()[-1]


# ---- the whole way, for every application ---------------------------------------------------------------

@pytest.mark.parametrize("service_id", sorted(OPENINGS))
def test_every_application_goes_from_the_first_question_to_a_reference(stack, service_id):
    conversation_id = new_id()
    opening, answers = OPENINGS[service_id]
    reply = stack.chat(conversation_id, opening)
    assert reply["state"]["form"] == service_id, text_of(reply)
    assert reply["state"]["requested_slot"] == "full_name"
    assert "比如" in text_of(reply), "every question comes with an example"

    reply, turns = answer_until_done(stack, conversation_id, reply, answers)

    reference = reply["state"]["application_reference"]
    assert reference and re.fullmatch(r"\d{3}-\d{3}-\d{3}", reference)
    assert reference in text_of(reply)
    assert reply["state"]["form"] is None and reply["state"]["requested_slot"] is None
    assert 1 + turns == TURNS_AT_BEST[service_id], f"{service_id} took {1 + turns} turns"


def test_the_summary_masks_the_id_number_and_the_originals_to_bring_are_listed(stack):
    conversation_id = new_id()
    reply = stack.chat(conversation_id, "帮我办居住证")
    reply, _ = answer_until_done(stack, conversation_id, reply, ANSWERS, stop_at="application_confirmed")
    summary = text_of(reply)
    assert ID_NUMBER not in summary and ID_NUMBER[-4:] in summary
    assert PHONE not in summary and PHONE[-4:] in summary
    assert "张建国" in summary and "2023年5月1日" in summary
    assert "/affirm" in payloads(reply)

    reply = stack.chat(conversation_id, "确认")
    assert "居民身份证" in text_of(reply) and "原件" in text_of(reply)


# ---- wrong answers, corrections, controls -----------------------------------------------------------------

def test_a_wrong_id_number_is_explained_and_the_second_miss_offers_a_person(stack):
    conversation_id = new_id()
    reply = stack.chat(conversation_id, "帮我办居住证")
    reply, _ = answer_until_done(stack, conversation_id, reply, ANSWERS, stop_at="id_number")
    reply = stack.chat(conversation_id, "110101199003071234")
    assert reply["state"]["requested_slot"] == "id_number"
    assert "身份证" in text_of(reply)
    assert "/request_human" not in payloads(reply)
    reply = stack.chat(conversation_id, "11010119900307")
    assert reply["state"]["requested_slot"] == "id_number"
    assert {"/request_human", "/book_appointment"} <= payloads(reply)
    reply = stack.chat(conversation_id, ID_NUMBER)
    assert reply["state"]["requested_slot"] == "phone"


def test_going_back_correcting_and_skipping(stack):
    conversation_id = new_id()
    reply = stack.chat(conversation_id, "帮我办居住证")
    reply, _ = answer_until_done(stack, conversation_id, reply, ANSWERS, stop_at="address")
    reply = stack.chat(conversation_id, "上一步")
    assert reply["state"]["requested_slot"] == "phone"
    reply = stack.chat(conversation_id, "13912345678")
    assert reply["state"]["requested_slot"] == "address"
    reply, _ = answer_until_done(stack, conversation_id, reply, ANSWERS, stop_at="employer_or_school")
    reply = stack.chat(conversation_id, "跳过")
    assert reply["state"]["requested_slot"] == "application_confirmed"
    assert "5678" in text_of(reply), "the corrected phone number is in the summary"
    reply = stack.chat(conversation_id, "改一下电话")
    assert reply["state"]["requested_slot"] == "phone"
    reply = stack.chat(conversation_id, PHONE)
    assert reply["state"]["requested_slot"] == "application_confirmed"
    assert PHONE[-4:] in text_of(reply)
    reply = stack.chat(conversation_id, "确认")
    assert reply["state"]["application_reference"]


def test_a_question_in_the_middle_is_answered_and_the_same_field_asked_again(stack):
    conversation_id = new_id()
    reply = stack.chat(conversation_id, "帮我办居住证")
    reply, _ = answer_until_done(stack, conversation_id, reply, ANSWERS, stop_at="arrival_date")
    reply = stack.chat(conversation_id, "要带什么材料")
    materials = (REPO_ROOT / "knowledge_base/services/residence_permit.yml").read_text("utf-8")
    summary = re.search(r"materials_summary: (.+)", materials).group(1).strip()
    assert summary in text_of(reply)
    assert reply["state"]["form"] == "residence_permit"
    assert reply["state"]["requested_slot"] == "arrival_date"


def test_stopping_keeps_the_draft_and_applying_again_goes_on_where_it_stopped(stack):
    conversation_id = new_id()
    reply = stack.chat(conversation_id, "帮我爸办个老年证")
    reply, _ = answer_until_done(stack, conversation_id, reply, SENIOR, stop_at="address")
    reply = stack.chat(conversation_id, "不办了")
    assert reply["state"]["form"] is None
    assert "保存" in text_of(reply)
    reply = stack.chat(conversation_id, "我要办老年证")
    assert reply["state"]["form"] == "senior_card"
    assert reply["state"]["requested_slot"] == "address"


# ---- restarts and other channels ------------------------------------------------------------------------

def test_a_form_survives_a_restart_of_every_process(stack):
    conversation_id = new_id()
    reply = stack.chat(conversation_id, "老板欠我工资 我要投诉")
    reply, _ = answer_until_done(stack, conversation_id, reply, ANSWERS, stop_at="work_site")
    for process in ("rasa", "actions", "gateway"):
        stack.kill(process)
    stack.wait_healthy()
    reply = stack.chat(conversation_id, ANSWERS["work_site"])
    assert reply["state"]["form"] == "wage_arrears_complaint"
    assert reply["state"]["requested_slot"] == "months_unpaid"
    reply, _ = answer_until_done(stack, conversation_id, reply, ANSWERS)
    assert reply["state"]["application_reference"]


def test_a_draft_started_on_the_web_is_finished_on_another_channel_with_the_code_sent_to_its_phone(stack, smsc):
    person = {**unique_person(), "address": "西城区槐树胡同7号"}  # not the question's own example address
    web, kiosk = new_id(), new_id()
    reply = stack.chat(web, "帮我办居住证")
    reply, _ = answer_until_done(stack, web, reply, person, stop_at="employer_or_school")
    stack.chat(web, "先不办了")

    reply = stack.chat(kiosk, "帮我办居住证")
    for slot in ("full_name", "id_number", "phone"):
        assert reply["state"]["requested_slot"] == slot
        reply = stack.chat(kiosk, person[slot])
    # Knowing the numbers only tells that a draft exists; its answers stay where they are.
    assert "没填完" in text_of(reply) and person["phone"][-4:] in text_of(reply)
    assert reply["state"]["requested_slot"] == "address" and person["address"] not in text_of(reply)
    sms = smsc.wait_for_to("86" + person["phone"])
    code = re.search(r"\d{6}", sms.text).group()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    reply = stack.chat(kiosk, wrong)
    assert "验证码不对" in text_of(reply) and reply["state"]["requested_slot"] == "address"
    reply = stack.chat(kiosk, code)
    assert reply["state"]["requested_slot"] == "employer_or_school", "address and arrival date were picked up"
    assert "接上" in text_of(reply)
    reply, _ = answer_until_done(stack, kiosk, reply, person)
    assert reply["state"]["application_reference"]


# ---- after submitting -------------------------------------------------------------------------------------

def test_status_is_told_and_a_staff_change_reaches_the_person(stack):
    person = unique_person()
    conversation_id = new_id()
    reply = stack.chat(conversation_id, "帮我办居住证")
    reply, _ = answer_until_done(stack, conversation_id, reply, person)
    reference = reply["state"]["application_reference"]

    reply = stack.chat(conversation_id, "我的居住证办到哪一步了")
    assert reference in text_of(reply) and "等待受理" in text_of(reply)

    response = httpx.post(f"{stack.base_url}/api/staff/applications/{reference}/status",
                          json={"status": "more_materials_needed", "note": "请补交租房合同"},
                          headers={"Authorization": f"Bearer {staff_token(stack)}"}, timeout=10)
    assert response.status_code == 200, response.text
    pushed = stack.pushed(conversation_id).json()["messages"]
    assert reference in pushed[-1]["text"] and "请补交租房合同" in pushed[-1]["text"]

    elsewhere = new_id()
    reply = stack.chat(elsewhere, "我的居住证办到哪一步了")
    assert reference not in text_of(reply), "a stranger learns nothing without identifying"
    reply = stack.chat(elsewhere, f"{reference} {person['phone']}")
    assert reference in text_of(reply) and "补充材料" in text_of(reply)
    assert "请补交租房合同" not in text_of(reply), "a reference tells the status only, not the staff's note"


def test_details_given_once_are_offered_instead_of_asked_again(stack):
    conversation_id = new_id()
    person = {**unique_person(), "phone": "13900005678"}  # a new ID number: a new person, linked to this conversation
    reply = stack.chat(conversation_id, "帮我办居住证")
    answer_until_done(stack, conversation_id, reply, person)
    reply = stack.chat(conversation_id, "社保卡丢了 帮我补办一张")
    assert reply["state"]["requested_slot"] == "full_name"
    assert "张建国" in text_of(reply)
    replies = {}
    for _ in range(4):
        slot = reply["state"]["requested_slot"]
        replies[slot] = reply
        reply = stack.chat(conversation_id, "是")
    assert "还用尾号5678的手机号吗" in text_of(replies["phone"])
    assert reply["state"]["requested_slot"] == "loss_date"


def test_a_submitted_id_number_is_nowhere_on_disk_in_plain_text(stack):
    person = unique_person()
    conversation_id = new_id()
    reply = stack.chat(conversation_id, "社保卡丢了 帮我补办一张")
    reply, _ = answer_until_done(stack, conversation_id, reply, person)
    assert reply["state"]["application_reference"]

    database = Path(stack.env["DATABASE_URL"].removeprefix("sqlite:///"))
    for path in (database, database.with_name(database.name + "-wal")):
        if path.exists():
            content = path.read_bytes()
            assert person["id_number"].encode() not in content, path.name
            assert person["phone"].encode() not in content, path.name
    assert person["id_number"] not in stack.log_text()
