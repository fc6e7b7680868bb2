"""Reports over reviewed items: agreement, and guideline feedback (the use cases, no HTTP).

Agreement between reviewers and the LLM (and between reviewers), per task and
version, behind `GET /v1/agreement` and the operator page; guideline feedback
of a (pilot) batch or a project version (`llmlabel.feedback` computes it),
behind `GET /v1/batches/{id}/feedback` and `GET /v1/projects/{name}/feedback`.

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
from typing import Any, Literal

from pydantic import BaseModel, Field

from llmlabel.agreement import AgreementSummary, agreement_summary
from llmlabel.domain import ItemState
from llmlabel.errors import NotFoundError
from llmlabel.feedback import FeedbackItem, FeedbackReport, build_feedback, snippet
from llmlabel.guidelines import VersionRegistry
from llmlabel.projects import Projects
from llmlabel.projects.relabel import llm_label
from llmlabel.projects.task_cache import TaskCache
from llmlabel.reviewer_agreement import ReviewerAgreement, reviewer_agreement
from llmlabel.store import Store
from llmlabel.store.models import ItemView
from llmlabel.tasks import Task

__all__ = [
    "REVIEWED_STATES",
    "AgreementGroup",
    "AgreementReport",
    "BatchFeedback",
    "ConsensusRecomputer",
    "VersionFeedback",
    "agreement_for",
    "batch_feedback",
    "group_pairs",
    "reviewed_items",
    "version_feedback",
]

REVIEWED_STATES = (ItemState.APPROVED, ItemState.FIXED, ItemState.REJECTED)
_PAGE = 500

LabelOf = Callable[[ItemView], dict[str, Any] | None]
# (task, guideline version, project, guideline hash) -> the task object, or None.
TaskOf = Callable[..., Task | None]


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

    Task objects come from a `TaskCache`: an item whose guideline version is gone
    or whose input no longer validates gives None, so it is counted as skipped
    rather than failing the whole report. Built from a team's projects
    (`for_team`) the versions come from the store by hash; from a
    `VersionRegistry`, from built-in files (tests, offline use).
    """

    def __init__(self, source: Projects | VersionRegistry, team: str | None = None) -> None:
        self._tasks = TaskCache(source, team)

    @classmethod
    def for_team(cls, projects: Projects, team: str) -> ConsensusRecomputer:
        """A recomputer loading the team's versions (by hash when the item has one)."""
        return cls(projects, team)

    def task_for(
        self, task: str, version: str | None, project: str | None = None,
        guideline_hash: str | None = None,
    ) -> Task | None:
        """The task object of a guideline version, or None if it cannot be loaded."""
        return self._tasks.get(task, version, project, guideline_hash)

    def _task(self, item: ItemView) -> Task | None:
        return self.task_for(item.task, item.guideline_version, item.project, item.guideline_hash)

    def __call__(self, item: ItemView) -> dict[str, Any] | None:
        """The label the LLM gave `item` (its stored label unless a reviewer replaced it)."""
        if item.source != "human":
            return item.label  # no task needed (nor loaded)
        return llm_label(self._task(item), item)


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


def agreement_for(
    store: Store, projects: Projects, team: str, *, task: str | None, batches: int
) -> AgreementReport:
    """Agreement of reviewed items of the team's `batches` most recent batches, per task and version."""
    infos = [
        info
        for info in store.list_batches(team, limit=batches)
        if (task is None or info.task == task)
        and any(info.counts.get(state.value, 0) for state in REVIEWED_STATES)
    ]
    items = reviewed_items(store, team, [info.id for info in infos])
    recomputer = ConsensusRecomputer.for_team(projects, team)
    return AgreementReport(
        team=team,
        batches_scanned=len(infos),
        groups=group_pairs(items, recomputer, recomputer.task_for),
    )


# -- guideline feedback -------------------------------------------------------------------

_DECIDED: dict[ItemState, Literal["approved", "fixed", "rejected"]] = {
    ItemState.APPROVED: "approved", ItemState.FIXED: "fixed", ItemState.REJECTED: "rejected",
}


class BatchFeedback(BaseModel):
    """A batch's feedback report (a pilot's: every item was reviewed)."""

    batch_id: str
    project: str | None
    guideline_version: str | None
    prompt_version: str | None
    pilot: bool
    double_review_share: float | None
    total: int = Field(description="items in the batch")
    waiting: int = Field(description="items still waiting for a first review")
    report: FeedbackReport


class VersionFeedback(BaseModel):
    """The standing feedback report of one project guideline version."""

    project: str
    task: str
    guideline_version: str
    prompt_version: str | None = Field(description="null: every prompt version")
    batches_scanned: int
    report: FeedbackReport


def _feedback_items(items: Iterable[ItemView], recomputer: ConsensusRecomputer) -> list[FeedbackItem]:
    out = []
    for item in items:
        state = _DECIDED.get(item.state)
        if state is None:
            continue
        second = item.second_review
        twice = second is not None and second.state == "done"
        out.append(FeedbackItem(
            item_id=item.item_id,
            id=item.id,
            text=snippet(item.input),
            state=state,
            llm=recomputer(item),
            people=None if item.state is ItemState.REJECTED else item.label,
            second=second.label if twice and second is not None else None,
            twice=twice,
        ))
    return out


def batch_feedback(store: Store, projects: Projects, team: str, batch_id: str) -> BatchFeedback:
    """Fix rate and confusions per label / category / span type, reviewer agreement per row.

    The LLM's label of a fixed item is rebuilt from its samples as the agreement
    report does (`ConsensusRecomputer`); a second review counts when it is done.
    """
    info = store.get_batch(team, batch_id)
    recomputer = ConsensusRecomputer.for_team(projects, team)
    items = _feedback_items(reviewed_items(store, team, [batch_id]), recomputer)
    task = recomputer.task_for(info.task, info.guideline_version, info.project)
    return BatchFeedback(
        batch_id=batch_id,
        project=info.project,
        guideline_version=info.guideline_version,
        prompt_version=info.prompt_version,
        pilot=info.pilot,
        double_review_share=info.double_review_share,
        total=info.total,
        waiting=info.counts.get(ItemState.NEEDS_REVIEW.value, 0)
        + info.counts.get(ItemState.IN_REVIEW.value, 0),
        report=build_feedback(info.task, items, task),
    )


def version_feedback(
    store: Store,
    projects: Projects,
    team: str,
    name: str,
    *,
    guideline_version: str | None,
    prompt_version: str | None,
    batches: int,
) -> VersionFeedback:
    """The report over every reviewed item of the project's recent batches under the version.

    The store has no index of reviewed items per version yet, so this scans the
    team's `batches` most recent batches, like the agreement report.
    """
    project = projects.get(team, name)
    version = guideline_version or project.active.guideline_version
    if project.guideline_versions and version not in project.guideline_versions:
        raise NotFoundError(f"project {name!r} has no guideline version {version!r}")
    if prompt_version is not None and prompt_version not in project.prompt_versions:
        raise NotFoundError(f"project {name!r} has no prompt version {prompt_version!r}")
    infos = [
        info for info in store.list_batches(team, limit=batches)
        if (info.project or info.task) == project.name and info.guideline_version == version
        and (prompt_version is None or info.prompt_version == prompt_version)
    ]
    recomputer = ConsensusRecomputer.for_team(projects, team)
    items = _feedback_items(reviewed_items(store, team, [info.id for info in infos]), recomputer)
    return VersionFeedback(
        project=project.name,
        task=project.task,
        guideline_version=version,
        prompt_version=prompt_version,
        batches_scanned=len(infos),
        report=build_feedback(project.task, items, recomputer.task_for(
            project.task, version, project.name)),
    )
