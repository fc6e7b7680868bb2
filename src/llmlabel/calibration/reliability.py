"""Reliability table (confidence bins vs observed accuracy) and expected calibration error."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from llmlabel.calibration.threshold import Judgment

__all__ = ["ReliabilityBin", "ReliabilityTable", "reliability_table"]


class ReliabilityBin(BaseModel):
    """Judged items whose score falls in [low, high) (the last bin includes 1.0)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float
    high: float
    n: int
    mean_score: float | None
    accuracy: float | None


class ReliabilityTable(BaseModel):
    """Equal-width bins over [0, 1] and the ECE: sum over bins of n/N * |accuracy - mean score|."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bins: list[ReliabilityBin]
    ece: float | None
    n: int


def reliability_table(judgments: Sequence[Judgment], n_bins: int = 10) -> ReliabilityTable:
    """Bin judged items by score; empty bins are kept (n 0) so charts have a fixed x axis."""
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    members: list[list[Judgment]] = [[] for _ in range(n_bins)]
    for judgment in judgments:
        clipped = min(1.0, max(0.0, judgment.score))
        members[min(n_bins - 1, int(clipped * n_bins))].append(judgment)
    total = len(judgments)
    bins = []
    ece = 0.0
    for i, group in enumerate(members):
        mean = sum(j.score for j in group) / len(group) if group else None
        accuracy = sum(j.correct for j in group) / len(group) if group else None
        if mean is not None and accuracy is not None:
            ece += len(group) / total * abs(accuracy - mean)
        bins.append(
            ReliabilityBin(
                low=i / n_bins, high=(i + 1) / n_bins, n=len(group), mean_score=mean, accuracy=accuracy
            )
        )
    return ReliabilityTable(bins=bins, ece=ece if total else None, n=total)
