"""Tasks and their guideline/prompt versions: list, activate, roll back (audited by the store).

A version can be evaluated on the team's gold items before it is activated:
`POST .../versions/{version}/evaluate` queues a worker job that labels every gold
item of the task with it and stores an EvalReport (`GET /{task}/evaluations`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Query
from pydantic import BaseModel, Field

from llmlabel.api.bodies import api_router
from llmlabel.api.catalog import known_tasks, require_task
from llmlabel.api.deps import (
    CurrentPrincipal,
    CursorQuery,
    Operator,
    RegistryDep,
    StoreDep,
    actor_of,
)
from llmlabel.api.schemas import (
    ActivateRequest,
    ActiveVersions,
    TaskList,
    TaskSummary,
    TaskVersions,
    VersionFile,
)
from llmlabel.errors import ConflictError, NotFoundError, UnknownVersionError
from llmlabel.guidelines import VersionRegistry
from llmlabel.store import Store
from llmlabel.store.gold_models import GoldEvaluation

__all__ = ["router"]

router = api_router(prefix="/v1/tasks", tags=["versions"])


def _active(registry: VersionRegistry, store: Store, task: str) -> ActiveVersions:
    guideline, prompt = store.active_versions(task)
    return ActiveVersions(
        task=task,
        guideline_version=guideline or registry.guideline(task).version,
        prompt_version=prompt or registry.prompt(task).version,
        pinned=guideline is not None,
    )


@router.get("", response_model=TaskList, summary="Tasks with active and available versions")
def list_tasks(_: CurrentPrincipal, store: StoreDep, registry: RegistryDep) -> TaskList:
    """Every task with its active pair and the versions on disk."""
    return TaskList(
        tasks=[
            TaskSummary(
                task=task,
                active=_active(registry, store, task),
                guideline_versions=registry.guideline_versions(task),
                prompt_versions=registry.prompt_versions(task),
            )
            for task in known_tasks(registry)
        ]
    )


@router.get("/{task}/versions", response_model=TaskVersions, summary="Versions and history")
def task_versions(
    _: CurrentPrincipal, store: StoreDep, registry: RegistryDep, task: str
) -> TaskVersions:
    """Versions with content hashes, the active pair and the history of activations."""
    require_task(registry, task, as_not_found=True)
    guidelines = [registry.guideline(task, v) for v in registry.guideline_versions(task)]
    prompts = [registry.prompt(task, v) for v in registry.prompt_versions(task)]
    return TaskVersions(
        task=task,
        active=_active(registry, store, task),
        guidelines=[
            VersionFile(version=g.version, content_hash=g.content_hash,
                        description=g.description or None)
            for g in guidelines
        ],
        prompts=[VersionFile(version=p.version, content_hash=p.content_hash) for p in prompts],
        history=store.version_history(task),
    )


class EvaluationList(BaseModel):
    """A task's evaluations on gold, newest first."""

    task: str
    evaluations: list[GoldEvaluation]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")


def _checked_pair(
    registry: VersionRegistry, store: Store, task: str, version: str, prompt_version: str | None
) -> str:
    """The prompt version to use with guideline `version` (404/422 naming what is unknown)."""
    require_task(registry, task, as_not_found=True)
    have = registry.guideline_versions(task)
    if version not in have:
        raise NotFoundError(
            f"no guideline version {version!r} for task {task!r} (known: {', '.join(have)})"
        )
    prompt_version = prompt_version or _active(registry, store, task).prompt_version
    prompts = registry.prompt_versions(task)
    if prompt_version not in prompts:
        raise UnknownVersionError(
            f"no prompt version {prompt_version!r} for task {task!r} (known: {', '.join(prompts)})"
        )
    return prompt_version


@router.post(
    "/{task}/versions/{version}/activate",
    response_model=ActiveVersions,
    summary="Activate a guideline version (and prompt version)",
)
def activate(
    principal: Operator,
    store: StoreDep,
    registry: RegistryDep,
    task: str,
    version: str,
    body: Annotated[ActivateRequest | None, Body()] = None,
) -> ActiveVersions:
    """Point new batches of `task` at guideline `version` (operator or admin)."""
    prompt_version = _checked_pair(
        registry, store, task, version, body.prompt_version if body else None
    )
    store.activate(
        task, guideline_version=version, prompt_version=prompt_version, actor=actor_of(principal)
    )
    return _active(registry, store, task)


@router.post("/{task}/rollback", response_model=ActiveVersions, summary="Re-activate the previous pair")
def rollback(
    principal: Operator, store: StoreDep, registry: RegistryDep, task: str
) -> ActiveVersions:
    """Go back to the versions active before the last activation (409 if there were none)."""
    require_task(registry, task, as_not_found=True)
    store.rollback(task, actor=actor_of(principal))
    return _active(registry, store, task)


@router.post(
    "/{task}/versions/{version}/evaluate",
    status_code=202,
    response_model=GoldEvaluation,
    summary="Evaluate a guideline version (and prompt version) on the team's gold items",
    responses={409: {"description": "The team has no gold items for this task"}},
)
def evaluate(
    principal: Operator,
    store: StoreDep,
    registry: RegistryDep,
    task: str,
    version: str,
    body: Annotated[ActivateRequest | None, Body()] = None,
) -> GoldEvaluation:
    """Queue a job labeling every gold item of `task` with this version; poll the evaluations."""
    prompt_version = _checked_pair(
        registry, store, task, version, body.prompt_version if body else None
    )
    if store.gold_count(principal.team, task) == 0:
        raise ConflictError(
            f"your team has no gold items for task {task!r}: upload some with POST /v1/gold"
        )
    return store.create_evaluation(
        principal.team, task, guideline_version=version, prompt_version=prompt_version,
        actor=actor_of(principal),
    )


@router.get(
    "/{task}/evaluations", response_model=EvaluationList, summary="Evaluations of versions on gold"
)
def evaluations(
    principal: Operator,
    store: StoreDep,
    registry: RegistryDep,
    task: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: CursorQuery = None,
) -> EvaluationList:
    """The team's evaluations of `task` versions on gold, newest first, with their reports."""
    require_task(registry, task, as_not_found=True)
    found, next_cursor = store.evaluations_page(principal.team, task, cursor=cursor, limit=limit)
    return EvaluationList(task=task, evaluations=found, next_cursor=next_cursor)
