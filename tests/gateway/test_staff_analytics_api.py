"""The analytics API and the review of unanswered questions: roles, the contract's shape, CSV, audit, the alias loop."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import bot.knowledge.catalogue as catalogue_module
from bot.db.models import UnansweredQuestion
from bot.db.session import unit_of_work
from bot.engine import build
from bot.knowledge import learned
from bot.knowledge.catalogue import KNOWLEDGE_BASE_DIR, CatalogueCache
from bot.services import audit, staff
from tests.fakes.rasa import FakeRasa

PASSWORD = "password-123"
CONTRACT_KEYS = {"from", "to", "conversations", "by_channel", "contained_rate", "handoffs", "ratings",
                 "satisfaction_rate", "applications", "appointments", "unanswered"}
TODAY = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()


@pytest.fixture
def rasa() -> FakeRasa:
    # The engine is unsure of everything: only the knowledge base can name a service.
    return FakeRasa(parse_result={"intent": {"name": "nlu_fallback", "confidence": 0.3}, "entities": [],
                                  "intent_ranking": [{"name": "nlu_fallback", "confidence": 0.3}]})


@pytest.fixture
def knowledge_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the knowledge base that the live catalogue reads (checked on every request), never the repo's."""
    root = tmp_path / "knowledge_base"
    shutil.copytree(KNOWLEDGE_BASE_DIR, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.setattr(catalogue_module, "_default_cache", CatalogueCache(root, interval=0, contract_ids=False))
    return root


def login(client: TestClient, role: str) -> tuple[str, dict[str, str]]:
    username = f"a{uuid.uuid4().hex[:8]}"
    staff.create_or_update(username, PASSWORD, role)
    response = client.post("/api/staff/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return username, {"Authorization": f"Bearer {response.json()['token']}"}


def unanswered(text: str, times: int = 1) -> None:
    with unit_of_work() as session:
        for _ in range(times):
            session.add(UnansweredQuestion(conversation_id=f"u-{uuid.uuid4().hex[:8]}", channel="web", text=text,
                                           reason="low_confidence"))


def test_supervisors_and_admins_read_the_figures_staff_get_403_strangers_401(client):
    for role in ("supervisor", "admin"):
        _, headers = login(client, role)
        response = client.get(f"/api/staff/analytics?from={TODAY}&to={TODAY}", headers=headers)
        assert response.status_code == 200, response.text
        assert CONTRACT_KEYS <= set(response.json()) and response.json()["from"] == TODAY
    _, headers = login(client, "staff")
    for path in ("/api/staff/analytics", "/api/staff/analytics.csv"):
        assert client.get(path, headers=headers).status_code == 403
        assert client.get(path).status_code == 401
    refused = client.post("/api/staff/unanswered/review", headers=headers, json={"text": "x", "outcome": "dismissed"})
    assert refused.status_code == 403 and refused.json()["error"]["code"]


@pytest.mark.parametrize("query", ["from=2026-02-30&to=2026-03-01", "from=2026-12-31&to=2026-12-01",
                                   "from=2020-01-01&to=2026-12-01", "from=2026-12-01&to=2026-12-31&channel=%3Cb%3E"])
def test_a_bad_period_or_filter_is_a_json_422(client, query):
    _, headers = login(client, "supervisor")
    response = client.get(f"/api/staff/analytics?{query}", headers=headers)
    assert response.status_code == 422 and response.json()["error"]["code"]


def test_the_csv_export_has_the_figures_and_is_audited(client):
    username, headers = login(client, "supervisor")
    unanswered("可以办理游艇驾照吗", times=2)
    response = client.get(f"/api/staff/analytics.csv?from={TODAY}&to={TODAY}&channel=web", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "section,item,measure,value"
    assert "unanswered,可以办理游艇驾照吗,count,2" in lines
    entry = audit.recent(staff_username=username)[0]
    assert entry.action == "export_analytics" and entry.detail == f"{TODAY}..{TODAY} (channel=web)"
    client.get(f"/api/staff/analytics?from={TODAY}&to={TODAY}&export=print", headers=headers)
    assert audit.recent(staff_username=username)[0].action == "print_analytics"


def test_an_unanswered_question_made_an_alias_is_understood_at_once_and_counted_closed(client, knowledge_base):
    question = f"家里添了小宝宝要上本子{uuid.uuid4().hex[:4]}"
    unanswered(question, times=3)
    before = client.post("/api/understand", json={"text": question}).json()
    assert before["service"] is None
    username, headers = login(client, "supervisor")
    listed = client.get(f"/api/staff/analytics?from={TODAY}&to={TODAY}", headers=headers).json()
    assert {"text": question, "count": 3} in listed["unanswered"]

    done = client.post("/api/staff/unanswered/review", headers=headers,
                       json={"text": question, "outcome": "alias", "service": "birth_registration"})

    assert done.status_code == 200, done.text
    assert done.json() == {"text": question, "outcome": "alias", "service": "birth_registration", "intent": None,
                           "questions": 3}
    assert client.post("/api/understand", json={"text": question}).json()["service"] == "birth_registration"
    assert f'  - "{question}"' in (knowledge_base / "services" / "birth_registration.yml").read_text(encoding="utf-8")
    after = client.get(f"/api/staff/analytics?from={TODAY}&to={TODAY}", headers=headers).json()
    assert question not in [q["text"] for q in after["unanswered"]]
    assert after["unanswered_closed"]["alias"] >= 1
    entry = audit.recent(staff_username=username)[0]
    assert (entry.action, entry.subject) == ("review_unanswered", "service:birth_registration")
    again = client.post("/api/staff/unanswered/review", headers=headers,
                        json={"text": question, "outcome": "dismissed"})
    assert again.status_code == 409


def test_an_faq_answer_lands_in_the_service_file_and_a_dismissal_touches_no_file(client, knowledge_base):
    _, headers = login(client, "supervisor")
    asked, noise = f"居住证能寄到家吗{uuid.uuid4().hex[:4]}", f"今天天气怎么样{uuid.uuid4().hex[:4]}"
    unanswered(asked)
    unanswered(noise)
    before = {p.name: p.read_bytes() for p in (knowledge_base / "services").glob("*.yml")}
    faq = client.post("/api/staff/unanswered/review", headers=headers,
                      json={"text": asked, "outcome": "faq", "service": "residence_permit", "answer": "可以，选邮寄。"})
    assert faq.status_code == 200, faq.text
    service = catalogue_module.get_catalogue().services["residence_permit"]
    assert (service.faq[-1].question, service.faq[-1].answer) == (asked, "可以，选邮寄。")
    assert client.post("/api/staff/unanswered/review", headers=headers,
                       json={"text": noise, "outcome": "dismissed"}).status_code == 200
    after = {p.name: p.read_bytes() for p in (knowledge_base / "services").glob("*.yml")}
    assert {name for name in after if after[name] != before[name]} == {"residence_permit.yml"}


@pytest.mark.parametrize(("body", "status"), [
    ({"outcome": "alias", "service": "residence_permit", "alias": "身份证110101199003071234"}, 422),
    ({"outcome": "alias", "service": "residence_permit", "alias": "x"}, 422),
    ({"outcome": "alias", "service": "residence_permit", "alias": "居住证"}, 409),
    ({"outcome": "alias", "service": "no_such_service"}, 404),
    ({"outcome": "alias"}, 422),
    ({"outcome": "faq", "service": "residence_permit", "answer": ""}, 422),
    ({"outcome": "launch"}, 422),
])
def test_a_bad_review_changes_nothing_and_leaves_the_question_open(client, knowledge_base, body, status):
    _, headers = login(client, "supervisor")
    question = f"问题{uuid.uuid4().hex[:6]}"
    unanswered(question)
    before = (knowledge_base / "services" / "residence_permit.yml").read_bytes()
    response = client.post("/api/staff/unanswered/review", headers=headers, json={"text": question, **body})
    assert response.status_code == status and response.json()["error"]["code"]
    assert (knowledge_base / "services" / "residence_permit.yml").read_bytes() == before
    # Still open: it can be dismissed now.
    assert client.post("/api/staff/unanswered/review", headers=headers,
                       json={"text": question, "outcome": "dismissed"}).status_code == 200


def test_a_question_nobody_asked_cannot_be_reviewed(client, knowledge_base):
    _, headers = login(client, "supervisor")
    response = client.post("/api/staff/unanswered/review", headers=headers,
                           json={"text": "从来没人问过", "outcome": "alias", "service": "residence_permit"})
    assert response.status_code == 404


def test_a_question_attached_to_an_intent_becomes_a_training_example_of_it(client, knowledge_base, tmp_path):
    _, headers = login(client, "supervisor")
    question = f"能不能便宜点{uuid.uuid4().hex[:4]}"
    unanswered(question)
    refused = client.post("/api/staff/unanswered/review", headers=headers,
                          json={"text": question, "outcome": "alias", "intent": "no_such_intent"})
    assert refused.status_code == 404

    done = client.post("/api/staff/unanswered/review", headers=headers,
                       json={"text": question, "outcome": "alias", "intent": "ask_fee"})

    assert done.status_code == 200, done.text
    assert (done.json()["intent"], done.json()["service"]) == ("ask_fee", None)
    assert learned.read_examples(knowledge_base) == [("ask_fee", question)]
    build.write_training_inputs(knowledge_base, tmp_path / "build")
    training = (tmp_path / "build" / "nlu" / "learned.yml").read_text(encoding="utf-8")
    assert "- intent: ask_fee" in training and f"    - {question}" in training
    assert audit.recent()[0].subject == "intent:ask_fee"
