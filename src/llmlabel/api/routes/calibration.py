"""Calibration of a guideline version: its report, its target precision, a refit on demand.

Calibration belongs to a project's guideline version: `/v1/projects/{name}/...`
names any project of the team, `/v1/tasks/{task}/...` the team's default project
of the task. The report is the JSON the operator page charts: the precision / review-rate
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
from llmlabel.store import Principal, Store

__all__ = ["project_router", "router"]

router = api_router(prefix="/v1/tasks", tags=["calibration"])
project_router = api_router(prefix="/v1/projects", tags=["calibration"])


class CalibrationUpdate(BaseModel):
    """A new target precision for the version (null: back to the guideline's front matter)."""

    model_config = ConfigDict(extra="forbid")

    target_precision: float | None = Field(gt=0.5, lt=1.0)


def _guideline(projects: Projects, team: str, project: str, version: str) -> Guideline:
    """A guideline version of one of the team's projects (404 naming what is unknown)."""
    info = projects.get(team, project)
    stored = projects.store.version_info(team, project, "guideline", version)
    guideline, _ = projects.cache.guideline(team, stored.sha256, task=info.task, version=version)
    return guideline


def _default_project(projects: Projects, task: str) -> str:
    """The name of a task's default project (the task's own), 404 for an unknown task."""
    if task not in projects.defaults.tasks():
        known = ", ".join(projects.defaults.tasks())
        raise NotFoundError(f"unknown task {task!r} (known tasks: {known})")
    return task


def _report(store: Store, projects: Projects, team: str, project: str, version: str,
            *, refit: bool = False) -> CalibrationReport:
    guideline = _guideline(projects, team, project, version)
    if refit:
        calibration_jobs.refit(store, team, project, guideline)
    return calibration_jobs.report(store, team, project, guideline)


def _set_target(store: Store, projects: Projects, principal: Principal, project: str,
                version: str, body: CalibrationUpdate) -> CalibrationReport:
    _guideline(projects, principal.team, project, version)
    store.set_calibration_target(
        principal.team, project, version, body.target_precision, actor=actor_of(principal)
    )
    return _report(store, projects, principal.team, project, version, refit=True)


@router.get(
    "/{task}/versions/{version}/calibration",
    response_model=CalibrationReport,
    summary="Calibration report of a guideline version (the task's default project)",
)
def calibration_report(
    principal: Operator, store: StoreDep, projects: ProjectsDep, task: str, version: str
) -> CalibrationReport:
    """Threshold and where it comes from, accepted precision, review rate, curve, reliability."""
    return _report(store, projects, principal.team, _default_project(projects, task), version)


@router.post(
    "/{task}/versions/{version}/calibrate",
    response_model=CalibrationReport,
    summary="Refit the version's score and threshold now (the task's default project)",
)
def calibrate(
    principal: Operator, store: StoreDep, projects: ProjectsDep, task: str, version: str
) -> CalibrationReport:
    """Fit on every judged label of the version (gold, reviews, audits); later labels route by it."""
    project = _default_project(projects, task)
    return _report(store, projects, principal.team, project, version, refit=True)


@router.put(
    "/{task}/versions/{version}/calibration",
    response_model=CalibrationReport,
    summary="Set the version's target precision and refit (the task's default project)",
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
    project = _default_project(projects, task)
    return _set_target(store, projects, principal, project, version, body)


@project_router.get(
    "/{name}/versions/guideline/{version}/calibration",
    response_model=CalibrationReport,
    summary="Calibration report of a project's guideline version",
)
def project_calibration_report(
    principal: Operator, store: StoreDep, projects: ProjectsDep, name: str, version: str
) -> CalibrationReport:
    """The report of one project's version: its evidence, target and fit are its own."""
    return _report(store, projects, principal.team, name, version)


@project_router.post(
    "/{name}/versions/guideline/{version}/calibrate",
    response_model=CalibrationReport,
    summary="Refit a project's guideline version now",
)
def project_calibrate(
    principal: Operator, store: StoreDep, projects: ProjectsDep, name: str, version: str
) -> CalibrationReport:
    """Fit on every judged label of the project's version; later labels route by it."""
    return _report(store, projects, principal.team, name, version, refit=True)


@project_router.put(
    "/{name}/versions/guideline/{version}/calibration",
    response_model=CalibrationReport,
    summary="Set a project's guideline version's target precision (and refit)",
)
def project_set_target(
    principal: Operator,
    store: StoreDep,
    projects: ProjectsDep,
    name: str,
    version: str,
    body: Annotated[CalibrationUpdate, Body()],
) -> CalibrationReport:
    """Change the target precision of one project's version; it is refitted at once."""
    return _set_target(store, projects, principal, name, version, body)
