"""Voting and scoring helpers shared by task types."""

from __future__ import annotations

import pytest

from llmlabel.tasks.voting import PRF, binary_vote, majority_vote, pairwise_agreement, set_prf


def test_majority_vote_counts_and_share() -> None:
    vote = majority_vote(["a", "b", "a", "c", "a"])
    assert vote.winner == "a"
    assert vote.votes == 3
    assert vote.total == 5
    assert vote.counts == {"a": 3, "b": 1, "c": 1}
    assert vote.share == pytest.approx(0.6)
    assert not vote.tie


@pytest.mark.parametrize(
    ("values", "order", "winner"),
    [
        (["b", "a"], ["a", "b"], "a"),  # ontology order breaks the tie
        (["b", "a"], ["b", "a"], "b"),
        (["b", "a"], None, "b"),  # no order: first seen
        (["z", "a"], ["a"], "a"),  # values outside the order lose ties
    ],
)
def test_majority_vote_tie_is_deterministic(
    values: list[str], order: list[str] | None, winner: str
) -> None:
    vote = majority_vote(values, order=order)
    assert vote.winner == winner
    assert vote.tie
    assert vote.share == 0.5


def test_majority_vote_refuses_no_values() -> None:
    with pytest.raises(ValueError, match="at least one"):
        majority_vote([])


@pytest.mark.parametrize(
    ("ballots", "tie", "decision", "majority_share"),
    [
        ([True, True, False], False, True, 2 / 3),
        ([False, False, True], True, False, 2 / 3),
        ([True, False], True, True, 0.5),
        ([True, False], False, False, 0.5),
        ([False], True, False, 1.0),
    ],
)
def test_binary_vote(ballots: list[bool], tie: bool, decision: bool, majority_share: float) -> None:
    vote = binary_vote(ballots, tie=tie)
    assert vote.decision is decision
    assert vote.majority_share == pytest.approx(majority_share)
    assert vote.positive_share == pytest.approx(sum(ballots) / len(ballots))


def test_binary_vote_refuses_no_ballots() -> None:
    with pytest.raises(ValueError):
        binary_vote([], tie=True)


@pytest.mark.parametrize(
    ("keys", "expected"),
    [(["a", "a", "a"], 1.0), (["a", "a", "b"], 1 / 3), (["a", "b", "c"], 0.0), (["a"], 1.0)],
)
def test_pairwise_agreement(keys: list[str], expected: float) -> None:
    assert pairwise_agreement(keys) == pytest.approx(expected)


def test_set_prf_counts_and_micro_sum() -> None:
    first = set_prf({1, 2, 3}, {2, 3, 4, 5})
    assert (first.tp, first.fp, first.fn) == (2, 1, 2)
    assert first.precision == pytest.approx(2 / 3)
    assert first.recall == pytest.approx(0.5)
    assert first.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    total = first + set_prf(set(), {9})
    assert (total.tp, total.fp, total.fn) == (2, 1, 3)


@pytest.mark.parametrize(
    ("prf", "precision", "recall", "f1"),
    [
        (PRF(0, 0, 0), 1.0, 1.0, 1.0),  # nothing to find, nothing claimed: perfect
        (PRF(0, 0, 2), 1.0, 0.0, 0.0),  # missed everything
        (PRF(0, 3, 0), 0.0, 1.0, 0.0),  # only false alarms
    ],
)
def test_prf_empty_sides(prf: PRF, precision: float, recall: float, f1: float) -> None:
    assert (prf.precision, prf.recall, prf.f1) == (precision, recall, f1)
