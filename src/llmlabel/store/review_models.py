"""Values the review tools of the store return: undo, bulk approve, history, queue rows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from llmlabel.domain import ItemState
from llmlabel.store.models import ItemView, ReviewClaim

__all__ = ["BulkApproveResult", "BulkSkipped", "HistoryEntry", "QueueRow", "UndoResult"]


class UndoResult(BaseModel):
    """An undone decision: the item as it is now, and the lease when it is back in your hands."""

    item: ItemView
    claim: ReviewClaim | None = Field(
        None, description="Set when the item went back to in_review under a new lease for you"
    )


class BulkSkipped(BaseModel):
    """An item of a bulk approve that was left as it was, and why."""

    item_id: str
    reason: Literal["missing", "state", "nolabel"] = Field(
        description="missing: no such item; state: not waiting for review; nolabel: no LLM label"
    )


class BulkApproveResult(BaseModel):
    """What a bulk approve did: each approved item is audited as its own decision."""

    requested: int
    approved: int
    approved_ids: list[str]
    skipped: list[BulkSkipped]


class HistoryEntry(BaseModel):
    """One of the reviewer's own decisions (or undos), with the label before and after."""

    at: float
    action: str
    item_id: str
    task: str | None
    batch_id: str | None
    id: str | None = Field(description="The item's client id")
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    comment: str | None
    bulk: bool = False
    undoable: bool = Field(description="This is the item's last decision and is inside the window")
    undo_until: float | None = None


class QueueRow(BaseModel):
    """One item of the team's review queue as the list view shows it."""

    item_id: str
    id: str
    batch_id: str
    task: str
    state: ItemState
    reason: str | None
    confidence: float | None
    label: dict[str, Any] | None
    label_values: list[str] = Field(description="The label's classes, flags or entity labels")
    waiting_since: float
    reviewer: str | None = Field(None, description="Who holds it (in_review only)")
