"""Every kiosk screen type at every kiosk screen size and both text sizes, and the chat page on a narrow phone.

One stack and one Chromium page walk through the kiosk's screen types once (home, a service, a booking choice,
a question in words, a question in numbers, the slip, waiting for a person, the rating, the status check); on
each, the page is resized through every kiosk screen size, at standard and larger text, and measured: nothing
scrolls, every control shown lies wholly on screen, and what a resident needs to answer, to confirm, to go back
and to find a person is among them. Screenshots of 1024×768 with larger text go to docs/kiosk/1024x768-larger/.
The handwriting test writes a name on the pad with pointer events, using the stroke medians of Make Me a Hanzi
(npm hanzi-writer-data, installed for the recogniser under kiosk/handwriting/data).
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from bot.settings import REPO_ROOT
from tests.browser.conftest import KIOSK_STAFF, describe
from tests.browser.test_kiosk import AXE_TAGS, keypad, settle, tap
from tests.stack.conftest import Stack

pytestmark = pytest.mark.stack

SHOTS = REPO_ROOT / "docs" / "kiosk" / "1024x768-larger"
STROKES = REPO_ROOT / "kiosk" / "handwriting" / "data" / "node_modules" / "hanzi-writer-data"
STAFF_USER, STAFF_PASSWORD = KIOSK_STAFF
# Not the kiosk tests' resident: each mobile number may book a few visits a day, and the stack is shared.
RESIDENT_PHONE = "13900002222"
# The kiosk panels found in service halls: 17-inch 4:3, 15.4- and 15.6-inch wide, 19-inch 5:4, full HD both ways.
KIOSK_SIZES = [(1024, 768), (1280, 800), (1366, 768), (1280, 1024), (1920, 1080), (1080, 1920)]
TEXT_SIZES = ("standard", "larger")

# What a resident meets on the screen as it is now. A control counts as shown when it lies wholly inside the
# window and a tap on its middle reaches it; one that is not shown must be on another page of a paged part
# (with 上一页/下一页 on screen). `needed` names what must be shown: CSS selectors, or "=label" for a button.
FITS = r"""
(needed) => {
  const problems = [];
  const root = document.scrollingElement;
  const down = root.scrollHeight - innerHeight, across = root.scrollWidth - innerWidth;
  if (down > 0.5) problems.push(`the page scrolls down by ${down}px`);
  if (across > 0.5) problems.push(`the page scrolls sideways by ${across}px`);
  const rendered = (n) => { const r = n.getBoundingClientRect(); const s = getComputedStyle(n);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && !n.closest("[hidden]"); };
  for (const n of document.querySelectorAll("body *")) {
    const s = getComputedStyle(n);
    if (rendered(n) && /(auto|scroll)/.test(s.overflowX + s.overflowY)
        && (n.scrollHeight > n.clientHeight + 1 || n.scrollWidth > n.clientWidth + 1)) {
      problems.push(`${n.tagName}.${n.className} scrolls`);
    }
  }
  const name = (n) => (n.getAttribute("aria-label") || n.textContent || n.id || n.tagName).trim().slice(0, 16);
  const shown = (n) => {
    const r = n.getBoundingClientRect();
    const inside = r.left >= -0.5 && r.top >= -0.5 && r.right <= innerWidth + 0.5 && r.bottom <= innerHeight + 0.5;
    if (!inside) return false;
    const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
    return !!hit && (hit === n || n.contains(hit));
  };
  const controls = Array.from(document.querySelectorAll("button, input, canvas, [role=switch]")).filter(rendered);
  const onScreen = controls.filter(shown);
  for (const c of controls) {
    if (onScreen.includes(c)) continue;
    const pager = c.closest(".pager");
    const turnable = pager && Array.from(pager.querySelectorAll(".pager-turn")).some((t) => onScreen.includes(t));
    if (!(c.closest(".pager-content") && turnable)) problems.push(`not on screen and not paged: ${name(c)}`);
  }
  for (const want of needed) {
    const found = want.startsWith("=")
      ? controls.filter((c) => c.textContent.trim() === want.slice(1))
      : Array.from(document.querySelectorAll(want)).filter(rendered);
    if (!found.length) problems.push(`missing: ${want}`);
    for (const f of found) if (!onScreen.includes(f)) problems.push(`off screen: ${want} (${name(f)})`);
  }
  // Targets at least 72 px, 12 px apart; text at least 24 px; the pad at least 300 px square.
  onScreen.forEach((c, i) => {
    const r = c.getBoundingClientRect();
    const least = Math.min(r.width, r.height);
    if (least < 71.5) problems.push(`target ${r.width.toFixed(0)}×${r.height.toFixed(0)}: ${name(c)}`);
    if (c.matches("canvas[data-input=handwriting]") && least < 299.5) problems.push(`pad ${r.width}×${r.height}px`);
    for (const d of onScreen.slice(i + 1)) {
      const q = d.getBoundingClientRect();
      const gap = Math.max(q.left - r.right, r.left - q.right, q.top - r.bottom, r.top - q.bottom);
      if (gap < 11.5) problems.push(`${gap.toFixed(0)}px between ${name(c)} and ${name(d)}`);
    }
  });
  for (const n of document.querySelectorAll("body *")) {
    if (!rendered(n) || !Array.from(n.childNodes).some((t) => t.nodeType === 3 && t.textContent.trim())) continue;
    const size = parseFloat(getComputedStyle(n).fontSize);
    if (size < 23.5) problems.push(`text ${size}px: ${name(n)}`);
  }
  return problems;
}
"""

# The controls each screen type must show, beside 我要找工作人员, at every size.
NEEDED = {
    "home": [".tile", ".tiles .talk"],
    "service": ["=回到首页", "=预约到服务中心办"],
    "booking": ["main .pager-content button", "=回到首页"],
    "words-question": ["[data-input=words]", "canvas[data-input=handwriting]", "=确定", "=删一个字", "=重写",
                       "=不办了，回到首页"],
    "number-question": [".keypad button", "=确定", "=不办了，回到首页"],
    "slip": ["=打印预约单", "=回到首页", "=满意", "=不满意"],
    "waiting": ["=回到首页"],
    "rating": ["=满意", "=不满意", "=回到首页"],
    "status": [".keypad button", "=确定", "=回到首页"],
}


@pytest.fixture(scope="module")
def stack(kiosk_stack: Stack) -> Stack:
    """The whole assistant with speech on (the talk button takes room too), shared with the other kiosk tests."""
    return kiosk_stack


def open_kiosk(browser, stack: Stack):
    """The kiosk on a 1024×768 touch screen, once it knows whether speech and handwriting answer."""
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN", has_touch=True)
    page = context.new_page()
    page.goto(f"{stack.base_url}/kiosk?idle=3600")
    page.wait_for_selector("main h1")
    page.evaluate("kiosk.probed")
    return page


def set_size(page, width: int, height: int, text: str) -> None:
    """The window at this size and the text at this size, once the kiosk has laid the screen out again."""
    page.set_viewport_size({"width": width, "height": height})
    larger = page.evaluate("document.documentElement.classList.contains('larger')")
    if larger != (text == "larger"):
        # A click from script: the person's own taps are not what is measured.
        page.evaluate("document.getElementById('size-toggle').click()")
    page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def handwriting_installed(stack: Stack) -> bool:
    """Whether the gateway serves handwriting recognition (a 404 before the recogniser is part of it), once its
    model has loaded: 503 until then, and the first start of a new model builds it, which takes minutes."""
    deadline = time.monotonic() + 900
    while True:
        probe = httpx.post(f"{stack.base_url}/api/handwriting/recognize", timeout=60,
                           json={"width": 300, "height": 300, "strokes": [[[150, 150], [151, 151]]]})
        if probe.status_code != 503 or time.monotonic() > deadline:
            return probe.status_code != 404
        time.sleep(2)   # the model loads in a thread of the gateway; nothing to wait on from here


def across_sizes(page, screen: str, axe, found: dict, timing: dict, needed: list[str] | None = None) -> None:
    """Measures the screen at every kiosk size and text size; axe and a screenshot at 1024×768, larger text."""
    started = time.perf_counter()
    needed = [*(NEEDED[screen] if needed is None else needed), "#human"]
    found[screen] = {}
    for width, height in KIOSK_SIZES:
        for text in TEXT_SIZES:
            set_size(page, width, height, text)
            found[screen][f"{width}×{height} {text}"] = page.evaluate(FITS, needed)
    set_size(page, 1024, 768, "larger")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{len(found)}-{screen}.png"))
    found[screen]["axe"] = describe(axe(page, AXE_TAGS))
    set_size(page, 1024, 768, "standard")
    timing[screen] = time.perf_counter() - started


@pytest.fixture(scope="module")
def matrix(browser, stack, axe) -> dict:
    """Each screen type once, measured at every size; what was found, by screen and size."""
    found: dict = {}
    timing: dict = {}
    started = time.perf_counter()
    page = open_kiosk(browser, stack)
    words_needed = NEEDED["words-question"]
    if handwriting_installed(stack):
        assert page.evaluate("kiosk.handwriting()"), "the kiosk offers the pad when the recogniser answers"
    else:   # the gateway without its recogniser: the words box and buttons must still fit
        words_needed = [want for want in words_needed if "handwriting" not in want and want != "=重写"]
    page.locator(".tiles .talk").wait_for(state="visible", timeout=120_000)
    across_sizes(page, "home", axe, found, timing)
    page.locator(".tile", has_text="社保卡").tap()
    settle(page)
    across_sizes(page, "service", axe, found, timing)
    tap(page, "预约到服务中心办")
    across_sizes(page, "booking", axe, found, timing)
    tap(page, "东城区")
    page.locator("main button", has_text="星期").first.tap()
    settle(page)
    across_sizes(page, "words-question", axe, found, timing, words_needed)
    page.locator("[data-input=words]").fill("张建国")
    tap(page, "确定")
    across_sizes(page, "number-question", axe, found, timing)
    keypad(page, RESIDENT_PHONE)
    tap(page, "确定")
    page.wait_for_selector(".slip")
    across_sizes(page, "slip", axe, found, timing)
    tap(page, "我要找工作人员")
    across_sizes(page, "waiting", axe, found, timing)
    close_the_handoff(stack, page.evaluate("kiosk.conversationId()"))
    page.locator("main").get_by_role("button", name="满意", exact=True).wait_for(timeout=15_000)
    across_sizes(page, "rating", axe, found, timing)
    tap(page, "回到首页")
    page.locator(".tile", has_text="查办理进度").tap()
    across_sizes(page, "status", axe, found, timing)
    page.context.close()
    measured = sum(timing.values())
    print(f"\nkiosk size matrix: {len(KIOSK_SIZES) * len(TEXT_SIZES)} sizes × {len(timing)} screens measured in "
          f"{measured:.1f} s; the walk with its turns took {time.perf_counter() - started:.1f} s")
    return found


def close_the_handoff(stack: Stack, conversation: str) -> None:
    """A staff member takes the kiosk's request and closes it, which asks the resident for a rating."""
    with httpx.Client(base_url=stack.base_url, timeout=30) as api:
        token = api.post("/api/staff/login", json={"username": STAFF_USER, "password": STAFF_PASSWORD}).json()["token"]
        api.headers["Authorization"] = f"Bearer {token}"
        waiting = [h for h in api.get("/api/staff/handoffs", params={"status": "waiting"}).json()
                   if h["conversation_id"] == conversation]
        assert len(waiting) == 1, waiting
        assert api.post(f"/api/staff/handoffs/{waiting[0]['id']}/accept").status_code == 200
        assert api.post(f"/api/staff/handoffs/{waiting[0]['id']}/close").status_code == 200
        api.post("/api/staff/logout")


@pytest.mark.parametrize("screen", list(NEEDED))
def test_every_screen_fits_every_kiosk_at_both_text_sizes(matrix, screen):
    problems = {size: seen for size, seen in matrix[screen].items() if size != "axe" and seen}
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("screen", list(NEEDED))
def test_axe_finds_nothing_on_the_screen_at_1024x768_with_larger_text(matrix, screen):
    assert not matrix[screen]["axe"], matrix[screen]["axe"]


# Every control of the chat page lies inside the window's width, and the page does not scroll sideways.
SIDEWAYS = r"""
() => {
  const out = [];
  const root = document.scrollingElement;
  if (root.scrollWidth > innerWidth) out.push(`the page is ${root.scrollWidth}px wide`);
  for (const n of document.querySelectorAll("button, input, .msg")) {
    const r = n.getBoundingClientRect();
    if (r.width && (r.left < -0.5 || r.right > innerWidth + 0.5)) {
      out.push(`${n.tagName} ${n.textContent.slice(0, 12)}: ${r.left.toFixed(0)}–${r.right.toFixed(0)}`);
    }
  }
  return out;
}
"""


def test_the_chat_page_is_usable_at_320_px_without_sideways_scrolling(browser, stack):
    context = browser.new_context(viewport={"width": 320, "height": 640}, locale="zh-CN", has_touch=True)
    try:
        page = context.new_page()
        page.goto(f"{stack.base_url}/")
        assert not page.evaluate(SIDEWAYS), page.evaluate(SIDEWAYS)
        send = page.get_by_role("button", name="发送")
        # A number with no place to break, as people paste them, and a question that gets buttons back.
        page.get_by_label("输入您的问题").fill("我的受理编号是384122905384122905384122905")
        send.tap()
        page.get_by_label("输入您的问题").fill("社保卡丢了怎么补")
        send.tap()
        page.locator(".msg.assistant .buttons button").first.wait_for(timeout=60_000)
        assert not page.evaluate(SIDEWAYS), page.evaluate(SIDEWAYS)
        page.locator(".msg.assistant .buttons button").first.tap()
        page.locator(".msg.person").nth(2).wait_for()
        assert not page.evaluate(SIDEWAYS), page.evaluate(SIDEWAYS)
    finally:
        context.close()


def strokes_of(character: str) -> list[list[tuple[float, float]]]:
    """The character's strokes in writing order, as points from 0 to 1 across the pad (y down), a point every
    few hundredths: Make Me a Hanzi's medians, which run on a 1024 grid with y up and the baseline at 900."""
    source = STROKES / f"{character}.json"
    if not source.exists():
        pytest.skip(f"no stroke data for {character} (npm ci in {STROKES.parent.relative_to(REPO_ROOT)})")
    strokes = []
    for median in json.loads(source.read_text(encoding="utf-8"))["medians"]:
        points = [(x / 1024, (900 - y) / 1024) for x, y in median]
        dense = [points[0]]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            steps = max(1, int(max(abs(x1 - x0), abs(y1 - y0)) / 0.02))
            dense += [(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps) for i in range(1, steps + 1)]
        strokes.append(dense)
    return strokes


def write_on_pad(page, character: str, pointer: str) -> None:
    """Writes the character stroke by stroke on the pad, by finger ("touch"), pen or mouse, lifting after each."""
    pad = page.locator("canvas[data-input=handwriting]")
    box = pad.bounding_box()
    border = pad.evaluate("(c) => c.clientLeft")
    side = box["width"] - 2 * border
    left, top = box["x"] + border, box["y"] + border
    cdp = page.context.new_cdp_session(page)
    try:
        for stroke in strokes_of(character):
            points = [{"x": left + x * side, "y": top + y * side} for x, y in stroke]
            if pointer == "touch":
                cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [points[0]]})
                for point in points[1:]:
                    cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
                cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
            else:
                common = {"button": "left", "pointerType": pointer}
                cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", **points[0], "pointerType": pointer})
                cdp.send("Input.dispatchMouseEvent", {"type": "mousePressed", **points[0], "clickCount": 1, **common})
                for point in points[1:]:
                    cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", **point, "buttons": 1, **common})
                cdp.send("Input.dispatchMouseEvent", {"type": "mouseReleased", **points[-1], "clickCount": 1, **common})
            # A hand takes a moment between strokes; without it Chromium takes the next touch for a double tap.
            page.wait_for_timeout(250)
    finally:
        cdp.detach()


def test_a_name_written_on_the_pad_by_finger_pen_and_mouse_answers_the_question(browser, stack, axe):
    if not handwriting_installed(stack):
        pytest.skip("the gateway has no handwriting recogniser (POST /api/handwriting/recognize answers 404)")
    page = open_kiosk(browser, stack)
    try:
        assert page.evaluate("kiosk.handwriting()"), "the handwriting recogniser answers"
        spoken: list[str] = []
        page.on("request", lambda r: spoken.append(r.post_data_json["text"])
                if r.url.endswith("/api/speech/synthesize") else None)
        page.locator(".tile", has_text="老年证").tap()
        settle(page)
        tap(page, "现在申请")
        words = page.locator("[data-input=words]")
        assert words.input_value() == "" and page.locator("main").get_attribute("data-screen") == "question"
        pad = page.get_by_role("img", name="手写")
        assert pad.count() == 1 and pad.evaluate("(c) => c.matches('canvas[data-input=handwriting]')")
        for character, pointer in zip("张建国", ("touch", "pen", "mouse")):
            write_on_pad(page, character, pointer)
            offered = page.locator(".candidates:not([aria-busy]) [data-candidate]")
            offered.first.wait_for(timeout=15_000)   # the recogniser has answered the last lift
            assert 1 <= offered.count() <= 10 and character in offered.all_inner_texts(), offered.all_inner_texts()
            if pointer == "pen":   # the second character, with the first in the box: a picture for docs/kiosk/
                set_size(page, 1024, 768, "larger")
                page.screenshot(path=str(SHOTS / "10-handwriting.png"))
                set_size(page, 1024, 768, "standard")
            page.locator(f"[data-candidate='{character}']").tap()
            assert page.locator("[data-candidate]").count() == 0, "a pick clears the pad for the next character"
        assert words.input_value() == "张建国"
        assert not axe(page, AXE_TAGS), describe(axe(page, AXE_TAGS))
        # 重写 clears a character gone wrong; 删一个字 takes back the last one picked; typing mixes in.
        write_on_pad(page, "国", "touch")
        page.locator(".candidates:not([aria-busy]) [data-candidate]").first.wait_for(timeout=15_000)
        tap(page, "重写")
        assert page.locator("[data-candidate]").count() == 0 and words.input_value() == "张建国"
        words.press("End")
        words.type("华")
        tap(page, "删一个字")
        assert words.input_value() == "张建国"
        if page.locator("#read-toggle").is_visible():
            assert {"张", "建", "国"} <= set(spoken), "each picked character is read aloud"
        tap(page, "确定")
        page.locator(".keypad").wait_for(timeout=30_000)
        assert "身份证" in page.locator("main h1").inner_text(), "the next question, the ID number, is asked"
    finally:
        page.context.close()
