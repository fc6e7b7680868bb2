"""The review list view's routes: the queue as a table, bulk approve, undo, the reviewer's history.

Thin: the store does each step atomically (`store/review_tools.py`), the queue
filters live in `llmlabel.review_queue`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import CurrentPrincipal, Reviewer, SettingsDep, StoreDep
from llmlabel.calibration_jobs import note_judgments
from llmlabel.review_queue import QueueFilter, QueuePage, QueueSort, list_queue
from llmlabel.store.review_models import BulkApproveResult, HistoryEntry, UndoResult
from llmlabel.store.review_tools import BULK_MAX

__all__ = ["BulkApproveRequest", "ReviewHistory", "router"]

router = api_router(prefix="/v1/review", tags=["review"])


class BulkApproveRequest(BaseModel):
    """Items to approve as the LLM labeled them: the filtered set the reviewer confirmed."""

    model_config = ConfigDict(extra="forbid")

    item_ids: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=BULK_MAX
    )
    comment: str | None = Field(None, max_length=4000)


class ReviewHistory(BaseModel):
    """The caller's recent decisions, newest first."""

    undo_window_s: int
    entries: list[HistoryEntry]


Confidence = Annotated[float | None, Query(ge=0.0, le=1.0)]


@router.get("/items", response_model=QueuePage, summary="The review queue as a table")
def queue_items(
    principal: CurrentPrincipal,
    store: StoreDep,
    batch_id: Annotated[str | None, Query(max_length=64)] = None,
    task: Annotated[str | None, Query(max_length=64)] = None,
    reason: Annotated[str | None, Query(max_length=200)] = None,
    label: Annotated[str | None, Query(max_length=200, description="A class, flag or entity label")] = None,
    state: Annotated[str | None, Query(pattern="^(needs_review|in_review)$")] = None,
    min_confidence: Confidence = None,
    max_confidence: Confidence = None,
    sort: QueueSort = QueueSort.AGE,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> QueuePage:
    """Items waiting for review (and held), filtered and sorted; choices for every filter."""
    where = QueueFilter(
        batch_id=batch_id, task=task, reason=reason, min_confidence=min_confidence,
        max_confidence=max_confidence, label=label, state=state,
        held_by=principal.name or principal.key_id,
    )
    return list_queue(store, principal.team, where, sort=sort, descending=order == "desc",
                      offset=offset, limit=limit)


@router.post(
    "/bulk-approve",
    response_model=BulkApproveResult,
    summary="Approve many waiting items as the LLM labeled them",
    responses={422: {"description": "A malformed body; names the field"}},
)
def bulk_approve(principal: Reviewer, store: StoreDep, body: BulkApproveRequest) -> BulkApproveResult:
    """Approve each listed item still waiting for review; each is audited as its own decision."""
    result = store.bulk_approve(principal, body.item_ids, comment=body.comment)
    for item_id in result.approved_ids:
        # Each approval judges a version's label: counted toward its next calibration refit.
        item = store.get_item(principal.team, item_id)
        if item.guideline_version:
            note_judgments(store, principal.team, item.project or item.task,
                           item.guideline_version, [item_id])
    return result


@router.post(
    "/items/{item_id}/undo",
    response_model=UndoResult,
    summary="Undo your last decision on an item",
    responses={409: {"description": "Nothing of yours to undo, too late, or taken by a second reviewer"}},
)
def undo(principal: Reviewer, store: StoreDep, item_id: str) -> UndoResult:
    """The item's previous state and label come back; the audit log keeps both events."""
    return store.undo_decision(principal, item_id)


@router.get("/history", response_model=ReviewHistory, summary="Your recent decisions")
def history(
    principal: Reviewer,
    store: StoreDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ReviewHistory:
    """The caller's own decisions and undos, newest first, with the label before and after."""
    return ReviewHistory(
        undo_window_s=settings.undo_window_s,
        entries=store.review_history(principal, limit=limit),
    )
