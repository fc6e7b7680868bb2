"""The team's review queue as a filtered, sorted table (the review list view and its bulk approve).

The store reads the waiting and held items (`Store.review_queue_rows`); this
module filters and sorts them and pages the result, the same way for every
caller, so the set a reviewer confirms in a bulk approve is the set listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, Field

from llmlabel.errors import InputError
from llmlabel.store import Store
from llmlabel.store.review_models import QueueRow
from llmlabel.store.review_tools import QUEUE_SCAN_MAX

__all__ = ["QueueFilter", "QueuePage", "QueueSort", "list_queue", "select_rows"]


class QueueSort(StrEnum):
    """Columns the list view sorts on."""

    AGE = "age"
    CONFIDENCE = "confidence"
    TASK = "task"
    BATCH = "batch"
    REASON = "reason"
    ID = "id"


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Which queue rows to keep; None keeps all."""

    batch_id: str | None = None
    task: str | None = None
    reason: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    label: str | None = None
    state: str | None = None
    # The caller's own held items are left out, rows and filter choices alike: a gold
    # item a reviewer holds is in no queue, so their real held items must not show either.
    held_by: str | None = None

    def hides(self, row: QueueRow) -> bool:
        """True for a row the caller holds (never listed to them)."""
        return self.held_by is not None and row.reviewer == self.held_by

    def check(self) -> None:
        """InputError naming the field when the confidence range is empty."""
        low, high = self.min_confidence, self.max_confidence
        if low is not None and high is not None and low > high:
            raise InputError(
                f"min_confidence {low} is above max_confidence {high}", field="min_confidence"
            )

    def keeps(self, row: QueueRow) -> bool:
        """True when `row` passes every filter that is set."""
        confidence = row.confidence
        return (
            (self.batch_id is None or row.batch_id == self.batch_id)
            and (self.task is None or row.task == self.task)
            and (self.reason is None or row.reason == self.reason)
            and (self.state is None or row.state.value == self.state)
            and (self.label is None or self.label in row.label_values)
            and (
                self.min_confidence is None
                or (confidence is not None and confidence >= self.min_confidence)
            )
            and (
                self.max_confidence is None
                or (confidence is not None and confidence <= self.max_confidence)
            )
        )


class QueuePage(BaseModel):
    """One page of the filtered queue, and what the filters may choose from."""

    total: int = Field(description="Rows matching the filters (all pages)")
    scanned: int = Field(description="Queue items read")
    truncated: bool = Field(description=f"The queue holds more than {QUEUE_SCAN_MAX} items")
    offset: int
    limit: int
    items: list[QueueRow]
    tasks: list[str]
    batches: list[str]
    reasons: list[str]
    labels: list[str]


def _sort_key(sort: QueueSort) -> object:
    if sort is QueueSort.AGE:
        return lambda r: r.waiting_since
    if sort is QueueSort.CONFIDENCE:
        # Rows without a confidence sort as the least sure.
        return lambda r: (r.confidence is not None, r.confidence or 0.0)
    if sort is QueueSort.TASK:
        return lambda r: (r.task, r.waiting_since)
    if sort is QueueSort.BATCH:
        return lambda r: (r.batch_id, r.waiting_since)
    if sort is QueueSort.REASON:
        return lambda r: (r.reason or "", r.waiting_since)
    return lambda r: (r.id, r.item_id)


def select_rows(
    rows: list[QueueRow], where: QueueFilter, *, sort: QueueSort, descending: bool
) -> list[QueueRow]:
    """The rows `where` keeps, sorted (oldest first is age ascending)."""
    where.check()
    kept = [r for r in rows if where.keeps(r)]
    kept.sort(key=_sort_key(sort), reverse=descending)  # type: ignore[arg-type]
    return kept


def list_queue(
    store: Store,
    team: str,
    where: QueueFilter,
    *,
    sort: QueueSort = QueueSort.AGE,
    descending: bool = False,
    offset: int = 0,
    limit: int = 100,
) -> QueuePage:
    """The team's review queue filtered by `where`, sorted, one page of it."""
    where.check()
    # The choices of each filter come from the whole queue, not the filtered rows.
    rows, total = store.review_queue_rows(team)
    rows = [row for row in rows if not where.hides(row)]
    kept = select_rows(rows, where, sort=sort, descending=descending)
    return QueuePage(
        total=len(kept),
        scanned=len(rows),
        truncated=total > QUEUE_SCAN_MAX,
        offset=offset,
        limit=limit,
        items=kept[offset : offset + limit],
        tasks=sorted({r.task for r in rows}),
        batches=sorted({r.batch_id for r in rows}),
        reasons=sorted({r.reason for r in rows if r.reason}),
        labels=sorted({v for r in rows for v in r.label_values}),
    )
