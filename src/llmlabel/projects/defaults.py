"""Each team's default project per task type, made from the built-in definitions on first use.

A batch that names only `"task": T` is labeled by the team's project named T. It
is created the first time the team needs it, holding every built-in version of
T shipped in the package. Until an operator activates a pair in it, it follows
the package: a release that ships a newer built-in version makes that version
active (audited as `version.follow_builtin`), exactly as "latest on disk" used
to. Activating anything pins it.
"""

from __future__ import annotations

import logging
import threading

from llmlabel.definitions import check_pair
from llmlabel.errors import ConflictError, NotFoundError, VersionConflictError
from llmlabel.guidelines import VersionRegistry, content_hash, latest_version
from llmlabel.store import Store
from llmlabel.store.project_models import KINDS, Kind, ProjectInfo

__all__ = ["BUILTIN_ACTOR", "DefaultProjects"]

logger = logging.getLogger(__name__)

BUILTIN_ACTOR = "llmlabel"
"""How audit events name the service itself (creating or updating a default project)."""


class DefaultProjects:
    """Creates a team's default project of a task type, and keeps it level with the built-ins."""

    def __init__(self, store: Store, builtins: VersionRegistry) -> None:
        self.store = store
        self.builtins = builtins
        # Built-ins only change when the package does, i.e. with a new process: sync once.
        self._synced: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._tasks: list[str] | None = None

    def tasks(self) -> list[str]:
        """Task types with built-in definitions (read once: they ship with the package)."""
        if self._tasks is None:
            self._tasks = [t for t in self.builtins.tasks() if self.builtins.guideline_versions(t)]
        return self._tasks

    def _names(self, kind: Kind, task: str) -> list[str]:
        if kind == "guideline":
            return self.builtins.guideline_versions(task)
        return self.builtins.prompt_versions(task)

    def get(self, team: str, task: str) -> ProjectInfo:
        """The team's default project of `task` (created now if it does not exist yet)."""
        try:
            info = self.store.get_project(team, task)
        except NotFoundError:
            info = None
        if info is None:
            info = self._create(team, task)
        with self._lock:
            fresh = (team, task) not in self._synced
            self._synced.add((team, task))
        if fresh and info.default:
            info = self._sync(team, task, info)
        return info

    def _latest(self, task: str) -> tuple[str, str, str, str]:
        gv, g_text = self.builtins.text("guideline", task, None)
        pv, p_text = self.builtins.text("prompt", task, None)
        return gv, g_text, pv, p_text

    def _create(self, team: str, task: str) -> ProjectInfo:
        """The default project holding every built-in version, the latest pair active."""
        gv, g_text, pv, p_text = self._latest(task)
        check_pair(task, g_text, p_text, guideline_version=gv, prompt_version=pv)
        versions: list[tuple[Kind, str, str, str]] = []
        for kind in KINDS:
            for name in self._names(kind, task):
                _, text = self.builtins.text(kind, task, name)
                versions.append((kind, name, content_hash(text), text))
        try:
            self.store.create_project(
                team, task, task=task, actor=BUILTIN_ACTOR, default=True, pinned=False,
                source="builtin", versions=versions, active=(gv, pv),
                description=f"the team's default {task} project (built-in definitions)",
            )
        except ConflictError:
            pass  # another request made it first: same built-ins, same content
        return self.store.get_project(team, task)

    def _sync(self, team: str, task: str, info: ProjectInfo) -> ProjectInfo:
        """Import built-in versions the project lacks; follow the latest while unpinned."""
        for kind in KINDS:
            have = info.guideline_versions if kind == "guideline" else info.prompt_versions
            for name in self._names(kind, task):
                if name in have:
                    continue
                _, text = self.builtins.text(kind, task, name)
                try:
                    self.store.add_versions(
                        team, task, {kind: (content_hash(text), text, name)},
                        actor=BUILTIN_ACTOR, source="builtin",
                    )
                except VersionConflictError:
                    # The team pushed its own version under this name: theirs stays.
                    logger.warning("builtin.skipped team=%s task=%s %s=%s", team, task, kind, name)
        info = self.store.get_project(team, task)
        if info.active.pinned:
            return info
        gv = latest_version([n for n in self._names("guideline", task) if n in info.guideline_versions])
        pv = latest_version([n for n in self._names("prompt", task) if n in info.prompt_versions])
        if gv and pv and (gv, pv) != (info.active.guideline_version, info.active.prompt_version):
            info = self.store.activate_project(
                team, task, guideline_version=gv, prompt_version=pv, actor=BUILTIN_ACTOR,
                pinned=False, action="version.follow_builtin",
            )
        return info
