"""After submitting, the stored conversation keeps no ID number, phone or address in plain text, anywhere on disk."""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from bot.db.session import get_engine
from bot.services import applications, conversations, redaction

# The shape of Rasa's SQL tracker store table (rasa/core/tracker_store.py, SQLEvent).
EVENTS_DDL = """CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL,
    timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"""


def new_person() -> dict[str, str]:
    n = uuid.uuid4().int
    body = f"51010219781{n % 3}{n // 10 % 28 + 1:02d}{n // 1000 % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    return {"full_name": "欧阳明月", "id_number": body + check, "phone": f"158{n // 10**7 % 10**8:08d}",
            "address": f"北山区青松路{n % 90 + 10}号院2栋301"}


def store_events(conversation_id: str, events: list[dict]) -> None:
    with get_engine().begin() as connection:
        connection.execute(text(EVENTS_DDL))
        for event in events:
            connection.execute(text("INSERT INTO events (sender_id, type_name, timestamp, data) "
                                    "VALUES (:s, :t, :ts, :d)"),
                               {"s": conversation_id, "t": event["event"], "ts": time.time(), "d": json.dumps(event)})


def stored_events(conversation_id: str) -> list[str]:
    with get_engine().connect() as connection:
        rows = connection.execute(text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"),
                                  {"s": conversation_id}).all()
    return [json.loads(r.data) for r in rows]


def spaced(number: str) -> str:
    return f"{number[:6]} {number[6:14]} {number[14:]}"


def in_chinese(number: str) -> str:
    return "".join("零幺二三四五六七八九"[int(d)] for d in number)


def test_submitting_leaves_no_personal_value_in_the_stored_conversation_or_on_disk(database):
    person = new_person()
    conversation_id = f"r-{uuid.uuid4().hex[:10]}"
    conversations.ensure(conversation_id, "web", "zh-CN")
    store_events(conversation_id, [
        {"event": "user", "text": f"身份证号是 {spaced(person['id_number'])}",
         "parse_data": {"text": f"身份证号是 {spaced(person['id_number'])}", "entities": []}},
        {"event": "slot", "name": "id_number", "value": person["id_number"]},
        {"event": "user", "text": in_chinese(person["phone"])},
        {"event": "slot", "name": "phone", "value": person["phone"]},
        {"event": "user", "text": f"住在{person['address']}"},
        {"event": "slot", "name": "address", "value": person["address"]},
        {"event": "bot", "text": f"请核对：姓名：{person['full_name']} 住址：{person['address']}"},
    ])
    applications.submit(conversation_id, "web", "residence_permit", person)

    redaction.after_turn(conversation_id)

    stored = json.dumps(stored_events(conversation_id), ensure_ascii=False)
    for value in (person["id_number"], spaced(person["id_number"]), person["phone"], in_chinese(person["phone"]),
                  person["address"], person["full_name"]):
        assert value not in stored
    assert person["id_number"][-4:] in stored, "the masked forms stay readable"
    path = Path(database.removeprefix("sqlite:///"))
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            assert person["id_number"].encode() not in file.read_bytes()
            assert person["phone"].encode() not in file.read_bytes()


def test_redaction_happens_once_and_leaves_other_conversations_alone(caplog):
    person = new_person()
    mine, other = f"r-{uuid.uuid4().hex[:10]}", f"r-{uuid.uuid4().hex[:10]}"
    for conversation_id in (mine, other):
        conversations.ensure(conversation_id, "web", "zh-CN")
        store_events(conversation_id, [{"event": "user", "text": f"电话{person['phone']}"}])
    applications.submit(mine, "web", "senior_card", person)
    [job] = applications.awaiting_redaction(mine)
    with caplog.at_level(logging.INFO, logger=redaction.__name__):
        redaction.after_turn(mine)
    # What an operator reads: which application, how many events were rewritten.
    assert caplog.messages == [f"application {job.application_id}: 1 stored events redacted"]
    assert person["phone"] not in json.dumps(stored_events(mine))
    assert person["phone"] in json.dumps(stored_events(other))
    assert applications.awaiting_redaction(mine) == []
