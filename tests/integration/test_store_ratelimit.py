"""The shared rate limiter (a sliding log in Redis) against a real Redis."""

from __future__ import annotations

import asyncio
import time

import pytest

from llmlabel.backends.base import BackendProfile
from llmlabel.ratelimit import NullRateLimiter, RateLimiter
from llmlabel.store.ratelimit import RedisRateLimiter, build_rate_limiter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def profile(rpm: int = 0, tpm: int = 0, model: str = "m") -> BackendProfile:
    return BackendProfile(
        backend="openai", model=model, requests_per_minute=rpm, tokens_per_minute=tpm
    )


async def blocks(limiter: RedisRateLimiter, **cost: int) -> bool:
    """True when acquiring `cost` does not finish within half a second."""
    try:
        await asyncio.wait_for(limiter.acquire(**cost), timeout=0.5)
    except TimeoutError:
        return True
    return False


async def test_request_limit_is_shared_by_limiters(redis_url: str) -> None:
    first, second = (
        RedisRateLimiter(redis_url, profile(rpm=5)),
        RedisRateLimiter(redis_url, profile(rpm=5)),
    )
    assert isinstance(first, RateLimiter)
    started = time.monotonic()
    for limiter in (first, second, first, second, first):
        await limiter.acquire()
    assert time.monotonic() - started < 1.0
    # Five calls went through two processes' worth of limiters: the window is full for both.
    assert await blocks(second)
    assert await blocks(first)
    other_model = RedisRateLimiter(redis_url, profile(rpm=5, model="other"))
    assert not await blocks(other_model)
    for limiter in (first, second, other_model):
        await limiter.aclose()


async def test_token_limit_counts_tokens(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_url, profile(tpm=1000))
    await limiter.acquire(requests=1, tokens=600)
    await limiter.acquire(requests=1, tokens=300)
    assert await blocks(limiter, tokens=200)
    assert not await blocks(limiter, tokens=0)
    await limiter.aclose()


async def test_large_token_limits_are_counted_in_blocks(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_url, profile(tpm=2_000_000))
    await limiter.acquire(tokens=1_500_000)
    assert await blocks(limiter, tokens=600_000)
    assert not await blocks(limiter, tokens=400_000)
    await limiter.aclose()


def test_no_limits_means_no_waiting(redis_url: str) -> None:
    assert isinstance(build_rate_limiter(redis_url, profile()), NullRateLimiter)
    assert isinstance(build_rate_limiter(None, profile(rpm=10)), NullRateLimiter)
    assert isinstance(build_rate_limiter(redis_url, profile(tpm=10)), RedisRateLimiter)


async def test_a_grant_is_corrected_to_the_tokens_really_used(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_url, profile(tpm=1000))
    ticket = await limiter.acquire(tokens=900)  # prompt estimate + max_tokens
    assert await blocks(limiter, tokens=200)
    await limiter.correct(ticket, tokens=300)  # the provider counted 300
    assert not await blocks(limiter, tokens=200)
    unsent = await limiter.acquire(tokens=400)
    await limiter.correct(unsent, tokens=0, sent=False)  # refused by a budget: never sent
    assert not await blocks(limiter, tokens=400)
    await limiter.aclose()
