"""One holder at a time among gateway replicas (Telegram's poller), taken over when the holder stops renewing.

A lease is a Redis key holding its owner's id with an expiry; the holder renews it
well before it runs out. A replica killed with SIGKILL renews no more, and another
takes the lease once it has expired; one that stops in order hands it over at once.
"""

from __future__ import annotations

import time
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

# Renews only a lease still ours; takes a free one (the key was lost, e.g. Redis restarted without its data).
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """A named lease in Redis; `hold()` takes or renews it and says whether this replica holds it now."""

    def __init__(self, redis_url: str, name: str, seconds: float = 15.0) -> None:
        self.key = f"bianmin:lease:{name}"
        self.owner = uuid.uuid4().hex
        self.seconds = seconds
        self._redis = aioredis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self._held_until = 0.0  # by our own clock: how long our last renewal holds even if Redis is away

    async def hold(self) -> bool:
        """Takes or renews the lease; while Redis is away, a holder keeps it until its last renewal runs out."""
        try:
            held = bool(await self._redis.eval(_RENEW, 1, self.key, self.owner, int(self.seconds * 1000)))
        except (RedisError, OSError):
            return time.monotonic() < self._held_until
        # A little short of the expiry Redis keeps, so this replica stops before another may start.
        self._held_until = time.monotonic() + self.seconds * 0.8 if held else 0.0
        return held

    async def release(self) -> None:
        """Hands the lease over at once (a replica stopping in order)."""
        self._held_until = 0.0
        try:
            await self._redis.eval(_RELEASE, 1, self.key, self.owner)
        except (RedisError, OSError):
            pass  # it expires by itself

    async def close(self) -> None:
        """Closes the connection."""
        await self._redis.aclose()
