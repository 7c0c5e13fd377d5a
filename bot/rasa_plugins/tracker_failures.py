"""A tracker store that does not answer fails the turn, instead of Rasa answering from an empty conversation.

Rasa 3.6 wraps the tracker store in FailSafeTrackerStore, which on an error retrieves nothing and saves to
memory: while the database is away a resident would be answered as a stranger ("which service?") and the
turn kept in one process's memory. With this installed the turn fails instead; the gateway then answers
with the polite fallback (hotline, a person, a visit), and the conversation goes on with its context once
the database is back.
"""

from __future__ import annotations

from typing import Any

from rasa.core.tracker_store import FailSafeTrackerStore

from bot.rasa_plugins.rasa_private import primary_tracker_store


async def _retrieve(self: FailSafeTrackerStore, sender_id: str) -> Any:
    return await primary_tracker_store(self).retrieve(sender_id)


async def _retrieve_full_tracker(self: FailSafeTrackerStore, sender_id: str) -> Any:
    return await primary_tracker_store(self).retrieve_full_tracker(sender_id)


async def _save(self: FailSafeTrackerStore, tracker: Any) -> None:
    await primary_tracker_store(self).save(tracker)


def install() -> None:
    """Makes every FailSafeTrackerStore pass its store's errors on."""
    FailSafeTrackerStore.retrieve = _retrieve  # type: ignore[method-assign]
    FailSafeTrackerStore.retrieve_full_tracker = _retrieve_full_tracker  # type: ignore[method-assign]
    FailSafeTrackerStore.save = _save  # type: ignore[method-assign]
