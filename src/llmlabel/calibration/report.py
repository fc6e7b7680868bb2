"""The calibration report of one guideline version: the JSON the API serves and the page draws.

Kept flat on purpose: numbers and short lists a chart reads directly.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmlabel.calibration.fit import CalibrationFit
from llmlabel.calibration.reliability import ReliabilityBin

__all__ = ["CalibrationReport", "CurveRow", "Interval", "build_report"]


class Interval(BaseModel):
    """A precision estimate from `n` judged labels, `correct` of them right, with its 95 % interval."""

    model_config = ConfigDict(extra="forbid")

    n: int
    correct: int
    precision: float | None
    low: float | None
    high: float | None


class CurveRow(BaseModel):
    """One point of the precision / review-rate curve; `chosen` marks the fitted threshold."""

    model_config = ConfigDict(extra="forbid")

    threshold: float
    accepted_n: int
    precision: float
    precision_low: float
    review_rate: float
    chosen: bool


class CalibrationReport(BaseModel):
    """Where a version's threshold comes from and how precise its accepted labels are."""

    model_config = ConfigDict(extra="forbid")

    task: str
    project: str | None = None
    guideline_version: str
    status: str = Field(
        description="calibrated | unreachable (nothing can be accepted) | uncalibrated (too "
        "little evidence: the configured threshold routes) | off (no target precision)"
    )
    target_precision: float | None
    target_source: str = Field(description="api (set over the API) or guideline (front matter)")
    threshold: float | None = Field(description="What routes new labels; null: nothing is accepted")
    threshold_source: str = Field(description="calibrated or configured")
    configured_threshold: float
    score_signal: str = Field(description="The signal routed on: fitted (combined) or consistency")
    fit_id: str | None
    reason: str
    evidence_n: int
    evidence_by_source: dict[str, int]
    accepted_precision: Interval = Field(
        description="Judged labels at or above the threshold, from the fit's evidence"
    )
    audit: Interval = Field(description="The blind audit of auto-accepted labels (unbiased)")
    labeled_n: int
    review_rate: float | None = Field(description="Share of the version's labels sent to review")
    reliability: list[ReliabilityBin]
    ece: float | None
    curve: list[CurveRow]
    history: list[dict[str, Any]] = Field(default_factory=list)


def build_report(
    *,
    task: str,
    guideline_version: str,
    target_precision: float | None,
    project: str | None = None,
    target_source: str,
    configured_threshold: float,
    fit: CalibrationFit | None,
    labeled_n: int,
    accepted_n: int,
    audit_n: int,
    audit_correct: int,
    audit_interval: tuple[float, float],
    history: list[dict[str, Any]],
) -> CalibrationReport:
    """Assemble the report from the fit and the version's counts."""
    audit = Interval(
        n=audit_n,
        correct=audit_correct,
        precision=audit_correct / audit_n if audit_n else None,
        low=audit_interval[0] if audit_n else None,
        high=audit_interval[1] if audit_n else None,
    )
    review_rate = 1.0 - accepted_n / labeled_n if labeled_n else None
    if fit is None:
        return CalibrationReport(
            task=task, project=project, guideline_version=guideline_version,
            status="off" if target_precision is None else "uncalibrated",
            target_precision=target_precision, target_source=target_source,
            threshold=configured_threshold, threshold_source="configured",
            configured_threshold=configured_threshold, score_signal="consistency", fit_id=None,
            reason="no target precision set" if target_precision is None else "not fitted yet",
            evidence_n=0, evidence_by_source={},
            accepted_precision=Interval(n=0, correct=0, precision=None, low=None, high=None),
            audit=audit, labeled_n=labeled_n, review_rate=review_rate,
            reliability=[], ece=None, curve=[], history=history,
        )
    chosen = fit.threshold
    return CalibrationReport(
        task=task, project=project, guideline_version=guideline_version,
        status=chosen.status.value,
        target_precision=target_precision, target_source=target_source,
        threshold=chosen.threshold, threshold_source=chosen.source,
        configured_threshold=configured_threshold, score_signal=fit.score_signal,
        fit_id=fit.fit_id, reason=chosen.reason, evidence_n=chosen.evidence_n,
        evidence_by_source=fit.evidence_by_source,
        accepted_precision=Interval(
            n=chosen.accepted_n, correct=chosen.accepted_correct, precision=chosen.precision,
            low=chosen.precision_low, high=chosen.precision_high,
        ),
        audit=audit, labeled_n=labeled_n, review_rate=review_rate,
        reliability=fit.reliability.bins, ece=fit.reliability.ece,
        curve=[
            CurveRow(
                threshold=p.threshold, accepted_n=p.accepted_n, precision=p.precision,
                precision_low=p.precision_low, review_rate=p.review_rate,
                chosen=chosen.status.value == "calibrated" and p.threshold == chosen.threshold,
            )
            for p in fit.curve
        ],
        history=history,
    )
