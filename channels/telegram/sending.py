"""Sending to the Bot API so that rate limits and server errors delay a message instead of losing it."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


class DeliveryDeferred(Exception):
    """Telegram did not take the message now; try again after `wait` seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"retry in {wait:.1f}s")
        self.wait = wait


def retry_after_seconds(err: RetryAfter) -> float:
    """The wait Telegram asked for, whichever type this PTB version reports."""
    with warnings.catch_warnings():
        # PTB 22 warns that the int becomes a timedelta in a later major version; both are handled here.
        warnings.simplefilter("ignore")
        value = err.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def backoff(attempt: int) -> float:
    """Doubling waits after server errors, capped."""
    return min(FIRST_BACKOFF_SECONDS * 2 ** attempt, MAX_BACKOFF_SECONDS)


async def attempt(call: Callable[[], Awaitable[T]], failures: int = 0) -> T:
    """Makes one call; a 429 or a 5xx/network error becomes DeliveryDeferred with the wait to honour."""
    try:
        return await call()
    except RetryAfter as err:
        raise DeliveryDeferred(retry_after_seconds(err)) from err
    except (BadRequest, Forbidden):
        raise  # the request itself is wrong or the person blocked the bot: retrying cannot help
    except NetworkError as err:
        raise DeliveryDeferred(backoff(failures)) from err


async def send_reliably(call: Callable[[], Awaitable[T]], tries: int = 6) -> T:
    """Retries a call in place, honouring retry_after, for answers the person is waiting for now."""
    for failure in range(tries):
        try:
            return await attempt(call, failure)
        except DeliveryDeferred as deferred:
            if failure == tries - 1:
                raise
            log.warning("telegram send deferred: %s", deferred)
            await asyncio.sleep(deferred.wait)
    raise AssertionError("unreachable")
