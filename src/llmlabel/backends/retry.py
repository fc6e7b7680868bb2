"""The one retry layer for provider calls: tenacity, exponential backoff, full jitter.

Backends never retry by themselves (the SDKs are built with `max_retries=0`);
`Backend.sample` wraps every provider round trip in `call_with_retry`. Only
`RetryableBackendError` (429, 5xx, timeouts, connection errors) is retried;
a `PermanentBackendError` goes straight through.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception_type,
    stop_after_attempt,
)

from llmlabel.errors import RateLimitedError, RetriesExhaustedError, RetryableBackendError

__all__ = ["RetryPolicy", "backoff_delay", "call_with_retry"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait between attempts; tests inject `sleep` and `rand` to stay instant.

    Full jitter (a uniform draw in [0, min(cap, base * 2**k)]) rather than equal
    jitter: many workers that hit the same 429 at once then spread out instead of
    coming back in lockstep (AWS "Exponential Backoff And Jitter").
    """

    base_s: float = 0.5
    cap_s: float = 30.0
    sleep: Sleep = field(default=asyncio.sleep)
    rand: Callable[[], float] = field(default=random.random)


def backoff_delay(policy: RetryPolicy, failures: int, error: BaseException | None) -> float:
    """Seconds to wait after the `failures`-th failed attempt (1-based).

    A provider's Retry-After is a floor, not a suggestion: waiting less only earns
    another 429 and burns the retry budget.
    """
    ceiling = min(policy.cap_s, policy.base_s * 2.0 ** max(0, failures - 1))
    delay: float = ceiling * policy.rand()
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        delay = max(delay, error.retry_after)
    return delay


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return backoff_delay(policy, state.attempt_number, error)

    return wait


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    logger.warning(
        "backend.retry",
        extra={"attempt": state.attempt_number, "wait_s": round(wait, 3), "error": str(error)},
    )


async def call_with_retry(
    call: Callable[[], Awaitable[T]],
    *,
    max_retries: int,
    policy: RetryPolicy | None = None,
) -> T:
    """Await `call()`, retrying transient backend errors at most `max_retries` times.

    Raises:
        PermanentBackendError: at once, from the first attempt that raised it.
        RetriesExhaustedError: after `max_retries + 1` transient failures, chained
            (`from`) to the last one.
    """
    policy = policy or RetryPolicy()
    retrying = AsyncRetrying(
        stop=stop_after_attempt(max_retries + 1),
        wait=_wait(policy),
        retry=retry_if_exception_type(RetryableBackendError),
        sleep=policy.sleep,
        before_sleep=_log_retry,
    )
    try:
        return await retrying(call)
    except RetryError as exc:
        attempts = exc.last_attempt.attempt_number
        last = exc.last_attempt.exception()
        raise RetriesExhaustedError(
            f"provider kept failing: {last} after {attempts} attempts",
            attempts=attempts,
            last_error=last,
        ) from last
