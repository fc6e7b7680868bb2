"""Calibration: fit the routing threshold to a target precision from judged labels (pure).

Modules: `bounds` (Wilson interval), `threshold` (fit and precision/review-rate
curve), `reliability` (bins and ECE), `scoring` (one score from every signal),
`fit` (a whole fit from evidence), `audit` (which accepted items are audited).
Nothing here knows of Redis or HTTP.
"""

from __future__ import annotations

from llmlabel.calibration.audit import is_audited
from llmlabel.calibration.bounds import wilson_interval
from llmlabel.calibration.fit import (
    RAW_SIGNAL,
    CalibrationFit,
    EvidenceSource,
    JudgedLabel,
    dedupe_evidence,
    fit_calibration,
)
from llmlabel.calibration.reliability import ReliabilityBin, ReliabilityTable, reliability_table
from llmlabel.calibration.scoring import FITTED_SIGNAL, ScoreModel, fit_score_model
from llmlabel.calibration.threshold import (
    CurvePoint,
    FitStatus,
    Judgment,
    ThresholdFit,
    fit_threshold,
    precision_curve,
)

__all__ = [
    "FITTED_SIGNAL",
    "RAW_SIGNAL",
    "CalibrationFit",
    "CurvePoint",
    "EvidenceSource",
    "FitStatus",
    "JudgedLabel",
    "Judgment",
    "ReliabilityBin",
    "ReliabilityTable",
    "ScoreModel",
    "ThresholdFit",
    "dedupe_evidence",
    "fit_calibration",
    "fit_score_model",
    "fit_threshold",
    "is_audited",
    "precision_curve",
    "reliability_table",
    "wilson_interval",
]
