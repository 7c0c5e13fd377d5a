"""The action server's side of the vault: actions see residents' real values, the engine only references.

Every action call is wrapped: the tracker's references are replaced by the
values (so a validator checks the real ID number's checksum), and in what the
action sends back, personal slots, numbers, and the names and addresses this
conversation gave become references again, so a read-back is never stored by
the engine in clear. The gateway shows the person their own values.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk.executor import ActionExecutor, ActionExecutorRunResult, CollectingDispatcher

from bot.services import people
from bot.services.vault import PERSONAL_SLOTS, Vault, walk


def _known_values(conversation_id: str) -> list[tuple[str, str]]:
    """The name and address a person gave before (offered back by the forms), to be held back too."""
    known = people.known_for(conversation_id)
    if known is None:
        return []
    return [(kind, value) for kind, value in (("full_name", known.full_name), ("address", known.address)) if value]


def shield_result(vault: Vault, events: list[dict[str, Any]], responses: list[dict[str, Any]],
                  extra: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Events and replies with personal values as references; slots first, so read-backs of them match."""
    for event in events:
        kind = PERSONAL_SLOTS.get(str(event.get("name"))) if event.get("event") == "slot" else None
        if kind and isinstance(event.get("value"), str) and event["value"].strip():
            event["value"] = vault.hold(kind, event["value"].strip())
    for kind, value in extra:
        vault.hold(kind, value)
    return walk(events, vault.hold_known), walk(responses, vault.hold_known)


def _revealed(action_call: dict[str, Any]) -> tuple[Vault, dict[str, Any]]:
    conversation_id = str((action_call.get("tracker") or {}).get("sender_id") or "")
    vault = Vault.of(conversation_id)
    if vault.is_empty:
        return vault, action_call  # nothing held back yet: no copy of the tracker
    return vault, {**action_call, "tracker": walk(action_call.get("tracker") or {}, vault.reveal)}


class VaultedExecutor(ActionExecutor):
    """rasa-sdk's executor with the tracker revealed for the action and the action's answer held back."""

    async def run(self, action_call: dict[str, Any], sink: asyncio.Queue | None = None,
                  dispatcher: CollectingDispatcher | None = None) -> ActionExecutorRunResult | None:
        """Runs the action on real values; returns its events and replies with references."""
        vault, revealed = _revealed(action_call)
        result = await super().run(revealed, sink, dispatcher)
        if result is None:
            return None
        has_text = any(r.get("text") or r.get("buttons") for r in result.responses)
        extra = _known_values(vault.conversation_id) if has_text else []
        result.events, result.responses = shield_result(vault, result.events, result.responses, extra)
        return result
