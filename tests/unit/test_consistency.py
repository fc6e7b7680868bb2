from __future__ import annotations

import pytest

from llmlabel.consistency import majority_settled_probability, next_round_size, should_stop
from llmlabel.guidelines import SamplingPolicy


def test_settled_probability_matches_beta_posterior() -> None:
    # Beta(4, 1): P(p > 1/2) = 1 - 0.5**4
    assert majority_settled_probability(3, 0) == pytest.approx(1 - 0.5**4)
    # Beta(1, 1) is uniform: one half
    assert majority_settled_probability(0, 0) == pytest.approx(0.5)
    # symmetric: a tie stays at one half
    assert majority_settled_probability(3, 3) == pytest.approx(0.5)


def test_unanimous_initial_round_stops() -> None:
    policy = SamplingPolicy(initial=3, max=7, step=2)
    assert should_stop(["a", "a", "a"], 3, policy)


def test_split_vote_keeps_drawing_until_settled_or_max() -> None:
    policy = SamplingPolicy(initial=3, max=7, step=2, stop_probability=0.95)
    assert not should_stop(["a", "a", "b"], 3, policy)
    assert not should_stop(["a", "a", "b", "a", "b"], 5, policy)
    assert should_stop(["a", "a", "b", "a", "b", "a", "b"], 7, policy)  # cap reached


def test_lopsided_vote_stops_before_max() -> None:
    policy = SamplingPolicy(initial=3, max=15, step=2, stop_probability=0.95)
    keys = ["a"] * 8 + ["b"]
    assert majority_settled_probability(8, 1) >= 0.95
    assert should_stop(keys, 9, policy)


def test_all_invalid_samples_do_not_stop_early() -> None:
    policy = SamplingPolicy(initial=3, max=7)
    assert not should_stop([], 3, policy)
    assert should_stop([], 7, policy)


def test_round_sizes() -> None:
    policy = SamplingPolicy(initial=3, max=7, step=2)
    assert next_round_size(0, policy) == 3
    assert next_round_size(3, policy) == 2
    assert next_round_size(6, policy) == 1
    assert next_round_size(7, policy) == 0
    assert next_round_size(0, policy, fixed_k=5) == 5
    assert next_round_size(5, policy, fixed_k=5) == 0


def test_non_adaptive_policy_stops_after_first_round() -> None:
    policy = SamplingPolicy(initial=3, max=7, adaptive=False)
    assert should_stop(["a", "b", "c"], 3, policy)


def test_invalid_samples_count_against_the_leading_answer() -> None:
    policy = SamplingPolicy(initial=3, max=7, step=2)
    # two valid samples agree, one was unusable: not unanimous, keep drawing
    assert not should_stop(["a", "a"], 3, policy)
