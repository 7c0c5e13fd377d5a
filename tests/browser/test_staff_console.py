"""The staff console in a real headless Chromium: log in, see the live queue, accept, answer, close; text messages.

The gateway runs in this process (a fake Rasa behind it, the real database and
staff API). Set STAFF_CONSOLE_SCREENSHOTS=docs to refresh the screenshots under docs/.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.db.models import Handoff, utcnow
from bot.db.session import unit_of_work
from bot.gateway.app import create_app
from bot.knowledge.catalogue import get_catalogue
from bot.services import appointments, audit, callbacks, conversations, feedback, handoff, sms_notices, staff
from bot.settings import REPO_ROOT, get_settings
from tests.fakes import tracker
from tests.browser.conftest import serving
from tests.fakes.rasa import FakeRasa

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "console-password-1"
TABLET = {"width": 1280, "height": 860}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """The gateway on a free port, in a background thread."""
    with serving(create_app(get_settings(), rasa_transport=FakeRasa().transport()), free_port()) as base:
        yield base


def person(channel: str, events: list[dict] | None = None) -> str:
    conversation_id = f"{channel}-{uuid.uuid4().hex[:8]}"
    conversations.ensure(conversation_id, channel, "zh-CN")
    if events:
        tracker.write_events(conversation_id, events)
    return conversation_id


@pytest.fixture(scope="module")
def desk() -> dict[str, str]:
    """A staff member and the people waiting for them, as on a busy morning."""
    with unit_of_work() as session:
        session.execute(update(Handoff).where(Handoff.status != "closed").values(status="closed"))
    username = f"li{uuid.uuid4().hex[:4]}"
    staff.create_or_update(username, PASSWORD, "staff", "east_centre")
    served = person("web", [
        tracker.user("居住证怎么办理", "ask_how_to_apply"),
        tracker.bot("居住证：外地户口的人在示例市住满半年，有工作、有住处或在这里上学，就可以办居住证。我也可以现在一步步帮您申请。"),
        tracker.user("帮我办", "start_application"),
        tracker.loop("residence_permit"),
        tracker.slot("full_name", "张建国"),
        tracker.slot("phone", "13812345678"),
        tracker.slot("requested_slot", "id_number"),
        tracker.bot("请输入18位身份证号，最后一位可能是X，比如：110101199003071233"),
        tracker.user("我的身份证丢了，号码记不清", "inform"),
        tracker.user("/request_human", "request_human"),
    ])
    handoff.request(person("kiosk", [tracker.user("社保卡补办要多久", "ask_processing_time")]), "kiosk",
                    "social_security_card", "requested")
    handoff.request(person("phone"), "phone", "senior_allowance", "not_understood")
    handoff.request(person("telegram"), "telegram", None, "emergency")
    handoff.request(served, "web", "residence_permit", "validation")
    today = appointments.local_now().date()
    for hour, name in ((9, "刘桂兰"), (10, "王德福")):
        conversations.ensure(f"visit-{name}", "web", "zh-CN")
        try:
            appointments.book(f"visit-{name}", "web", "senior_card", "east_centre",
                              dt.datetime.combine(today, dt.time(hour)), name, "15907661234",
                              now=dt.datetime.combine(today - dt.timedelta(days=1), dt.time(9)))
        except Exception:  # noqa: BLE001 - today may be a closed day; the appointment list may then be empty
            pass
    callbacks.request_callback(person("web"), "web", "13912345678", "morning", "medical_reimbursement")
    feedback.record_complaint(person("web"), "web", "上次去窗口排队两个小时，态度也不好", "id_card")
    return {"username": username, "served": served}


def screenshot_dir(tmp_path: Path) -> Path:
    return REPO_ROOT / "docs" if os.environ.get("STAFF_CONSOLE_SCREENSHOTS") == "docs" else tmp_path


def signed_in_console(p, gateway: str, username: str):
    """The staff console on a tablet-sized page, signed in as `username`."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport=TABLET, locale="zh-CN", timezone_id="Asia/Shanghai")
    page.goto(f"{gateway}/staff")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


def test_staff_log_in_see_the_queue_accept_answer_and_close(gateway, desk, tmp_path):
    shots = screenshot_dir(tmp_path)
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=TABLET, locale="zh-CN", timezone_id="Asia/Shanghai")
        page.goto(f"{gateway}/staff")
        page.fill("input[name=username]", desk["username"])
        page.fill("input[name=password]", "wrong-password")
        page.click("button[type=submit]")
        playwright_api.expect(page.locator("#login-error")).to_contain_text("不对")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")

        waiting = page.locator("#waiting li.item")
        playwright_api.expect(waiting).to_have_count(4)
        playwright_api.expect(waiting.first).to_contain_text("紧急")

        # A new person joins the queue: the list updates without a reload.
        handoff.request(person("web"), "web", "id_card", "requested")
        playwright_api.expect(waiting).to_have_count(5, timeout=10_000)

        served = handoff.queue("waiting")
        served_id = next(h.id for h in served if h.conversation_id == desk["served"])
        page.locator("#waiting li.item", has_text=f"#{served_id}").click()
        playwright_api.expect(page.locator("#conversation")).to_contain_text("接待后可以看到")
        page.screenshot(path=str(shots / "staff-console-queue.png"))

        page.click("#conversation button.primary")
        transcript = page.locator("#transcript")
        playwright_api.expect(transcript).to_contain_text("号码记不清")
        playwright_api.expect(page.locator("#conv-title")).to_contain_text("张**")
        playwright_api.expect(page.locator("#conv-form")).to_contain_text("身份证号")
        assert "13812345678" not in page.content(), "the console shows numbers masked"
        assert desk["served"] not in page.content(), "the console never shows a conversation id"

        page.fill("#reply-text", "您好，身份证丢了可以先补办身份证，我把材料发给您。")
        page.click(".reply button")
        playwright_api.expect(transcript).to_contain_text("先补办身份证")
        pushed = conversations.messages_after(desk["served"], None)
        assert pushed[-1].sender == "staff" and "先补办身份证" in pushed[-1].text

        handoff.add_person_message(desk["served"], "好的，谢谢，那我先去派出所补身份证")
        playwright_api.expect(transcript).to_contain_text("先去派出所", timeout=10_000)
        playwright_api.expect(page.locator("#toast")).to_be_hidden(timeout=10_000)
        page.screenshot(path=str(shots / "staff-console-conversation.png"), full_page=True)

        page.fill("#close-note", "已告知先补办身份证")
        page.click(".close-row button.danger")
        playwright_api.expect(page.locator("#conversation")).to_contain_text("已结束")
        assert handoff.status_of(desk["served"]) == "none"
        assert len(conversations.messages_after(desk["served"], None)[-1].buttons) == 5

        page.click('[data-tab="tasks"]')
        playwright_api.expect(page.locator("#tasks")).to_contain_text("139****5678")
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#tasks button.link").first.click()
        playwright_api.expect(page.locator("#tasks")).to_contain_text("13912345678")
        playwright_api.expect(page.locator("#tasks")).not_to_contain_text("态度也不好")  # complaints: supervisors only

        page.click('[data-tab="appointments"]')
        playwright_api.expect(page.locator("#tab-appointments")).to_be_visible()
        # A staff member sees their own centre's appointments: no other centre to choose.
        centre = page.locator("#appt-centre")
        playwright_api.expect(centre).to_be_disabled()
        assert centre.locator("option").all_inner_texts() == [get_catalogue().centres["east_centre"].name]
        browser.close()


def test_a_supervisor_sees_follow_ups_and_the_audit_log(gateway, desk):
    username = f"boss{uuid.uuid4().hex[:4]}"
    staff.create_or_update(username, PASSWORD, "supervisor")
    # Someone tried the conversation with a wrong token: the log names it, by a label and not by its id.
    conversations.audit_refusal(desk["served"], "a-guessed-token", "reading messages")
    with playwright_api.sync_playwright() as p:
        page = signed_in_console(p, gateway, username)
        page.click('[data-tab="tasks"]')
        playwright_api.expect(page.locator("#tasks")).to_contain_text("态度也不好")
        page.click('[data-tab="audit"]')
        playwright_api.expect(page.locator("#audit-rows")).to_contain_text("查看会话")
        playwright_api.expect(page.locator("#audit-rows")).to_contain_text("对话凭证被拒")
        assert desk["served"] not in page.content() and "a-guessed-token" not in page.content()
        page.context.browser.close()


def test_an_admin_sets_a_centre_and_switches_an_account_off_on_the_accounts_page(gateway):
    admin, clerk = f"adm{uuid.uuid4().hex[:4]}", f"clk{uuid.uuid4().hex[:4]}"
    staff.create_or_update(admin, PASSWORD, "admin")
    staff.create_or_update(clerk, PASSWORD, "staff")
    clerk_token = staff.login(clerk, PASSWORD)
    with playwright_api.sync_playwright() as p:
        page = signed_in_console(p, gateway, admin)
        page.click('[data-tab="accounts"]')
        row = page.locator("#account-rows tr", has_text=clerk)
        playwright_api.expect(row).to_contain_text("正常")
        row.locator("select").select_option("west_centre")
        playwright_api.expect(page.locator("#toast")).to_contain_text("已更新")
        assert {a.username: a.centre_id for a in staff.list_accounts()}[clerk] == "west_centre"
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="停用").click()
        playwright_api.expect(row).to_contain_text("已停用")
        page.context.browser.close()
    assert staff.identity_for_token(clerk_token) is None


def text_a_kiosk_resident(phone: str, reference: str, status: str) -> int:
    """Files the status-change text of a resident who came to the kiosk (no channel reaches them later)."""
    conversation_id = person("kiosk")
    change_id = uuid.uuid4().int % 2**31
    assert sms_notices.status_change(change_id, conversation_id, phone, "居住证", reference, status)
    return next(n.id for n in sms_notices.staff_list(sms_notices.WAITING) if n.reference == reference)


def fail_every_attempt(notice_id: int) -> None:
    """The SMS worker tries the notice until its attempts are used up, the SMSC refusing each time."""
    now = utcnow()
    for _ in range(get_settings().sms_max_attempts):
        assert notice_id in {due.id for due in sms_notices.claim_due("sms-worker", now=now)}
        sms_notices.mark_failed(notice_id, "sms-worker", "SMSC refused: unknown subscriber", now=now)
        now += sms_notices.MAX_BACKOFF


def test_staff_see_texts_to_residents_with_numbers_masked_and_send_a_failed_one_again(gateway):
    username = f"sms{uuid.uuid4().hex[:4]}"
    staff.create_or_update(username, PASSWORD, "staff")
    unreachable = text_a_kiosk_resident("15907661234", "BM-20240305-0002", "需补材料")
    fail_every_attempt(unreachable)
    text_a_kiosk_resident("13812345678", "BM-20240305-0001", "已通过")
    with playwright_api.sync_playwright() as p:
        page = signed_in_console(p, gateway, username)
        playwright_api.expect(page.locator("#badge-sms")).to_have_text("1")  # one text could not be sent

        page.click('[data-tab="sms"]')
        rows = page.locator("#sms-rows tr")
        playwright_api.expect(rows).to_have_count(2)
        waiting, failed = rows.filter(has_text="BM-20240305-0001"), rows.filter(has_text="BM-20240305-0002")
        for text in ("办理进度", "138****5678", "已通过", "待发送", "0 次"):
            playwright_api.expect(waiting).to_contain_text(text)
        for text in ("159****1234", "发送失败", "unknown subscriber", f"{get_settings().sms_max_attempts} 次"):
            playwright_api.expect(failed).to_contain_text(text)
        playwright_api.expect(waiting.get_by_role("button")).to_have_count(0)  # only a failed text is sent again
        content = page.content()
        assert "13812345678" not in content and "15907661234" not in content, "the console shows numbers masked"

        page.select_option("#sms-status", "failed")
        playwright_api.expect(rows).to_have_count(1)
        failed.get_by_role("button", name="重新发送").click()
        playwright_api.expect(page.locator("#toast")).to_contain_text("重新发送")
        # Sent again, it is no longer failed: the failed list is empty and the tab's badge goes.
        playwright_api.expect(page.locator("#sms-empty")).to_be_visible()
        playwright_api.expect(page.locator("#badge-sms")).to_have_text("", timeout=10_000)
        again = next(n for n in sms_notices.staff_list(sms_notices.WAITING) if n.id == unreachable)
        assert again.attempts == 0, "its attempts start over"
        assert [(e.staff_username, e.action) for e in audit.recent(subject=f"sms:{unreachable}")] == [
            (username, "retry_sms")]

        page.select_option("#sms-status", "")
        playwright_api.expect(rows).to_have_count(2)
        playwright_api.expect(failed).to_contain_text("待发送")
        page.context.browser.close()
