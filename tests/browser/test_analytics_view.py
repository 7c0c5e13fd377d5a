"""The analytics tab in a real headless Chromium: figures as text, charts with tables, axe-clean, CSV, print, review.

The gateway runs in this process (a fake dialogue engine behind it, the real
database and staff API) over a copy of the knowledge base. Set
STAFF_CONSOLE_SCREENSHOTS=docs to refresh docs/staff-console-analytics.png.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import bot.knowledge.catalogue as catalogue_module
from bot.db.models import (
    Application,
    Appointment,
    ClarifyingQuestion,
    Conversation,
    Handoff,
    Rating,
    StaffTask,
    UnansweredQuestion,
)
from bot.db.session import get_engine, unit_of_work
from bot.gateway.app import create_app
from bot.knowledge.catalogue import KNOWLEDGE_BASE_DIR, CatalogueCache
from bot.knowledge import learned
from bot.services import audit, knowledge_edits, staff
from bot.settings import REPO_ROOT, get_settings
from tests.browser.conftest import DESKTOP, describe
from tests.fakes import tracker
from tests.browser.conftest import serving
from tests.fakes.rasa import FakeRasa

playwright_api = pytest.importorskip("playwright.sync_api")
PASSWORD = "analytics-password-1"
CHINA = dt.timezone(dt.timedelta(hours=8))
QUESTION = f"孩子刚出生去哪里上户口{uuid.uuid4().hex[:4]}"
STATUS_QUESTION = f"我交的材料审到哪一步了{uuid.uuid4().hex[:4]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def axe_page(browser) -> Iterator[object]:
    """A fresh desktop page whose Content-Security-Policy is bypassed, only so axe-core can be injected."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", timezone_id="Asia/Shanghai", bypass_csp=True)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="module")
def knowledge_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the knowledge base that the live catalogue reads, so a review never edits the repository's."""
    root = tmp_path_factory.mktemp("kb") / "knowledge_base"
    shutil.copytree(KNOWLEDGE_BASE_DIR, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalogue_module, "_default_cache", CatalogueCache(root, interval=0, contract_ids=False))
        yield root


@pytest.fixture(scope="module")
def gateway(knowledge_base: Path) -> Iterator[str]:
    """The gateway on a free port, in a background thread."""
    with serving(create_app(get_settings(), rasa_transport=FakeRasa().transport()), free_port()) as base:
        yield base


@pytest.fixture(scope="module")
def month() -> None:
    """This month so far in a service centre's week: conversations on every channel, handoffs, ratings, forms, visits."""
    rng = random.Random(17)
    today = dt.datetime.now(CHINA).date()
    first = today.replace(day=1)
    channels = ["web"] * 6 + ["phone"] * 2 + ["kiosk"] * 2 + ["telegram"]
    messages = []
    with unit_of_work() as session:
        day = first
        while day <= today:
            for n in range(rng.randint(6, 14) if day.weekday() < 5 else rng.randint(1, 4)):
                at = dt.datetime.combine(day, dt.time(8 + n % 9, rng.randint(0, 59)), CHINA).astimezone(dt.UTC)
                at = min(at, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
                cid = f"an-{uuid.uuid4().hex[:10]}"
                channel = rng.choice(channels)
                session.add(Conversation(id=cid, channel=channel, created_at=at))
                for k in range(rng.randint(1, 4)):
                    intent = "nlu_fallback" if rng.random() < 0.12 else "ask_materials"
                    messages.append({"sender_id": cid, "type_name": "user", "timestamp": at.timestamp() + 20 * k,
                                     "intent_name": intent, "data": "{}"})
                if rng.random() < 0.25:
                    accepted = at + dt.timedelta(seconds=rng.randint(10, 240)) if rng.random() < 0.85 else None
                    session.add(Handoff(conversation_id=cid, channel=channel, service="residence_permit", reason="requested",
                                        status="closed", created_at=at, accepted_at=accepted,
                                        closed_at=at + dt.timedelta(minutes=8)))
                    if accepted:
                        level = rng.choice([5, 5, 5, 4, 4, 3, 2, 1])
                        session.add(Rating(conversation_id=cid, channel=channel, subject=f"handoff:{cid}", level=level,
                                           created_at=at + dt.timedelta(minutes=9)))
                        if level <= 2:
                            session.add(StaffTask(kind="low_rating", audience="supervisor", conversation_id=cid,
                                                  channel=channel, summary="", status=rng.choice(["open", "done"]),
                                                  created_at=at + dt.timedelta(minutes=9)))
                if rng.random() < 0.2:
                    service = rng.choice(["residence_permit", "senior_allowance", "social_security_card"])
                    done = rng.random() < 0.65
                    session.add(Application(service_id=service, status="submitted" if done else "draft",
                                            conversation_id=cid, channel=channel, created_at=at,
                                            updated_at=at - dt.timedelta(days=2) if not done else at,
                                            submitted_at=at if done else None,
                                            requested_slot=None if done else rng.choice(["id_number", "phone", "address"])))
                if rng.random() < 0.12:
                    session.add(UnansweredQuestion(conversation_id=cid, channel=channel, reason="low_confidence",
                                                   text=rng.choice(["能不能帮我查一下公积金余额", "护照在哪里办",
                                                                    "电话138****5678为什么打不通"]), created_at=at))
                if rng.random() < 0.05:
                    session.add(ClarifyingQuestion(conversation_id=cid, channel=channel, created_at=at))
            for k, centre in enumerate(("east_centre", "city_centre", "west_centre")):
                for seat in range(1, rng.randint(2, 5)):
                    status = rng.choice(["checked_in", "checked_in", "booked", "cancelled"])
                    slot = dt.datetime.combine(day, dt.time(9 + k))
                    session.add(Appointment(reference=f"T{uuid.uuid4().hex[:8]}", centre_id=centre, service_id="senior_card",
                                            slot_start=slot, slot_end=slot + dt.timedelta(minutes=30),
                                            seat=None if status == "cancelled" else seat, status=status,
                                            conversation_id="an-visit", channel="web", full_name_encrypted="x",
                                            phone_encrypted="x"))
            day += dt.timedelta(days=1)
        for _ in range(3):
            session.add(UnansweredQuestion(conversation_id="an-q", channel="web", text=QUESTION, reason="low_confidence",
                                           created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)))
        for _ in range(2):
            session.add(UnansweredQuestion(conversation_id="an-q", channel="web", text=STATUS_QUESTION,
                                           reason="low_confidence",
                                           created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)))
    # The dialogue engine's own record of the messages, as its tracker store keeps it.
    tracker.EVENTS.metadata.create_all(get_engine())
    with get_engine().begin() as connection:
        connection.execute(tracker.EVENTS.insert(), messages)


def log_in(page, gateway: str, role: str) -> str:
    username = f"{role[:4]}{uuid.uuid4().hex[:4]}"
    staff.create_or_update(username, PASSWORD, role)
    page.goto(f"{gateway}/staff")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    playwright_api.expect(page.locator("#who")).to_contain_text(username)
    return username


def api_figures(gateway: str, page) -> dict:
    token = page.evaluate("sessionStorage.getItem('staffToken')")
    return httpx.get(f"{gateway}/api/staff/analytics", params={"from": page.input_value("#an-from"),
                     "to": page.input_value("#an-to")}, headers={"Authorization": f"Bearer {token}"}).json()


def test_a_supervisor_reads_the_month_as_figures_charts_and_tables_axe_clean(gateway, month, axe_page, axe, tmp_path):
    page = axe_page
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, gateway, "supervisor")
    page.click('[data-tab="analytics"]')
    playwright_api.expect(page.locator("#an-status")).to_contain_text("已更新")
    figures = api_figures(gateway, page)

    kpis = page.locator("#an-kpis")
    playwright_api.expect(kpis).to_contain_text(f"会话{figures['conversations']:,}")
    playwright_api.expect(kpis).to_contain_text(f"{figures['satisfaction_rate'] * 100:.1f}%")
    playwright_api.expect(page.locator("#an-definitions")).to_contain_text("响应率")
    days = (dt.date.fromisoformat(figures["to"]) - dt.date.fromisoformat(figures["from"])).days + 1
    playwright_api.expect(page.locator("#chart-days tbody tr")).to_have_count(days)
    for chart in ("chart-days", "chart-channels", "chart-ratings", "chart-forms", "chart-centres"):
        playwright_api.expect(page.locator(f"#{chart} svg[role=img] desc")).not_to_be_empty()
    rating_rows = page.locator("#chart-ratings tbody tr td")
    assert [rating_rows.nth(i).text_content() for i in range(5)] == [f"{figures['ratings'][k]:,}" for k in "12345"]
    playwright_api.expect(page.locator("#an-unanswered")).to_contain_text(QUESTION)
    playwright_api.expect(page.locator("#an-unanswered")).to_contain_text("138****5678")
    assert "13812345678" not in page.content()

    page.locator("#chart-days details").evaluate("d => d.open = true")
    violations = axe(page)
    assert not violations, describe(violations)
    shots = REPO_ROOT / "docs" if os.environ.get("STAFF_CONSOLE_SCREENSHOTS") == "docs" else tmp_path
    page.locator("#chart-days details").evaluate("d => d.open = false")
    page.screenshot(path=str(shots / "staff-console-analytics.png"), full_page=True)


def test_the_csv_and_the_printed_report_are_the_same_figures_and_are_audited(gateway, month, page):
    username = log_in(page, gateway, "supervisor")
    page.click('[data-tab="analytics"]')
    playwright_api.expect(page.locator("#an-status")).to_contain_text("已更新")
    with page.expect_download() as download:
        page.click("#an-csv")
    lines = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
    figures = api_figures(gateway, page)
    assert lines[0] == "section,item,measure,value"
    assert f"conversations,,total,{figures['conversations']}" in lines
    assert audit.recent(staff_username=username)[0].action == "export_analytics"

    page.evaluate("window.print = () => { window.printed = true; }")
    page.click("#an-print")
    page.wait_for_function("window.printed === true")
    playwright_api.expect(page.locator("#an-status")).to_contain_text("已更新")
    assert audit.recent(staff_username=username)[0].action == "print_analytics"
    page.emulate_media(media="print")
    playwright_api.expect(page.locator(".topbar")).to_be_hidden()
    playwright_api.expect(page.locator("#an-kpis")).to_be_visible()
    playwright_api.expect(page.locator("#an-refresh")).to_be_hidden()


def test_a_supervisor_turns_an_unanswered_question_into_a_way_of_asking(gateway, month, page, knowledge_base):
    log_in(page, gateway, "supervisor")
    page.click('[data-tab="analytics"]')
    row = page.locator("#an-unanswered tr", has_text=QUESTION)
    row.locator("select[id^=an-u-service]").select_option("birth_registration")
    row.get_by_role("button", name="设为说法").click()
    playwright_api.expect(page.locator("#toast")).to_contain_text("马上就能听懂")
    playwright_api.expect(page.locator("#an-unanswered")).not_to_contain_text(QUESTION)
    assert QUESTION in catalogue_module.get_catalogue().services["birth_registration"].aliases
    assert QUESTION in (knowledge_base / "services" / "birth_registration.yml").read_text(encoding="utf-8")


def test_a_supervisor_attaches_an_unanswered_question_to_what_the_person_wants_done(gateway, month, page,
                                                                                  knowledge_base):
    log_in(page, gateway, "supervisor")
    page.click('[data-tab="analytics"]')
    playwright_api.expect(page.locator("#an-status")).to_contain_text("已更新")
    closed = api_figures(gateway, page)["unanswered_closed"]
    row = page.locator("#an-unanswered tr", has_text=STATUS_QUESTION)
    offered = row.locator("select[id^=an-u-intent] option").evaluate_all("options => options.map(o => o.value)")
    assert set(offered) - {""} <= knowledge_edits.known_intents(get_settings().domain_dir), "only intents the domain has"
    row.locator("select[id^=an-u-intent]").select_option(label="查进度")
    row.get_by_role("button", name="设为这件事的说法").click()

    playwright_api.expect(page.locator("#toast")).to_contain_text("下次训练")
    playwright_api.expect(page.locator("#an-unanswered")).not_to_contain_text(STATUS_QUESTION)
    playwright_api.expect(page.locator("#an-kpis")).to_contain_text(
        f"已处理的未答问题{closed['total'] + 1}说法 {closed['alias'] + 1}")
    assert ("check_status", STATUS_QUESTION) in learned.read_examples(knowledge_base)


def test_staff_do_not_see_the_analytics_tab(gateway, page):
    log_in(page, gateway, "staff")
    playwright_api.expect(page.locator('[data-tab="analytics"]')).to_be_hidden()
