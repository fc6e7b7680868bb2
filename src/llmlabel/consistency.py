"""Adaptive self-consistency: when to stop drawing samples (pure logic).

Draw `initial` samples, then `step` more at a time up to `max`. After each round
the rule asks: would drawing the rest, up to the cap, change the leading answer?
With a uniform prior the leading answer's share p has posterior Beta(a + 1, b + 1)
after a votes for it and b against (an invalid sample is a vote against), so the
remaining r = max - drawn votes are Beta-binomial. Stop once the probability that
the rest lets the other answers, lumped together as one rival, tie or overtake
the leader is at most 1 - `stop_probability`.

Why this rule: the old one (stop once P(p > 1/2) >= 0.95) needed 7 samples to
settle any non-unanimous vote, so with caps of 5 or 6 every disagreement ran to
the cap. This one asks the question fixed-k sampling answers (the majority at
the cap) and stops as soon as the answer is already known with that probability:
curtailed (a leader the rest cannot catch) at no risk at all, and a unanimous
pair with cap 5 at 5 % risk. Lumping the rivals is conservative.
"""

from __future__ import annotations

from collections import Counter
from math import comb, lgamma
from math import exp as _exp

from llmlabel.guidelines import SamplingPolicy

__all__ = ["change_probability", "next_round_size", "should_stop"]


def _log_beta(a: float, b: float) -> float:
    return lgamma(a) + lgamma(b) - lgamma(a + b)


def change_probability(votes_for: int, votes_against: int, remaining: int) -> float:
    """P(the rest of the votes up to the cap tie or overturn the leader).

    `remaining` further votes, each against the leader with probability 1 - p,
    p ~ Beta(votes_for + 1, votes_against + 1); the leader is overturned or tied
    when votes_against + X >= votes_for + (remaining - X), X the votes against
    among the rest (Beta-binomial).
    """
    if remaining <= 0:
        return 0.0
    alpha, beta = votes_against + 1, votes_for + 1  # X counts votes against
    base = _log_beta(alpha, beta)
    total = 0.0
    for x in range(remaining + 1):
        if votes_against + x >= votes_for + remaining - x:
            total += comb(remaining, x) * _exp(_log_beta(x + alpha, remaining - x + beta) - base)
    return min(1.0, total)


def should_stop(answer_keys: list[str], drawn: int, policy: SamplingPolicy) -> bool:
    """Whether the `drawn` samples so far are enough (answer_keys: one per valid sample)."""
    if drawn >= policy.max or not policy.adaptive:
        return True
    if drawn < policy.initial or not answer_keys:
        return False
    top = Counter(answer_keys).most_common(1)[0][1]
    if top < 2:
        return False  # one vote for anything is no agreement, whatever the cap
    risk = change_probability(top, drawn - top, policy.max - drawn)
    # The tolerance keeps an exact 5 % (a unanimous pair, cap 5) on the stopping side.
    return risk <= 1.0 - policy.stop_probability + 1e-9


def next_round_size(drawn: int, policy: SamplingPolicy, fixed_k: int | None = None) -> int:
    """How many samples the next round draws (0 when done drawing)."""
    if fixed_k is not None:
        return max(0, fixed_k - drawn)
    if drawn == 0:
        return min(policy.initial, policy.max)
    return max(0, min(policy.step, policy.max - drawn))
