"""What every action needs: the catalogue, the matcher, and the understanding of the latest message."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.services.answers import Reply
from bot.understanding.combine import Understanding, combine
from bot.knowledge.catalogue import Catalogue, get_catalogue
from bot.understanding.search import ServiceMatcher


def catalogue() -> Catalogue:
    """The current catalogue (reloaded when a service file changes)."""
    return get_catalogue()


def service_name(service_id: str) -> str:
    """A service's short name, e.g. 居住证 (its id when the catalogue no longer has it)."""
    service = catalogue().services.get(service_id)
    return service.short_name if service else service_id


def matcher() -> ServiceMatcher:
    """The service matcher for the current catalogue, rebuilt only when the catalogue reloads."""
    return ServiceMatcher.from_catalogue()


def understand_latest(tracker: Tracker) -> Understanding:
    """Intent and service of the person's latest message."""
    message: dict[str, Any] = tracker.latest_message or {}
    current = catalogue()
    return combine(message, message.get("text") or "", matcher(), set(current.services),
                   context_service=service_hint(tracker) or tracker.get_slot("service"))


def service_hint(tracker: Tracker) -> str | None:
    """The service of a long message whose last clauses alone reached the engine (set by the gateway)."""
    return ((tracker.latest_message or {}).get("metadata") or {}).get("service_hint")


def send(dispatcher: CollectingDispatcher, replies: list[Reply]) -> None:
    """Sends the replies in order."""
    for reply in replies:
        dispatcher.utter_message(text=reply.text, buttons=reply.buttons or None)


def turn_of(tracker: Tracker) -> str | None:
    """The id of the person's message this turn answers: the same message run again has the same one."""
    message_id = (tracker.latest_message or {}).get("message_id")
    return str(message_id)[:64] if message_id else None


def channel_of(tracker: Tracker) -> str:
    """The channel the conversation came in on (set by the gateway in message metadata)."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return str(metadata.get("channel") or "web")
