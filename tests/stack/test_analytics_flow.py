"""The supervisors' figures on the real stack: drive conversations, then check each figure against what was driven.

One assistant of its own (a fresh database, a copy of the knowledge base, a
3-second target wait, drafts counted abandoned after about two seconds), so
every count is this module's alone. Also the loop from an unanswered question
to an alias: the same question is understood once the supervisor has attached it.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from bot.settings import REPO_ROOT
from tests.stack.conftest import PORT_OFFSETS, Stack, start_stack
from tests.stack.test_handoff_flow import Desk, inbox

pytestmark = pytest.mark.stack

TARGET_WAIT_SECONDS = 3
ABANDONED_AFTER_HOURS = 0.0005  # 1.8 s
UNANSWERED = "我想办理出国护照要带什么材料"
CHINA = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An assistant with its own database and its own copy of the knowledge base."""
    workdir = tmp_path_factory.mktemp("analytics-stack")
    knowledge_base = workdir / "knowledge_base"
    shutil.copytree(REPO_ROOT / "knowledge_base", knowledge_base, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    running = start_stack(workdir, port_offset=PORT_OFFSETS["analytics"], knowledge_base_dir=str(knowledge_base),
                          handoff_target_wait_seconds=str(TARGET_WAIT_SECONDS),
                          abandoned_draft_hours=str(ABANDONED_AFTER_HOURS))
    yield running
    running.stop()


class Person:
    """One person in the web chat, counting the messages they send to the assistant."""

    sent = 0

    def __init__(self, stack: Stack):
        self.stack, self.id = stack, f"a-{uuid.uuid4().hex[:10]}"

    def say(self, text: str) -> dict:
        Person.sent += 1
        return self.stack.chat(self.id, text)


def served_and_rated(stack: Stack, desk: Desk, wait_seconds: float, stars: int) -> None:
    """A person asks for a human, is accepted after `wait_seconds`, the case is closed, and they rate it."""
    person = Person(stack)
    assert person.say("转人工")["state"]["handoff"] == "waiting"
    queued = desk.waiting_for(person.id)
    time.sleep(wait_seconds)
    assert desk.post(f"/handoffs/{queued['id']}/accept").status_code == 200
    assert desk.post(f"/handoffs/{queued['id']}/close", {"resolution_note": "已解答"}).status_code == 200
    buttons = [b for m in inbox(stack, person.id)["messages"] for b in m["buttons"]]
    titles = {5: "非常满意", 1: "非常不满意"}
    assert person.say(next(b["payload"] for b in buttons if b["title"] == titles[stars]))["state"]["handoff"] == "none"


def figures(supervisor: Desk) -> dict:
    today = dt.datetime.now(CHINA).date().isoformat()
    response = supervisor.get("/analytics", **{"from": today, "to": today})
    assert response.status_code == 200, response.text
    return response.json()


def test_each_figure_matches_the_conversations_driven(stack):
    desk, supervisor = Desk(stack), Desk(stack, "supervisor")
    served_and_rated(stack, desk, 0, 5)  # accepted at once: within the target
    served_and_rated(stack, desk, TARGET_WAIT_SECONDS + 1.5, 1)  # accepted late

    leaver = Person(stack)
    leaver.say("我要申请居住证")
    asked = leaver.say("张建国")["state"]["requested_slot"]
    assert asked and asked != "full_name"
    assert leaver.say("不办了")["state"]["form"] is None

    # Two people ask what nobody answers (once each: twice in a row would bring in a person).
    for _ in range(2):
        Person(stack).say(UNANSWERED)
    time.sleep(ABANDONED_AFTER_HOURS * 3600 + 0.5)

    seen = figures(supervisor)
    assert seen["conversations"] == 5 and seen["by_channel"] == {"web": 5}
    assert seen["contained_rate"] == 0.6  # three of five never needed a person
    handoffs = seen["handoffs"]
    assert (handoffs["total"], handoffs["accepted"], handoffs["abandoned"], handoffs["waiting"]) == (2, 2, 0, 0)
    assert handoffs["response_rate"] == 0.5
    assert handoffs["resolution_rate"] == 1.0
    assert handoffs["p90_wait_seconds"] > TARGET_WAIT_SECONDS > handoffs["median_wait_seconds"] - TARGET_WAIT_SECONDS
    assert seen["ratings"] == {"1": 1, "2": 0, "3": 0, "4": 0, "5": 1} and seen["satisfaction_rate"] == 0.5
    assert seen["follow_ups"] == {"total": 1, "open": 1, "done": 0}
    applications = seen["applications"]
    assert (applications["started"], applications["submitted"], applications["abandoned"]) == (1, 0, 1)
    assert applications["by_form"][0]["service"] == "residence_permit"
    assert applications["by_form"][0]["gave_up_at"] == {asked: 1}
    assert {"text": UNANSWERED, "count": 2} in seen["unanswered"]
    understanding = seen["understanding"]
    assert understanding["messages"] == Person.sent
    assert 0 <= understanding["below_threshold"] <= Person.sent  # how sure the model is depends on its training
    csv = supervisor.get("/analytics.csv", **{"from": seen["from"], "to": seen["to"]})
    assert csv.status_code == 200 and "conversations,,total,5" in csv.text.splitlines()
    assert "张建国" not in csv.text and "张建国" not in str(seen), "no personal data in any figure"


def test_an_unanswered_question_attached_as_an_alias_is_understood_right_after(stack):
    supervisor = Desk(stack, "supervisor")
    question = f"{UNANSWERED}呀"
    asker = Person(stack)
    asker.say(question)
    assert {"text": question, "count": 1} in figures(supervisor)["unanswered"]
    understand = f"{stack.base_url}/api/understand"
    assert httpx.post(understand, json={"text": question}, timeout=30).json()["service"] is None

    done = supervisor.post("/unanswered/review", {"text": question, "outcome": "alias", "service": "birth_registration"})

    assert done.status_code == 200, done.text
    deadline = time.monotonic() + 10  # the catalogue looks at its files at most once a second
    while httpx.post(understand, json={"text": question}, timeout=30).json()["service"] != "birth_registration":
        assert time.monotonic() < deadline, "the new alias was not picked up"
        time.sleep(0.5)
    reply = Person(stack).say(question)
    assert "生育" in "\n".join(m["text"] for m in reply["messages"])
    after = figures(supervisor)
    assert question not in [q["text"] for q in after["unanswered"]] and after["unanswered_closed"]["alias"] == 1


def test_an_unanswered_question_given_an_faq_answer_is_answered_with_it(stack):
    supervisor = Desk(stack, "supervisor")
    question = "钓鱼证在哪里办理"
    first = Person(stack).say(question)
    assert {"text": question, "count": 1} in figures(supervisor)["unanswered"], first["messages"]

    done = supervisor.post("/unanswered/review", {"text": question, "outcome": "faq", "service": "business_license",
                                                  "answer": "钓鱼不用办证；渔业捕捞许可请找区农业农村局。"})

    assert done.status_code == 200, done.text
    deadline = time.monotonic() + 10
    while "农业农村局" not in "\n".join(m["text"] for m in Person(stack).say(question)["messages"]):
        assert time.monotonic() < deadline, "the new answer was not picked up"
        time.sleep(0.5)
