"""How `Backend.sample` turns metered, retried provider calls into exactly n priced choices.

Every provider attempt (each retry too) goes through `_metered_attempt`: the rate
limiter grants one request and the expected tokens, the spend meter reserves the
worst-case cost against every cap, the call is made, then the meter settles what
really happened (failed and timed-out attempts included) and the limiter's
grant is corrected to the provider's own token counts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from llmlabel.backends.base import Backend, BackendProfile, Pricing
from llmlabel.backends.pricing import list_price
from llmlabel.backends.retry import call_with_retry
from llmlabel.domain import Completion, Message, Usage
from llmlabel.errors import BackendError, BudgetExceededError, RetryableBackendError
from llmlabel.ratelimit import RateLimiter
from llmlabel.spend import CallOutcome, CallQuote, SpendMeter

__all__ = ["effective_pricing", "expected_prompt_tokens", "quote_call", "sample_completion"]

_CHARS_PER_TOKEN = 4
# Bytes a chat message's framing (role, separators) may add, at most, as tokens.
_MAX_FRAMING_TOKENS = 8


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


def expected_prompt_tokens(
    backend: Backend | type[Backend], messages: Sequence[Message], schema: dict[str, Any]
) -> int:
    """The usual size of a request's prompt: ~4 characters a token, schema and framing included."""
    chars = sum(len(m.content) for m in messages) + len(json.dumps(schema))
    return chars // _CHARS_PER_TOKEN + backend.framing_tokens(len(messages))


def quote_call(
    backend: Backend,
    messages: Sequence[Message],
    schema: dict[str, Any],
    *,
    n: int,
    max_tokens: int,
    discount: float = 1.0,
) -> CallQuote:
    """Expected and worst-case size and cost of one provider attempt."""
    size = sum(len(m.content.encode("utf-8")) for m in messages)
    size += len(json.dumps(schema).encode("utf-8"))
    worst_prompt = size + _MAX_FRAMING_TOKENS * len(messages) + backend.fixed_overhead_tokens
    worst_completion = max_tokens * n
    worst = Usage(prompt_tokens=worst_prompt, completion_tokens=worst_completion)
    return CallQuote(
        model=backend.model,
        prompt_tokens=expected_prompt_tokens(backend, messages, schema),
        prompt_tokens_max=worst_prompt,
        completion_tokens_max=worst_completion,
        cost_usd_max=effective_pricing(backend.profile).cost(worst) * discount,
    )


async def _metered_attempt(
    backend: Backend,
    call: Callable[[], Coroutine[Any, Any, Completion]],
    quote: CallQuote,
    meter: SpendMeter | None,
    limiter: RateLimiter | None,
) -> Completion:
    """One provider attempt between a rate-limit grant, a reservation and their settling."""
    ticket = None
    if limiter is not None:
        ticket = await limiter.acquire(
            requests=1, tokens=quote.prompt_tokens + quote.completion_tokens_max
        )
    try:
        reservation = await meter.reserve(quote) if meter is not None else ""
    except BaseException:
        if limiter is not None:
            await asyncio.shield(limiter.correct(ticket, tokens=0, sent=False))
        raise
    # Until the call returns, the outcome is unknown (e.g. cancelled mid-flight).
    outcome = CallOutcome(usage=Usage(calls=1), cost_usd=0.0, failed=True, unknown=True)
    try:
        completion = await call()
        cost = effective_pricing(backend.profile).cost(completion.usage)
        outcome = CallOutcome(usage=completion.usage, cost_usd=cost)
        return completion
    except BackendError as exc:
        # A status code means the provider answered (and bills nothing for an error);
        # without one (timeout, connection lost) it may have done the work anyway.
        outcome = CallOutcome(
            usage=Usage(calls=1), cost_usd=0.0, failed=True, unknown=exc.status_code is None
        )
        raise
    finally:
        if meter is not None:
            await asyncio.shield(meter.settle(reservation, outcome))
        if limiter is not None:
            used = outcome.usage.prompt_tokens + outcome.usage.completion_tokens
            # An attempt with no answer keeps its whole grant: the provider may have counted it.
            tokens = quote.prompt_tokens + quote.completion_tokens_max if outcome.unknown else used
            await asyncio.shield(limiter.correct(ticket, tokens=tokens))


async def sample_completion(
    backend: Backend,
    messages: Sequence[Message],
    schema: dict[str, Any],
    *,
    n: int,
    temperature: float,
    max_tokens: int,
    meter: SpendMeter | None = None,
    limiter: RateLimiter | None = None,
) -> Completion:
    """Exactly n choices from `backend`, each provider call metered and retried.

    With provider-side `n` one call is made, topped up with single calls when the
    server returns fewer choices (llama.cpp's server ignores `n`). Without it, n
    single calls run concurrently (the local backend serialises them itself).
    When a budget refuses a call, BudgetExceededError carries the choices already
    drawn as `partial` (a Completion), so none of them is lost.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")

    async def one_call(count: int) -> Completion:
        quote = quote_call(backend, messages, schema, n=count, max_tokens=max_tokens)

        async def provider_call() -> Completion:
            return await backend.complete(
                messages, schema, n=count, temperature=temperature, max_tokens=max_tokens
            )

        async def attempt() -> Completion:
            completion = await _metered_attempt(backend, provider_call, quote, meter, limiter)
            if not completion.choices:
                raise RetryableBackendError(f"{backend.name} returned no choices")
            return completion

        return await call_with_retry(
            attempt, max_retries=backend.profile.max_retries, policy=backend.retry_policy
        )

    parts: list[Completion] = []
    try:
        if backend.supports_n:
            parts.append(await one_call(n))
            missing = n - len(parts[0].choices)
        else:
            missing = n
        if missing > 0:
            parts.extend(await _gather_single_calls(one_call, missing))
    except BudgetExceededError as exc:
        drawn = list(parts) + (list(exc.partial) if isinstance(exc.partial, list) else [])
        exc.partial = _combine(backend, drawn, n) if drawn else None
        raise
    return _combine(backend, parts, n)


def _combine(backend: Backend, parts: list[Completion], n: int) -> Completion:
    """The choices of several calls as one completion, usage summed and priced."""
    usage = sum((part.usage for part in parts), Usage())
    usage = usage.model_copy(update={"cost_usd": effective_pricing(backend.profile).cost(usage)})
    model = backend.model
    choices = [choice for part in parts for choice in part.choices][:n]
    return Completion(choices=choices, usage=usage, model=parts[0].model if parts else model)


async def _gather_single_calls(
    one_call: Callable[[int], Coroutine[Any, Any, Completion]], count: int
) -> list[Completion]:
    """`count` single-choice calls at once; the first failure cancels the others.

    A budget refusal cancels nothing: the calls already reserved finish, and the
    refusal is raised with their completions as `partial` (a list).
    """
    refused: list[BudgetExceededError] = []

    async def guarded() -> Completion | None:
        try:
            return await one_call(1)
        except BudgetExceededError as exc:
            refused.append(exc)
            return None

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(guarded()) for _ in range(count)]
    except BaseExceptionGroup as failed:
        first = failed.exceptions[0]
    else:
        done = [c for c in (task.result() for task in tasks) if c is not None]
        if refused:
            refused[0].partial = done
            raise refused[0]
        return done
    # Callers catch BackendError, not exception groups: surface the first failure,
    # raised outside the handler so it keeps its own `__cause__` (the provider error).
    raise first
