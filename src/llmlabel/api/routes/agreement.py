"""Agreement between reviewers and the LLM (and between reviewers), per task and version.

Every reviewed item is one (LLM label, reviewer label) pair: an approved item
pairs its label with itself, a fixed item pairs the LLM's consensus with the
reviewer's label, a rejected item has no reviewer label and is counted but
skipped by the measures. The measures are `llmlabel.agreement.agreement_summary`.

A fixed item stores only the reviewer's label, so the LLM's consensus is
recomputed from the samples the item keeps, with the task's own (pure,
deterministic) `aggregate` under the item's guideline version: the same call
that produced the label in the worker.

Items a second reviewer also decided (`double_review_share`) add, per group,
reviewer-vs-reviewer agreement: Krippendorff's alpha and the task's equality of
the two labels (`llmlabel.reviewer_agreement`). The first decision is the
item's final label; the second only counts here.

The store has no index of reviewed items yet, so this scans the approved,
fixed and rejected items of the team's most recent batches (`batches`, at
most 1000); fine for a dashboard, not for millions of items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from llmlabel.agreement import AgreementSummary, agreement_summary
from llmlabel.api.bodies import api_router
from llmlabel.api.deps import CurrentPrincipal, ProjectsDep, StoreDep
from llmlabel.domain import ItemState
from llmlabel.errors import LlmlabelError
from llmlabel.guidelines import VersionRegistry
from llmlabel.projects import Projects
from llmlabel.reviewer_agreement import ReviewerAgreement, reviewer_agreement
from llmlabel.store import Store
from llmlabel.store.models import ItemView
from llmlabel.tasks import Task, build_task

__all__ = [
    "AgreementGroup",
    "AgreementReport",
    "ConsensusRecomputer",
    "group_pairs",
    "reviewed_items",
    "router",
]

router = api_router(prefix="/v1/agreement", tags=["agreement"])

REVIEWED_STATES = (ItemState.APPROVED, ItemState.FIXED, ItemState.REJECTED)
_PAGE = 500

LabelOf = Callable[[ItemView], dict[str, Any] | None]
# (task, guideline version, project, guideline hash) -> the task object, or None.
TaskOf = Callable[..., Task | None]
BuildTask = Callable[[str, str | None, str | None, str | None], Task]


class AgreementGroup(BaseModel):
    """Reviewer-vs-LLM agreement of one task under one guideline and prompt version."""

    task: str
    project: str | None = None
    guideline_version: str | None
    prompt_version: str | None
    reviewed: int = Field(description="approved + fixed + rejected")
    approved: int
    fixed: int
    rejected: int
    approval_rate: float | None = Field(description="approved / reviewed")
    summary: AgreementSummary
    reviewers: ReviewerAgreement | None = Field(
        None, description="Reviewer vs reviewer, over the items two reviewers decided"
    )


class AgreementReport(BaseModel):
    """Agreement groups of the caller's team, by task then version."""

    team: str
    batches_scanned: int
    groups: list[AgreementGroup]


class ConsensusRecomputer:
    """The LLM's consensus label of a reviewed item, rebuilt from its samples.

    Task objects are built once per (project, task, guideline version). An item
    whose guideline version is gone or whose input no longer validates gives
    None, so it is counted as skipped rather than failing the whole report.
    Built from a team's projects (`for_team`) the versions come from the store
    by hash; from a `VersionRegistry`, from built-in files (tests, offline use).
    """

    def __init__(self, source: VersionRegistry | BuildTask) -> None:
        if isinstance(source, VersionRegistry):
            registry = source

            def build(task: str, version: str | None, _p: str | None, _h: str | None) -> Task:
                return build_task(registry.guideline(task, version))

            self._build: BuildTask = build
        else:
            self._build = source
        self._tasks: dict[tuple[str | None, str, str | None], Task | None] = {}

    @classmethod
    def for_team(cls, projects: Projects, team: str) -> ConsensusRecomputer:
        """A recomputer loading the team's versions (by hash when the item has one)."""

        def build(task: str, version: str | None, project: str | None, sha: str | None) -> Task:
            return projects.task_for(
                team, task=task, guideline_version=version, guideline_hash=sha, project=project
            )

        return cls(build)

    def task_for(
        self, task: str, version: str | None, project: str | None = None,
        guideline_hash: str | None = None,
    ) -> Task | None:
        """The task object of a guideline version, or None if it cannot be loaded."""
        key = (project, task, version)
        if key not in self._tasks:
            try:
                self._tasks[key] = self._build(task, version, project, guideline_hash)
            except LlmlabelError:
                self._tasks[key] = None
        return self._tasks[key]

    def _task(self, item: ItemView) -> Task | None:
        return self.task_for(item.task, item.guideline_version, item.project, item.guideline_hash)

    def __call__(self, item: ItemView) -> dict[str, Any] | None:
        """The label the LLM gave `item` (its stored label unless a reviewer replaced it)."""
        if item.source != "human":
            return item.label
        task = self._task(item)
        if task is None or not item.samples:
            return None
        try:
            return task.aggregate(task.validate_input(item.input), item.samples).label
        except LlmlabelError:
            return None


@dataclass
class _Group:
    pairs: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = field(default_factory=list)
    counts: dict[ItemState, int] = field(default_factory=lambda: dict.fromkeys(REVIEWED_STATES, 0))
    # (first reviewer's label, second reviewer's label) of items reviewed twice.
    twice: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = field(default_factory=list)


def group_pairs(
    items: Iterable[ItemView], llm_label_of: LabelOf, task_of: TaskOf | None = None
) -> list[AgreementGroup]:
    """Agreement groups of reviewed items, sorted by task and versions; other states are ignored.

    `task_of` gives the task whose `is_correct` judges two reviewers' labels
    equal; without it, labels must be identical.
    """
    groups: dict[tuple[str, str | None, str | None, str | None], _Group] = {}
    for item in items:
        if item.state not in REVIEWED_STATES:
            continue
        key = (item.task, item.project, item.guideline_version, item.prompt_version)
        group = groups.setdefault(key, _Group())
        group.counts[item.state] += 1
        reviewer = None if item.state is ItemState.REJECTED else item.label
        group.pairs.append((llm_label_of(item), reviewer))
        second = item.second_review
        if second is not None and second.state == "done":
            group.twice.append((reviewer, second.label))
    report = []
    for (task, project, guideline_version, prompt_version), group in sorted(
        groups.items(), key=lambda kv: tuple(part or "" for part in kv[0])
    ):
        reviewed = sum(group.counts.values())
        report.append(
            AgreementGroup(
                task=task,
                project=project,
                guideline_version=guideline_version,
                prompt_version=prompt_version,
                reviewed=reviewed,
                approved=group.counts[ItemState.APPROVED],
                fixed=group.counts[ItemState.FIXED],
                rejected=group.counts[ItemState.REJECTED],
                approval_rate=group.counts[ItemState.APPROVED] / reviewed if reviewed else None,
                summary=agreement_summary(task, group.pairs),
                reviewers=reviewer_agreement(
                    task, group.twice,
                    task_of(task, guideline_version, project) if task_of else None,
                )
                if group.twice
                else None,
            )
        )
    return report


def reviewed_items(store: Store, team: str, batch_ids: list[str]) -> Iterator[ItemView]:
    """The approved, fixed and rejected items of some of the team's batches."""
    for batch_id in batch_ids:
        for state in REVIEWED_STATES:
            offset = 0
            while True:
                page = store.list_items(team, batch_id, state=state, offset=offset, limit=_PAGE)
                yield from page
                if len(page) < _PAGE:
                    break
                offset += _PAGE


@router.get(
    "", response_model=AgreementReport, summary="Reviewer vs LLM and reviewer vs reviewer agreement"
)
def agreement_report(
    principal: CurrentPrincipal,
    store: StoreDep,
    projects: ProjectsDep,
    task: Annotated[str | None, Query(description="Only this task")] = None,
    batches: Annotated[int, Query(ge=1, le=1000, description="Most recent batches to scan")] = 200,
) -> AgreementReport:
    """Agreement of reviewed items of the team's recent batches, per task and version."""
    infos = [
        info
        for info in store.list_batches(principal.team, limit=batches)
        if (task is None or info.task == task)
        and any(info.counts.get(state.value, 0) for state in REVIEWED_STATES)
    ]
    items = reviewed_items(store, principal.team, [info.id for info in infos])
    recomputer = ConsensusRecomputer.for_team(projects, principal.team)
    return AgreementReport(
        team=principal.team,
        batches_scanned=len(infos),
        groups=group_pairs(items, recomputer, recomputer.task_for),
    )
