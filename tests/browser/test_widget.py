"""The web chat widget on the sample government page, in a real headless Chromium against the real stack.

Set WIDGET_SCREENSHOTS=docs to refresh docs/widget-demo.png and docs/widget-high-contrast.png.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.settings import REPO_ROOT
from tests.browser.conftest import describe
from tests.stack.conftest import PORT_OFFSETS, Stack, start_stack

pytestmark = pytest.mark.stack

STAFF_PASSWORD = "widget-desk-password-1"
QUESTION = "社保卡丢了怎么补"
SHADOW = "document.querySelector('[data-bianmin-widget]').shadowRoot"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole assistant (Rasa, actions, gateway, database) serving the widget and the demo page."""
    running = start_stack(tmp_path_factory.mktemp("widget-stack"), port_offset=PORT_OFFSETS["widget"])
    # The first turns load the model's parts; on a busy machine they can outlast the reply timeout.
    for text in ("你好", QUESTION):
        running.chat(f"warm-{uuid.uuid4().hex[:8]}", text, timeout=60)
    yield running
    running.stop()


@pytest.fixture
def demo(page, stack):
    """The sample government page with the widget loaded and its launcher on screen."""
    page.goto(f"{stack.base_url}/widget/demo")
    page.locator(".bm-launcher").wait_for(state="visible")
    return page


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    return REPO_ROOT / "docs" if os.environ.get("WIDGET_SCREENSHOTS") == "docs" else tmp_path


def focused(page) -> dict:
    """What has the keyboard focus inside the widget (class and text), or the page's focused tag."""
    return page.evaluate(f"""() => {{
        const inner = {SHADOW}.activeElement;
        const node = inner || document.activeElement;
        return {{inside: !!inner, cls: node.className || '', text: node.textContent || '', tag: node.tagName}};
    }}""")


def tab_until(page, css_class: str, limit: int = 40, key: str = "Tab") -> dict:
    for _ in range(limit):
        page.keyboard.press(key)
        now = focused(page)
        if css_class in now["cls"].split():
            return now
    raise AssertionError(f"{css_class} never got the focus with {key}")


def texts(page, who: str) -> list[str]:
    return page.locator(f".bm-{who} .bm-text").all_text_contents()


def wait_for_count(page, who: str, count: int, timeout: float = 30) -> list[str]:
    page.locator(f".bm-{who} .bm-text").nth(count - 1).wait_for(timeout=timeout * 1000)
    return texts(page, who)


def open_widget(page) -> None:
    page.locator(".bm-launcher").click()
    wait_for_count(page, "assistant", 1)  # the greeting


def ask(page, text: str) -> list[str]:
    before = len(texts(page, "assistant"))
    page.locator(".bm-input").fill(text)
    page.keyboard.press("Enter")
    return wait_for_count(page, "assistant", before + 1)


def test_a_whole_conversation_by_keyboard_only(demo):
    launcher = tab_until(demo, "bm-launcher")
    assert "在线咨询" in launcher["text"]
    demo.keyboard.press("Enter")
    assert "bm-input" in focused(demo)["cls"], "opening the panel puts the cursor in the question box"
    greeting = wait_for_count(demo, "assistant", 1)[0]
    assert "便民助手" in greeting

    demo.keyboard.type(QUESTION)
    demo.keyboard.press("Enter")
    answers = wait_for_count(demo, "assistant", 2)
    assert "社保卡" in answers[1]
    assert texts(demo, "person") == [QUESTION]

    reply = tab_until(demo, "bm-reply", limit=5)
    demo.keyboard.press("Enter")
    answers = wait_for_count(demo, "assistant", 3)
    assert texts(demo, "person") == [QUESTION, reply["text"]], "the chosen option shows as the person's own words"
    assert answers[2] and answers[2] != answers[1]
    assert "bm-input" in focused(demo)["cls"], "after choosing, the keyboard is back in the question box"

    demo.keyboard.press("Escape")
    assert demo.locator(".bm-panel").is_hidden()
    assert "bm-launcher" in focused(demo)["cls"], "Escape closes the panel and gives the focus back to the launcher"


def test_no_accessibility_violations_in_normal_large_text_and_high_contrast(demo, axe, screenshots):
    open_widget(demo)
    ask(demo, QUESTION)
    assert demo.locator(".bm-reply").count() > 0
    violations = axe(demo)
    assert not violations, describe(violations)
    demo.screenshot(path=str(screenshots / "widget-demo.png"))

    demo.get_by_role("button", name="大字").click()
    violations = axe(demo)
    assert not violations, "large text:\n" + describe(violations)

    demo.get_by_role("button", name="高对比").click()
    # 7:1 is axe's AAA contrast rule; the other AAA rules are not what this mode promises.
    violations = axe(demo) + [v for v in axe(demo, tags=["wcag2aaa"]) if v["id"] == "color-contrast-enhanced"]
    assert not violations, "high contrast:\n" + describe(violations)
    demo.screenshot(path=str(screenshots / "widget-high-contrast.png"))


def test_large_text_and_high_contrast_are_remembered(demo):
    open_widget(demo)
    normal = demo.locator(".bm-text").first.evaluate("n => parseFloat(getComputedStyle(n).fontSize)")
    demo.get_by_role("button", name="大字").click()
    demo.get_by_role("button", name="高对比").click()
    demo.reload()
    demo.locator(".bm-panel").wait_for(state="visible")
    assert demo.get_by_role("button", name="大字").get_attribute("aria-pressed") == "true"
    assert demo.get_by_role("button", name="高对比").get_attribute("aria-pressed") == "true"
    large = demo.locator(".bm-text").first.evaluate("n => parseFloat(getComputedStyle(n).fontSize)")
    assert large >= normal * 1.3
    background = demo.locator(".bm-panel").evaluate("n => getComputedStyle(n).backgroundColor")
    assert background == "rgb(0, 0, 0)"


def test_every_control_is_a_large_target_and_the_host_page_css_does_not_reach_it(demo):
    # The demo page styles every `button` with 12 px text and no padding; the widget keeps its own size.
    launcher = demo.locator(".bm-launcher").bounding_box()
    assert launcher["height"] >= 44 and launcher["width"] >= 44
    open_widget(demo)
    sizes = demo.evaluate(f"""() => [...{SHADOW}.querySelectorAll('button, input')]
        .filter(n => n.offsetParent !== null)
        .map(n => {{ const r = n.getBoundingClientRect(); return [n.textContent || n.placeholder, r.width, r.height]; }})""")
    assert len(sizes) >= 6
    small = [s for s in sizes if s[1] < 44 or s[2] < 44]
    assert not small, f"targets under 44×44 px: {small}"


def test_text_at_200_percent_fits_the_window(browser, stack):
    # 200 % zoom of a 1280×860 window leaves a 640×430 CSS-pixel viewport.
    context = browser.new_context(viewport={"width": 640, "height": 430}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{stack.base_url}/widget/demo")
        open_widget(page)
        page.get_by_role("button", name="大字").click()
        ask(page, QUESTION)
        panel = page.locator(".bm-panel").bounding_box()
        assert panel["x"] >= 0 and panel["y"] >= 0
        assert panel["x"] + panel["width"] <= 640 and panel["y"] + panel["height"] <= 430
        for control in (".bm-input", ".bm-send", ".bm-tool.bm-close"):
            box = page.locator(control).bounding_box()
            assert box["y"] + box["height"] <= 430 and box["x"] + box["width"] <= 640, f"{control} is cut off"
        overflow = page.locator(".bm-log").evaluate("n => n.scrollWidth - n.clientWidth")
        assert overflow <= 0, "messages need no sideways scrolling"
    finally:
        context.close()


def test_a_new_message_is_announced_to_screen_readers(demo):
    open_widget(demo)
    answer = ask(demo, QUESTION)[-1]
    live = demo.locator("[aria-live='polite']")
    assert answer in live.text_content()


class Desk:
    """A staff member answering through the stack's staff API, with an account made as `make staff` makes it."""

    def __init__(self, stack: Stack):
        self.base = stack.base_url
        username = f"widget{uuid.uuid4().hex[:6]}"
        subprocess.run([sys.executable, "-m", "bot.cli", "staff", "--username", username, "--password", STAFF_PASSWORD,
                        "--role", "staff"], cwd=REPO_ROOT, env=stack.env, check=True, capture_output=True)
        response = httpx.post(f"{self.base}/api/staff/login", json={"username": username, "password": STAFF_PASSWORD})
        assert response.status_code == 200, response.text
        token = response.json()["token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def answer(self, conversation_id: str, text: str) -> None:
        queue = httpx.get(f"{self.base}/api/staff/handoffs", params={"status": "waiting"}, headers=self.headers).json()
        handoff = next(h for h in queue if h["conversation_id"] == conversation_id)
        base = f"{self.base}/api/staff/handoffs/{handoff['id']}"
        assert httpx.post(f"{base}/accept", headers=self.headers).status_code == 200
        assert httpx.post(f"{base}/messages", json={"text": text}, headers=self.headers).status_code == 200


def proof(page) -> dict:
    """The conversation this tab holds: its id and token, kept in sessionStorage."""
    return json.loads(page.evaluate("sessionStorage.getItem('bianmin.widget.proof')") or "{}")


def conversation_id(page) -> str:
    return proof(page)["id"]


def stored(page, area: str) -> dict[str, str]:
    """The widget's keys in localStorage or sessionStorage, with their values."""
    return page.evaluate(f"""() => Object.fromEntries(Object.keys({area})
        .filter(k => k.startsWith('bianmin.widget.')).map(k => [k.slice(15), {area}.getItem(k)]))""")


def lose(route, how: str) -> None:
    """The server took the message and answered; the answer never came (a gateway killed under it)."""
    route.fetch()
    if how == "connection reset":
        route.abort("connectionreset")
    else:  # the balancer in front of the gateways answers for the one that died
        route.fulfill(status=int(how), content_type="text/html", body="<html><body>Bad Gateway</body></html>")


LOST_ANSWERS = ["connection reset", "502", "503", "504"]


@pytest.mark.parametrize("how", LOST_ANSWERS)
def test_an_answer_lost_on_the_way_is_asked_for_once_more_with_the_same_message_id(demo, how):
    sent = []

    def lose_the_first_answer(route, request):
        body = json.loads(request.post_data or "{}")
        if body.get("text") != QUESTION:
            route.continue_()
            return
        sent.append(body)
        if len(sent) == 1:
            lose(route, how)
        else:
            route.continue_()

    demo.route("**/api/chat", lose_the_first_answer)
    open_widget(demo)
    answers = ask(demo, QUESTION)
    assert len(sent) == 2 and sent[0]["message_id"] == sent[1]["message_id"] and len(sent[0]["message_id"]) == 32
    assert not any("消息没有发出去" in notice for notice in texts(demo, "notice"))
    assert "社保卡" in answers[-1] and len(texts(demo, "person")) == 1
    demo.unroute("**/api/chat")
    ask(demo, "要带什么")
    assert len(sent) == 2, "a new message has an id of its own"


def test_a_staff_reply_appears_without_reloading(demo, stack):
    open_widget(demo)
    ask(demo, "转人工")
    status = demo.locator(".bm-status")
    assert "已转人工" in status.text_content()
    Desk(stack).answer(conversation_id(demo), "您好，我是工作人员小王")
    staff = demo.locator(".bm-staff .bm-text")
    staff.wait_for(timeout=10_000)
    assert staff.text_content() == "您好，我是工作人员小王"
    assert "工作人员正在为您服务" in status.text_content()


def test_reloading_the_page_keeps_the_conversation(demo, stack):
    open_widget(demo)
    ask(demo, QUESTION)
    ask(demo, "转人工")
    before = demo.locator(".bm-msg .bm-text").all_text_contents()
    conversation = conversation_id(demo)
    demo.reload()
    demo.locator(".bm-panel").wait_for(state="visible")
    assert demo.locator(".bm-msg .bm-text").all_text_contents() == before
    assert "已转人工" in demo.locator(".bm-status").text_content()

    # Staff answer while the person is on another page; coming back shows the answer, once.
    demo.goto("about:blank")
    Desk(stack).answer(conversation, "您好，请问还需要什么帮助")
    demo.goto(f"{stack.base_url}/widget/demo")
    demo.locator(".bm-staff .bm-text").wait_for(timeout=10_000)
    demo.reload()
    demo.locator(".bm-staff .bm-text").wait_for()
    for _ in range(2):  # two more polls answered: a repeated staff message would be on the page by then
        with demo.expect_response(lambda response: "/messages" in response.url, timeout=15_000):
            pass
    assert demo.locator(".bm-staff .bm-text").all_text_contents() == ["您好，请问还需要什么帮助"]
    assert conversation_id(demo) == conversation
    assert demo.locator(".bm-msg .bm-text").all_text_contents()[:len(before)] == before


def test_the_conversation_token_lasts_as_long_as_the_tab(demo, stack):
    open_widget(demo)
    ask(demo, QUESTION)
    conversation = conversation_id(demo)
    kept = proof(demo)
    assert kept["id"] == conversation and kept["token"]
    assert kept["token"] not in demo.evaluate("JSON.stringify(localStorage)")
    stolen = httpx.get(f"{stack.base_url}/api/chat/{conversation}/messages", timeout=10)
    assert stolen.status_code == 403, "the id alone opens nothing"

    # The tab closed (its sessionStorage went with it): the next visit starts a new conversation.
    demo.evaluate("sessionStorage.clear()")
    demo.reload()
    demo.locator(".bm-panel").wait_for(state="visible")
    wait_for_count(demo, "assistant", 1)
    assert conversation_id(demo) != conversation
    assert QUESTION not in demo.locator(".bm-msg .bm-text").all_text_contents()


def test_markup_typed_by_a_person_is_shown_as_text(demo):
    dialogs = []
    demo.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_widget(demo)
    markup = "<img src=x onerror=alert(1)>"
    ask(demo, markup)
    assert texts(demo, "person") == [markup]
    assert demo.evaluate(f"{SHADOW}.querySelectorAll('img').length") == 0
    # An image of our own that fails to load the same way: when its error has fired, the widget's image would
    # have fired its alert too (and an alert holds the page until it is dismissed).
    demo.evaluate("""() => new Promise((done) => {
        const probe = document.createElement("img");
        probe.addEventListener("error", () => done());
        probe.src = "x";
        document.body.append(probe);
    })""")
    assert dialogs == []


def test_without_speech_on_the_server_there_are_no_speech_buttons(demo):
    # As a gateway answers without the speech routes (404) or without a configured service (503).
    asked = []

    def missing(route):
        asked.append(route.request.url)
        route.fulfill(status=404, json={"error": {"code": "not_found", "message": "Not Found"}})

    def unavailable(route):
        asked.append(route.request.url)
        route.fulfill(status=503, json={"error": {"code": "speech_unavailable", "message": "speech is off"}})

    demo.route("**/api/speech/synthesize", missing)
    demo.route("**/api/speech/recognize", unavailable)
    open_widget(demo)
    deadline = time.monotonic() + 10
    while len(asked) < 2 and time.monotonic() < deadline:
        demo.wait_for_timeout(100)
    assert len(asked) == 2, "the widget asks the server what it can do"
    demo.locator("[data-speech-checked=yes]").wait_for(state="attached", timeout=10_000)
    assert demo.get_by_role("button", name="朗读这条消息").count() == 0
    assert demo.get_by_role("button", name="语音输入").count() == 0


def silent_wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 1600)
    return buffer.getvalue()


def test_read_aloud_and_the_microphone_use_the_speech_endpoints(demo):
    # The stack has no speech service; the browser answers for it the way the speech routes do.
    spoken, heard = [], []

    def synthesize(route):
        body = json.loads(route.request.post_data or "{}")
        if "text" not in body:
            route.fulfill(status=422, json={"error": {"code": "invalid_request", "message": "text missing"}})
            return
        spoken.append(body)
        route.fulfill(status=200, body=silent_wav(), headers={"Content-Type": "audio/wav"})

    def recognise(route):
        content_type = route.request.headers.get("content-type", "")
        if not content_type.startswith("audio/"):
            route.fulfill(status=415, json={"error": {"code": "unsupported_media_type", "message": "audio only"}})
            return
        heard.append(content_type)
        route.fulfill(status=200, json={"text": QUESTION, "confidence": 0.9})

    demo.route("**/api/speech/synthesize", synthesize)
    demo.route("**/api/speech/recognize", recognise)
    open_widget(demo)
    greeting = texts(demo, "assistant")[0]
    demo.get_by_role("button", name="朗读这条消息").first.click()
    deadline = time.monotonic() + 10
    while not spoken and time.monotonic() < deadline:
        demo.wait_for_timeout(100)
    assert spoken and spoken[0]["text"] == greeting

    demo.get_by_role("button", name="语音输入").click()
    demo.get_by_role("button", name="停止录音").wait_for()
    demo.wait_for_timeout(800)
    demo.get_by_role("button", name="停止录音").click()
    demo.wait_for_function(f"() => {SHADOW}.querySelector('.bm-input').value !== ''", timeout=10_000)
    assert demo.locator(".bm-input").input_value() == QUESTION
    assert heard and heard[0].startswith("audio/")
    assert texts(demo, "person") == [], "what was heard waits in the box for the person to check and send"


def test_a_message_that_could_not_be_sent_says_so_and_keeps_the_question(demo):
    open_widget(demo)
    demo.route("**/api/chat", lambda route: route.abort())
    demo.locator(".bm-input").fill(QUESTION)
    demo.keyboard.press("Enter")
    demo.locator(".bm-notice .bm-text").wait_for(timeout=10_000)
    assert "没有发出去" in demo.locator(".bm-notice .bm-text").text_content()
    assert demo.locator(".bm-input").input_value() == QUESTION, "nobody has to type it again"


ID_NUMBER = "11010519491231002X"
TYPED = f"我的身份证号是{ID_NUMBER}，手机13812345678，也可以打+86 139 8765 4321"


def test_the_transcript_lasts_as_long_as_the_tab_with_its_numbers_masked(demo):
    open_widget(demo)
    ask(demo, TYPED)
    assert texts(demo, "person") == [TYPED], "the screen shows what the person typed"
    assert set(stored(demo, "localStorage")) <= {"prefs", "open"}, "nothing of the conversation outlives the tab"
    session = json.dumps(stored(demo, "sessionStorage"), ensure_ascii=False)
    assert ID_NUMBER not in session and "13812345678" not in session and "19491231" not in session
    assert "8765" not in session, "a mobile number after 86 is masked too"
    assert "110***********002X" in session and "138****5678" in session and "86139****4321" in session

    demo.reload()
    demo.locator(".bm-panel").wait_for(state="visible")
    assert texts(demo, "person") == ["我的身份证号是110***********002X，手机138****5678，也可以打+86139****4321"]


def test_ending_the_conversation_forgets_it_and_it_cannot_be_continued(demo, stack):
    open_widget(demo)
    ask(demo, TYPED)
    old = proof(demo)
    with demo.expect_response(lambda r: r.request.method == "DELETE") as ended, \
            demo.expect_request(lambda r: r.url.endswith("/api/chat") and "/stop" in (r.post_data or "")) as stop:
        demo.get_by_role("button", name="结束对话并清除记录").click()
    assert stop.value.headers.get("x-conversation-token") == old["token"], "the server hears the end, with the proof"
    assert json.loads(stop.value.post_data)["conversation_id"] == old["id"]
    assert ended.value.status == 204 and ended.value.url.endswith(f"/api/chat/{old['id']}")
    with_old_token = httpx.post(f"{stack.base_url}/api/chat", json={"conversation_id": old["id"], "text": "你好"},
                                headers={"X-Conversation-Token": old["token"]}, timeout=10)
    assert with_old_token.status_code == 403, "a copy of the token no longer continues the conversation"

    assert demo.locator(".bm-msg").count() == 0, "the transcript is gone from the screen"
    assert stored(demo, "sessionStorage") == {}
    assert set(stored(demo, "localStorage")) <= {"prefs", "open"}
    assert "对话已结束" in demo.locator(".bm-status").text_content()

    # The next message is the start of another conversation; the old one cannot be reached from this tab.
    answers = ask(demo, QUESTION)
    assert "社保卡" in answers[-1] and texts(demo, "person") == [QUESTION]
    assert conversation_id(demo) != old["id"]
    everything = json.dumps([stored(demo, "sessionStorage"), stored(demo, "localStorage")])
    assert old["id"] not in everything and old["token"] not in everything
    continued = httpx.post(f"{stack.base_url}/api/chat", json={"conversation_id": old["id"], "text": "你好"}, timeout=10)
    assert continued.status_code == 403
    assert httpx.get(f"{stack.base_url}/api/chat/{old['id']}/messages", timeout=10).status_code == 403


def test_a_transcript_left_in_local_storage_by_an_older_widget_is_removed(page, stack):
    page.goto(f"{stack.base_url}/widget/demo")
    page.evaluate(f"""() => {{
        localStorage.setItem('bianmin.widget.id', JSON.stringify('web-0123456789abcdef01234567'));
        localStorage.setItem('bianmin.widget.history', JSON.stringify([{{who: 'person', text: '{TYPED}'}}]));
        localStorage.setItem('bianmin.widget.handoff', JSON.stringify('none'));
    }}""")
    page.reload()
    page.locator(".bm-launcher").wait_for(state="visible")
    assert set(stored(page, "localStorage")) <= {"prefs", "open"}
    assert ID_NUMBER not in page.evaluate("JSON.stringify(localStorage)")


def test_the_chat_page_ends_its_conversation_too(page, stack):
    page.goto(f"{stack.base_url}/")
    page.get_by_label("输入您的问题").fill(QUESTION)
    page.get_by_role("button", name="发送").click()
    page.locator(".msg.assistant").first.wait_for(timeout=60_000)
    kept = page.evaluate("[sessionStorage.getItem('bianmin.conversation'), sessionStorage.getItem('bianmin.conversation-token')]")
    assert all(kept)
    with page.expect_request(lambda r: r.url.endswith("/api/chat") and "/stop" in (r.post_data or "")):
        page.get_by_role("button", name="结束对话并清除记录").click()
    assert page.evaluate("sessionStorage.length") == 0
    assert page.locator(".msg.person").count() == 0
    assert "对话已结束" in page.locator("#log").text_content()


@pytest.mark.parametrize("how", LOST_ANSWERS)
def test_the_chat_page_asks_once_more_with_the_same_message_when_an_answer_is_lost(page, stack, how):
    sent = []

    def lose_the_first_answer(route, request):
        sent.append(json.loads(request.post_data or "{}"))
        if len(sent) == 1:
            lose(route, how)
        else:
            route.continue_()

    page.route("**/api/chat", lose_the_first_answer)
    page.goto(f"{stack.base_url}/")
    page.get_by_label("输入您的问题").fill(QUESTION)
    page.get_by_role("button", name="发送").click()
    page.locator(".msg.assistant").first.wait_for(timeout=60_000)
    assert len(sent) == 2 and sent[0] == sent[1] and len(sent[0]["message_id"]) == 32, sent
    assert sent[0]["conversation_id"].startswith("web-"), "a new conversation's id is chosen here, so a retry finds it"
    assert "社保卡" in page.locator(".msg.assistant").first.text_content()
    kept = page.evaluate("sessionStorage.getItem('bianmin.conversation')")
    assert kept == sent[0]["conversation_id"], "the retry got the new conversation's token"
    page.unroute("**/api/chat")
    page.get_by_label("输入您的问题").fill("要带什么")
    page.get_by_role("button", name="发送").click()
    page.locator(".msg.assistant").nth(1).wait_for(timeout=60_000)
    assert "出错了" not in page.locator("#log").text_content()
