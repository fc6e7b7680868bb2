"""The rate limit shared by every worker: a 60 s sliding log of requests and tokens in Redis.

One log per backend, server and model, so every worker process talking to the
same provider account draws from the same budget. Each grant is one log entry
(a ticket) holding its token count, so a grant can be corrected to the tokens
the provider really counted, or removed when the request was never sent (the
`limits` moving window it replaces could do neither). The clock is Redis's own
(TIME), so workers on hosts with skewed clocks still share one window. Built per
event loop: the async Redis client belongs to the loop that made it.
"""

from __future__ import annotations

import asyncio
import random
import secrets

import redis.asyncio as aredis
from redis.exceptions import RedisError

from llmlabel.backends.base import BackendProfile
from llmlabel.errors import StoreError
from llmlabel.ratelimit import NullRateLimiter, RateLimiter
from llmlabel.store import keys

__all__ = ["RedisRateLimiter", "build_rate_limiter"]

# Never sleep longer than this between tries: the window may free up earlier
# when other workers' grants are corrected or age out.
_MAX_WAIT_S = 2.0
_WINDOW_S = 60

_ACQUIRE = """
-- KEYS: log (zset ticket -> time), tokens (hash ticket -> tokens), sum (string)
-- ARGV: ticket, rpm (0 = none), tpm (0 = none), tokens. Returns 0 (granted) or seconds to wait.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local cutoff = now - 60
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff)) do
  redis.call('DECRBY', KEYS[3], tonumber(redis.call('HGET', KEYS[2], old) or 0))
  redis.call('HDEL', KEYS[2], old)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
local rpm, tpm, tokens = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local n = redis.call('ZCARD', KEYS[1])
local used = tonumber(redis.call('GET', KEYS[3]) or 0)
-- A request larger than the whole token limit still goes once the window is empty.
if (rpm > 0 and n + 1 > rpm) or (tpm > 0 and n > 0 and used + tokens > tpm) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(math.max(0.01, tonumber(first[2]) + 60 - now))
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], tokens)
redis.call('INCRBY', KEYS[3], tokens)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], 120) end
return '0'
"""

_CORRECT = """
-- KEYS: log, tokens, sum. ARGV: ticket, tokens, sent ('1' or '0')
local held = redis.call('HGET', KEYS[2], ARGV[1])
if not held then return 0 end
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('INCRBY', KEYS[3], tonumber(ARGV[2]) - tonumber(held))
else
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('DECRBY', KEYS[3], tonumber(held))
end
return 1
"""


class RedisRateLimiter:
    """Waits until a request (and its tokens) fit in the shared per-minute windows."""

    def __init__(self, redis_url: str, profile: BackendProfile) -> None:
        self._redis = aredis.Redis.from_url(redis_url, decode_responses=True)
        scope = (profile.backend, profile.base_url or "", profile.model)
        self._keys = [keys.ratelimit(*scope, part) for part in ("log", "tokens", "sum")]
        self._rpm = profile.requests_per_minute
        self._tpm = profile.tokens_per_minute
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._correct = self._redis.register_script(_CORRECT)

    async def acquire(self, *, requests: int = 1, tokens: int = 0) -> str | None:
        """Return once one request and `tokens` tokens fit; waits (never fails) otherwise."""
        ticket = secrets.token_hex(8)
        rpm = self._rpm if requests > 0 else 0
        while True:
            try:
                wait = float(await self._acquire(keys=self._keys, args=[ticket, rpm, self._tpm, tokens]))
            except RedisError as exc:
                raise StoreError(f"rate limiter storage failed: {exc}") from exc
            if wait <= 0:
                return ticket
            # Jitter so workers that wait for the same slot do not wake together.
            await asyncio.sleep(min(wait, _MAX_WAIT_S) * random.uniform(0.5, 1.0))

    async def correct(self, ticket: str | None, *, tokens: int, sent: bool = True) -> None:
        """Set the grant's tokens to the actual count, or drop it if the request never went."""
        if ticket is None:
            return
        try:
            await self._correct(keys=self._keys, args=[ticket, max(0, tokens), "1" if sent else "0"])
        except RedisError as exc:
            raise StoreError(f"rate limiter storage failed: {exc}") from exc

    async def aclose(self) -> None:
        """Close the async Redis connections (before the event loop ends)."""
        await self._redis.aclose()


def build_rate_limiter(redis_url: str | None, profile: BackendProfile) -> RateLimiter:
    """A shared Redis limiter when the profile sets limits, else one that never waits."""
    if redis_url and (profile.requests_per_minute or profile.tokens_per_minute):
        return RedisRateLimiter(redis_url, profile)
    return NullRateLimiter()
