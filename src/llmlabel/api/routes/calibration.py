"""Calibration of a guideline version: its report, its target precision, a refit on demand.

The version is one of the team's default project of the task (the calibration of
other projects' versions is not exposed yet). The report is the JSON the operator
page charts: the precision / review-rate
curve (`curve`, one row per threshold, `chosen` marking the fitted one), the
reliability table (`reliability` bins and `ece`), the estimated precision of
accepted labels with its interval (`accepted_precision`, and `audit` from the
blind audit), the review rate and the evidence count.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body
from pydantic import BaseModel, ConfigDict, Field

from llmlabel import calibration_jobs
from llmlabel.api.bodies import api_router
from llmlabel.api.deps import Operator, ProjectsDep, StoreDep, actor_of
from llmlabel.calibration.report import CalibrationReport
from llmlabel.errors import NotFoundError
from llmlabel.guidelines import Guideline
from llmlabel.projects import Projects

__all__ = ["router"]

router = api_router(prefix="/v1/tasks", tags=["calibration"])


class CalibrationUpdate(BaseModel):
    """A new target precision for the version (null: back to the guideline's front matter)."""

    model_config = ConfigDict(extra="forbid")

    target_precision: float | None = Field(gt=0.5, lt=1.0)


def _guideline(projects: Projects, team: str, task: str, version: str) -> Guideline:
    """A guideline version of the team's default project of `task` (404 naming what is unknown)."""
    if task not in projects.defaults.tasks():
        known = ", ".join(projects.defaults.tasks())
        raise NotFoundError(f"unknown task {task!r} (known tasks: {known})")
    projects.get(team, task)
    stored = projects.store.version_info(team, task, "guideline", version)
    guideline, _ = projects.cache.guideline(team, stored.sha256, task=task, version=version)
    return guideline


@router.get(
    "/{task}/versions/{version}/calibration",
    response_model=CalibrationReport,
    summary="Calibration report of a guideline version",
)
def calibration_report(
    principal: Operator, store: StoreDep, projects: ProjectsDep, task: str, version: str
) -> CalibrationReport:
    """Threshold and where it comes from, accepted precision, review rate, curve, reliability."""
    guideline = _guideline(projects, principal.team, task, version)
    return calibration_jobs.report(store, principal.team, guideline)


@router.post(
    "/{task}/versions/{version}/calibrate",
    response_model=CalibrationReport,
    summary="Refit the version's score and threshold now",
)
def calibrate(
    principal: Operator, store: StoreDep, projects: ProjectsDep, task: str, version: str
) -> CalibrationReport:
    """Fit on every judged label of the version (gold, reviews, audits); later labels route by it."""
    guideline = _guideline(projects, principal.team, task, version)
    calibration_jobs.refit(store, principal.team, guideline)
    return calibration_jobs.report(store, principal.team, guideline)


@router.put(
    "/{task}/versions/{version}/calibration",
    response_model=CalibrationReport,
    summary="Set the version's target precision (and refit)",
)
def set_target(
    principal: Operator,
    store: StoreDep,
    projects: ProjectsDep,
    task: str,
    version: str,
    body: Annotated[CalibrationUpdate, Body()],
) -> CalibrationReport:
    """Change the target precision over the API; the version is refitted at once."""
    guideline = _guideline(projects, principal.team, task, version)
    store.set_calibration_target(
        principal.team, task, version, body.target_precision, actor=actor_of(principal)
    )
    calibration_jobs.refit(store, principal.team, guideline)
    return calibration_jobs.report(store, principal.team, guideline)
