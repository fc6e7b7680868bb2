"""The rate-limiter seam the labeling core calls before each provider request.

The core only knows this protocol; the Redis-backed implementation shared by all
workers lives in `llmlabel.store.ratelimit` (the store is the only Redis code).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["NullRateLimiter", "RateLimiter"]


@runtime_checkable
class RateLimiter(Protocol):
    """Waits until `requests` calls and `tokens` tokens fit in the shared limits."""

    async def acquire(self, *, requests: int = 1, tokens: int = 0) -> None:
        """Return once the caller may spend `requests` calls and `tokens` tokens."""
        ...


class NullRateLimiter:
    """A limiter that never waits (no limits configured, or tests)."""

    async def acquire(self, *, requests: int = 1, tokens: int = 0) -> None:
        """Return at once."""
        return
