"""Rate limits and quotas: how often one conversation, one client address or one phone number may do a thing.

Each quota is a setting in the `limits` notation ("30/minute;300/hour"), so a deployment (or a benchmark)
raises it without code. Counts live in memory by default and in Redis when `RATE_LIMIT_STORAGE=redis`, so
several gateways and action servers share them. The gateway uses the asynchronous checks (never blocking the
event loop on Redis); the domain services, called from the action server's threads, use the synchronous ones.
Keys are conversation ids, client addresses or fingerprints, never a personal number in clear.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

import limits
import limits.errors
from limits import RateLimitItem
from limits.aio import strategies as async_strategies
from redis.exceptions import RedisError

from bot.errors import BianminError
from bot.settings import Settings, get_settings

log = logging.getLogger(__name__)

# The quotas, by name: what is counted, and the setting that says how many.
QUOTAS = {
    "chat_per_conversation": "rate_limit_chat_per_conversation",
    "chat_per_client": "rate_limit_chat_per_client",
    "new_conversations_per_client": "rate_limit_new_conversations_per_client",
    "speech_per_client": "rate_limit_speech_per_client",
    "handwriting_per_client": "rate_limit_handwriting_per_client",
    "handoffs_per_conversation": "rate_limit_handoffs_per_conversation",
    "callbacks_per_conversation": "rate_limit_callbacks_per_conversation",
    "callbacks_per_phone": "rate_limit_callbacks_per_phone",
    "bookings_per_conversation": "rate_limit_bookings_per_conversation",
    "bookings_per_phone": "rate_limit_bookings_per_phone",
}

POLITE_MESSAGE = "您操作得太频繁了，请休息一下，{wait}后再试。着急的话可以拨打政务服务热线，或到服务中心找工作人员。"


class RateLimited(BianminError):
    """A quota is used up; `retry_after` says in how many seconds the oldest use ages out."""

    code = "rate_limited"
    status = 429

    def __init__(self, quota: str, retry_after: int):
        super().__init__(POLITE_MESSAGE.format(wait=_spoken_wait(retry_after)))
        self.quota = quota
        self.retry_after = retry_after


def _spoken_wait(seconds: int) -> str:
    if seconds < 60:
        return f"{max(seconds, 1)}秒"
    if seconds < 3600:
        return f"{math.ceil(seconds / 60)}分钟"
    return f"{math.ceil(seconds / 3600)}小时"


def parse_quota(value: str) -> list[RateLimitItem]:
    """The items of a quota setting; ValueError with an example when the notation is wrong."""
    try:
        items = limits.parse_many(value)
    except ValueError as err:
        raise ValueError(f"{value!r} is not a quota like '30/minute' or '30/minute;300/hour'") from err
    if not items:
        raise ValueError(f"{value!r} is not a quota like '30/minute' or '30/minute;300/hour'")
    return items


@dataclass(frozen=True)
class _Quota:
    name: str
    items: tuple[RateLimitItem, ...]


def _quotas(settings: Settings) -> dict[str, _Quota]:
    return {name: _Quota(name, tuple(parse_quota(getattr(settings, field)))) for name, field in QUOTAS.items()}


def _retry_after(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


class MemoryWindows:
    """Moving windows kept in this process: for each key, the times of its uses inside its window.

    limits' own in-memory storages expire their events by scanning every key, from a new timer thread every
    10 ms (synchronous) or with a thread hop per key on the event loop (asynchronous): with a key per
    conversation that doubled the gateway's CPU per turn. Here a key's old uses are dropped when the key is
    used, and keys nobody used for a whole window are swept every SWEEP_EVERY uses; a use costs microseconds.
    """

    SWEEP_EVERY = 4096

    def __init__(self) -> None:
        self._uses: dict[str, tuple[float, deque[float]]] = {}
        self._lock = threading.Lock()
        self._count = 0

    def hit(self, key: str, limit: int, seconds: float, now: float | None = None) -> float | None:
        """Counts a use of `key`; when `limit` uses are inside the window already, the seconds until one ages out."""
        now = time.time() if now is None else now
        with self._lock:
            _, uses = self._uses.setdefault(key, (seconds, deque()))
            while uses and uses[0] <= now - seconds:
                uses.popleft()
            if len(uses) >= limit:
                return uses[0] + seconds - now
            uses.append(now)
            self._count += 1
            if self._count % self.SWEEP_EVERY == 0:
                self._sweep(now)
            return None

    def count(self, quota: str, items: tuple[RateLimitItem, ...], key: str) -> None:
        """Counts one use of `quota` by `key` in each of its windows; RateLimited when one is used up."""
        for item in items:
            wait = self.hit(f"{quota}/{item}/{key}", item.amount, item.get_expiry())
            if wait is not None:
                raise RateLimited(quota, max(1, math.ceil(wait)))

    def _sweep(self, now: float) -> None:
        idle = [key for key, (seconds, uses) in self._uses.items() if not uses or uses[-1] <= now - seconds]
        for key in idle:
            del self._uses[key]


def _redis_uri(settings: Settings, asynchronous: bool) -> tuple[str, dict[str, str]]:
    # redis-py is installed already (the lock store uses it); limits' default async client would be coredis.
    return ("async+" if asynchronous else "") + settings.redis_url, ({"implementation": "redispy"} if asynchronous
                                                                    else {})


class Limiter:
    """Synchronous checks, for the domain services (bookings, call-backs, handoffs)."""

    def __init__(self, settings: Settings):
        self._quotas = _quotas(settings)
        self._memory: MemoryWindows | None = None
        self._redis: limits.strategies.MovingWindowRateLimiter | None = None
        if settings.rate_limit_storage == "redis":
            uri, options = _redis_uri(settings, asynchronous=False)
            self._redis = limits.strategies.MovingWindowRateLimiter(limits.storage.storage_from_string(uri, **options))
        else:
            self._memory = MemoryWindows()

    def hit(self, quota: str, key: str) -> None:
        """Counts one use of `quota` by `key`; RateLimited (nothing counted further) when it is used up."""
        if self._memory is not None:
            self._memory.count(quota, self._quotas[quota].items, key)
            return
        assert self._redis is not None
        for item in self._quotas[quota].items:
            try:
                allowed = self._redis.hit(item, quota, key)
                reset = None if allowed else self._redis.get_window_stats(item, quota, key).reset_time
            except STORAGE_ERRORS as err:
                _storage_away(quota, err)
                return
            if reset is not None:
                raise RateLimited(quota, _retry_after(reset))


class AsyncLimiter:
    """The same checks for the gateway's event loop (in memory they take microseconds and need no await)."""

    def __init__(self, settings: Settings):
        self._quotas = _quotas(settings)
        self._memory: MemoryWindows | None = None
        self._redis: async_strategies.MovingWindowRateLimiter | None = None
        if settings.rate_limit_storage == "redis":
            uri, options = _redis_uri(settings, asynchronous=True)
            self._redis = async_strategies.MovingWindowRateLimiter(limits.storage.storage_from_string(uri, **options))
        else:
            self._memory = MemoryWindows()

    async def hit(self, quota: str, key: str) -> None:
        """Counts one use of `quota` by `key`; RateLimited when it is used up."""
        if self._memory is not None:
            self._memory.count(quota, self._quotas[quota].items, key)
            return
        assert self._redis is not None
        for item in self._quotas[quota].items:
            try:
                if await self._redis.hit(item, quota, key):
                    continue
                stats = await self._redis.get_window_stats(item, quota, key)
            except STORAGE_ERRORS as err:
                _storage_away(quota, err)
                return
            raise RateLimited(quota, _retry_after(stats.reset_time))


# The quota counts' store (Redis) not answering: connection refused, timed out, or said so by `limits`.
STORAGE_ERRORS = (RedisError, OSError, limits.errors.StorageError)


def _storage_away(quota: str, err: Exception) -> None:
    """While the counts cannot be reached, requests pass uncounted: residents keep their answers in an outage."""
    log.warning("quota %s not counted: its store does not answer (%s)", quota, type(err).__name__)


@functools.lru_cache(maxsize=1)
def get_limiter() -> Limiter:
    """The process-wide synchronous limiter over the settings' quotas."""
    return Limiter(get_settings())
