"""The rate-limiter seam the backend layer calls around each provider request.

The core only knows this protocol; the Redis-backed implementation shared by all
workers lives in `llmlabel.store.ratelimit` (the store is the only Redis code).
Every request the provider sees (each retry too) acquires one request and its
expected tokens (prompt estimate + max_tokens x n); once the answer is in, the
token count is corrected to what the provider reported, or the grant is given
back whole when the request was never sent.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["NullRateLimiter", "RateLimiter"]


@runtime_checkable
class RateLimiter(Protocol):
    """Waits until `requests` calls and `tokens` tokens fit in the shared limits."""

    async def acquire(self, *, requests: int = 1, tokens: int = 0) -> str | None:
        """Return once the caller may spend them; a ticket for `correct` (None: nothing held)."""
        ...

    async def correct(self, ticket: str | None, *, tokens: int, sent: bool = True) -> None:
        """Replace the ticket's reserved tokens by the actual ones; `sent=False` gives it all back."""
        ...


class NullRateLimiter:
    """A limiter that never waits (no limits configured, or tests)."""

    async def acquire(self, *, requests: int = 1, tokens: int = 0) -> str | None:
        """Return at once."""
        return None

    async def correct(self, ticket: str | None, *, tokens: int, sent: bool = True) -> None:
        """Nothing to correct."""
        return
