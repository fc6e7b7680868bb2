"""Result reuse at the backend-call seam: a call already answered is not paid for twice.

A call is identified by everything that decides its answer: backend, server,
model, the rendered messages, the output schema, the sampling parameters and
which samples it draws (`first_index` and `n`: sample 3 of an item is a
different draw from sample 0, so re-asking must not return the same text).
The guideline and prompt versions are inside the rendered messages, so an
edited version misses.

`sample_or_reuse` is the seam: it looks the call up first, and on a hit
returns a `Completion` with `cache_hit=True` and a usage of `cache_hits=1` and
nothing else (no provider call, no rate-limit grant, no tokens, no cost),
recorded in the spend ledger as a hit (`SpendMeter.record_hit`); on a miss it
is `Backend.sample` (metered, rate-limited, retried) and hands the answer to
the cache. Where the answers live (Redis, per team, with a TTL) is the store's
business: this module knows only the `CallCache` protocol.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Protocol

from llmlabel.backends.base import Backend
from llmlabel.domain import Completion, Message, Usage
from llmlabel.ratelimit import RateLimiter
from llmlabel.spend import SpendMeter

__all__ = ["CallCache", "call_digest", "sample_or_reuse", "served_from_cache"]


class CallCache(Protocol):
    """Answered calls by digest: `get` what was answered, `put` what was just answered."""

    async def get(self, digest: str) -> Completion | None:
        """The stored answer of this call, or None."""
        ...

    def put(self, digest: str, completion: Completion) -> None:
        """Remember a provider's answer to this call."""
        ...


def call_digest(
    backend: Backend,
    messages: Sequence[Message],
    schema: dict[str, Any],
    *,
    n: int,
    temperature: float,
    max_tokens: int,
    first_index: int,
) -> str:
    """The sha256 that names one provider call (see the module docstring for what is in it)."""
    profile = backend.profile
    identity = [
        backend.name,
        profile.base_url or "",
        backend.model,
        [[m.role, m.content] for m in messages],
        schema,
        temperature,
        max_tokens,
        first_index,
        n,
    ]
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def served_from_cache(stored: Completion) -> Completion:
    """A stored answer as a cache hit: same choices, free usage that counts one hit."""
    return Completion(
        choices=stored.choices, usage=Usage(cache_hits=1), model=stored.model, cache_hit=True
    )


async def sample_or_reuse(
    backend: Backend,
    messages: Sequence[Message],
    schema: dict[str, Any],
    *,
    n: int,
    temperature: float,
    max_tokens: int,
    first_index: int,
    cache: CallCache | None = None,
    meter: SpendMeter | None = None,
    limiter: RateLimiter | None = None,
) -> Completion:
    """`backend.sample`, unless this exact call was answered before (then a free hit)."""
    digest = None
    if cache is not None:
        digest = call_digest(
            backend,
            messages,
            schema,
            n=n,
            temperature=temperature,
            max_tokens=max_tokens,
            first_index=first_index,
        )
        stored = await cache.get(digest)
        if stored is not None:
            if meter is not None:
                await meter.record_hit(backend.model)
            return served_from_cache(stored)
    completion = await backend.sample(
        messages,
        schema,
        n=n,
        temperature=temperature,
        max_tokens=max_tokens,
        meter=meter,
        limiter=limiter,
    )
    if cache is not None and digest is not None:
        cache.put(digest, completion)
    return completion
