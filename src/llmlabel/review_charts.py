"""The series the operator charts draw: batch progress over time, agreement per version over
time, and the review queue's depth and oldest waiting item.

Agreement here is the share of reviewed items whose reviewer kept the LLM's
label (approved / (approved + fixed)), per task and guideline version, in time
buckets of the decisions; rejections are counted but leave the share alone.
The full per-measure report stays `GET /v1/agreement`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, Field

from llmlabel.domain import ItemState
from llmlabel.store import Store

__all__ = [
    "AgreementPoint",
    "AgreementSeries",
    "AgreementTimeline",
    "BatchTimeline",
    "QueueStats",
    "TaskQueue",
    "TimelinePoint",
    "agreement_timeline",
    "batch_timeline",
    "bucket_edges",
    "queue_stats",
]

_REVIEW = {
    ItemState.NEEDS_REVIEW.value,
    ItemState.IN_REVIEW.value,
    ItemState.APPROVED.value,
    ItemState.FIXED.value,
    ItemState.REJECTED.value,
}


class TimelinePoint(BaseModel):
    """Items of a batch labeled, sent to review and failed by `at` (cumulative)."""

    at: float
    labeled: int
    review: int
    failed: int


class BatchTimeline(BaseModel):
    """A batch's progress over time, in equal buckets from its creation to its last label."""

    batch_id: str
    task: str
    total: int
    points: list[TimelinePoint]


class AgreementPoint(BaseModel):
    """Decisions in one time bucket and the share that kept the LLM's label."""

    at: float
    reviewed: int
    approved: int
    fixed: int
    rejected: int
    agreement: float | None = Field(description="approved / (approved + fixed); None if neither")


class AgreementSeries(BaseModel):
    """One task and guideline version's agreement over time (only buckets with decisions)."""

    task: str
    guideline_version: str | None
    points: list[AgreementPoint]


class AgreementTimeline(BaseModel):
    """Agreement per version over time, for the team's recent batches."""

    start: float | None
    end: float | None
    series: list[AgreementSeries]


class TaskQueue(BaseModel):
    """One task's part of the review queue."""

    task: str
    depth: int = Field(description="Items waiting (needs_review)")
    in_review: int
    oldest_waiting_s: float | None = Field(description="Age of the oldest waiting item")


class QueueStats(BaseModel):
    """The review queue now: depth and the oldest waiting item, overall and per task."""

    depth: int
    in_review: int
    oldest_waiting_s: float | None
    tasks: list[TaskQueue]


def bucket_edges(start: float, end: float, buckets: int) -> list[float]:
    """The right edges of `buckets` equal intervals from start to end (end > start)."""
    end = max(end, start + 1e-6)
    step = (end - start) / buckets
    return [start + step * (i + 1) for i in range(buckets - 1)] + [end]


def _bucket_of(at: float, edges: Sequence[float]) -> int:
    for i, edge in enumerate(edges):
        if at <= edge:
            return i
    return len(edges) - 1


def batch_timeline(store: Store, team: str, batch_id: str, *, buckets: int = 20) -> BatchTimeline:
    """Cumulative labeled / review / failed counts of a batch at `buckets` points in time."""
    info = store.get_batch(team, batch_id)
    times = store.batch_item_times(team, batch_id)
    labeled = [(s, t) for s, t in times if t is not None]
    end = max((t for _, t in labeled), default=info.created_at)
    edges = bucket_edges(info.created_at, end, buckets)
    counts = [[0, 0, 0] for _ in edges]
    for state, at in labeled:
        column = counts[_bucket_of(at, edges)]
        if state == ItemState.FAILED.value:
            column[2] += 1
        else:
            column[0] += 1
            column[1] += state in _REVIEW
    points, running = [], [0, 0, 0]
    for edge, column in zip(edges, counts, strict=True):
        running = [a + b for a, b in zip(running, column, strict=True)]
        points.append(
            TimelinePoint(at=edge, labeled=running[0], review=running[1], failed=running[2])
        )
    return BatchTimeline(batch_id=batch_id, task=info.task, total=info.total, points=points)


def agreement_timeline(store: Store, team: str, *, buckets: int = 10) -> AgreementTimeline:
    """Agreement of reviewers with the LLM per task and guideline version, per time bucket."""
    reviewed = store.reviewed_items(team)
    if not reviewed:
        return AgreementTimeline(start=None, end=None, series=[])
    start = min(at for *_, at in reviewed)
    end = max(at for *_, at in reviewed)
    edges = bucket_edges(start, end, buckets)
    grouped: dict[tuple[str, str | None], dict[int, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: {"approved": 0, "fixed": 0, "rejected": 0})
    )
    for task, version, state, at in reviewed:
        grouped[(task, version)][_bucket_of(at, edges)][state] += 1
    series = []
    for (task, version), by_bucket in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        points = []
        for index in sorted(by_bucket):
            c = by_bucket[index]
            kept = c["approved"] + c["fixed"]
            points.append(
                AgreementPoint(
                    at=edges[index],
                    reviewed=kept + c["rejected"],
                    approved=c["approved"],
                    fixed=c["fixed"],
                    rejected=c["rejected"],
                    agreement=round(c["approved"] / kept, 6) if kept else None,
                )
            )
        series.append(AgreementSeries(task=task, guideline_version=version, points=points))
    return AgreementTimeline(start=start, end=end, series=series)


def queue_stats(store: Store, team: str, *, now: float | None = None) -> QueueStats:
    """Depth, items held and the oldest waiting item's age, overall and per task."""
    now = time.time() if now is None else now
    rows, _ = store.review_queue_rows(team)
    per: dict[str, list[float]] = defaultdict(list)
    held: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.state is ItemState.NEEDS_REVIEW:
            per[row.task].append(row.waiting_since)
        else:
            held[row.task] += 1
    tasks = [
        TaskQueue(
            task=task,
            depth=len(per[task]),
            in_review=held[task],
            oldest_waiting_s=round(now - min(per[task]), 3) if per[task] else None,
        )
        for task in sorted(set(per) | set(held))
    ]
    waiting = [t for times in per.values() for t in times]
    return QueueStats(
        # Exact even past the rows the list reads.
        depth=max(store.review_queue_depth(team), len(waiting)),
        in_review=sum(held.values()),
        oldest_waiting_s=round(now - min(waiting), 3) if waiting else None,
        tasks=tasks,
    )
