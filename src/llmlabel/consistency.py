"""Adaptive self-consistency: when to stop drawing samples (pure logic).

Draw `initial` samples; stop if they all agree. Otherwise draw `step` more at a
time until the leading answer is settled or `max` is reached. "Settled" is the
Adaptive-Consistency rule (Aggarwal et al. 2023): with a uniform prior, the
share p of the leading answer has posterior Beta(a + 1, b + 1) after a votes
for it and b against; stop once P(p > 1/2) reaches `stop_probability`.
"""

from __future__ import annotations

from collections import Counter
from math import comb

from llmlabel.guidelines import SamplingPolicy

__all__ = ["majority_settled_probability", "next_round_size", "should_stop"]


def majority_settled_probability(votes_for: int, votes_against: int) -> float:
    """P(p > 1/2) for p ~ Beta(votes_for + 1, votes_against + 1).

    For integer parameters this equals P(X <= votes_for) with
    X ~ Binomial(votes_for + votes_against + 1, 1/2).
    """
    n = votes_for + votes_against + 1
    return sum(comb(n, j) for j in range(votes_for + 1)) / 2**n


def should_stop(answer_keys: list[str], drawn: int, policy: SamplingPolicy) -> bool:
    """Whether the `drawn` samples so far are enough (answer_keys: one per valid sample)."""
    if drawn >= policy.max or not policy.adaptive:
        return True
    if drawn < policy.initial or not answer_keys:
        return False
    top = Counter(answer_keys).most_common(1)[0][1]
    # An invalid sample is a vote against the leading answer, not an abstention.
    if top == drawn and top >= min(policy.initial, 2):
        return True  # unanimous: the cheap common case the design wants to stop on
    return majority_settled_probability(top, drawn - top) >= policy.stop_probability


def next_round_size(drawn: int, policy: SamplingPolicy, fixed_k: int | None = None) -> int:
    """How many samples the next round draws (0 when done drawing)."""
    if fixed_k is not None:
        return max(0, fixed_k - drawn)
    if drawn == 0:
        return min(policy.initial, policy.max)
    return max(0, min(policy.step, policy.max - drawn))
