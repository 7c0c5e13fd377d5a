"""The assistant remembers what it offered in its last turn, so a plain yes ("好的", "行") does it.

An answer that ends with "要我现在一步步帮您申请吗？" or "要不要请工作人员给您回个电话？"
records its offer in the `offer` slot. A yes in the very next turn starts what was
offered; a no declines it (bot/actions/offer_answer.py); a yes with no offer just before it keeps the old answer
("还有什么可以帮您？"). An offer lapses after one turn: a "好的" said later about
something else never starts an old offer.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import SlotSet

OFFER = "offer"
START_APPLICATION = "start_application"
REQUEST_CALLBACK = "request_callback"


def made(kind: str) -> dict[str, Any]:
    """The event that records an offer made in this turn."""
    return SlotSet(OFFER, kind)


def offer_of_last_turn(events: list[dict[str, Any]]) -> str | None:
    """What the assistant offered in its turn just before the latest message, or None."""
    users = [i for i, e in enumerate(events) if e.get("event") == "user"]
    if len(users) < 2:
        return None
    offer = None
    for event in events[users[-2]:users[-1]]:
        if event.get("event") == "slot" and event.get("name") == OFFER:
            offer = event.get("value")
    return offer
