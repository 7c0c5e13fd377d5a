"""Writes conversation events the way Rasa's SQL tracker store keeps them, for tests that read transcripts."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

from bot.db.session import get_engine

_metadata = MetaData()
# The columns of rasa.core.tracker_store.SQLTrackerStore.SQLEvent (Rasa 3.6).
EVENTS = Table(
    "events", _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


def user(text: str, intent: str = "inform") -> dict[str, Any]:
    """A person's message."""
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent, "confidence": 0.9}}}


def bot(text: str) -> dict[str, Any]:
    """An assistant's message."""
    return {"event": "bot", "text": text, "data": {}}


def slot(name: str, value: Any) -> dict[str, Any]:
    """A slot being set."""
    return {"event": "slot", "name": name, "value": value}


def loop(name: str | None) -> dict[str, Any]:
    """A form starting (name) or ending (None)."""
    return {"event": "active_loop", "name": name}


def write_events(sender_id: str, events: list[dict[str, Any]]) -> None:
    """Appends events to the conversation's tracker, one second apart, ending now."""
    engine = get_engine()
    _metadata.create_all(engine)
    start = time.time() - len(events)
    with engine.begin() as connection:
        for offset, event in enumerate(events):
            stamped = {**event, "timestamp": start + offset}
            connection.execute(EVENTS.insert().values(
                sender_id=sender_id, type_name=event["event"], timestamp=stamped["timestamp"],
                intent_name=(event.get("parse_data") or {}).get("intent", {}).get("name"),
                action_name=None, data=json.dumps(stamped, ensure_ascii=False)))
