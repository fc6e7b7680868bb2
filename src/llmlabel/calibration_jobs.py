"""Calibration use cases shared by the API, the workers and gold labeling.

Calibration belongs to a project's guideline version (`project`: the project's
name; a team's default project of a task is named after the task), so two
projects of one task never share evidence, targets or fits.

Evidence for a guideline version (each judged item once, see `calibration.fit`):
- gold items the version labeled: right when `Task.is_correct(label, gold)`;
- reviewed items labeled by the version: approve = the LLM was right, fix or
  reject = wrong; items sent to review by the blind audit count as `audit`.

A fit is made on demand (`refit`, `POST .../calibrate`) and lazily once
`refit_every` new judgments came in since the last one: the worker's lookup
(`fit_for_labeling`, cached for a few seconds) and the report both check the
counter, so routing and reports never run on a fit older than that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from llmlabel.calibration import (
    CalibrationFit,
    EvidenceSource,
    JudgedLabel,
    fit_calibration,
    wilson_interval,
)
from llmlabel.calibration.report import CalibrationReport, build_report
from llmlabel.domain import ItemState
from llmlabel.guidelines import Guideline
from llmlabel.store import Store
from llmlabel.tasks import build_task

__all__ = [
    "LabelingRouting",
    "cached_routing",
    "collect_evidence",
    "fit_for_labeling",
    "note_judgments",
    "refit",
    "report",
    "routing_for",
    "target_for",
]

_JUDGED = {ItemState.APPROVED: True, ItemState.FIXED: False, ItemState.REJECTED: False}
_CACHE_S = 5.0


@dataclass(slots=True)
class _Cached:
    at: float
    fit: CalibrationFit | None
    target: float | None = None


@dataclass(frozen=True, slots=True)
class LabelingRouting:
    """How the worker routes a version's new labels for one team."""

    fit: CalibrationFit | None  # None: the configured threshold
    audit: bool  # draw the blind audit (only while the version has a target precision)


# (team, project, guideline version) -> the fit last read or made.
_FITS: dict[tuple[str, str, str], _Cached] = {}


def target_for(
    store: Store, team: str, project: str, guideline: Guideline
) -> tuple[float | None, str]:
    """The version's target precision and where it comes from (`api` or `guideline`)."""
    override = store.calibration_target(team, project, guideline.version)
    if override is not None:
        return override, "api"
    return guideline.routing.target_precision, "guideline"


def collect_evidence(
    store: Store, team: str, project: str, guideline: Guideline
) -> list[JudgedLabel]:
    """Every judged label of the project's version: its gold items, reviews and audits."""
    task, version = guideline.task, guideline.version
    evidence = [
        JudgedLabel(
            item_id=item.item_id,
            signals=dict(item.record.signals),
            correct=_JUDGED[item.state],
            source=EvidenceSource.AUDIT if item.record.audited else EvidenceSource.REVIEW,
        )
        for item in store.judged_items(team, project, version)
        if item.state in _JUDGED and item.record.label is not None
    ]
    gold_ids = store.gold_ids(team, task)
    if gold_ids:
        checker = build_task(guideline)
        records = store.gold_records(team, gold_ids)
        for gold in store.get_golds(team, gold_ids):
            # Records are per (project, guideline, prompt): this project's version only.
            mine = [r for (of, gv, _), r in sorted(records.get(gold.gold_id, {}).items())
                    if of == project and gv == version]
            if not mine:
                continue
            record = mine[-1]  # the latest prompt version's label of this gold item
            evidence.append(JudgedLabel(
                item_id=gold.gold_id,
                signals=dict(record.signals),
                correct=record.label is not None and checker.is_correct(record.label, gold.label),
                source=EvidenceSource.GOLD,
            ))
    return evidence


def refit(store: Store, team: str, project: str, guideline: Guideline) -> CalibrationFit | None:
    """Fit the version's score and threshold now and make it current (None: no target set)."""
    target, _ = target_for(store, team, project, guideline)
    if target is None:
        return None
    routing = guideline.routing
    fit = fit_calibration(
        collect_evidence(store, team, project, guideline),
        target_precision=target,
        configured_threshold=routing.threshold,
        min_evidence=routing.min_evidence,
    )
    store.save_calibration_fit(team, project, guideline.version, fit)
    _FITS[(team, project, guideline.version)] = _Cached(time.monotonic(), fit, target)
    return fit


def note_judgments(
    store: Store, team: str, project: str, version: str, item_ids: list[str] | None = None,
    n: int = 0,
) -> int:
    """Record new judgments of a version: decided items (marked for the evidence scan) and
    `n` more (gold); returns how many came since the last fit (a due refit happens on the
    next lookup)."""
    ids = item_ids or []
    store.mark_judged(team, project, version, ids)
    return store.count_judgments(team, project, version, len(ids) + n)


def _due(
    store: Store, team: str, project: str, guideline: Guideline, fit: CalibrationFit | None
) -> bool:
    every = guideline.routing.refit_every
    judged = store.count_judgments(team, project, guideline.version, 0)
    return (fit is None and judged > 0) or (every > 0 and judged >= every)


def fit_for_labeling(
    store: Store, team: str, project: str, guideline: Guideline
) -> CalibrationFit | None:
    """The fit that routes the version's new labels: cached briefly, refitted when due.

    A version without a target precision is not calibrated (None: its configured
    threshold routes). This is the one call the worker makes per labeler.
    """
    return _lookup(store, team, project, guideline).fit


def routing_for(store: Store, team: str, project: str, guideline: Guideline) -> LabelingRouting:
    """The fit and whether to audit, for the worker (the one call it makes per item; cached)."""
    cached = _lookup(store, team, project, guideline)
    return LabelingRouting(fit=cached.fit, audit=cached.target is not None)


def cached_routing(team: str, project: str, guideline: Guideline) -> LabelingRouting | None:
    """`routing_for` while its cached answer is fresh, None when the store must be asked.

    No store call: the worker's event loop asks this first and sends only a miss
    (one every few seconds per team and version) to an I/O thread.
    """
    cached = _fresh(team, project, guideline)
    return None if cached is None else LabelingRouting(fit=cached.fit, audit=cached.target is not None)


def _fresh(team: str, project: str, guideline: Guideline) -> _Cached | None:
    cached = _FITS.get((team, project, guideline.version))
    if cached is not None and time.monotonic() - cached.at < _CACHE_S:
        return cached
    return None


def _lookup(store: Store, team: str, project: str, guideline: Guideline) -> _Cached:
    key = (team, project, guideline.version)
    cached = _fresh(team, project, guideline)
    if cached is not None:
        return cached
    target, _ = target_for(store, team, project, guideline)
    fit = store.calibration_fit(team, project, guideline.version) if target else None
    if target is not None and (
        _due(store, team, project, guideline, fit)
        or (fit is not None and fit.threshold.target_precision != target)
    ):
        fit = refit(store, team, project, guideline)
    cached = _FITS[key] = _Cached(time.monotonic(), fit, target)
    return cached


def report(store: Store, team: str, project: str, guideline: Guideline) -> CalibrationReport:
    """The version's calibration report (refitting first when a refit is due)."""
    task, version = guideline.task, guideline.version
    fit = fit_for_labeling(store, team, project, guideline)
    target, source = target_for(store, team, project, guideline)
    labeled, accepted = store.labeled_counts(team, project, version)
    audits = [i for i in store.judged_items(team, project, version)
              if i.record.audited and i.state in _JUDGED]
    audit_right = sum(1 for i in audits if _JUDGED[i.state])
    return build_report(
        task=task,
        project=project,
        guideline_version=version,
        target_precision=target,
        target_source=source,
        configured_threshold=guideline.routing.threshold,
        fit=fit,
        labeled_n=labeled,
        accepted_n=accepted,
        audit_n=len(audits),
        audit_correct=audit_right,
        audit_interval=wilson_interval(audit_right, len(audits)),
        history=store.calibration_history(team, project, version),
    )
