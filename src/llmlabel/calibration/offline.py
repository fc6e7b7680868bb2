"""Calibrate on one labeled set, report on another: what `llmlabel eval --calibrate` does.

Pure: label records and gold labels in, a fit and re-routed records out. The
records are routed again from their samples (`Labeler.record`), so the fitted
score and threshold apply exactly as the service would apply them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from llmlabel.calibration.fit import CalibrationFit, EvidenceSource, JudgedLabel, fit_calibration
from llmlabel.domain import LabelRecord, Route

if TYPE_CHECKING:
    from llmlabel.labeler import Labeler

__all__ = ["CalibratedSummary", "calibrate_records", "judged_labels", "reroute", "summarize"]

Pair = tuple[LabelRecord, dict[str, Any]]


class CalibratedSummary(BaseModel):
    """The keys `eval --calibrate --json` adds, computed on the reported items at the fit."""

    model_config = ConfigDict(extra="forbid")

    threshold: float | None
    threshold_source: str
    calibration_status: str
    target_precision: float
    score_signal: str
    accepted_precision: float | None
    accepted_n: int
    review_rate: float
    calibration_evidence: int
    calibration_reason: str


def judged_labels(labeler: Labeler, pairs: Sequence[Pair]) -> list[JudgedLabel]:
    """Gold-judged evidence from labeled gold items (a missing label is a wrong one)."""
    return [
        JudgedLabel(
            item_id=record.id,
            signals=dict(record.signals),
            correct=record.label is not None and labeler.task.is_correct(record.label, gold),
            source=EvidenceSource.GOLD,
        )
        for record, gold in pairs
    ]


def calibrate_records(labeler: Labeler, pairs: Sequence[Pair], target_precision: float) -> CalibrationFit:
    """Fit score and threshold for the labeler's version on labeled gold items."""
    routing = labeler.guideline.routing
    return fit_calibration(
        judged_labels(labeler, pairs),
        target_precision=target_precision,
        configured_threshold=routing.threshold,
        min_evidence=routing.min_evidence,
    )


def reroute(
    labeler: Labeler, items: dict[str, dict[str, Any]], records: Sequence[LabelRecord],
    fit: CalibrationFit | None,
) -> list[LabelRecord]:
    """The records routed again from their samples under `fit` (None: configured threshold)."""
    saved = labeler.calibration
    labeler.calibration = fit
    try:
        out = []
        for record in records:
            view = labeler.task.validate_input(items[record.id])
            again = labeler.record(record.id, view, list(record.samples), record.usage)
            # Rescoring saved samples: the model and backend that drew them stay on the record.
            out.append(again.model_copy(update={
                "duration_s": record.duration_s, "backend": record.backend, "model": record.model,
            }))
        return out
    finally:
        labeler.calibration = saved


def summarize(labeler: Labeler, fit: CalibrationFit, pairs: Sequence[Pair], target: float) -> CalibratedSummary:
    """Precision of the accepted labels and the review rate on the reported items."""
    accepted = [
        labeler.task.is_correct(record.label, gold)
        for record, gold in pairs
        if record.route == Route.ACCEPT and record.label is not None
    ]
    n = len(pairs)
    return CalibratedSummary(
        threshold=fit.threshold.threshold,
        threshold_source=fit.threshold.source,
        calibration_status=fit.threshold.status.value,
        target_precision=target,
        score_signal=fit.score_signal,
        accepted_precision=sum(accepted) / len(accepted) if accepted else None,
        accepted_n=len(accepted),
        review_rate=1.0 - len(accepted) / n if n else 0.0,
        calibration_evidence=fit.threshold.evidence_n,
        calibration_reason=fit.threshold.reason,
    )
