"""Small, task-agnostic helpers for aggregating samples and scoring labels.

Pure functions over plain values: majority votes with counts, binary votes with
an explicit tie rule, pairwise agreement, and precision/recall/F1 from counts or
sets. (The Beta stopping rule lives in llmlabel.consistency, which uses answer keys.)
Any task module may use them; none of them knows about a particular task.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Generic, TypeVar

__all__ = [
    "PRF",
    "BinaryVote",
    "Vote",
    "binary_vote",
    "majority_vote",
    "pairwise_agreement",
    "set_prf",
]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Vote(Generic[K]):
    """Outcome of a plurality vote: the winner, its share and every value's count."""

    winner: K
    votes: int
    total: int
    counts: dict[K, int]
    tie: bool
    """True when another value had as many votes as the winner (the tie rule picked it)."""

    @property
    def share(self) -> float:
        """Fraction of the votes the winner got (a tie shows as 0.5 or lower)."""
        return self.votes / self.total


def majority_vote(values: Sequence[K], order: Sequence[K] | None = None) -> Vote[K]:
    """Plurality vote over `values`; ties go to the value first in `order`, else first seen.

    Raises ValueError on an empty sequence: a vote needs at least one ballot.
    """
    if not values:
        raise ValueError("majority_vote needs at least one value")
    counts = Counter(values)
    top = max(counts.values())
    leaders = [v for v in counts if counts[v] == top]  # Counter keeps first-seen order
    if order is not None:
        rank = {v: i for i, v in enumerate(order)}
        leaders.sort(key=lambda v: rank.get(v, len(rank)))
    return Vote(
        winner=leaders[0], votes=top, total=len(values), counts=dict(counts), tie=len(leaders) > 1
    )


@dataclass(frozen=True, slots=True)
class BinaryVote:
    """Outcome of a yes/no vote: the decision and how many said yes."""

    decision: bool
    positives: int
    total: int

    @property
    def positive_share(self) -> float:
        """Fraction of ballots that said yes."""
        return self.positives / self.total

    @property
    def majority_share(self) -> float:
        """Fraction of ballots agreeing with the decision (0.5 on a tie)."""
        agreeing = self.positives if self.decision else self.total - self.positives
        return agreeing / self.total


def binary_vote(ballots: Iterable[bool], *, tie: bool) -> BinaryVote:
    """Majority of yes/no ballots; an exact tie decides `tie` (the caller's safe side)."""
    values = list(ballots)
    if not values:
        raise ValueError("binary_vote needs at least one ballot")
    positives = sum(values)
    negatives = len(values) - positives
    decision = tie if positives == negatives else positives > negatives
    return BinaryVote(decision=decision, positives=positives, total=len(values))


def pairwise_agreement(keys: Sequence[Hashable]) -> float:
    """Fraction of sample pairs whose answer keys are equal (1.0 for fewer than two keys)."""
    pairs = list(combinations(keys, 2))
    if not pairs:
        return 1.0
    return sum(x == y for x, y in pairs) / len(pairs)


@dataclass(frozen=True, slots=True)
class PRF:
    """Precision, recall and F1 with the counts they came from."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """tp / predicted; 1.0 when nothing was predicted (no false positive was possible)."""
        predicted = self.tp + self.fp
        return self.tp / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        """tp / gold; 1.0 when gold has nothing (nothing could be missed)."""
        gold = self.tp + self.fn
        return self.tp / gold if gold else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall; 1.0 when both gold and prediction are empty."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: PRF) -> PRF:
        return PRF(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def set_prf(predicted: Iterable[Hashable], gold: Iterable[Hashable]) -> PRF:
    """Exact-match counts between a predicted and a gold set (micro-average by adding PRFs)."""
    pred_set, gold_set = set(predicted), set(gold)
    tp = len(pred_set & gold_set)
    return PRF(tp=tp, fp=len(pred_set) - tp, fn=len(gold_set) - tp)
