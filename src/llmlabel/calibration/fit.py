"""One calibration fit: the combined score, the threshold, the curve and the reliability table.

Evidence is a list of judged labels (gold items labeled by the version, human
decisions on reviewed items, blind audits of accepted ones). Each item counts
once: gold wins over an audit, an audit over an ordinary review. When a score
model is fitted, the threshold is fitted on out-of-fold scores (each item scored
by a model that did not see it), so the chosen precision is not flattered by the
model having learned those very items.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from llmlabel.calibration.reliability import ReliabilityTable, reliability_table
from llmlabel.calibration.scoring import FITTED_SIGNAL, ScoreModel, fit_score_model
from llmlabel.calibration.threshold import (
    CurvePoint,
    Judgment,
    ThresholdFit,
    fit_threshold,
    precision_curve,
)

__all__ = [
    "RAW_SIGNAL",
    "CalibrationFit",
    "EvidenceSource",
    "JudgedLabel",
    "dedupe_evidence",
    "fit_calibration",
]

RAW_SIGNAL = "consistency"
"""The signal routing uses while no score model is fitted."""

_FOLDS = 5


class EvidenceSource(StrEnum):
    GOLD = "gold"
    AUDIT = "audit"
    REVIEW = "review"


_PRIORITY = {EvidenceSource.GOLD: 0, EvidenceSource.AUDIT: 1, EvidenceSource.REVIEW: 2}


@dataclass(frozen=True, slots=True)
class JudgedLabel:
    """A label's recorded signals and whether a person (or gold) found it right."""

    item_id: str
    signals: Mapping[str, float | None]
    correct: bool
    source: EvidenceSource = EvidenceSource.GOLD
    extra: Mapping[str, str] = field(default_factory=dict)


class CalibrationFit(BaseModel):
    """Everything one fit decided, stored per version and shown by the report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fit_id: str
    score_signal: str
    score_model: ScoreModel | None
    threshold: ThresholdFit
    curve: list[CurvePoint]
    reliability: ReliabilityTable
    evidence_by_source: dict[str, int]

    def score(self, signals: Mapping[str, float | None]) -> float:
        """The score this fit routes on, for one label's signals."""
        if self.score_model is not None:
            return self.score_model.predict(signals)
        return float(signals.get(RAW_SIGNAL) or 0.0)


def dedupe_evidence(evidence: Sequence[JudgedLabel]) -> list[JudgedLabel]:
    """One judgment per item: gold over audit over review, then the first given."""
    best: dict[str, JudgedLabel] = {}
    for judged in evidence:
        kept = best.get(judged.item_id)
        if kept is None or _PRIORITY[judged.source] < _PRIORITY[kept.source]:
            best[judged.item_id] = judged
    return list(best.values())


def _out_of_fold(evidence: Sequence[JudgedLabel]) -> list[float] | None:
    """Each item's score from a model fitted on the other folds; None if a fold cannot fit."""
    scores: list[float] = [0.0] * len(evidence)
    for fold in range(_FOLDS):
        train = [j for i, j in enumerate(evidence) if i % _FOLDS != fold]
        model = fit_score_model([j.signals for j in train], [j.correct for j in train])
        if model is None:
            return None
        for i, judged in enumerate(evidence):
            if i % _FOLDS == fold:
                scores[i] = model.predict(judged.signals)
    return scores


def _fit_id(evidence: Sequence[JudgedLabel], target: float, configured: float, min_evidence: int) -> str:
    digest = hashlib.sha256(
        json.dumps(
            [target, configured, min_evidence,
             sorted((j.item_id, j.correct, j.source.value) for j in evidence)]
        ).encode()
    )
    return digest.hexdigest()[:16]


def fit_calibration(
    evidence: Sequence[JudgedLabel],
    *,
    target_precision: float,
    configured_threshold: float,
    min_evidence: int = 30,
) -> CalibrationFit:
    """Fit the combined score (when the evidence allows) and the threshold on it."""
    judged = sorted(dedupe_evidence(evidence), key=lambda j: j.item_id)
    model = fit_score_model([j.signals for j in judged], [j.correct for j in judged])
    oof = _out_of_fold(judged) if model is not None else None
    if model is None or oof is None:
        model = None
        scores = [float(j.signals.get(RAW_SIGNAL) or 0.0) for j in judged]
    else:
        scores = oof
    judgments = [Judgment(score=s, correct=j.correct) for s, j in zip(scores, judged, strict=True)]
    threshold = fit_threshold(
        judgments,
        target_precision=target_precision,
        configured_threshold=configured_threshold,
        min_evidence=min_evidence,
    )
    by_source: dict[str, int] = {}
    for j in judged:
        by_source[j.source.value] = by_source.get(j.source.value, 0) + 1
    return CalibrationFit(
        fit_id=_fit_id(judged, target_precision, configured_threshold, min_evidence),
        score_signal=FITTED_SIGNAL if model is not None else RAW_SIGNAL,
        score_model=model,
        threshold=threshold,
        curve=precision_curve(judgments),
        reliability=reliability_table(judgments),
        evidence_by_source=by_source,
    )

