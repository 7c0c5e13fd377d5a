"""Bounded work: at most so many decodes or recognitions at once, the next one refused at once, not queued.

A queue without a bound lets one client's burst of uploads hold every caller behind it (and as many ffmpeg
processes as requests); a clear "busy, try again in N s" keeps the wait short for everyone else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from speech.errors import SpeechBusy


class Slots:
    """At most `limit` holders at a time on one event loop; one more is refused with SpeechBusy."""

    def __init__(self, limit: int, what: str, *, retry_after: int = 2) -> None:
        if limit < 1:
            raise ValueError(f"the limit of {what} must be at least 1")
        self.limit = limit
        self.what = what
        self.retry_after = retry_after
        self.in_use = 0
        self.refused = 0

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Takes a slot for the block; SpeechBusy when all are taken."""
        if self.in_use >= self.limit:
            self.refused += 1
            raise SpeechBusy(f"the server is busy with {self.limit} {self.what}; try again in {self.retry_after} s",
                             retry_after=self.retry_after)
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
