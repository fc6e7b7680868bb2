"""Position bias of preference labels: how far the model's choice follows the display order.

Each preference sample sees the responses in one display order (its variant,
see `tasks.ranking.permutation`) and its label ranks them by original index, so
from the samples alone we can tell, for every valid sample, whether its top
choice was the response shown first, and, for two samples of one item shown in
different orders, whether they chose the same response.

- `first_shown_share`: share of valid samples whose top choice was shown first.
  An order-blind model gives `chance_first_shown` (1/2 for pairs, 1/n for n
  responses); a model that always picks "A" gives 1.0.
- `order_consistency`: over pairs of valid samples of one item that saw
  different orders, the share that chose the same top response ("the same
  response wins in both orders"). An always-"A" model gives 0.0 on pairs; a model
  that reads the responses gives close to 1.0, less its sampling noise.

Pure: LabelRecords in, figures out (the CLI, the gold job and the API use it).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations

from pydantic import BaseModel

from llmlabel.domain import LabelRecord
from llmlabel.tasks.ranking import permutation

__all__ = ["PositionBias", "position_bias"]


class PositionBias(BaseModel):
    """Position-bias figures over the valid samples of preference label records."""

    n_samples: int
    """Valid samples (a parsed ranking) counted."""
    first_shown_share: float | None
    """Share of them whose top choice was the response shown first."""
    chance_first_shown: float | None
    """What an order-blind model would give: the mean of 1/(responses shown)."""
    n_order_pairs: int
    """Pairs of valid samples of one item that saw different display orders."""
    order_consistency: float | None
    """Share of those pairs that chose the same top response."""
    n_items: int
    """Items with at least one such pair."""


def _tops(record: LabelRecord) -> list[tuple[tuple[int, ...], int, int]]:
    """(display order, top original index, its display position) of each valid sample."""
    out = []
    for sample in record.samples:
        ranking = (sample.label or {}).get("ranking")
        if not isinstance(ranking, list) or len(ranking) < 2:
            continue
        order = permutation(len(ranking), sample.variant)
        if ranking[0] in order:
            out.append((order, ranking[0], order.index(ranking[0])))
    return out


def position_bias(records: Iterable[LabelRecord]) -> PositionBias:
    """The figures over every record's samples (records of other tasks have no rankings)."""
    n_samples = first_shown = n_pairs = same = n_items = 0
    chance = 0.0
    for record in records:
        tops = _tops(record)
        n_samples += len(tops)
        first_shown += sum(1 for _order, _top, shown_at in tops if shown_at == 0)
        chance += sum(1 / len(order) for order, _top, _shown_at in tops)
        # Orders are compared as orders, not variant numbers (two variants may show one order).
        pairs = [(a, b) for a, b in combinations(tops, 2) if a[0] != b[0]]
        if pairs:
            n_items += 1
            n_pairs += len(pairs)
            same += sum(1 for a, b in pairs if a[1] == b[1])
    return PositionBias(
        n_samples=n_samples,
        first_shown_share=first_shown / n_samples if n_samples else None,
        chance_first_shown=chance / n_samples if n_samples else None,
        n_order_pairs=n_pairs,
        order_consistency=same / n_pairs if n_pairs else None,
        n_items=n_items,
    )
