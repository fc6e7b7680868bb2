from __future__ import annotations

import pytest

from llmlabel.consistency import change_probability, next_round_size, should_stop
from llmlabel.guidelines import SamplingPolicy


def test_change_probability_is_the_beta_binomial_tail() -> None:
    # 2 for, 0 against, 3 to go: overturned only if all 3 go against;
    # p ~ Beta(3, 1): E[(1 - p)^3] = B(3, 4) / B(3, 1) = (1/60) / (1/3) = 1/20
    assert change_probability(2, 0, 3) == pytest.approx(0.05)
    # 2-1 with 2 to go: both against ties or overturns; B(4, 3) / B(2, 3) = (1/60) / (1/12)
    assert change_probability(2, 1, 2) == pytest.approx(0.2)
    # 2-0 with 4 to go: 3 or 4 against; 4 B(4, 4) / B(1, 3) + B(5, 3) / B(1, 3) = 3/35 + 1/35
    assert change_probability(2, 0, 4) == pytest.approx(4 / 35)
    # curtailed: 3-0 with 2 to go cannot be caught
    assert change_probability(3, 0, 2) == 0.0
    assert change_probability(1, 1, 0) == 0.0


def test_a_unanimous_pair_stops_under_cap_5_not_under_cap_6() -> None:
    # the shipped v2 policies: a 5 % risk stops at 2 of 2 with cap 5; with cap 6 it is 11 %
    assert should_stop(["a", "a"], 2, SamplingPolicy(initial=2, max=5, step=1))
    assert not should_stop(["a", "a"], 2, SamplingPolicy(initial=2, max=6, step=1))
    assert should_stop(["a", "a", "a"], 3, SamplingPolicy(initial=2, max=6, step=1))


def test_a_clear_majority_stops_before_the_cap() -> None:
    policy = SamplingPolicy(initial=2, max=5, step=1)
    assert not should_stop(["a", "b"], 2, policy)
    assert not should_stop(["a", "b", "a"], 3, policy)  # risk 0.2
    assert should_stop(["a", "b", "a", "a"], 4, policy)  # 3-1 with one to go: curtailed
    assert not should_stop(["a", "b", "a", "b"], 4, policy)


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
    assert change_probability(8, 1, 6) == 0.0
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
