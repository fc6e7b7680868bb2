"""Task objects per (project, task, guideline version), built once for a report or a scoring pass."""

from __future__ import annotations

from llmlabel.errors import LlmlabelError
from llmlabel.guidelines import VersionRegistry
from llmlabel.projects.service import Projects
from llmlabel.tasks import Task, build_task

__all__ = ["TaskCache"]


class TaskCache:
    """Task objects per (project, task, guideline version); None when one cannot be loaded.

    From a team's projects the versions are the team's (by hash when known); from
    a `VersionRegistry`, the built-in files (tests, offline scoring). A version
    that is gone or no longer builds gives None, so a report counts its items as
    skipped instead of failing as a whole.
    """

    def __init__(self, source: Projects | VersionRegistry, team: str | None = None) -> None:
        self.source = source
        self.team = team
        self._tasks: dict[tuple[str | None, str, str | None], Task | None] = {}

    def get(
        self, task: str, version: str | None, project: str | None = None,
        guideline_hash: str | None = None,
    ) -> Task | None:
        key = (project, task, version)
        if key not in self._tasks:
            try:
                self._tasks[key] = self._build(task, version, project, guideline_hash)
            except LlmlabelError:
                self._tasks[key] = None
        return self._tasks[key]

    def _build(
        self, task: str, version: str | None, project: str | None, sha: str | None
    ) -> Task:
        if isinstance(self.source, VersionRegistry):
            return build_task(self.source.guideline(task, version))
        return self.source.task_for(
            self.team or "", task=task, guideline_version=version, guideline_hash=sha,
            project=project or task,
        )
