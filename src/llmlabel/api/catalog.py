"""Which tasks and versions exist, and which ones a new batch uses.

A task is offered when it has a task type and at least one guideline on disk.
A batch uses the versions it pins, else the task's active versions (a pointer
the store keeps), else the latest versions on disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmlabel.errors import NotFoundError, UnknownVersionError
from llmlabel.guidelines import Guideline, PromptTemplate, VersionRegistry
from llmlabel.store import Store
from llmlabel.tasks import TASK_TYPES, Task, build_task

__all__ = ["ResolvedVersions", "known_tasks", "require_task", "resolve_versions"]


def known_tasks(registry: VersionRegistry) -> list[str]:
    """Tasks with both a task type and guidelines on disk."""
    return [task for task in registry.tasks() if task in TASK_TYPES and registry.guideline_versions(task)]


def require_task(registry: VersionRegistry, task: str, *, as_not_found: bool = False) -> None:
    """Raise UnknownVersionError (422) or NotFoundError (404) listing known tasks if `task` is not one."""
    known = known_tasks(registry)
    if task not in known:
        message = f"unknown task {task!r} (known tasks: {', '.join(known) or 'none'})"
        raise NotFoundError(message) if as_not_found else UnknownVersionError(message)


def _require_version(kind: str, task: str, version: str, have: list[str]) -> None:
    if version not in have:
        raise UnknownVersionError(
            f"unknown {kind} version {version!r} for task {task!r} "
            f"(known {kind} versions: {', '.join(have) or 'none'})"
        )


@dataclass(frozen=True, slots=True)
class ResolvedVersions:
    """The guideline, prompt and task object one batch will be labeled with."""

    guideline: Guideline
    prompt: PromptTemplate
    task: Task


def resolve_versions(
    registry: VersionRegistry,
    store: Store,
    task: str,
    *,
    guideline_version: str | None,
    prompt_version: str | None,
) -> ResolvedVersions:
    """Pinned versions, else active ones, else the latest on disk; UnknownVersionError names the bad one."""
    require_task(registry, task)
    active_guideline, active_prompt = (None, None)
    if guideline_version is None or prompt_version is None:
        active_guideline, active_prompt = store.active_versions(task)
    guideline_version = guideline_version or active_guideline
    prompt_version = prompt_version or active_prompt
    if guideline_version is not None:
        _require_version("guideline", task, guideline_version, registry.guideline_versions(task))
    if prompt_version is not None:
        _require_version("prompt", task, prompt_version, registry.prompt_versions(task))
    guideline = registry.guideline(task, guideline_version)
    prompt = registry.prompt(task, prompt_version)
    return ResolvedVersions(guideline=guideline, prompt=prompt, task=build_task(guideline))
