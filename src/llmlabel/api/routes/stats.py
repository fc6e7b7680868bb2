"""The data behind the operator charts (the pages draw them as inline SVG)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import BatchReader, CurrentPrincipal, StoreDep
from llmlabel.review_charts import (
    AgreementTimeline,
    BatchTimeline,
    QueueStats,
    agreement_timeline,
    batch_timeline,
    queue_stats,
)

__all__ = ["router"]

router = api_router(prefix="/v1/stats", tags=["stats"])

Buckets = Annotated[int, Query(ge=2, le=200, description="Points in time")]


@router.get(
    "/batches/{batch_id}/timeline", response_model=BatchTimeline, summary="A batch over time"
)
def batch_progress(
    principal: BatchReader, store: StoreDep, batch_id: str, buckets: Buckets = 20
) -> BatchTimeline:
    """Items labeled, sent to review and failed so far, at equal steps since the batch began."""
    return batch_timeline(store, principal.team, batch_id, buckets=buckets)


@router.get("/agreement", response_model=AgreementTimeline, summary="Agreement per version over time")
def agreement(principal: CurrentPrincipal, store: StoreDep, buckets: Buckets = 10) -> AgreementTimeline:
    """Share of reviewed items whose label the reviewer kept, per task and version, over time."""
    return agreement_timeline(store, principal.team, buckets=buckets)


@router.get("/queue", response_model=QueueStats, summary="Review queue depth and oldest item")
def queue(principal: CurrentPrincipal, store: StoreDep) -> QueueStats:
    """Items waiting and held, and how long the oldest has waited, overall and per task."""
    return queue_stats(store, principal.team)
