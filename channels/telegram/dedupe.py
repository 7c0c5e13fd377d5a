"""Remembers recent update ids so that an update Telegram delivers twice is answered once."""

from __future__ import annotations

from collections import OrderedDict


class SeenUpdates:
    """A bounded set of update ids; kept in memory, so a restart forgets it (Telegram resends rarely after that)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[int, None] = OrderedDict()

    def first_time(self, update_id: int) -> bool:
        """True the first time an id is seen, False for a repeat."""
        if update_id in self._ids:
            return False
        self._ids[update_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True
