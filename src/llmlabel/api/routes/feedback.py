"""Guideline feedback reports: a (pilot) batch's, and a standing one per project version.

Both feed reviewed items from the store to `llmlabel.feedback.build_feedback`
(pure): the LLM's label of a fixed item is rebuilt from its samples as the
agreement report does (`ConsensusRecomputer`), a second review counts when it
is done. The per-version report scans the team's most recent batches of the
project under that guideline version (the store has no index of reviewed items
per version yet), like `GET /v1/agreement`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import BatchReader, Operator, ProjectsDep, StoreDep
from llmlabel.api.routes.agreement import ConsensusRecomputer, reviewed_items
from llmlabel.domain import ItemState
from llmlabel.errors import NotFoundError
from llmlabel.feedback import FeedbackItem, FeedbackReport, build_feedback, snippet
from llmlabel.store.models import ItemView

__all__ = ["BatchFeedback", "VersionFeedback", "batch_router", "project_router"]

batch_router = api_router(prefix="/v1/batches", tags=["feedback"])
project_router = api_router(prefix="/v1/projects", tags=["feedback"])

_STATE: dict[ItemState, Literal["approved", "fixed", "rejected"]] = {
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
        state = _STATE.get(item.state)
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


@batch_router.get(
    "/{batch_id}/feedback", response_model=BatchFeedback,
    summary="Where reviewers and the LLM disagree in a batch (a pilot's report)",
)
def batch_feedback(
    principal: BatchReader, store: StoreDep, projects: ProjectsDep, batch_id: str
) -> BatchFeedback:
    """Fix rate and confusions per label / category / span type, reviewer agreement per row."""
    info = store.get_batch(principal.team, batch_id)
    recomputer = ConsensusRecomputer.for_team(projects, principal.team)
    items = _feedback_items(reviewed_items(store, principal.team, [batch_id]), recomputer)
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


@project_router.get(
    "/{name}/feedback", response_model=VersionFeedback,
    summary="Where reviewers and the LLM disagree under one guideline version (operator)",
)
def version_feedback(
    principal: Operator,
    store: StoreDep,
    projects: ProjectsDep,
    name: str,
    guideline_version: Annotated[
        str | None, Query(description="Default: the project's active guideline version")
    ] = None,
    prompt_version: Annotated[
        str | None, Query(description="Only batches labeled with this prompt version")
    ] = None,
    batches: Annotated[int, Query(ge=1, le=1000, description="Most recent batches to scan")] = 200,
) -> VersionFeedback:
    """The report over every reviewed item of the project's batches under the version."""
    project = projects.get(principal.team, name)
    version = guideline_version or project.active.guideline_version
    if project.guideline_versions and version not in project.guideline_versions:
        raise NotFoundError(f"project {name!r} has no guideline version {version!r}")
    if prompt_version is not None and prompt_version not in project.prompt_versions:
        raise NotFoundError(f"project {name!r} has no prompt version {prompt_version!r}")
    infos = [
        info for info in store.list_batches(principal.team, limit=batches)
        if (info.project or info.task) == project.name and info.guideline_version == version
        and (prompt_version is None or info.prompt_version == prompt_version)
    ]
    recomputer = ConsensusRecomputer.for_team(projects, principal.team)
    items = _feedback_items(
        reviewed_items(store, principal.team, [info.id for info in infos]), recomputer
    )
    return VersionFeedback(
        project=project.name,
        task=project.task,
        guideline_version=version,
        prompt_version=prompt_version,
        batches_scanned=len(infos),
        report=build_feedback(project.task, items, recomputer.task_for(
            project.task, version, project.name)),
    )
