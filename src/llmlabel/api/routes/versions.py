"""Tasks and their versions: the team's default project of each task type, seen per task.

`/v1/tasks/{task}/...` is a view onto the caller's team's default project of
that task type (the project named after it, made from the built-in definitions
on first use): listing, activating, rolling back and evaluating there is the
same as on `/v1/projects/{task}/...`. Nothing here is global: another team's
activation never changes what this team's batches use.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Query
from pydantic import BaseModel, Field

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import CurrentPrincipal, CursorQuery, Operator, ProjectsDep, actor_of
from llmlabel.api.schemas import (
    ActivateRequest,
    ActiveVersions,
    TaskList,
    TaskSummary,
    TaskVersions,
    VersionFile,
)
from llmlabel.errors import NotFoundError
from llmlabel.projects import Projects
from llmlabel.store.gold_models import GoldEvaluation
from llmlabel.store.project_models import ProjectInfo

__all__ = ["router"]

router = api_router(prefix="/v1/tasks", tags=["versions"])

# Of a default project's history, the task view shows what changed the active pair.
_ACTIVATIONS = {"version.activate", "version.rollback", "version.follow_builtin"}


def _active(info: ProjectInfo) -> ActiveVersions:
    return ActiveVersions(
        task=info.task,
        guideline_version=info.active.guideline_version,
        prompt_version=info.active.prompt_version,
        pinned=info.active.pinned,
    )


def _default(projects: Projects, team: str, task: str) -> ProjectInfo:
    """The team's default project of `task`; 404 naming the known tasks otherwise."""
    known = projects.defaults.tasks()
    if task not in known:
        raise NotFoundError(f"unknown task {task!r} (known tasks: {', '.join(known)})")
    return projects.defaults.get(team, task)


@router.get("", response_model=TaskList, summary="Tasks with active and available versions")
def list_tasks(principal: CurrentPrincipal, projects: ProjectsDep) -> TaskList:
    """Every task type with your team's active pair and the versions of its default project."""
    infos = [_default(projects, principal.team, task) for task in projects.defaults.tasks()]
    return TaskList(
        tasks=[
            TaskSummary(
                task=info.task,
                active=_active(info),
                guideline_versions=info.guideline_versions,
                prompt_versions=info.prompt_versions,
            )
            for info in infos
        ]
    )


@router.get("/{task}/versions", response_model=TaskVersions, summary="Versions and history")
def task_versions(principal: CurrentPrincipal, projects: ProjectsDep, task: str) -> TaskVersions:
    """Versions with content hashes, the active pair and the history of activations."""
    info = _default(projects, principal.team, task)
    team = principal.team
    guidelines = []
    for version in projects.versions(team, task, "guideline"):
        guideline, _ = projects.cache.guideline(
            team, version.sha256, task=task, version=version.version
        )
        guidelines.append(VersionFile(version=version.version, content_hash=version.sha256,
                                      description=guideline.description or None))
    return TaskVersions(
        task=task,
        active=_active(info),
        guidelines=guidelines,
        prompts=[VersionFile(version=v.version, content_hash=v.sha256)
                 for v in projects.versions(team, task, "prompt")],
        history=[e for e in projects.history(team, task) if e.action in _ACTIVATIONS],
    )


class EvaluationList(BaseModel):
    """A task's evaluations on gold, newest first."""

    task: str
    evaluations: list[GoldEvaluation]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")


@router.post(
    "/{task}/versions/{version}/activate",
    response_model=ActiveVersions,
    summary="Activate a guideline version (and prompt version)",
)
def activate(
    principal: Operator,
    projects: ProjectsDep,
    task: str,
    version: str,
    body: Annotated[ActivateRequest | None, Body()] = None,
) -> ActiveVersions:
    """Point your team's new batches of `task` at guideline `version` (operator or admin)."""
    _default(projects, principal.team, task)
    projects.store.version_info(principal.team, task, "guideline", version)  # 404 if unknown
    info = projects.activate(
        principal.team, actor_of(principal), task, guideline_version=version,
        prompt_version=body.prompt_version if body else None,
    )
    return _active(info)


@router.post("/{task}/rollback", response_model=ActiveVersions, summary="Re-activate the previous pair")
def rollback(principal: Operator, projects: ProjectsDep, task: str) -> ActiveVersions:
    """Go back to the versions active before the last activation (409 if there were none)."""
    _default(projects, principal.team, task)
    return _active(projects.rollback(principal.team, actor_of(principal), task))


@router.post(
    "/{task}/versions/{version}/evaluate",
    status_code=202,
    response_model=GoldEvaluation,
    summary="Evaluate a guideline version (and prompt version) on the team's gold items",
    responses={409: {"description": "The team has no gold items for this task"}},
)
def evaluate(
    principal: Operator,
    projects: ProjectsDep,
    task: str,
    version: str,
    body: Annotated[ActivateRequest | None, Body()] = None,
) -> GoldEvaluation:
    """Queue a job labeling every gold item of `task` with this version; poll the evaluations."""
    _default(projects, principal.team, task)
    projects.store.version_info(principal.team, task, "guideline", version)  # 404 if unknown
    return projects.evaluate(
        principal.team, actor_of(principal), task, guideline_version=version,
        prompt_version=body.prompt_version if body else None,
    )


@router.get(
    "/{task}/evaluations", response_model=EvaluationList, summary="Evaluations of versions on gold"
)
def evaluations(
    principal: Operator,
    projects: ProjectsDep,
    task: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: CursorQuery = None,
) -> EvaluationList:
    """The team's evaluations of `task` versions on gold, newest first, with their reports."""
    _default(projects, principal.team, task)
    found, next_cursor = projects.store.evaluations_page(
        principal.team, task, cursor=cursor, limit=limit
    )
    # The task's evaluations are its default project's (other projects list theirs).
    mine = [e for e in found if e.project in (None, task)]
    return EvaluationList(task=task, evaluations=mine, next_cursor=next_cursor)
