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

from collections.abc import Callable
from typing import Annotated

from fastapi import Body, Depends
from fastapi.routing import APIRouter
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


def _task_project(projects: ProjectsDep, task: str) -> str:
    """`/v1/tasks/{task}`: the team's default project of the task, named after it."""
    return _default_project(projects, task)


def _named_project(name: str) -> str:
    """`/v1/projects/{name}`: any project of the team (404 when it has none of that name)."""
    return name


def _add_routes(router: APIRouter, path: str, project_of: Callable[..., str], of: str) -> None:
    """The three calibration routes under `path`, for the project `project_of` names."""

    @router.get(f"{path}/calibration", response_model=CalibrationReport,
                summary=f"Calibration report of a guideline version ({of})")
    def calibration_report(
        principal: Operator, store: StoreDep, projects: ProjectsDep, version: str,
        project: str = Depends(project_of),
    ) -> CalibrationReport:
        """Threshold and where it comes from, accepted precision, review rate, curve, reliability."""
        return _report(store, projects, principal.team, project, version)

    @router.post(f"{path}/calibrate", response_model=CalibrationReport,
                 summary=f"Refit the version's score and threshold now ({of})")
    def calibrate(
        principal: Operator, store: StoreDep, projects: ProjectsDep, version: str,
        project: str = Depends(project_of),
    ) -> CalibrationReport:
        """Fit on every judged label of the version (gold, reviews, audits); later labels
        route by it."""
        return _report(store, projects, principal.team, project, version, refit=True)

    @router.put(f"{path}/calibration", response_model=CalibrationReport,
                summary=f"Set the version's target precision and refit ({of})")
    def set_target(
        principal: Operator, store: StoreDep, projects: ProjectsDep, version: str,
        body: Annotated[CalibrationUpdate, Body()], project: str = Depends(project_of),
    ) -> CalibrationReport:
        """Change the target precision over the API; the version is refitted at once."""
        return _set_target(store, projects, principal, project, version, body)


_add_routes(router, "/{task}/versions/{version}", _task_project, "the task's default project")
_add_routes(project_router, "/{name}/versions/guideline/{version}", _named_project,
            "any project of the team")
