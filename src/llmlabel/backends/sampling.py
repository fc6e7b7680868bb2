"""How `Backend.sample` turns retried provider calls into exactly n priced choices."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from llmlabel.backends.base import Backend, BackendProfile, Pricing
from llmlabel.backends.pricing import list_price
from llmlabel.backends.retry import call_with_retry
from llmlabel.domain import Completion, Message, Usage
from llmlabel.errors import RetryableBackendError

__all__ = ["effective_pricing", "sample_completion"]


def effective_pricing(profile: BackendProfile) -> Pricing:
    """The profile's pricing, or the model's list price when the profile sets none."""
    configured = profile.pricing
    if configured.input_per_mtok or configured.output_per_mtok or configured.cached_input_per_mtok:
        return configured
    known = list_price(profile.model) if profile.backend != "local" else None
    if known is None:
        return configured
    return Pricing(
        input_per_mtok=known.input_per_mtok,
        output_per_mtok=known.output_per_mtok,
        cached_input_per_mtok=known.cached_input_per_mtok,
    )


async def sample_completion(
    backend: Backend,
    messages: Sequence[Message],
    schema: dict[str, Any],
    *,
    n: int,
    temperature: float,
    max_tokens: int,
) -> Completion:
    """Exactly n choices from `backend`, each provider call retried; usage carries the cost.

    With provider-side `n` one call is made, topped up with single calls when the
    server returns fewer choices (llama.cpp's server ignores `n`). Without it, n
    single calls run concurrently (the local backend serialises them itself).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")

    async def one_call(count: int) -> Completion:
        async def attempt() -> Completion:
            completion = await backend.complete(
                messages, schema, n=count, temperature=temperature, max_tokens=max_tokens
            )
            if not completion.choices:
                raise RetryableBackendError(f"{backend.name} returned no choices")
            return completion

        return await call_with_retry(
            attempt, max_retries=backend.profile.max_retries, policy=backend.retry_policy
        )

    if backend.supports_n:
        parts = [await one_call(n)]
        missing = n - len(parts[0].choices)
    else:
        parts, missing = [], n
    if missing > 0:
        parts.extend(await _gather_single_calls(one_call, missing))
    usage = sum((part.usage for part in parts), Usage())
    usage = usage.model_copy(update={"cost_usd": effective_pricing(backend.profile).cost(usage)})
    choices = [choice for part in parts for choice in part.choices][:n]
    return Completion(choices=choices, usage=usage, model=parts[0].model)


async def _gather_single_calls(
    one_call: Callable[[int], Coroutine[Any, Any, Completion]], count: int
) -> list[Completion]:
    """`count` single-choice calls at once; the first failure cancels the others."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one_call(1)) for _ in range(count)]
    except BaseExceptionGroup as failed:
        first = failed.exceptions[0]
    else:
        return [task.result() for task in tasks]
    # Callers catch BackendError, not exception groups: surface the first failure,
    # raised outside the handler so it keeps its own `__cause__` (the provider error).
    raise first
