"""Tasks and their guideline/prompt versions: list, activate, roll back (audited by the store)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from llmlabel.api.catalog import known_tasks, require_task
from llmlabel.api.deps import CurrentPrincipal, Operator, RegistryDep, StoreDep, actor_of
from llmlabel.api.schemas import (
    ActivateRequest,
    ActiveVersions,
    TaskList,
    TaskSummary,
    TaskVersions,
    VersionFile,
)
from llmlabel.errors import NotFoundError, UnknownVersionError
from llmlabel.guidelines import VersionRegistry
from llmlabel.store import Store

__all__ = ["router"]

router = APIRouter(prefix="/v1/tasks", tags=["versions"])


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
    require_task(registry, task, as_not_found=True)
    have = registry.guideline_versions(task)
    if version not in have:
        raise NotFoundError(
            f"no guideline version {version!r} for task {task!r} (known: {', '.join(have)})"
        )
    prompt_version = (body.prompt_version if body else None) or _active(
        registry, store, task
    ).prompt_version
    prompts = registry.prompt_versions(task)
    if prompt_version not in prompts:
        raise UnknownVersionError(
            f"no prompt version {prompt_version!r} for task {task!r} (known: {', '.join(prompts)})"
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
