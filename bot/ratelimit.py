"""Rate limits and quotas: how often one conversation, one client address or one phone number may do a thing.

Each quota is a setting in the `limits` notation ("30/minute;300/hour"), so a deployment (or a benchmark)
raises it without code. Counts live in memory by default and in Redis when `RATE_LIMIT_STORAGE=redis`, so
several gateways and action servers share them. The gateway uses the asynchronous checks (never blocking the
event loop on Redis); the domain services, called from the action server's threads, use the synchronous ones.
Keys are conversation ids, client addresses or fingerprints, never a personal number in clear.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

import limits
from limits import RateLimitItem
from limits.aio import strategies as async_strategies

from bot.errors import BianminError
from bot.settings import Settings, get_settings

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


def _storage_uri(settings: Settings, asynchronous: bool) -> tuple[str, dict[str, str]]:
    prefix = "async+" if asynchronous else ""
    if settings.rate_limit_storage == "redis":
        # redis-py is installed already (the lock store uses it); limits' default async client would be coredis.
        return prefix + settings.redis_url, ({"implementation": "redispy"} if asynchronous else {})
    return prefix + "memory://", {}


def _retry_after(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


class Limiter:
    """Synchronous checks, for the domain services (bookings, call-backs, handoffs)."""

    def __init__(self, settings: Settings):
        uri, options = _storage_uri(settings, asynchronous=False)
        self._limiter = limits.strategies.MovingWindowRateLimiter(limits.storage.storage_from_string(uri, **options))
        self._quotas = _quotas(settings)

    def hit(self, quota: str, key: str) -> None:
        """Counts one use of `quota` by `key`; RateLimited (nothing counted further) when it is used up."""
        for item in self._quotas[quota].items:
            if not self._limiter.hit(item, quota, key):
                raise RateLimited(quota, _retry_after(self._limiter.get_window_stats(item, quota, key).reset_time))


class AsyncLimiter:
    """The same checks for the gateway's event loop."""

    def __init__(self, settings: Settings):
        uri, options = _storage_uri(settings, asynchronous=True)
        storage = limits.storage.storage_from_string(uri, **options)
        self._limiter = async_strategies.MovingWindowRateLimiter(storage)
        self._quotas = _quotas(settings)

    async def hit(self, quota: str, key: str) -> None:
        """Counts one use of `quota` by `key`; RateLimited when it is used up."""
        for item in self._quotas[quota].items:
            if not await self._limiter.hit(item, quota, key):
                stats = await self._limiter.get_window_stats(item, quota, key)
                raise RateLimited(quota, _retry_after(stats.reset_time))


@functools.lru_cache(maxsize=1)
def get_limiter() -> Limiter:
    """The process-wide synchronous limiter over the settings' quotas."""
    return Limiter(get_settings())
