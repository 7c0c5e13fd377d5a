"""A real headless Chromium for the browser tests, and axe-core to check pages for accessibility.

Needs Debian's Chromium (`apt-get install chromium`) and axe-core (`npm ci` in tests/browser);
tests are skipped, saying what is missing, when either is absent.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading
import time
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

HERE = Path(__file__).resolve().parent
AXE_SCRIPT = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
    # A fake microphone that needs no permission prompt, and audio that may play, as after a click.
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required",
]
DESKTOP = {"width": 1280, "height": 860}
KIOSK_STAFF = ("kiosk-helper", "kiosk-helper-password-1")   # the staff account the kiosk tests log in with
# WCAG 2.0, 2.1 and 2.2 at levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium for the whole test session."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("no chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        running = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # Playwright evaluates wait_for_function's predicates with eval(), which the pages' content security
        # policy refuses; the tests' contexts bypass the policy, and test_content_security_policy.py loads
        # every page with it enforced and checks that nothing on them is refused.
        enforcing = running.new_context
        running.new_context = functools.partial(enforcing, bypass_csp=True)
        running.new_context_enforcing_csp = enforcing
        yield running
        running.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A fresh page in its own browser context (no cookies or localStorage from other tests), desktop sized."""
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture(scope="session")
def axe() -> Callable[..., list[dict]]:
    """Runs axe-core on a page and returns its violations (WCAG 2.2 A/AA plus best practices by default)."""
    if not AXE_SCRIPT.exists():
        pytest.skip("axe-core is not installed (cd tests/browser && npm ci)")

    def run(page, tags: list[str] | None = None) -> list[dict]:
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            # Evaluated through the debugging protocol, which the page's Content-Security-Policy does not govern
            # (a script tag would be refused: the pages allow only their own scripts).
            page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8") + "\n;undefined")
        result = page.evaluate("(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}})",
                               tags or [*WCAG_TAGS, "best-practice"])
        return result["violations"]

    return run


def describe(violations: list[dict]) -> str:
    """Violations in a form a reader of a failed test can act on."""
    return "\n".join(f"{v['id']} ({v['impact']}): {v['help']} — "
                     + "; ".join(str(node["target"]) + " " + node.get("failureSummary", "") for node in v["nodes"][:3])
                     for v in violations)


@pytest.fixture(scope="session")
def kiosk_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The whole assistant with speech on and one staff account, shared by the kiosk's browser tests."""
    from bot.settings import REPO_ROOT
    from tests.speech.conftest import ko_model_path
    from tests.stack.conftest import PORT_OFFSETS, start_stack

    for attempt in (1, 2):
        try:
            running = start_stack(tmp_path_factory.mktemp("kiosk-stack"), port_offset=PORT_OFFSETS["kiosk"],
                                  vosk_model_path=str(ko_model_path()),
                                  # Turns wait longer than in production: the test machine is shared and busy.
                                  chat_timeout_seconds="20")
            break
        except RuntimeError as err:
            # A port in Linux's ephemeral range (32768 and up, where large TEST_PORT_OFFSETs land) can be taken for a
            # moment by an outgoing connection; a second start, a little later, finds it free.
            if attempt == 2 or not ("already in use" in str(err) or "cannot be used" in str(err)):
                raise
            time.sleep(5)
    username, password = KIOSK_STAFF
    subprocess.run([sys.executable, "-m", "bot.cli", "staff", "--username", username, "--password", password],
                   cwd=REPO_ROOT, env=running.env, check=True, capture_output=True)
    yield running
    running.stop()


@contextlib.contextmanager
def serving(app: object, port: int) -> Iterator[str]:
    """Serves an app on 127.0.0.1:`port` in a background thread until the block ends; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
