"""The large-font kiosk in a real headless Chromium against the real assistant (Rasa, actions, gateway, database).

Every screen is checked with axe-core (WCAG 2.2 up to AAA) and measured against the 适老化 numbers: text
≥ 24 px, headings ≥ 36 px, line height ≥ 1.5, contrast ≥ 7:1, touch targets ≥ 72×72 px, 12 px apart.
Screenshots of each screen are written to docs/kiosk/. The stack runs with the real speech services: espeak-ng
for reading aloud and vosk for push-to-talk (with the small Korean test model standing in for the Chinese one).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bot import texts
from bot.settings import REPO_ROOT
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, KIOSK_STAFF, WCAG_TAGS, describe
from tests.stack.conftest import Stack

pytestmark = pytest.mark.stack

KIOSK_VIEWPORT = {"width": 1280, "height": 1024}   # a 19-inch 5:4 kiosk screen
SHOTS = REPO_ROOT / "docs" / "kiosk"
STAFF_USER, STAFF_PASSWORD = KIOSK_STAFF
# A resident aged over 60 (老年证), with a valid check digit, and their mobile.
RESIDENT_ID, RESIDENT_PHONE = "110101195003071235", "13812345678"
AXE_TAGS = [*WCAG_TAGS, "wcag2aaa", "best-practice"]

# Measures what a resident meets on the current screen; returns the minimums and every place below the numbers.
MEASURE = r"""
// Measures what an elderly resident meets on the current kiosk screen: text size, line height, contrast,
// touch-target size and spacing. Returns the minimums found and every place below the numbers.
(() => {
  const visible = (n) => { const r = n.getBoundingClientRect(); const s = getComputedStyle(n);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none" && !n.closest("[hidden]"); };
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  // The colour painted behind a node: the first opaque background up the tree, blended over white.
  const background = (n) => {
    for (let e = n; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const out = { minFont: 1e9, minHeading: 1e9, minLineRatio: 1e9, minContrast: 1e9, minTarget: 1e9, minGap: 1e9,
    texts: 0, targets: 0, failures: [] };
  const label = (n) => (n.tagName + " " + (n.id ? "#" + n.id + " " : "") + (n.textContent || "").trim().slice(0, 20));
  for (const n of document.querySelectorAll("body *")) {
    if (!visible(n)) continue;
    const ownText = Array.from(n.childNodes).some((c) => c.nodeType === 3 && c.textContent.trim());
    if (ownText) {
      const s = getComputedStyle(n);
      const size = parseFloat(s.fontSize);
      const heading = /^H[1-6]$/.test(n.tagName);
      out.texts += 1;
      if (heading) { out.minHeading = Math.min(out.minHeading, size); if (size < 36) out.failures.push(`heading ${size}px: ${label(n)}`); }
      else { out.minFont = Math.min(out.minFont, size); if (size < 24) out.failures.push(`text ${size}px: ${label(n)}`); }
      const lh = s.lineHeight === "normal" ? 1.2 : parseFloat(s.lineHeight) / size;
      out.minLineRatio = Math.min(out.minLineRatio, lh);
      if (lh < 1.5 - 1e-6) out.failures.push(`line height ${lh.toFixed(2)}: ${label(n)}`);
      const contrast = ratio(rgb(s.color).slice(0, 3), background(n));
      out.minContrast = Math.min(out.minContrast, contrast);
      if (contrast < 7) out.failures.push(`contrast ${contrast.toFixed(2)}: ${label(n)}`);
    }
  }
  // A button of paged text counts on its own page only: on the others it is out of sight, under the page's cut.
  const onPage = (n) => { if (!n.closest(".pager-content")) return true;
    const r = n.getBoundingClientRect(); const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
    return !!hit && (hit === n || n.contains(hit)); };
  const targets = Array.from(document.querySelectorAll("button, input, a[href], [role=button], [role=switch], select"))
    .filter(visible).filter(onPage);
  const rects = targets.map((t) => t.getBoundingClientRect());
  rects.forEach((r, i) => {
    out.targets += 1;
    const small = Math.min(r.width, r.height);
    out.minTarget = Math.min(out.minTarget, small);
    if (small < 72 - 0.5) out.failures.push(`target ${r.width.toFixed(0)}×${r.height.toFixed(0)}: ${label(targets[i])}`);
    for (let j = i + 1; j < rects.length; j++) {
      const q = rects[j];
      const dx = Math.max(0, q.left - r.right, r.left - q.right);
      const dy = Math.max(0, q.top - r.bottom, r.top - q.bottom);
      const gap = Math.max(dx, dy);
      out.minGap = Math.min(out.minGap, gap);
      if (gap < 12 - 0.5) out.failures.push(`gap ${gap.toFixed(0)}px: ${label(targets[i])} / ${label(targets[j])}`);
    }
  });
  return out;
})()
"""


@pytest.fixture(scope="module")
def stack(kiosk_stack: Stack) -> Stack:
    """The whole assistant, with one staff account for the assisted mode (shared with the screen-size tests)."""
    return kiosk_stack


@pytest.fixture
def kiosk(browser, stack):
    """Opens the kiosk in a fresh context; call it with URL parameters (e.g. idle=3)."""
    contexts = []

    def open_kiosk(query: str = ""):
        context = browser.new_context(viewport=KIOSK_VIEWPORT, locale="zh-CN", has_touch=True)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{stack.base_url}/kiosk{'?' + query if query else ''}")
        page.wait_for_selector("main h1")
        return page

    yield open_kiosk
    for context in contexts:
        context.close()


def tap(page, name: str) -> None:
    """One tap on the button with this exact label, then waits for the kiosk to be idle again."""
    page.get_by_role("button", name=name, exact=True).first.tap()
    settle(page)


def settle(page) -> None:
    # A selector, not a script: the page's Content-Security-Policy forbids the eval that wait_for_function uses.
    page.locator("main[aria-busy]").wait_for(state="detached")
    page.wait_for_timeout(150)


def screen_text(page) -> str:
    return page.locator("main").inner_text()


def keypad(page, digits: str) -> None:
    """Taps a number on the on-screen keypad, one key at a time."""
    for digit in digits:
        page.locator(".keypad").get_by_role("button", name=digit, exact=True).tap()


def staff_login(page) -> None:
    """Staff-assisted mode: the staff member logs in and the resident agrees."""
    tap(page, "工作人员协助")
    page.fill("#staff-user", STAFF_USER)
    page.fill("#staff-pass", STAFF_PASSWORD)
    tap(page, "登录")
    page.wait_for_selector("main h1:text('请居民本人确认')")
    tap(page, "同意")
    page.locator("#assist-banner").wait_for(state="visible")


def audit_rows(stack: Stack, action: str) -> list[tuple[str, str, str]]:
    """(staff, subject, detail) of every audit entry of one kind."""
    database = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        return db.execute("SELECT staff_username, subject, detail FROM audit_log WHERE action = ? ORDER BY id",
                          (action,)).fetchall()


def storage_is_empty(page) -> bool:
    """Nothing left in localStorage, sessionStorage or cookies of the kiosk's origin."""
    return page.evaluate("localStorage.length + sessionStorage.length") == 0 and not page.context.cookies()


def qr_codes_in(pdf: Path, shot: Path) -> list[str]:
    """The QR codes zbarimg decodes on the PDF's first page, rendered at 200 dpi; the page image is kept as `shot`."""
    assert shutil.which("pdftoppm") and shutil.which("zbarimg"), "poppler-utils and zbar-tools (setup-system.sh --test)"
    stem = pdf.with_suffix("")
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", "-f", "1", "-l", "1", str(pdf), str(stem)],
                   check=True)
    shutil.copyfile(stem.with_suffix(".png"), shot)
    found = subprocess.run(["zbarimg", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", str(stem.with_suffix(".png"))],
                           capture_output=True, text=True)
    return found.stdout.split()


def check(page, name: str, axe, found: dict) -> None:
    """Axe and the measuring script on the current screen, at the default and the larger size; one screenshot."""
    assert page.locator("#human").is_visible(), f"{name}: 我要找工作人员 is missing"
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    found[name] = {"axe": axe(page, AXE_TAGS), "default": page.evaluate(MEASURE)}
    # A click from script, not a tap: it must not count as the person touching the screen (the idle question).
    page.evaluate("document.getElementById('size-toggle').click()")
    found[name]["larger"] = page.evaluate(MEASURE)
    page.evaluate("document.getElementById('size-toggle').click()")


def book_by_taps(page, axe=None, found=None) -> str:
    """社保卡 → what to bring → a visit at the 东城区 centre, answering the questions on the kiosk; the slip's code."""
    snap = (lambda name: check(page, name, axe, found)) if found is not None else (lambda name: None)
    snap("1-home")
    page.locator(".tile", has_text="社保卡").tap()
    settle(page)
    assert "社保卡" in screen_text(page)
    snap("2-answer")
    tap(page, "要带什么")
    assert "身份证" in screen_text(page), "the materials are shown"
    tap(page, "预约到服务中心办")
    assert "哪个区" in screen_text(page)
    snap("3-choose-district")
    tap(page, "东城区")
    page.locator("main .actions .btn", has_text="星期").first.tap()
    settle(page)
    # A name needs letters: the big text box (or push-to-talk) is the one place that is not a tap.
    page.locator("input#entry").fill("张建国")
    snap("4-question-words")
    tap(page, "确定")
    assert page.locator(".keypad").is_visible(), "a phone number is asked on the on-screen keypad"
    keypad(page, RESIDENT_PHONE)
    assert page.locator("#entry").inner_text() == "138****5678", "the number is shown masked"
    snap("5-question-keypad")
    tap(page, "确定")
    page.wait_for_selector(".slip")
    printing = page.get_by_role("button", name="打印预约单").bounding_box()
    assert printing["y"] + printing["height"] <= KIOSK_VIEWPORT["height"], "printing needs no scrolling"
    snap("6-slip")
    return page.locator("#code").inner_text()


@pytest.fixture(scope="module")
def tour(browser, stack, axe) -> dict:
    """Every kiosk screen once, with what axe and the measuring script found there."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    found: dict = {}
    context = browser.new_context(viewport=KIOSK_VIEWPORT, locale="zh-CN", has_touch=True)
    page = context.new_page()
    page.goto(f"{stack.base_url}/kiosk?idle=15")   # long enough for the checks, short enough to wait for
    page.wait_for_selector("main h1")
    page.locator(".talk").wait_for(state="visible", timeout=120_000)   # the recogniser answered the kiosk's probe
    book_by_taps(page, axe, found)
    page.wait_for_selector("#idle:not([hidden])", timeout=30_000)
    check(page, "7-still-there", axe, found)
    tap(page, "我还在")
    tap(page, "我要找工作人员")
    check(page, "8-find-staff", axe, found)
    tap(page, "回到首页")
    page.locator(".tile", has_text="查办理进度").tap()
    check(page, "15-status-number", axe, found)
    keypad(page, "123456789")
    tap(page, "确定")
    check(page, "16-status-phone", axe, found)
    keypad(page, "13900001111")
    tap(page, "确定")
    check(page, "17-status-not-found", axe, found)
    tap(page, "回到首页")
    page.locator(".tile", has_text="意见和投诉").tap()
    check(page, "18-complaint", axe, found)
    tap(page, "回到首页")
    tap(page, "工作人员协助")
    check(page, "9-staff-login", axe, found)
    page.fill("#staff-user", STAFF_USER)
    page.fill("#staff-pass", STAFF_PASSWORD)
    tap(page, "登录")
    page.wait_for_selector("main h1:text('请居民本人确认')")
    check(page, "10-consent", axe, found)
    tap(page, "同意")
    page.wait_for_selector("#assist-banner:not([hidden])")
    check(page, "11-assisted", axe, found)
    tap(page, "结束协助")
    assert page.locator("#assist-banner").is_hidden() and page.locator("#staff-login").is_visible()
    context.close()
    return found


def test_axe_finds_nothing_on_any_kiosk_screen(tour):
    problems = {name: describe(seen["axe"]) for name, seen in tour.items() if seen["axe"]}
    assert not problems, problems


@pytest.mark.parametrize("size", ["default", "larger"])
def test_every_screen_meets_the_size_contrast_and_target_numbers(tour, size):
    failures = {name: seen[size]["failures"] for name, seen in tour.items() if seen[size]["failures"]}
    assert not failures, failures
    lowest = {key: min(seen[size][key] for seen in tour.values())
              for key in ("minFont", "minHeading", "minLineRatio", "minContrast", "minTarget", "minGap")}
    print(f"\nkiosk minimums ({size}): {lowest}")
    assert all(seen[size]["texts"] and seen[size]["targets"] for seen in tour.values()), "every screen was measured"


def test_the_larger_size_switch_makes_every_screen_larger(tour):
    for name, seen in tour.items():
        assert seen["larger"]["minFont"] >= seen["default"]["minFont"] * 1.25, name


def test_a_whole_visit_by_taps_ends_with_a_slip_printed_on_80mm_and_a5_with_a_readable_qr_code(kiosk, stack, tmp_path):
    page = kiosk()
    code = book_by_taps(page)
    assert re.fullmatch(r"[A-Z0-9-]{4,}", code), code
    assert "东城区政务服务中心" in screen_text(page) and "身份证" in screen_text(page), "centre and materials on the slip"
    assert RESIDENT_PHONE not in screen_text(page), "no personal number in full on the slip"
    page.locator("#qr").evaluate("(img) => img.decode()")   # the QR code's picture has loaded and is drawn
    page.emulate_media(media="print")
    receipt, a5 = tmp_path / "slip-80mm.pdf", tmp_path / "slip-a5.pdf"
    # A receipt roll is cut where the slip ends: the page is as long as the slip (plus the 4 mm margins).
    slip_mm = page.evaluate("document.querySelector('.slip').getBoundingClientRect().height") * 25.4 / 96
    page.pdf(path=str(receipt), width="80mm", height=f"{slip_mm + 12:.0f}mm", print_background=True)
    page.evaluate("kiosk.paper('a5')")   # what ?paper=a5 does on a kiosk with an A5 printer
    page.pdf(path=str(a5), format="A5", print_background=True, prefer_css_page_size=True)
    for pdf, shot in ((receipt, "13-slip-printed-80mm.png"), (a5, "14-slip-printed-a5.png")):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        text = text.replace("\n", "")   # the narrow receipt wraps lines anywhere
        assert code in text and "预约" in text and "东城区政务服务中心" in text, text
        assert "我要找工作人员" not in text, "only the slip is printed"
        assert qr_codes_in(pdf, SHOTS / shot) == [code], f"the printed QR code of {pdf.name} holds the code"
        pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        assert re.search(r"^Pages:\s+1$", pages, re.M), f"{pdf.name} is one page: {pages}"
    page.emulate_media(media="screen")
    # The rating question of the booking is on the screen (not on the paper), answered with one tap; a low
    # rating asks what went wrong, answered in the big box (or skipped with its button).
    tap(page, "不满意")
    assert page.locator("input#entry").is_visible() and page.get_by_role("button", name="不用了").is_visible()
    page.locator("input#entry").fill("等的时间太长了")
    tap(page, "确定")
    assert texts.text("utter_feedback_comment_saved") in screen_text(page)
    with sqlite3.connect(stack.env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        rated = db.execute("SELECT level, comment FROM ratings WHERE subject = ?", (f"appointment:{code}",)).fetchall()
    assert rated == [(2, "等的时间太长了")], rated


def test_the_slip_qr_code_route_draws_only_confirmation_codes(stack):
    drawn = httpx.get(f"{stack.base_url}/kiosk/api/qr/YY-7K3Q9P", timeout=10)
    assert drawn.status_code == 200 and drawn.headers["content-type"].startswith("image/svg+xml")
    assert drawn.text.startswith("<svg") and "viewBox" in drawn.text
    wrong = httpx.get(f"{stack.base_url}/kiosk/api/qr/not-a-code", timeout=10)
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "invalid_reference"


def observe_speech(page) -> list[dict]:
    """What the kiosk asks the project's TTS to say; the requests still reach the real synthesiser."""
    spoken: list[dict] = []

    def record(route, request) -> None:
        spoken.append(request.post_data_json)
        route.continue_()

    page.context.route("**/api/speech/synthesize", record)
    return spoken


def test_idle_reset_asks_first_then_wipes_the_screen_and_starts_a_new_conversation(kiosk):
    page = kiosk("idle=2")
    spoken = observe_speech(page)
    first_id = page.evaluate("kiosk.conversationId()")
    page.locator(".tile", has_text="医保报销").tap()
    settle(page)
    answer = screen_text(page)
    assert "医保" in answer
    page.wait_for_selector("#idle:not([hidden])", timeout=10_000)
    assert page.locator("#idle h2").inner_text() == "您还在吗？"
    assert float(page.locator("#idle h2").evaluate("n => parseFloat(getComputedStyle(n).fontSize)")) >= 48
    page.wait_for_timeout(28_000)
    assert any("您还在吗" in said["text"] for said in spoken), "the question is also asked aloud"
    assert screen_text(page) == answer, "the question waits at least 30 seconds before anything is wiped"
    page.wait_for_selector("#idle", state="hidden", timeout=10_000)
    assert max(answer.splitlines(), key=len) not in screen_text(page) and page.locator(".tile").count() >= 6, "back to the start"
    assert page.evaluate("kiosk.conversationId()") != first_id
    assert storage_is_empty(page)


def test_a_tap_on_i_am_still_here_keeps_the_screen(kiosk):
    page = kiosk("idle=2")
    page.locator(".tile", has_text="老年证").tap()
    settle(page)
    answer = screen_text(page)
    page.wait_for_selector("#idle:not([hidden])", timeout=10_000)
    tap(page, "我还在")
    assert page.locator("#idle").is_hidden() and screen_text(page) == answer


def test_end_forgets_the_person(kiosk):
    page = kiosk()
    first_id = page.evaluate("kiosk.conversationId()")
    page.locator(".tile", has_text="居住证").tap()
    page.locator("main .answer").wait_for()
    with page.expect_response(lambda r: r.request.method == "DELETE") as ended:
        tap(page, "结束")
    assert ended.value.status == 204 and ended.value.url.endswith(f"/api/chat/{first_id}"), "the old token stops working"
    assert "居住证：" not in screen_text(page) and page.evaluate("kiosk.conversationId()") != first_id
    assert page.evaluate("kiosk.conversationId()").startswith("kiosk-")


def test_an_answer_that_arrives_after_end_is_not_shown_to_the_next_person(kiosk):
    page = kiosk()
    held = []

    def hold_the_first_answer(route, request):
        if not held:
            held.append(route)
        else:
            route.continue_()

    page.context.route("**/api/chat", hold_the_first_answer)
    page.locator(".tile", has_text="居住证").tap()
    while not held:
        page.wait_for_timeout(50)
    tap(page, "结束")
    held[0].continue_()
    page.wait_for_timeout(2_000)
    assert "居住证：" not in screen_text(page) and page.locator(".tile").count() >= 6, "the home screen stays"
    page.locator(".tile", has_text="老年证").tap()
    page.locator("main .answer").wait_for()
    assert "老年证" in screen_text(page), "the next person's conversation works with its own token"


@pytest.mark.parametrize("status", [None, 502, 503, 504])
def test_an_answer_lost_on_the_way_is_asked_for_once_more_with_the_same_message_id(kiosk, status):
    page = kiosk()
    sent = []

    def lose_the_first_answer(route, request):
        sent.append(json.loads(request.post_data or "{}"))
        if len(sent) == 1:
            # The server took the message and answered; the answer never came (a gateway killed under it), or
            # came from the balancer in front of the gateways.
            route.fetch()
            if status is None:
                route.abort("connectionreset")
            else:
                route.fulfill(status=status, content_type="text/html", body="<html><body>Bad Gateway</body></html>")
        else:
            route.continue_()

    page.context.route("**/api/chat", lose_the_first_answer)
    page.locator(".tile", has_text="居住证").tap()
    settle(page)
    assert "居住证" in screen_text(page) and "系统正忙" not in screen_text(page)
    assert len(sent) == 2 and sent[0]["message_id"] == sent[1]["message_id"] and sent[0]["text"] == sent[1]["text"]


def test_a_service_answer_is_short_with_next_step_buttons_and_the_full_list_one_tap_away(kiosk):
    page = kiosk()
    page.locator(".tile", has_text="养老金认证").tap()
    settle(page)
    short = screen_text(page)
    for step in ("要带什么", "在哪办、几点", "详细说明", "回到首页"):
        assert page.locator("main").get_by_role("button", name=step, exact=True).is_visible(), step
    tap(page, "详细说明")
    assert len(screen_text(page)) > len(short) and page.locator("main .answer p").count() >= 2, "the full list is shown"


def test_the_offer_to_apply_is_taken_with_one_tap(kiosk):
    page = kiosk()
    page.locator(".tile", has_text="高龄津贴").tap()
    settle(page)
    assert "要我现在一步步帮您申请吗" in screen_text(page)
    tap(page, "现在申请")
    assert "在线申请高龄津贴" in screen_text(page) and "姓名" in screen_text(page), "the application started"


def test_an_everyday_request_on_the_kiosk_gets_the_services_as_big_buttons(kiosk, stack):
    page = kiosk()
    conversation = page.evaluate("kiosk.conversationId()")
    reply = httpx.post(f"{stack.base_url}/api/chat", json={"conversation_id": conversation, "text": "帮我写一首诗",
                                                           "channel": "kiosk"}, timeout=30).json()
    assert reply["state"]["form"] is None
    assert {b["title"] for m in reply["messages"] for b in m["buttons"]} >= {"社保卡", "居住证"}


def test_find_staff_with_nobody_on_duty_queues_and_offers_an_appointment(kiosk):
    page = kiosk()
    page.locator(".tile", has_text="高龄津贴").tap()
    settle(page)
    tap(page, "我要找工作人员")
    assert "工作人员" in screen_text(page) and "高龄津贴：" not in screen_text(page), "the request was answered"
    assert page.locator("main h1").inner_text() == "正在为您找工作人员"
    tap(page, "预约去服务中心")
    assert "哪个区" in screen_text(page) or "哪一项" in screen_text(page), "the appointment offer leads into booking"


def meets_the_numbers(page, axe, shot: str) -> None:
    """Axe and the measuring script find nothing on the current screen; a screenshot of it for docs/kiosk/."""
    page.screenshot(path=str(SHOTS / f"{shot}.png"))
    assert not axe(page, AXE_TAGS), describe(axe(page, AXE_TAGS))
    assert not page.evaluate(MEASURE)["failures"], page.evaluate(MEASURE)["failures"]


def test_a_handoff_shows_the_staff_reply_without_changing_the_screen_and_ends_with_a_rating_by_tap(kiosk, stack):
    page = kiosk()
    page.locator(".tile", has_text="居住证").tap()
    settle(page)
    tap(page, "我要找工作人员")
    conversation = page.evaluate("kiosk.conversationId()")
    api = httpx.Client(base_url=stack.base_url, timeout=30)
    token = api.post("/api/staff/login", json={"username": STAFF_USER, "password": STAFF_PASSWORD}).json()["token"]
    api.headers["Authorization"] = f"Bearer {token}"
    try:
        waiting = [h for h in api.get("/api/staff/handoffs", params={"status": "waiting"}).json()
                   if h["conversation_id"] == conversation]
        assert len(waiting) == 1 and waiting[0]["channel"] == "kiosk", waiting
        handoff_id = waiting[0]["id"]
        assert api.post(f"/api/staff/handoffs/{handoff_id}/accept").status_code == 200
        assert api.post(f"/api/staff/handoffs/{handoff_id}/messages", json={"text": "您好，我是小王，请讲"}).status_code == 200
        title = page.locator("main h1").inner_text()
        page.locator("main .answer", has_text="工作人员：您好，我是小王").wait_for(timeout=15_000)
        said = "回电打 0086 138 1234 5678 或 +8613912344321，身份证 11010119900307002X"
        assert api.post(f"/api/staff/handoffs/{handoff_id}/messages", json={"text": said}).status_code == 200
        page.locator("main .answer", has_text="工作人员：回电打").wait_for(timeout=15_000)
        shown = screen_text(page)
        assert "0086138****5678" in shown and "+86139****4321" in shown and "110***********002X" in shown, shown
        assert page.locator("main h1").inner_text() == title, "the reply is added to the screen, not a new screen"
        assert api.post(f"/api/staff/handoffs/{handoff_id}/close").status_code == 200
    finally:
        api.post("/api/staff/logout")
        api.close()
    rate = page.locator("main").get_by_role("button", name="满意", exact=True)
    rate.wait_for(timeout=15_000)
    rate.tap()
    settle(page)
    assert texts.text("utter_rating_thanks") in screen_text(page)
    with sqlite3.connect(stack.env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        rated = db.execute("SELECT level FROM ratings WHERE subject = ?", (f"handoff:{handoff_id}",)).fetchall()
    assert rated == [(4,)], rated


def test_an_application_filled_in_by_staff_is_audited_and_its_status_is_then_checked_by_taps(kiosk, stack, axe):
    page = kiosk("staff_idle=600")
    staff_login(page)
    conversation = page.evaluate("kiosk.conversationId()")
    page.locator(".tile", has_text="老年证").tap()
    settle(page)
    tap(page, "现在申请")
    # One question per screen: words in the big box, numbers on the keypad (masked as they are typed).
    assert page.locator("input#entry").is_visible()
    page.locator("input#entry").fill("张建国")
    tap(page, "确定")
    assert page.locator(".keypad").is_visible() and page.locator(".keypad").get_by_role("button", name="X").count()
    keypad(page, RESIDENT_ID)
    assert page.locator("#entry").inner_text() == "110***********1235"
    tap(page, "确定")
    keypad(page, RESIDENT_PHONE)
    tap(page, "确定")
    page.locator("input#entry").fill("东城区幸福路12号3单元502")
    tap(page, "确定")
    summary = screen_text(page)
    assert "张建国" in summary and RESIDENT_ID not in summary and RESIDENT_PHONE not in summary, summary
    meets_the_numbers(page, axe, "19-application-summary")
    tap(page, "确认提交")
    submitted = screen_text(page)
    reference = re.search(r"受理编号：?\s*(\d{3}-?\d{3}-?\d{3})", submitted)
    assert reference, submitted
    rows = audit_rows(stack, "kiosk_assisted_submission")
    assert [(staff, detail) for staff, _, detail in rows] == [(STAFF_USER, f"conversation:{conversation}")]
    assert rows[0][1].startswith("application:")
    # A second turn after the submission is not a second submission.
    tap(page, "回到首页")
    page.locator(".tile", has_text="老年证").tap()
    settle(page)
    assert len(audit_rows(stack, "kiosk_assisted_submission")) == 1

    tap(page, "结束")
    assert page.locator("#assist-banner").is_hidden(), "结束 also ends the staff-assisted mode"
    assert storage_is_empty(page)
    page.locator(".tile", has_text="查办理进度").tap()
    keypad(page, reference.group(1).replace("-", ""))
    tap(page, "确定")
    keypad(page, RESIDENT_PHONE)
    tap(page, "确定")
    status = screen_text(page)
    assert "老年" in status and reference.group(1).replace("-", "")[:3] in status, status
    assert texts.text("utter_application_status_submitted") in status, status
    meets_the_numbers(page, axe, "20-status-found")
    # A non-assisted turn writes nothing to the audit log.
    assert len(audit_rows(stack, "kiosk_assisted_submission")) == 1


def test_the_staff_member_records_the_id_card_check_from_the_banner_and_it_is_audited(kiosk, stack):
    page = kiosk("staff_idle=600")
    staff_login(page)
    conversation = page.evaluate("kiosk.conversationId()")
    page.locator(".tile", has_text="老年证").tap()
    settle(page)
    page.locator("#assist-banner").get_by_role("button", name="核验身份证").tap()
    keypad(page, RESIDENT_ID[:-1] + "0")  # a wrong check digit is refused on the screen
    tap(page, "确定")
    page.locator("main [role=alert]", has_text="不对").wait_for(timeout=10_000)
    for _ in range(18):
        page.locator(".keypad").get_by_role("button", name="删除", exact=True).tap()
    keypad(page, RESIDENT_ID)
    tap(page, "确定")
    page.wait_for_selector("main h1:text('身份已核验')")
    rows = [r for r in audit_rows(stack, "identity_proven") if r[1] == f"conversation:{conversation}"]
    assert rows == [(STAFF_USER, f"conversation:{conversation}", "staff_id_check")]
    assert RESIDENT_ID not in screen_text(page)
    tap(page, "继续办理")
    assert "老年证" in screen_text(page)


def test_status_check_with_unknown_numbers_says_so_and_offers_a_person(kiosk):
    page = kiosk()
    page.locator(".tile", has_text="查办理进度").tap()
    keypad(page, "123456789")
    tap(page, "确定")
    keypad(page, "13900001111")
    tap(page, "确定")
    assert "没有查到" in screen_text(page)
    assert page.locator("main").get_by_role("button", name="找工作人员", exact=True).is_visible()


def test_a_complaint_is_written_on_the_kiosk_and_reaches_a_supervisor(kiosk, stack):
    page = kiosk()
    page.locator(".tile", has_text="意见和投诉").tap()
    page.locator("input#entry").fill("窗口排队太久，工作人员态度也不好")
    tap(page, "确定")
    assert texts.text("utter_complain_ack") in screen_text(page)
    conversation = page.evaluate("kiosk.conversationId()")
    with sqlite3.connect(stack.env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        rows = db.execute("SELECT kind, summary FROM staff_tasks WHERE conversation_id = ?", (conversation,)).fetchall()
    assert len(rows) == 1 and rows[0][0] == "complaint" and "排队太久" in rows[0][1], rows


def test_staff_assisted_mode_asks_consent_audits_it_and_logs_out_when_idle(kiosk, stack):
    page = kiosk("staff_idle=3")
    tap(page, "工作人员协助")
    page.fill("#staff-user", STAFF_USER)
    page.fill("#staff-pass", "wrong")
    tap(page, "登录")
    page.locator("main [role=alert]", has_text="不对").wait_for(timeout=10_000)
    page.fill("#staff-pass", STAFF_PASSWORD)
    tap(page, "登录")
    page.wait_for_selector("main h1:text('请居民本人确认')")
    assert "居民本人同意由工作人员代为填写" in screen_text(page)
    tap(page, "同意")
    banner = page.locator("#assist-banner")
    banner.wait_for(state="visible")
    assert STAFF_USER in banner.inner_text()
    conversation = page.evaluate("kiosk.conversationId()")
    database = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT staff_username, action FROM audit_log WHERE subject = ?",
                          (f"conversation:{conversation}",)).fetchall()
    assert rows == [(STAFF_USER, "kiosk_assisted_consent")]
    banner.wait_for(state="hidden", timeout=10_000)


def test_assisted_consent_needs_a_staff_token(stack):
    response = httpx.post(f"{stack.base_url}/kiosk/api/assisted-consent", json={"conversation_id": "kiosk-x"},
                          timeout=10)
    assert response.status_code == 401


@pytest.fixture(scope="module")
def spoken_word(tmp_path_factory) -> Path:
    """A WAV file of the word 라디오 said by espeak-ng, followed by silence: what the fake microphone plays."""
    from speech.audio import write_wav
    from speech.pyttsx3_tts import DEFAULT_VOICES, Pyttsx3Synthesizer
    from tests.speech.conftest import KO, korean, silence

    synth = Pyttsx3Synthesizer(tmp_path_factory.mktemp("tts"), voices={**DEFAULT_VOICES, KO: "ko"})
    try:
        # In a thread of its own: the synthesiser runs its own event loop, and Playwright's is running here.
        with ThreadPoolExecutor(1) as pool:
            clip = pool.submit(korean, synth, WORD, 16000).result()
    finally:
        synth.close()
    path = tmp_path_factory.mktemp("mic") / "word.wav"
    path.write_bytes(write_wav(type(clip)(clip.pcm16 + silence(1.0, 16000), 16000)))
    return path


# The only recognition model installed for tests is the small Korean one, loaded as the kiosk's zh-CN model.
WORD = "라디오"


def test_push_to_talk_goes_through_the_project_asr_shows_the_words_large_and_answers_are_read_slowly(
        browser, stack, spoken_word):
    # A second Chromium whose fake microphone plays the spoken word.
    with contextlib.closing(browser.browser_type.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={spoken_word}"])) as mic:
        context = mic.new_context(viewport=KIOSK_VIEWPORT, locale="zh-CN", has_touch=True)
        page = context.new_page()
        spoken = observe_speech(page)
        recognised: list[int] = []
        page.on("response", lambda r: recognised.append(r.status) if r.url.endswith("/api/speech/recognize") else None)
        page.goto(f"{stack.base_url}/kiosk")
        talk = page.locator(".talk")
        # Shown only once the real recogniser answered the kiosk's probe (the first use loads the model).
        talk.wait_for(state="visible", timeout=120_000)
        for control in ("#read-toggle", "#vol-up", "#vol-down"):
            assert page.locator(control).is_visible()
        talk.tap()                      # a tap starts listening, a second tap stops: no holding needed
        page.wait_for_timeout(3500)
        talk.tap()
        heard = page.locator(".heard")
        heard.wait_for(timeout=120_000)
        assert WORD in heard.inner_text(), heard.inner_text()
        assert recognised and all(status == 200 for status in recognised)
        assert float(heard.evaluate("n => parseFloat(getComputedStyle(n).fontSize)")) >= 36
        assert not page.evaluate(MEASURE)["failures"]
        page.screenshot(path=str(SHOTS / "12-speech-confirm.png"))
        tap(page, "不对，重新说")
        page.locator(".tile", has_text="社保卡").tap()
        settle(page)
        page.wait_for_timeout(500)
        assert spoken and all(said["rate"] == "slow" for said in spoken)
        assert any("社保卡" in said["text"] for said in spoken), "the answer was read aloud"
        page.locator("#vol-up").tap()
        assert page.locator("#vol-level").inner_text() == "音量 4"
        assert page.evaluate("kiosk.volume()") == pytest.approx(0.8), "the reading is louder"
        page.get_by_role("switch", name="朗读：开").tap()
        before = len(spoken)
        tap(page, "回到首页")
        page.locator(".tile", has_text="居住证").tap()
        settle(page)
        assert len(spoken) == before, "nothing is read once reading is switched off"
        context.close()


def test_without_speech_recognition_push_to_talk_is_hidden_not_broken(browser, stack):
    context = browser.new_context(viewport=KIOSK_VIEWPORT, locale="zh-CN", has_touch=True)
    try:
        # The gateway's answer when no recognition model is installed.
        context.route("**/api/speech/recognize", lambda route, request: route.fulfill(
            status=503, json={"error": {"code": "recognition_unavailable", "message": "not configured"}}))
        page = context.new_page()
        page.goto(f"{stack.base_url}/kiosk")
        page.locator("#read-toggle").wait_for(state="visible", timeout=60_000)
        page.wait_for_timeout(500)
        assert page.locator(".talk").count() == 1 and page.locator(".talk").is_hidden()
    finally:
        context.close()


SMALL_KIOSK = {"width": 1024, "height": 768}   # the smallest kiosk screen the layout is made for

# Whether the page itself can scroll, and every element a person would have to scroll (a swipe) to see all of.
SCROLL_NEEDED = r"""
(() => {
  const root = document.scrollingElement;
  const scrollers = Array.from(document.querySelectorAll("body *")).filter((n) => {
    const s = getComputedStyle(n);
    return /(auto|scroll)/.test(s.overflowY + s.overflowX)
      && (n.scrollHeight > n.clientHeight + 1 || n.scrollWidth > n.clientWidth + 1);
  }).map((n) => n.tagName + "." + n.className);
  return { page: root.scrollHeight - innerHeight, wide: root.scrollWidth - innerWidth, scrollers };
})()
"""

# Whether the last line of the last paragraph inside `selector` is fully on screen, inside its paged box and not
# hidden under the cut that ends a page.
LAST_LINE_SHOWN = r"""
(selector) => {
  const texts = Array.from(document.querySelectorAll(selector + " p")).filter((p) => p.textContent.trim());
  const last = texts[texts.length - 1];
  const range = document.createRange();
  range.selectNodeContents(last);
  const lines = range.getClientRects();
  const line = lines[lines.length - 1];
  const view = last.closest(".pager-view") || document.documentElement;
  const box = view.getBoundingClientRect();
  const inside = line.top >= Math.max(0, box.top) - 0.5 && line.bottom <= Math.min(innerHeight, box.bottom) + 0.5;
  const x = line.left + Math.min(4, line.width / 2), y = (line.top + line.bottom) / 2;
  const hit = document.elementFromPoint(x, y);
  return inside && !!hit && last.contains(hit);
}
"""


def assert_fits_without_scrolling(page, where: str) -> None:
    """The page is no taller or wider than the screen and nothing on it needs a swipe; 我要找工作人员 is on it."""
    needed = page.evaluate(SCROLL_NEEDED)
    assert needed["page"] <= 0 and needed["wide"] <= 0 and not needed["scrollers"], f"{where}: {needed}"
    human = page.locator("#human").bounding_box()
    assert human and human["y"] + human["height"] <= SMALL_KIOSK["height"], f"{where}: 我要找工作人员 is off screen"
    # Buttons in the paged text (the assistant's choices) are reached with 下一页, like its lines.
    off = page.evaluate("""Array.from(document.querySelectorAll("button"))
      .filter((b) => b.offsetParent && !b.closest(".pager-content"))
      .filter((b) => { const r = b.getBoundingClientRect(); return r.top < 0 || r.bottom > innerHeight; })
      .map((b) => b.textContent.trim())""")
    assert not off, f"{where}: buttons off screen: {off}"


def page_through(page, selector: str, where: str, shot: str | None = None) -> int:
    """Taps 下一页 until the last line inside `selector` is shown (a screenshot of that page as `shot`)."""
    assert_fits_without_scrolling(page, where)
    turner = page.locator("main").get_by_role("button", name="下一页", exact=True)
    assert turner.is_visible(), f"{where}: the text is longer than the screen but there is no 下一页"
    position = page.locator("#pager-where")
    shown, total = map(int, re.fullmatch(r"第(\d+)页，共(\d+)页", position.inner_text()).groups())
    # A larger size keeps the reader near where they were: back to the first page, by taps too.
    for _ in range(shown - 1):
        page.locator("main").get_by_role("button", name="上一页", exact=True).tap()
    assert position.inner_text() == f"第1页，共{total}页"
    assert total >= 2 and not page.evaluate(LAST_LINE_SHOWN, selector), f"{where}: the end is not on the first page"
    for shown in range(2, total + 1):
        before = page.locator("main .pager-content").inner_text()
        turner.tap()
        settle(page)
        assert position.inner_text() == f"第{shown}页，共{total}页"
        assert page.locator("main .pager-content").inner_text() == before, "all the text stays for screen readers"
        assert_fits_without_scrolling(page, f"{where}, page {shown}")
        assert not page.evaluate(MEASURE)["failures"], page.evaluate(MEASURE)["failures"]
    assert page.evaluate(LAST_LINE_SHOWN, selector), f"{where}: the last line is not shown on the last page"
    assert turner.is_disabled()
    if shot:
        page.screenshot(path=str(SHOTS / f"{shot}.png"))
    page.locator("main").get_by_role("button", name="上一页", exact=True).tap()
    assert position.inner_text() == f"第{total - 1}页，共{total}页"
    return total


def test_long_answers_and_the_slip_are_shown_a_page_at_a_time_with_taps_not_swipes(browser, stack, axe):
    context = browser.new_context(viewport=SMALL_KIOSK, locale="zh-CN", has_touch=True)
    try:
        page = context.new_page()
        spoken = observe_speech(page)
        page.goto(f"{stack.base_url}/kiosk")
        page.wait_for_selector("main h1")
        page.locator("#read-toggle").wait_for(state="visible", timeout=60_000)
        page.locator(".tile", has_text="社保卡").tap()
        settle(page)
        tap(page, "详细说明")
        for size in ("default", "larger"):
            if size == "larger":
                tap(page, "更大字")
            page_through(page, "main .answer", f"详细说明 ({size})", f"21-details-paged-{size}")
            assert not axe(page, AXE_TAGS), describe(axe(page, AXE_TAGS))
        assert any(re.search(r"第\d页，共\d页", said["text"]) for said in spoken), "the page position is read aloud"
        tap(page, "标准字")
        tap(page, "预约到服务中心办")
        tap(page, "东城区")
        page.locator("main .actions .btn", has_text="星期").first.tap()
        settle(page)
        page.locator("input#entry").fill("张建国")
        tap(page, "确定")
        keypad(page, RESIDENT_PHONE)
        tap(page, "确定")
        page.wait_for_selector(".slip")
        for size in ("default", "larger"):
            if size == "larger":
                tap(page, "更大字")
            page_through(page, "main .slip", f"the slip ({size})", f"22-slip-paged-{size}")
            assert not axe(page, AXE_TAGS), describe(axe(page, AXE_TAGS))
    finally:
        context.close()
