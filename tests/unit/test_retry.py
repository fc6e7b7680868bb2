"""The single retry layer and Backend.sample: backoff, Retry-After, budgets, n handling."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from llmlabel.backends.base import Backend, BackendProfile, Pricing
from llmlabel.backends.retry import RetryPolicy, backoff_delay, call_with_retry
from llmlabel.backends.sampling import effective_pricing
from llmlabel.domain import Choice, Completion, Message, Usage
from llmlabel.errors import (
    PermanentBackendError,
    RateLimitedError,
    RetriesExhaustedError,
    RetryableBackendError,
)


class RecordingSleep:
    """An injected sleep that returns at once and remembers every requested wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def policy(sleep: RecordingSleep, rand: float = 0.5) -> RetryPolicy:
    return RetryPolicy(base_s=0.5, cap_s=30.0, sleep=sleep, rand=lambda: rand)


class Script:
    """A call that raises or returns the queued outcomes in order, counting calls."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.mark.parametrize(
    ("failures", "rand", "expected"),
    [(1, 1.0, 0.5), (2, 1.0, 1.0), (4, 1.0, 4.0), (10, 1.0, 30.0), (3, 0.0, 0.0), (3, 0.5, 1.0)],
)
def test_backoff_is_exponential_with_full_jitter_and_a_cap(
    failures: int, rand: float, expected: float
) -> None:
    p = RetryPolicy(base_s=0.5, cap_s=30.0, rand=lambda: rand)
    assert backoff_delay(p, failures, RetryableBackendError("503")) == pytest.approx(expected)


def test_retry_after_is_a_floor_for_the_wait() -> None:
    p = RetryPolicy(base_s=0.5, cap_s=30.0, rand=lambda: 0.0)
    assert backoff_delay(p, 1, RateLimitedError("429", retry_after=7.5)) == 7.5
    # A long backoff is not shortened by a small Retry-After.
    p_max = RetryPolicy(base_s=0.5, cap_s=30.0, rand=lambda: 1.0)
    assert backoff_delay(p_max, 6, RateLimitedError("429", retry_after=1.0)) == 16.0


async def test_rate_limit_then_success_waits_at_least_retry_after() -> None:
    sleep = RecordingSleep()
    call = Script(RateLimitedError("429 slow down", retry_after=3.0), "ok")
    assert await call_with_retry(call, max_retries=6, policy=policy(sleep)) == "ok"
    assert call.calls == 2
    assert len(sleep.waits) == 1 and sleep.waits[0] >= 3.0


async def test_storm_exhausts_the_budget_with_a_clear_message() -> None:
    sleep = RecordingSleep()
    last = RetryableBackendError("503 from openai: overloaded", status_code=503)
    call = Script(last)
    with pytest.raises(RetriesExhaustedError) as info:
        await call_with_retry(call, max_retries=6, policy=policy(sleep))
    assert call.calls == 7
    assert info.value.attempts == 7
    assert info.value.last_error is last and info.value.__cause__ is last
    assert str(info.value) == "provider kept failing: 503 from openai: overloaded after 7 attempts"
    assert len(sleep.waits) == 6


async def test_permanent_error_is_not_retried() -> None:
    sleep = RecordingSleep()
    call = Script(PermanentBackendError("400 from openai: bad schema", status_code=400))
    with pytest.raises(PermanentBackendError):
        await call_with_retry(call, max_retries=6, policy=policy(sleep))
    assert call.calls == 1 and sleep.waits == []


async def test_zero_retries_means_one_attempt() -> None:
    call = Script(RetryableBackendError("timeout"))
    with pytest.raises(RetriesExhaustedError) as info:
        await call_with_retry(call, max_retries=0, policy=policy(RecordingSleep()))
    assert call.calls == 1 and info.value.attempts == 1


class ScriptedBackend(Backend):
    """A backend whose `complete` replays queued outcomes and records each call's n."""

    def __init__(
        self, profile: BackendProfile, outcomes: list[Any], choices_per_call: int | None = None
    ):
        super().__init__(profile)
        self.outcomes = outcomes
        self.calls: list[int] = []
        self.choices_per_call = choices_per_call

    async def complete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any],
        *,
        n: int,
        temperature: float,
        max_tokens: int,
    ) -> Completion:
        self.calls.append(n)
        index = len(self.calls) - 1
        outcome = self.outcomes[index] if index < len(self.outcomes) else self.outcomes[-1]
        if isinstance(outcome, BaseException):
            raise outcome
        count = self.choices_per_call or n
        return Completion(
            choices=[Choice(text=f"{outcome}-{i}") for i in range(count)],
            usage=Usage(calls=1, prompt_tokens=1000, completion_tokens=100 * count),
            model=self.profile.model,
        )


MESSAGES = [Message(role="user", content="label me")]


def make(
    outcomes: list[Any],
    *,
    supports_n: bool | None,
    pricing: Pricing | None = None,
    model: str = "test-model",
    choices_per_call: int | None = None,
) -> ScriptedBackend:
    profile = BackendProfile(
        backend="openai",
        model=model,
        supports_n=supports_n,
        max_retries=2,
        pricing=pricing or Pricing(),
    )
    backend = ScriptedBackend(profile, outcomes, choices_per_call)
    backend.retry_policy = policy(RecordingSleep())
    return backend


async def test_sample_without_provider_n_merges_single_calls_and_prices_usage() -> None:
    backend = make(
        ["a"], supports_n=False, pricing=Pricing(input_per_mtok=1.0, output_per_mtok=10.0)
    )
    completion = await backend.sample(MESSAGES, {}, n=3, temperature=1.0, max_tokens=50)
    assert backend.calls == [1, 1, 1]
    assert len(completion.choices) == 3
    assert completion.usage.calls == 3
    assert completion.usage.prompt_tokens == 3000 and completion.usage.completion_tokens == 300
    assert completion.usage.cost_usd == pytest.approx((3000 * 1.0 + 300 * 10.0) / 1e6)


async def test_sample_with_provider_n_makes_one_call() -> None:
    backend = make(["a"], supports_n=True)
    completion = await backend.sample(MESSAGES, {}, n=4, temperature=1.0, max_tokens=50)
    assert backend.calls == [4]
    assert [c.text for c in completion.choices] == ["a-0", "a-1", "a-2", "a-3"]


async def test_sample_tops_up_when_the_server_ignores_n() -> None:
    backend = make(["a"], supports_n=True, choices_per_call=1)
    completion = await backend.sample(MESSAGES, {}, n=3, temperature=1.0, max_tokens=50)
    assert backend.calls == [3, 1, 1]
    assert len(completion.choices) == 3 and completion.usage.calls == 3


async def test_sample_retries_each_call() -> None:
    backend = make([RetryableBackendError("503"), "a"], supports_n=True)
    completion = await backend.sample(MESSAGES, {}, n=2, temperature=1.0, max_tokens=50)
    assert backend.calls == [2, 2]
    assert len(completion.choices) == 2
    assert completion.usage.calls == 1  # only the successful call is billed


async def test_sample_surfaces_the_backend_error_not_a_group() -> None:
    backend = make(
        [PermanentBackendError("401 from openai: bad key", status_code=401)], supports_n=False
    )
    with pytest.raises(PermanentBackendError, match="bad key"):
        await backend.sample(MESSAGES, {}, n=3, temperature=1.0, max_tokens=50)


async def test_a_failed_single_call_cancels_the_others() -> None:
    started: list[int] = []
    cancelled: list[int] = []

    class SlowThenFail(ScriptedBackend):
        async def complete(
            self,
            messages: Sequence[Message],
            schema: dict[str, Any],
            *,
            n: int,
            temperature: float,
            max_tokens: int,
        ) -> Completion:
            index = len(started)
            started.append(index)
            if index == 0:
                raise PermanentBackendError("400 from openai: nope", status_code=400)
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.append(index)
                raise
            raise AssertionError("not cancelled")

    backend = SlowThenFail(BackendProfile(backend="openai", supports_n=False), ["x"])
    with pytest.raises(PermanentBackendError):
        await backend.sample(MESSAGES, {}, n=3, temperature=1.0, max_tokens=50)
    assert sorted(cancelled) == [1, 2]


def test_list_price_is_used_only_when_the_profile_has_none() -> None:
    known = effective_pricing(BackendProfile(backend="openai", model="gpt-4o-mini-2024-07-18"))
    assert (known.input_per_mtok, known.output_per_mtok) == (0.15, 0.60)
    # gpt-4o-mini must not be billed as gpt-4o (longest prefix wins).
    assert effective_pricing(BackendProfile(backend="openai", model="gpt-4o")).input_per_mtok == 2.5
    custom = Pricing(input_per_mtok=9.0)
    assert (
        effective_pricing(BackendProfile(backend="openai", model="gpt-4o", pricing=custom))
        == custom
    )
    assert effective_pricing(BackendProfile(backend="openai", model="my-finetune")) == Pricing()
    assert effective_pricing(BackendProfile(backend="local", model="gpt-4o")) == Pricing()
