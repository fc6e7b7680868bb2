"""The rate limit shared by every worker: `limits` moving windows in Redis.

One window for requests per minute and one for tokens per minute, keyed by the
backend and model, so every worker process talking to the same provider
account draws from the same budget. Built inside each job: the async Redis
client belongs to the job's event loop (RQ runs every async job in a fresh loop).
"""

from __future__ import annotations

import asyncio
import random
import time

from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from llmlabel.backends.base import BackendProfile
from llmlabel.errors import StoreError
from llmlabel.ratelimit import NullRateLimiter, RateLimiter

__all__ = ["RedisRateLimiter", "build_rate_limiter", "limits_uri"]

# The moving window stores one list entry per unit of cost, so tokens are
# counted in blocks that keep a window at about this many entries at most.
_MAX_WINDOW_ENTRIES = 10_000
# Never sleep longer than this between tries: the window may free up earlier
# when other workers' entries age out.
_MAX_WAIT_S = 2.0


def limits_uri(redis_url: str) -> str:
    """The `limits` async storage URI for a redis-py URL (tcp or unix socket)."""
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


class RedisRateLimiter:
    """Waits until a request (and its tokens) fit in the shared per-minute windows."""

    def __init__(self, redis_url: str, profile: BackendProfile) -> None:
        self._storage = RedisStorage(
            limits_uri(redis_url), implementation="redispy", key_prefix="ll:ratelimit"
        )
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._scope = (profile.backend, profile.base_url or "", profile.model)
        self._requests = (
            RateLimitItemPerMinute(profile.requests_per_minute)
            if profile.requests_per_minute
            else None
        )
        self._token_unit = max(1, -(-profile.tokens_per_minute // _MAX_WINDOW_ENTRIES))
        self._tokens = (
            RateLimitItemPerMinute(max(1, profile.tokens_per_minute // self._token_unit))
            if profile.tokens_per_minute
            else None
        )

    async def acquire(self, *, requests: int = 1, tokens: int = 0) -> None:
        """Return once `requests` calls and `tokens` tokens fit; waits (never fails) otherwise."""
        if self._requests is not None and requests > 0:
            await self._take(self._requests, "requests", min(requests, self._requests.amount))
        if self._tokens is not None and tokens > 0:
            units = min(-(-tokens // self._token_unit), self._tokens.amount)
            await self._take(self._tokens, "tokens", units)

    async def _take(self, item: RateLimitItemPerMinute, kind: str, cost: int) -> None:
        while True:
            try:
                if await self._limiter.hit(item, kind, *self._scope, cost=cost):
                    return
                stats = await self._limiter.get_window_stats(item, kind, *self._scope)
            except (StorageError, RedisError) as exc:
                raise StoreError(f"rate limiter storage failed: {exc}") from exc
            wait = min(max(stats.reset_time - time.time(), 0.01), _MAX_WAIT_S)
            # Jitter so workers that wait for the same slot do not wake together.
            await asyncio.sleep(wait * random.uniform(0.5, 1.0))

    async def aclose(self) -> None:
        """Close the async Redis connections (before the job's event loop ends)."""
        client = getattr(self._storage.bridge, "storage", None)
        if client is not None:
            await client.aclose()


def build_rate_limiter(redis_url: str | None, profile: BackendProfile) -> RateLimiter:
    """A shared Redis limiter when the profile sets limits, else one that never waits."""
    if redis_url and (profile.requests_per_minute or profile.tokens_per_minute):
        return RedisRateLimiter(redis_url, profile)
    return NullRateLimiter()
