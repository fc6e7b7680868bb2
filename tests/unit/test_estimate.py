"""The cost estimate: rounds and variants counted like the labeler draws them, priced, ranged."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmlabel.backends.base import BackendProfile, Pricing
from llmlabel.estimate import DEFAULT_UNSETTLED, History, estimate_batch
from llmlabel.guidelines import VersionRegistry
from llmlabel.tasks import build_task
from tests.conftest import load_dev_items

PRICED = Pricing(input_per_mtok=1.0, output_per_mtok=4.0)


def setup(repo_root: Path, task_name: str):  # type: ignore[no-untyped-def]
    registry = VersionRegistry(repo_root)
    task = build_task(registry.guideline(task_name, "v1"))
    return task, registry.prompt(task_name, "v1")


def test_classification_range_and_expected(repo_root: Path) -> None:
    task, prompt = setup(repo_root, "classification")
    items = [{"id": str(i), "text": f"ticket {i} is still broken"} for i in range(120)]
    profile = BackendProfile(backend="openai", model="m", pricing=PRICED, requests_per_minute=60)
    result = estimate_batch(task, prompt, profile, items)
    policy = task.guideline.sampling
    rounds = 1 + -(-(policy.max - policy.initial) // policy.step)
    # With n, one call per round: the prompt is billed once per round.
    assert (result.calls_min, result.calls_max) == (120, 120 * rounds)
    assert result.sampled_items == 50 and result.unsettled_share == DEFAULT_UNSETTLED
    expected = result.cost_usd_min + DEFAULT_UNSETTLED * (result.cost_usd_max - result.cost_usd_min)
    assert result.cost_usd_expected == pytest.approx(expected, abs=1e-5)  # token rounding
    assert result.minutes_at_rate_limit == pytest.approx(result.calls_expected / 60, rel=0.01)
    offline = estimate_batch(task, prompt, profile, items, mode="offline")
    assert offline.cost_usd_expected == pytest.approx(result.cost_usd_expected / 2, rel=1e-3)


def test_history_sets_the_unsettled_share_and_completion_size(repo_root: Path) -> None:
    task, prompt = setup(repo_root, "classification")
    items = [{"id": "a", "text": "fine"}]
    profile = BackendProfile(backend="openai", model="m", pricing=PRICED)
    history = History(samples_used=[3] * 30 + [5] * 10, completion_tokens_per_sample=12.0)
    result = estimate_batch(task, prompt, profile, items, history=history)
    assert result.unsettled_share == 0.25 and result.completion_tokens_per_sample == 12.0
    assert "40 past labels" in result.basis
    short = estimate_batch(task, prompt, profile, items, history=History(samples_used=[5] * 5))
    assert short.unsettled_share == DEFAULT_UNSETTLED  # too few labels to learn from


def test_preference_variants_without_n_make_one_call_per_sample(repo_root: Path) -> None:
    task, prompt = setup(repo_root, "preference")
    items = load_dev_items("preference", 4)
    with_n = BackendProfile(backend="openai", model="m", pricing=PRICED)
    without_n = BackendProfile(backend="anthropic", model="m", pricing=PRICED)
    n_result = estimate_batch(task, prompt, with_n, items)
    single = estimate_batch(task, prompt, without_n, items)
    initial = task.guideline.sampling.initial
    assert single.calls_min == 4 * initial
    # Permuted orders are different prompts: with n, one call per distinct order.
    assert 4 <= n_result.calls_min <= 4 * initial
    # The tool-use system prompt makes each Anthropic call's prompt larger.
    assert single.prompt_tokens_per_call > n_result.prompt_tokens_per_call
