"""Fit the routing threshold to a target precision from judged items (pure).

A judged item is one whose label a person (or a gold label) has judged right or
wrong. The fit picks the lowest threshold whose labels at or above it have a
precision whose lower Wilson bound reaches the target, among thresholds with at
least `min_evidence` judged items at or above them. Outcomes:

- `calibrated`: such a threshold exists; route on it.
- `unreachable`: there is enough evidence (`min_evidence` judged items) but no
  threshold reaches the target: accept nothing, every item goes to review, and
  the report says so (a confidently wrong model is caught here, not hidden).
- `uncalibrated`: fewer than `min_evidence` judged items: the configured
  threshold stays, and every report says `uncalibrated`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from llmlabel.calibration.bounds import wilson_interval

__all__ = [
    "CurvePoint",
    "FitStatus",
    "Judgment",
    "ThresholdFit",
    "fit_threshold",
    "precision_curve",
]


class FitStatus(StrEnum):
    CALIBRATED = "calibrated"
    UNREACHABLE = "unreachable"
    UNCALIBRATED = "uncalibrated"


@dataclass(frozen=True, slots=True)
class Judgment:
    """One judged item: the score it was (or would be) routed on and whether its label was right."""

    score: float
    correct: bool


class CurvePoint(BaseModel):
    """Accepting every judged item scored at or above `threshold`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float
    accepted_n: int
    accepted_correct: int
    precision: float
    precision_low: float
    precision_high: float
    review_rate: float


class ThresholdFit(BaseModel):
    """The outcome of one fit; `threshold` None means accept nothing (status unreachable)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: FitStatus
    threshold: float | None
    configured_threshold: float
    target_precision: float
    min_evidence: int
    evidence_n: int
    evidence_correct: int
    # The chosen point on the evidence (None when nothing is accepted).
    accepted_n: int = 0
    accepted_correct: int = 0
    precision: float | None = None
    precision_low: float | None = None
    precision_high: float | None = None
    review_rate: float = 1.0
    reason: str

    @property
    def source(self) -> str:
        """`calibrated` when the threshold came from evidence, else `configured`."""
        return "configured" if self.status == FitStatus.UNCALIBRATED else "calibrated"


def precision_curve(judgments: Sequence[Judgment]) -> list[CurvePoint]:
    """One point per distinct score, highest threshold first (precision / review-rate curve)."""
    total = len(judgments)
    ordered = sorted(judgments, key=lambda j: j.score, reverse=True)
    points: list[CurvePoint] = []
    n = correct = 0
    for i, judgment in enumerate(ordered):
        n += 1
        correct += judgment.correct
        if i + 1 < total and ordered[i + 1].score == judgment.score:
            continue  # a threshold accepts every item of equal score at once
        low, high = wilson_interval(correct, n)
        points.append(
            CurvePoint(
                threshold=judgment.score,
                accepted_n=n,
                accepted_correct=correct,
                precision=correct / n,
                precision_low=low,
                precision_high=high,
                review_rate=1.0 - n / total,
            )
        )
    return points


def fit_threshold(
    judgments: Sequence[Judgment],
    *,
    target_precision: float,
    configured_threshold: float,
    min_evidence: int = 30,
) -> ThresholdFit:
    """The lowest threshold whose accepted labels' lower precision bound reaches the target."""
    n = len(judgments)
    correct = sum(j.correct for j in judgments)
    common: dict[str, Any] = {
        "configured_threshold": configured_threshold,
        "target_precision": target_precision,
        "min_evidence": min_evidence,
        "evidence_n": n,
        "evidence_correct": correct,
    }
    if n < min_evidence:
        return ThresholdFit(
            status=FitStatus.UNCALIBRATED,
            threshold=configured_threshold,
            reason=(
                f"uncalibrated: {n} judged item(s), {min_evidence} needed; "
                f"the configured threshold {configured_threshold:.2f} stays"
            ),
            **common,
        )
    curve = precision_curve(judgments)
    qualifying = [
        p for p in curve if p.accepted_n >= min_evidence and p.precision_low >= target_precision
    ]
    if not qualifying:
        best = max((p.precision_low for p in curve if p.accepted_n >= min_evidence), default=0.0)
        return ThresholdFit(
            status=FitStatus.UNREACHABLE,
            threshold=None,
            reason=(
                f"no threshold reaches precision {target_precision:.2f} on {n} judged items "
                f"(best lower bound {best:.2f} with >= {min_evidence} accepted): "
                "every item goes to review"
            ),
            **common,
        )
    chosen = min(qualifying, key=lambda p: p.threshold)
    return ThresholdFit(
        status=FitStatus.CALIBRATED,
        threshold=chosen.threshold,
        accepted_n=chosen.accepted_n,
        accepted_correct=chosen.accepted_correct,
        precision=chosen.precision,
        precision_low=chosen.precision_low,
        precision_high=chosen.precision_high,
        review_rate=chosen.review_rate,
        reason=(
            f"threshold {chosen.threshold:.3f}: {chosen.accepted_correct} of "
            f"{chosen.accepted_n} judged labels at or above it right "
            f"(precision >= {chosen.precision_low:.3f} at 95 %)"
        ),
        **common,
    )
