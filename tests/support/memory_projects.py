"""The project calls of the Store, in memory, for unit tests of routes over a stand-in store.

Enough for the API to make and read a team's default project of a task (what a
batch naming only a task needs); nothing is recorded, so tests asserting that a
rejected request stored nothing keep their meaning. Real Redis: tests/integration.
"""

from __future__ import annotations

from typing import Any

from llmlabel.errors import NotFoundError
from llmlabel.store.project_models import ActivePair, ProjectInfo, VersionInfo


class MemoryProjects:
    """The project calls a default project needs, in memory (not recorded: no batch is stored)."""

    def __init__(self) -> None:
        self.projects: dict[str, ProjectInfo] = {}
        self.versions: dict[tuple[str, str, str], VersionInfo] = {}
        self.texts: dict[str, str] = {}

    def create_project(self, team: str, name: str, *, task: str,
                       versions: list[tuple[str, str, str, str]], active: tuple[str, str],
                       **kw: Any) -> ProjectInfo:
        for kind, version, sha, text in versions:
            self.texts[sha] = text
            self.versions[(name, kind, version)] = VersionInfo(
                kind=kind, version=version, sha256=sha, created_at=0.0, created_by="t")  # type: ignore[arg-type]
        self.projects[name] = ProjectInfo(
            team=team, name=name, task=task, default=kw.get("default", False), created_at=0.0,
            created_by="t", active=ActivePair(guideline_version=active[0],
                                              prompt_version=active[1], pinned=False),
            guideline_versions=[v for k, v, _, _ in versions if k == "guideline"],
            prompt_versions=[v for k, v, _, _ in versions if k == "prompt"])
        return self.projects[name]

    def get_project(self, team: str, name: str) -> ProjectInfo:
        if name not in self.projects:
            raise NotFoundError(f"no project {name!r}")
        return self.projects[name]

    def add_versions(self, team: str, name: str, versions: dict[str, tuple[str, str, str | None]],
                     **kw: Any) -> dict[str, tuple[str, bool]]:
        project = self.projects[name]
        for kind, (sha, text, version) in versions.items():
            assert version is not None, "the stand-in only imports named (built-in) versions"
            self.texts[sha] = text
            self.versions[(name, kind, version)] = VersionInfo(
                kind=kind, version=version, sha256=sha, created_at=0.0, created_by="t")  # type: ignore[arg-type]
            names = project.guideline_versions if kind == "guideline" else project.prompt_versions
            names.append(version)
        return {kind: (v or "", True) for kind, (_, _, v) in versions.items()}

    def version_info(self, team: str, name: str, kind: str, version: str) -> VersionInfo:
        if (name, kind, version) not in self.versions:
            known = ", ".join(v for (n, k, v) in self.versions if (n, k) == (name, kind))
            raise NotFoundError(
                f"project {name!r} has no {kind} version {version!r} (known: {known})"
            )
        return self.versions[(name, kind, version)]

    def version_text(self, team: str, kind: str, sha: str) -> str:
        return self.texts[sha]
