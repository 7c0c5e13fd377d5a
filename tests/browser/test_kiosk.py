"""The large-font kiosk in a real headless Chromium against the real assistant (Rasa, actions, gateway, database).

Every screen is checked with axe-core (WCAG 2.2 up to AAA) and measured against the 适老化 numbers: text
≥ 24 px, headings ≥ 36 px, line height ≥ 1.5, contrast ≥ 7:1, touch targets ≥ 72×72 px, 12 px apart.
Screenshots of each screen are written to docs/kiosk/.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from bot.settings import REPO_ROOT
from tests.browser.conftest import WCAG_TAGS, describe
from tests.stack.conftest import Stack, start_stack

pytestmark = pytest.mark.stack

KIOSK_VIEWPORT = {"width": 1280, "height": 1024}   # a 19-inch 5:4 kiosk screen
SHOTS = REPO_ROOT / "docs" / "kiosk"
STAFF_USER, STAFF_PASSWORD = "kiosk-helper", "kiosk-helper-password-1"
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
  const targets = Array.from(document.querySelectorAll("button, input, a[href], [role=button], [role=switch], select"))
    .filter(visible);
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
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole assistant, with one staff account for the assisted mode."""
    running = start_stack(tmp_path_factory.mktemp("kiosk-stack"), port_offset=3)
    subprocess.run([sys.executable, "-m", "bot.cli", "staff", "--username", STAFF_USER, "--password", STAFF_PASSWORD],
                   cwd=REPO_ROOT, env=running.env, check=True, capture_output=True)
    yield running
    running.stop()


@pytest.fixture
def kiosk(browser, stack):  # noqa: ANN201 - a playwright page
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
    page.wait_for_function("!document.querySelector('main[aria-busy]')")
    page.wait_for_timeout(150)


def screen_text(page) -> str:
    return page.locator("main").inner_text()


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
    for digit in "13812345678":
        page.locator(".keypad").get_by_role("button", name=digit, exact=True).tap()
    assert page.locator("#entry").inner_text() == "138****5678", "the number is shown masked"
    snap("5-question-keypad")
    tap(page, "确定")
    page.wait_for_selector(".slip")
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
    book_by_taps(page, axe, found)
    page.wait_for_selector("#idle:not([hidden])", timeout=30_000)
    check(page, "7-still-there", axe, found)
    tap(page, "我还在")
    tap(page, "我要找工作人员")
    check(page, "8-find-staff", axe, found)
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


def test_a_whole_visit_by_taps_ends_with_a_slip_printed_on_80mm_and_a5(kiosk, tmp_path):
    page = kiosk()
    code = book_by_taps(page)
    assert re.fullmatch(r"[A-Z0-9-]{4,}", code), code
    assert "东城区政务服务中心" in screen_text(page) and "身份证" in screen_text(page), "centre and materials on the slip"
    assert page.locator(".slip svg.barcode rect").count() > 30, "the code is also drawn as a barcode"
    page.emulate_media(media="print")
    receipt, a5 = tmp_path / "slip-80mm.pdf", tmp_path / "slip-a5.pdf"
    page.pdf(path=str(receipt), width="80mm", height="200mm", print_background=True)
    page.evaluate("document.documentElement.classList.add('a5')")
    page.pdf(path=str(a5), format="A5", print_background=True)
    for pdf in (receipt, a5):
        assert pdf.stat().st_size > 1000
        if shutil.which("pdftotext"):
            text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
            assert code in text and "预约" in text, text
            assert "我要找工作人员" not in text, "only the slip is printed"


def test_idle_reset_asks_first_then_wipes_the_screen_and_starts_a_new_conversation(kiosk):
    page = kiosk("idle=2")
    first_id = page.evaluate("kiosk.conversationId()")
    page.locator(".tile", has_text="医保报销").tap()
    settle(page)
    answer = screen_text(page)
    assert "医保" in answer
    page.wait_for_selector("#idle:not([hidden])", timeout=10_000)
    assert page.locator("#idle h2").inner_text() == "您还在吗？"
    page.wait_for_timeout(28_000)
    assert screen_text(page) == answer, "the question waits at least 30 seconds before anything is wiped"
    page.wait_for_selector("#idle", state="hidden", timeout=10_000)
    assert max(answer.splitlines(), key=len) not in screen_text(page) and page.locator(".tile").count() >= 6, "back to the start"
    assert page.evaluate("kiosk.conversationId()") != first_id
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0


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
    settle(page)
    tap(page, "结束")
    assert "居住证：" not in screen_text(page) and page.evaluate("kiosk.conversationId()") != first_id
    assert page.evaluate("kiosk.conversationId()").startswith("kiosk-")


def test_find_staff_sends_the_request_from_any_screen(kiosk):
    page = kiosk()
    page.locator(".tile", has_text="高龄津贴").tap()
    settle(page)
    tap(page, "我要找工作人员")
    assert "工作人员" in screen_text(page) and "高龄津贴：" not in screen_text(page), "the request was answered"


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


def tiny_wav() -> bytes:
    """A tenth of a second of silence, as the synthesiser would answer."""
    import io
    import wave
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 1600)
    return buffer.getvalue()


def test_push_to_talk_shows_the_words_large_before_sending_and_reading_aloud_can_be_switched_off(browser, stack):
    # Chromium's fake microphone only plays a tone, so the browser answers for the speech endpoints here;
    # what is checked is what the kiosk does with them (the endpoints have their own tests).
    spoken: list[dict] = []
    wav = tiny_wav()

    def speech(route, request) -> None:
        if request.url.endswith("/recognize"):
            route.fulfill(json={"text": "社保卡要带什么", "confidence": 0.91})
        else:
            spoken.append(request.post_data_json)
            route.fulfill(body=wav, content_type="audio/wav")

    context = browser.new_context(viewport=KIOSK_VIEWPORT, locale="zh-CN", has_touch=True)
    try:
        context.route("**/api/speech/**", speech)
        page = context.new_page()
        page.goto(f"{stack.base_url}/kiosk")
        talk = page.locator(".talk")
        talk.wait_for(state="visible")
        box = talk.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.wait_for_timeout(1200)
        page.mouse.up()
        heard = page.locator(".heard")
        heard.wait_for(timeout=10_000)
        assert heard.inner_text() == "社保卡要带什么"
        assert float(heard.evaluate("n => parseFloat(getComputedStyle(n).fontSize)")) >= 36
        assert not page.evaluate(MEASURE)["failures"]
        page.screenshot(path=str(SHOTS / "12-speech-confirm.png"))
        tap(page, "对，就是这个")
        assert "身份证" in screen_text(page)
        assert spoken and all(said["rate"] == "slow" for said in spoken)
        assert any("身份证" in said["text"] for said in spoken), "the answer was read aloud"
        page.get_by_role("switch", name="朗读：开").tap()
        before = len(spoken)
        tap(page, "回到首页")
        page.locator(".tile", has_text="居住证").tap()
        settle(page)
        assert len(spoken) == before, "nothing is read once reading is switched off"
    finally:
        context.close()
