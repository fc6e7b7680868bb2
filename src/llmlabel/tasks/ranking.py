"""Ranking math for the preference task: display permutations, agreement, Copeland and Borda.

A ranking is a list of item indices, best first, holding each of 0..n-1 once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Literal

__all__ = [
    "RankingResult",
    "aggregate_rankings",
    "is_permutation",
    "kendall_tau",
    "pairwise_agreement",
    "permutation",
    "permutation_cycle",
]


@lru_cache(maxsize=16)
def permutation_cycle(n: int) -> tuple[tuple[int, ...], ...]:
    """The distinct display orders for n responses, in the order samples use them.

    Rotation r, then rotation r reversed, for r = 0..n-1, duplicates dropped.
    For a pair this alternates identity and swapped. For n >= 3 it is the
    2n orders of the dihedral group: every response is shown first equally
    often and every pair appears in each relative order equally often, so
    position and order effects cancel over a full cycle.
    """
    if n < 1:
        raise ValueError("a permutation needs at least one element")
    orders: list[tuple[int, ...]] = []
    for r in range(n):
        rotation = tuple((j + r) % n for j in range(n))
        for order in (rotation, rotation[::-1]):
            if order not in orders:
                orders.append(order)
    return tuple(orders)


def permutation(n: int, variant: int) -> tuple[int, ...]:
    """Display order of variant `variant`: position p shows original response order[p]."""
    cycle = permutation_cycle(n)
    return cycle[variant % len(cycle)]


def is_permutation(ranking: list[int], n: int) -> bool:
    """Whether `ranking` lists each of 0..n-1 exactly once."""
    return sorted(ranking) == list(range(n))


def pairwise_agreement(ranking: list[int], reference: list[int]) -> float:
    """Share of item pairs that `ranking` orders the same way as `reference` (1.0 for n < 2)."""
    position = {item: p for p, item in enumerate(ranking)}
    reference_pairs = list(combinations(reference, 2))
    if not reference_pairs:
        return 1.0
    same = sum(1 for better, worse in reference_pairs if position[better] < position[worse])
    return same / len(reference_pairs)


def kendall_tau(a: list[int], b: list[int]) -> float:
    """Kendall's tau between two full rankings of the same items, in [-1, 1]."""
    return 2.0 * pairwise_agreement(a, b) - 1.0


@dataclass(frozen=True, slots=True)
class RankingResult:
    """A consensus ranking with the scores and ties that produced it."""

    ranking: list[int]
    scores: list[float]
    """Per original index: Copeland points or Borda count."""
    wins: list[list[int]]
    """wins[i][j]: how many rankings put i above j."""
    tied_groups: list[list[int]]
    """Groups of indices with equal score (size >= 2), in consensus order."""
    kendall_tau_mean: float | None
    """Mean Kendall tau over all pairs of input rankings; None with fewer than two."""

    @property
    def top_tied(self) -> bool:
        """Whether first place was decided by the index tie-break."""
        return bool(self.tied_groups) and self.ranking[0] in self.tied_groups[0]


def _wins(rankings: list[list[int]], n: int) -> list[list[int]]:
    wins = [[0] * n for _ in range(n)]
    for ranking in rankings:
        for better, worse in combinations(ranking, 2):
            wins[better][worse] += 1
    return wins


def _copeland(wins: list[list[int]], n: int) -> list[float]:
    scores = [0.0] * n
    for i, j in combinations(range(n), 2):
        if wins[i][j] > wins[j][i]:
            scores[i] += 1.0
        elif wins[i][j] < wins[j][i]:
            scores[j] += 1.0
        else:
            scores[i] += 0.5
            scores[j] += 0.5
    return scores


def _borda(rankings: list[list[int]], n: int) -> list[float]:
    scores = [0.0] * n
    for ranking in rankings:
        for position, item in enumerate(ranking):
            scores[item] += n - 1 - position
    return scores


def aggregate_rankings(
    rankings: list[list[int]], n: int, *, method: Literal["copeland", "borda"] = "copeland"
) -> RankingResult:
    """Combine full rankings of n items; equal scores go to the lower index first."""
    if not rankings:
        raise ValueError("no rankings to aggregate")
    wins = _wins(rankings, n)
    scores = _copeland(wins, n) if method == "copeland" else _borda(rankings, n)
    ranking = sorted(range(n), key=lambda i: (-scores[i], i))
    tied: list[list[int]] = []
    for item in ranking:
        if tied and scores[tied[-1][0]] == scores[item]:
            tied[-1].append(item)
        else:
            tied.append([item])
    taus = [kendall_tau(a, b) for a, b in combinations(rankings, 2)]
    return RankingResult(
        ranking=ranking,
        scores=scores,
        wins=wins,
        tied_groups=[group for group in tied if len(group) > 1],
        kendall_tau_mean=sum(taus) / len(taus) if taus else None,
    )
