"""Every provider attempt is rate-limited, reserved and settled once (backends/sampling.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmlabel.backends.base import Pricing
from llmlabel.backends.sampling import quote_call
from llmlabel.domain import Usage
from llmlabel.errors import (
    BudgetExceededError,
    RateLimitedError,
    RetriesExhaustedError,
    RetryableBackendError,
)
from llmlabel.guidelines import VersionRegistry
from llmlabel.labeler import Labeler
from llmlabel.spend import CallOutcome, CallQuote
from llmlabel.tasks import build_task
from tests.unit.test_retry import MESSAGES, make

PRICED = Pricing(input_per_mtok=1.0, output_per_mtok=10.0)


class RecordingMeter:
    """Refuses reservations past `allow`; records every reserve and settle."""

    def __init__(self, allow: int = 1000) -> None:
        self.allow = allow
        self.reserved: list[CallQuote] = []
        self.settled: list[tuple[str, CallOutcome]] = []
        self.hits = 0

    async def reserve(self, quote: CallQuote) -> str:
        if len(self.reserved) >= self.allow:
            raise BudgetExceededError("cap", scope="batch")
        self.reserved.append(quote)
        return f"r{len(self.reserved)}"

    async def settle(self, reservation: str, outcome: CallOutcome) -> None:
        self.settled.append((reservation, outcome))

    async def record_hit(self, model: str) -> None:
        self.hits += 1


class RecordingLimiter:
    def __init__(self) -> None:
        self.acquired: list[tuple[int, int]] = []
        self.corrected: list[tuple[str | None, int, bool]] = []

    async def acquire(self, *, requests: int = 1, tokens: int = 0) -> str | None:
        self.acquired.append((requests, tokens))
        return f"t{len(self.acquired)}"

    async def correct(self, ticket: str | None, *, tokens: int, sent: bool = True) -> None:
        self.corrected.append((ticket, tokens, sent))


async def test_each_retry_is_reserved_settled_and_rate_limited() -> None:
    outcomes = [
        RetryableBackendError("500", status_code=500),
        RetryableBackendError("timed out"),
        RateLimitedError("429"),
        "ok",
    ]
    backend = make(outcomes, supports_n=True, pricing=PRICED)
    backend.profile.max_retries = 3
    meter, limiter = RecordingMeter(), RecordingLimiter()
    completion = await backend.sample(
        MESSAGES, {}, n=2, temperature=1.0, max_tokens=50, meter=meter, limiter=limiter
    )
    assert backend.calls == [2, 2, 2, 2]
    assert len(meter.reserved) == len(meter.settled) == len(limiter.acquired) == 4
    flags = [(o.failed, o.unknown) for _, o in meter.settled]
    assert flags == [(True, False), (True, True), (True, False), (False, False)]
    last = meter.settled[-1][1]
    assert last.usage.prompt_tokens == 1000 and last.cost_usd == pytest.approx(3000 / 1e6)
    quote = meter.reserved[0]
    assert quote.completion_tokens_max == 100 and quote.prompt_tokens_max >= len("label me")
    assert limiter.acquired[0] == (1, quote.prompt_tokens + 100)
    # 5xx and 429: nothing used; a timeout keeps its whole grant; success: the real tokens.
    grant = quote.prompt_tokens + 100
    assert [c[1] for c in limiter.corrected] == [0, grant, 0, 1200]
    assert completion.usage.calls == 1


async def test_exhausted_retries_are_all_counted() -> None:
    backend = make([RetryableBackendError("503", status_code=503)], supports_n=True)
    meter = RecordingMeter()
    with pytest.raises(RetriesExhaustedError):
        await backend.sample(MESSAGES, {}, n=1, temperature=1.0, max_tokens=10, meter=meter)
    assert len(meter.settled) == 3 and all(o.failed for _, o in meter.settled)


async def test_a_refusal_keeps_the_single_calls_already_reserved() -> None:
    backend = make(["a"], supports_n=False, pricing=PRICED)
    meter = RecordingMeter(allow=2)
    limiter = RecordingLimiter()
    with pytest.raises(BudgetExceededError) as refused:
        await backend.sample(
            MESSAGES, {}, n=3, temperature=1.0, max_tokens=50, meter=meter, limiter=limiter
        )
    partial = refused.value.partial
    assert len(partial.choices) == 2 and partial.usage.calls == 2
    assert len(meter.settled) == 2
    # The refused attempt gives its rate-limit grant back: it was never sent.
    assert [c[2] for c in limiter.corrected].count(False) == 1


def test_worst_case_quote_bounds_the_expected_one() -> None:
    backend = make(["a"], supports_n=True, pricing=PRICED)
    schema = {"type": "object", "properties": {"label": {"enum": ["é", "ü"]}}}
    quote = quote_call(backend, MESSAGES, schema, n=3, max_tokens=40)
    assert quote.prompt_tokens < quote.prompt_tokens_max
    assert quote.completion_tokens_max == 120
    worst = PRICED.cost(Usage(prompt_tokens=quote.prompt_tokens_max, completion_tokens=120))
    assert quote.cost_usd_max == pytest.approx(worst)


def answers(*labels: str) -> list[str]:
    return [json.dumps({"label": label, "confidence": 0.9}) for label in labels]


def labeler_for(repo_root: Path, backend: Any, fixed_k: int | None = None) -> Labeler:
    registry = VersionRegistry(repo_root)
    task = build_task(registry.guideline("classification", "v1"))
    return Labeler(
        task=task, prompt=registry.prompt("classification", "v1"), backend=backend, fixed_k=fixed_k
    )


async def test_labeling_resumes_exactly_where_a_budget_stopped_it(repo_root: Path) -> None:
    backend = make(["x"], supports_n=False, pricing=PRICED)
    texts = iter(answers("positive", "negative", "neutral", "positive", "positive"))

    async def complete(messages: Any, schema: Any, *, n: int, temperature: float,
                       max_tokens: int) -> Any:
        from llmlabel.domain import Choice, Completion

        backend.calls.append(n)
        return Completion(choices=[Choice(text=next(texts))], model="m",
                          usage=Usage(calls=1, prompt_tokens=100, completion_tokens=10))

    backend.complete = complete  # type: ignore[method-assign]
    labeler = labeler_for(repo_root, backend)
    with pytest.raises(BudgetExceededError) as refused:
        await labeler.label("a", {"id": "a", "text": "meh"}, meter=RecordingMeter(allow=4))
    partial = refused.value.partial
    # Round one (3 samples) disagreed; of round two's 2 calls one fit the cap.
    assert sorted(s.index for s in partial.samples) == [0, 1, 2, 3]
    assert partial.round_end == 5 and partial.usage.calls == 4
    meter = RecordingMeter()
    record = await labeler.label("a", {"id": "a", "text": "meh"}, meter=meter, resume=partial)
    assert [s.index for s in record.samples] == [0, 1, 2, 3, 4]
    assert len(meter.reserved) == 1  # only the missing sample was drawn
    assert record.usage.calls == 5 and record.usage.prompt_tokens == 500


async def test_fixed_k_replay_bills_the_prompt_once_per_call(repo_root: Path) -> None:
    backend = make(["x"], supports_n=True, pricing=PRICED)

    async def complete(messages: Any, schema: Any, *, n: int, temperature: float,
                       max_tokens: int) -> Any:
        from llmlabel.domain import Choice, Completion

        text = answers("positive")[0]
        return Completion(choices=[Choice(text=text) for _ in range(n)], model="m",
                          usage=Usage(calls=1, prompt_tokens=1000, completion_tokens=10 * n))

    backend.complete = complete  # type: ignore[method-assign]
    labeler = labeler_for(repo_root, backend, fixed_k=5)
    item = {"id": "b", "text": "great"}
    record = await labeler.label("b", item)
    assert record.usage.calls == 1 and record.usage.prompt_tokens == 1000
    replay = labeler.replay_adaptive(item, record)
    assert replay.samples_used == 3
    # One call with n=3 would have billed the whole prompt once, not 3/5 of it.
    assert replay.usage.calls == 1 and replay.usage.prompt_tokens == 1000
    assert replay.usage.completion_tokens == 30
    assert replay.usage.cost_usd == pytest.approx((1000 + 300) / 1e6)
