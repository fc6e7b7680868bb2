"""What a batch will cost before it runs: render a sample of its prompts, count, price.

Pure: no Redis, no provider call. For a spread sample of the items, the prompts
of every round are rendered exactly as the labeler would (variants, `n` per
variant), and their tokens counted like the backend layer counts them
(`expected_prompt_tokens`). Completion tokens per sample come from the few-shot
answers of the guideline (the model answers in their shape), or from the past
labels' usage when the caller has some. The range runs from the initial round
only (every item agrees at once) to the cap (every item draws `max` samples);
the expected figure puts a share of items at the cap: the share seen in past
labels of the same version when there are enough of them, else `DEFAULT_UNSETTLED`.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from pydantic import BaseModel, Field

from llmlabel.backends import backend_class
from llmlabel.backends.base import BackendProfile
from llmlabel.backends.sampling import effective_pricing, expected_prompt_tokens
from llmlabel.domain import Usage
from llmlabel.guidelines import PromptTemplate
from llmlabel.prompts import render_messages
from llmlabel.tasks import Task

__all__ = ["DEFAULT_UNSETTLED", "OFFLINE_DISCOUNT", "CostEstimate", "History", "estimate_batch"]

DEFAULT_UNSETTLED = 0.25
"""Share of items assumed to draw up to the cap when no past labels say otherwise."""
OFFLINE_DISCOUNT = 0.5
"""Price factor of the providers' batch APIs (OpenAI Batch API, Anthropic Message Batches)."""
SAMPLE_ITEMS = 50
MIN_HISTORY = 20
_CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class History:
    """Past labels of the same task and versions: samples drawn, completion tokens per sample."""

    samples_used: Sequence[int]
    completion_tokens_per_sample: float | None = None


class CostEstimate(BaseModel):
    """The expected cost of a batch as a range, with the calls and time it needs."""

    items: int
    sampled_items: int
    model: str
    mode: str
    prompt_tokens_per_call: float = Field(description="Mean over the sampled items' first call")
    completion_tokens_per_sample: float
    calls_min: int = Field(description="Initial round only")
    calls_expected: int
    calls_max: int = Field(description="Every item up to the sampling cap")
    tokens_min: int
    tokens_expected: int
    tokens_max: int
    cost_usd_min: float
    cost_usd_expected: float
    cost_usd_max: float
    unsettled_share: float = Field(description="Share of items assumed to go to the cap")
    basis: str = Field(description="Where unsettled_share and completion sizes come from")
    minutes_at_rate_limit: float | None = Field(
        None, description="Expected calls and tokens over the configured per-minute limits"
    )


def _spread(items: Sequence[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """`count` items spread evenly over the batch (long and short ones alike)."""
    if len(items) <= count:
        return list(items)
    step = len(items) / count
    return [items[math.floor(i * step)] for i in range(count)]


def _rounds(policy_initial: int, step: int, cap: int) -> list[tuple[int, int]]:
    """(start, k) of every round up to the cap."""
    rounds, drawn = [(0, min(policy_initial, cap))], min(policy_initial, cap)
    while drawn < cap:
        k = min(step, cap - drawn)
        rounds.append((drawn, k))
        drawn += k
    return rounds


def _few_shot_completion(task: Task) -> float:
    outputs = [json.dumps(ex.output, ensure_ascii=False) for ex in task.guideline.few_shot]
    if not outputs:
        return task.guideline.sampling.max_tokens / 4
    return fmean(len(o) for o in outputs) / _CHARS_PER_TOKEN + 1


def estimate_batch(
    task: Task,
    prompt: PromptTemplate,
    profile: BackendProfile,
    items: Sequence[dict[str, Any]],
    *,
    mode: str = "sync",
    history: History | None = None,
) -> CostEstimate:
    """Estimate labeling `items` (already validated inputs) with this task, prompt and profile."""
    cls = backend_class(profile)
    supports_n = profile.supports_n if profile.supports_n is not None else cls.default_supports_n
    policy = task.guideline.sampling
    cap = policy.max if policy.adaptive else policy.initial
    rounds = _rounds(policy.initial, policy.step, cap)
    schema = task.llm_schema()
    per_round_prompt: list[list[int]] = [[] for _ in rounds]  # per sampled item
    per_round_calls: list[list[int]] = [[] for _ in rounds]
    first_call: list[int] = []
    sample = _spread(items, SAMPLE_ITEMS)
    for raw in sample:
        view = task.validate_input(raw)
        for r, (start, k) in enumerate(rounds):
            groups: dict[int, int] = defaultdict(int)
            for variant in task.variants(view, k, start):
                groups[variant] += 1
            calls = list(groups) if supports_n else [v for v, c in groups.items() for _ in range(c)]
            tokens = [
                expected_prompt_tokens(cls, render_messages(task, prompt, view, v), schema)
                for v in calls
            ]
            if r == 0:
                first_call.append(tokens[0])
            per_round_prompt[r].append(sum(tokens))
            per_round_calls[r].append(len(calls))
    n = len(items)
    completion = _few_shot_completion(task)
    basis = "few-shot answer sizes"
    unsettled = DEFAULT_UNSETTLED
    if history is not None and history.completion_tokens_per_sample:
        completion = history.completion_tokens_per_sample
        basis = "past labels' completion sizes"
    if history is not None and len(history.samples_used) >= MIN_HISTORY:
        beyond = [u > policy.initial for u in history.samples_used]
        unsettled = fmean(beyond)
        basis += f"; unsettled share from {len(beyond)} past labels"
    else:
        basis += f"; unsettled share assumed {DEFAULT_UNSETTLED:.0%}"

    def totals(round_count: int) -> tuple[float, float, float]:
        calls = sum(fmean(per_round_calls[r]) for r in range(round_count)) * n
        prompt_tokens = sum(fmean(per_round_prompt[r]) for r in range(round_count)) * n
        samples = sum(k for _, k in rounds[:round_count]) * n
        return calls, prompt_tokens, samples * completion

    low, high = totals(1), totals(len(rounds))
    mid = tuple(lo + unsettled * (hi - lo) for lo, hi in zip(low, high, strict=True))
    pricing = effective_pricing(profile)
    discount = OFFLINE_DISCOUNT if mode == "offline" else 1.0

    def cost(figures: tuple[float, ...]) -> float:
        usage = Usage(prompt_tokens=round(figures[1]), completion_tokens=round(figures[2]))
        return round(pricing.cost(usage) * discount, 6)

    minutes = None
    limits = []
    if profile.requests_per_minute:
        limits.append(mid[0] / profile.requests_per_minute)
    if profile.tokens_per_minute:
        limits.append((mid[1] + mid[2]) / profile.tokens_per_minute)
    if limits:
        minutes = round(max(limits), 3)
    return CostEstimate(
        items=n,
        sampled_items=len(sample),
        model=profile.model,
        mode=mode,
        prompt_tokens_per_call=round(fmean(first_call), 1) if first_call else 0.0,
        completion_tokens_per_sample=round(completion, 1),
        calls_min=round(low[0]),
        calls_expected=round(mid[0]),
        calls_max=round(high[0]),
        tokens_min=round(low[1] + low[2]),
        tokens_expected=round(mid[1] + mid[2]),
        tokens_max=round(high[1] + high[2]),
        cost_usd_min=cost(low),
        cost_usd_expected=cost(mid),
        cost_usd_max=cost(high),
        unsettled_share=round(unsettled, 4),
        basis=basis,
        minutes_at_rate_limit=minutes,
    )
