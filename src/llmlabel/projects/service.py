"""Project use cases shared by the API, the CLI (through the API) and the workers.

Rules that live here and nowhere else: a version is checked as a whole before
it is stored (guideline and prompt together; a part pushed alone is checked
with the other part active); an activated pair must work together; a batch or
evaluation resolves to exact content hashes; a name equal to a task type is
that type's default project. Routes stay thin and call these methods.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from llmlabel.definitions import check_pair
from llmlabel.errors import ConflictError, InputError, NotFoundError, UnknownVersionError
from llmlabel.guidelines import Guideline, PromptTemplate, VersionRegistry, content_hash
from llmlabel.projects.content import VersionCache
from llmlabel.projects.defaults import DefaultProjects
from llmlabel.review_priority import ReviewOrder
from llmlabel.settings import Settings
from llmlabel.store import Store
from llmlabel.store.gold_models import GoldEvaluation
from llmlabel.store.keys import check_name
from llmlabel.store.models import AuditEvent
from llmlabel.store.project_models import Kind, ProjectInfo, VersionInfo, VersionRef
from llmlabel.tasks import TASK_TYPES, Task

__all__ = ["Added", "Diff", "Projects", "Resolved", "pin_of"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """The exact versions a batch or an evaluation labels with."""

    project: ProjectInfo
    guideline: Guideline
    prompt: PromptTemplate
    task: Task

    @property
    def guideline_hash(self) -> str:
        return self.guideline.content_hash

    @property
    def prompt_hash(self) -> str:
        return self.prompt.content_hash

    def refs(self) -> tuple[VersionRef, VersionRef]:
        """The identities of the two versions (what per-version results key on)."""
        p = self.project
        return (
            VersionRef(p.team, p.name, "guideline", self.guideline.version, self.guideline_hash),
            VersionRef(p.team, p.name, "prompt", self.prompt.version, self.prompt_hash),
        )


@dataclass(frozen=True, slots=True)
class Added:
    """What pushing versions did: per kind, the version name and whether it is new."""

    project: str
    versions: dict[Kind, tuple[VersionInfo, bool]]

    @property
    def created(self) -> bool:
        return any(new for _, new in self.versions.values())


@dataclass(frozen=True, slots=True)
class Diff:
    """A unified diff between two versions of one kind."""

    project: str
    kind: Kind
    from_version: VersionInfo
    to_version: VersionInfo
    diff: str


class Projects:
    """Create projects, push and read versions, diff, activate, roll back, resolve batches."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        builtins: VersionRegistry | None = None,
        cache: VersionCache | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.cache = cache or VersionCache(store)
        self.defaults = DefaultProjects(store, builtins or VersionRegistry())

    # -- reading -----------------------------------------------------------------------

    def get(self, team: str, name: str) -> ProjectInfo:
        """A project; a task type's name is the team's default project (made on first use)."""
        if name in TASK_TYPES and name in self.defaults.tasks():
            return self.defaults.get(team, name)
        return self.store.get_project(team, name)

    def of_team(self, team: str) -> list[ProjectInfo]:
        """The team's projects in creation order."""
        return self.store.list_projects(team)

    def version(self, team: str, name: str, kind: Kind, version: str) -> tuple[VersionInfo, str]:
        """A version's provenance and text."""
        self.get(team, name)
        info = self.store.version_info(team, name, kind, version)
        return info, self.cache.text(team, kind, info.sha256)

    def versions(self, team: str, name: str, kind: Kind) -> list[VersionInfo]:
        """Every version of one kind, oldest first."""
        self.get(team, name)
        return self.store.list_versions(team, name, kind)

    def history(self, team: str, name: str) -> list[AuditEvent]:
        """The project's audited history, newest first."""
        self.get(team, name)
        return self.store.project_history(team, name)

    def diff(
        self, team: str, name: str, kind: Kind, from_version: str | None, to_version: str
    ) -> Diff:
        """Unified diff from `from_version` (default: the active one) to `to_version`."""
        project = self.get(team, name)
        active = project.active
        start = from_version or (
            active.guideline_version if kind == "guideline" else active.prompt_version
        )
        a_info, a_text = self.version(team, name, kind, start)
        b_info, b_text = self.version(team, name, kind, to_version)
        lines = difflib.unified_diff(
            a_text.splitlines(keepends=True), b_text.splitlines(keepends=True),
            fromfile=f"{name}/{kind}/{start}", tofile=f"{name}/{kind}/{to_version}",
        )
        return Diff(name, kind, a_info, b_info, "".join(lines))

    # -- writing -----------------------------------------------------------------------

    def _check_profile(self, profile: str | None) -> None:
        if profile is not None and profile not in self.settings.profile_names():
            raise InputError(
                f"unknown model profile {profile!r} "
                f"(configured on this server: {', '.join(self.settings.profile_names())})",
                field="model_profile",
            )

    def create(
        self,
        team: str,
        actor: str,
        *,
        name: str,
        task: str,
        guideline: str,
        prompt: str,
        guideline_version: str | None = None,
        prompt_version: str | None = None,
        model_profile: str | None = None,
        description: str = "",
    ) -> ProjectInfo:
        """A new project with its first version pair, checked before anything is stored."""
        check_name(name, what="project name", field="name")
        if task not in TASK_TYPES:
            raise InputError(
                f"unknown task type {task!r} (known: {', '.join(sorted(TASK_TYPES))})",
                field="task",
            )
        if name in TASK_TYPES and name != task:
            raise InputError(
                f"the project name {name!r} is reserved for your team's default {name} project",
                field="name",
            )
        self._check_profile(model_profile)
        gv = _version_name(guideline_version or "v1", "guideline_version")
        pv = _version_name(prompt_version or "v1", "prompt_version")
        check_pair(task, guideline, prompt, guideline_version=gv, prompt_version=pv)
        return self.store.create_project(
            team, name, task=task, actor=actor, model_profile=model_profile,
            description=description, default=name == task, pinned=True,
            versions=[
                ("guideline", gv, content_hash(guideline), guideline),
                ("prompt", pv, content_hash(prompt), prompt),
            ],
            active=(gv, pv),
        )

    def push(
        self,
        team: str,
        actor: str,
        name: str,
        *,
        guideline: str | None = None,
        prompt: str | None = None,
        guideline_version: str | None = None,
        prompt_version: str | None = None,
    ) -> Added:
        """Add a guideline and/or prompt version, checked with the other part (active if not given)."""
        if guideline is None and prompt is None:
            raise InputError("send a 'guideline' and/or a 'prompt' text", field="guideline")
        for value, field in ((guideline_version, "guideline_version"),
                             (prompt_version, "prompt_version")):
            if value is not None:
                _version_name(value, field)
        project = self.get(team, name)
        active = project.active
        g_text = guideline if guideline is not None else self.version(
            team, name, "guideline", active.guideline_version)[1]
        p_text = prompt if prompt is not None else self.version(
            team, name, "prompt", active.prompt_version)[1]
        check_pair(
            project.task, g_text, p_text,
            guideline_version=guideline_version or "new", prompt_version=prompt_version or "new",
        )
        wanted: dict[Kind, tuple[str, str, str | None]] = {}
        if guideline is not None:
            wanted["guideline"] = (content_hash(guideline), guideline, guideline_version)
        if prompt is not None:
            wanted["prompt"] = (content_hash(prompt), prompt, prompt_version)
        outcome = self.store.add_versions(team, name, wanted, actor=actor)
        return Added(name, {
            kind: (self.store.version_info(team, name, kind, version), created)
            for kind, (version, created) in outcome.items()
        })

    def activate(
        self,
        team: str,
        actor: str,
        name: str,
        *,
        guideline_version: str | None = None,
        prompt_version: str | None = None,
    ) -> ProjectInfo:
        """Make a pair active (a part not named stays as it is); the pair is checked first."""
        project = self.get(team, name)
        resolved = self.resolve(
            team, project=name,
            guideline_version=guideline_version or project.active.guideline_version,
            prompt_version=prompt_version or project.active.prompt_version,
        )
        return self.store.activate_project(
            team, name, guideline_version=resolved.guideline.version,
            prompt_version=resolved.prompt.version, actor=actor,
        )

    def rollback(self, team: str, actor: str, name: str) -> ProjectInfo:
        """Re-activate the pair active before the last activation (ConflictError if none)."""
        self.get(team, name)
        return self.store.rollback_project(team, name, actor=actor)

    def set_review_order(self, team: str, actor: str, name: str, order: ReviewOrder) -> ProjectInfo:
        """Order the project's review queue by age or by value (items queued from now on)."""
        self.get(team, name)
        return self.store.set_review_order(team, name, order, actor=actor)

    # -- resolving ---------------------------------------------------------------------

    def resolve(
        self,
        team: str,
        *,
        project: str | None = None,
        task: str | None = None,
        guideline_version: str | None = None,
        prompt_version: str | None = None,
    ) -> Resolved:
        """The exact versions to label with: pinned names, else the project's active pair.

        Without a project, the team's default project of `task` is used. Unknown
        projects and versions are input errors (422) naming them (routes whose path
        names the project look it up first, for a 404).
        """
        if project is None:
            if task is None:
                raise InputError("name a 'project' or a 'task'", field="project")
            if task not in TASK_TYPES or task not in self.defaults.tasks():
                known = ", ".join(sorted(set(TASK_TYPES) & set(self.defaults.tasks())))
                raise UnknownVersionError(f"unknown task {task!r} (known tasks: {known})")
            info = self.defaults.get(team, task)
        else:
            try:
                info = self.get(team, project)
            except NotFoundError as exc:
                raise InputError(str(exc), field="project") from None
            if task is not None and task != info.task:
                raise InputError(
                    f"project {project!r} labels task {info.task!r}, not {task!r}", field="task"
                )
        gv = guideline_version or info.active.guideline_version
        pv = prompt_version or info.active.prompt_version
        try:
            g_info = self.store.version_info(team, info.name, "guideline", gv)
            p_info = self.store.version_info(team, info.name, "prompt", pv)
        except NotFoundError as exc:
            raise UnknownVersionError(str(exc)) from None
        pair = self.cache.checked_pair(team, info.task, gv, g_info.sha256, pv, p_info.sha256)
        return Resolved(project=info, guideline=pair.guideline, prompt=pair.prompt, task=pair.task)

    def task_for(
        self,
        team: str,
        *,
        task: str,
        guideline_version: str | None,
        guideline_hash: str | None = None,
        project: str | None = None,
    ) -> Task:
        """The task object an item was labeled under (by hash when known, else by name)."""
        if guideline_hash is None or guideline_version is None:
            resolved = self.resolve(
                team, project=project, task=None if project else task,
                guideline_version=guideline_version,
            )
            return resolved.task
        return self.cache.guideline(
            team, guideline_hash, task=task, version=guideline_version
        )[1]

    # -- gold evaluation -----------------------------------------------------------------

    def gold_ids(self, team: str, project: ProjectInfo) -> list[str]:
        """The gold items a project is evaluated on: those uploaded for it.

        Gold items are kept per task type; each remembers the project whose
        ontology its label was checked against (none: the default project).
        """
        golds = self.store.get_golds(team, self.store.gold_ids(team, project.task))
        mine = {project.name, None} if project.default else {project.name}
        return [g.gold_id for g in golds if g.project in mine]

    def evaluate(
        self,
        team: str,
        actor: str,
        name: str,
        *,
        guideline_version: str | None = None,
        prompt_version: str | None = None,
    ) -> GoldEvaluation:
        """Queue an evaluation of a version pair (default: the active one) on the project's gold."""
        self.get(team, name)
        resolved = self.resolve(
            team, project=name, guideline_version=guideline_version,
            prompt_version=prompt_version,
        )
        gold_ids = self.gold_ids(team, resolved.project)
        if not gold_ids:
            raise ConflictError(
                f"project {name!r} has no gold items: upload some with POST /v1/gold "
                f'(with "project": "{name}")'
            )
        return self.store.create_evaluation(
            team, resolved.project.task, guideline_version=resolved.guideline.version,
            prompt_version=resolved.prompt.version, actor=actor, gold_ids=gold_ids,
            pin=pin_of(resolved),
        )

    def evaluations(self, team: str, name: str, *, limit: int = 50) -> list[GoldEvaluation]:
        """The project's evaluations, newest first."""
        project = self.get(team, name)
        found = self.store.list_evaluations(team, project.task, limit=max(limit, 200))
        mine = [e for e in found
                if e.project == name or (project.default and e.project is None)]
        return mine[:limit]


def _version_name(value: str, field: str) -> str:
    """A valid version name; 'diff' is taken by the diff route of the same path."""
    check_name(value, what="version name", field=field)
    if value == "diff":
        raise InputError("'diff' cannot name a version (it is a route)", field=field)
    return value


def pin_of(resolved: Resolved) -> dict[str, str | None]:
    """The job argument naming exactly what to label with (see `gold_jobs.label_gold`)."""
    return {
        "project": resolved.project.name,
        "guideline_hash": resolved.guideline_hash,
        "prompt_hash": resolved.prompt_hash,
        "model_profile": resolved.project.model_profile,
    }
