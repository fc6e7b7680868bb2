"""The data lifecycle: delete a batch, the team's retention period, and its audit log.

`DELETE /v1/batches/{id}` removes the batch and everything made for it (items,
labels, samples, review decisions, queue entries) in one step; the audit log
keeps a tombstone saying who deleted it, when, and how many items it had. A
retention period expires finished batches submitted longer ago (a worker does
it). The audit log is the team's: operators (and admins) read it, newest first,
filtered by actor, action, batch and time, a page at a time.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import BatchReader, CursorQuery, Operator, StoreDep, actor_of
from llmlabel.store.audit import AuditFilter
from llmlabel.store.lifecycle import DeletedBatch, Retention
from llmlabel.store.models import AuditEvent

__all__ = ["router"]

router = api_router(tags=["lifecycle"])


@router.delete(
    "/v1/batches/{batch_id}",
    response_model=DeletedBatch,
    summary="Delete a batch and everything made for it",
    tags=["batches"],
    responses={404: {"description": "No such batch (or another team's)"}},
)
def delete_batch(principal: BatchReader, store: StoreDep, batch_id: str) -> DeletedBatch:
    """Items, labels, samples, review decisions and queue entries go; the audit log keeps who,
    when and how many items (submitter, operator or admin)."""
    return store.delete_batch(principal.team, batch_id, actor=actor_of(principal))


class RetentionSet(BaseModel):
    """How long finished batches are kept."""

    model_config = ConfigDict(extra="forbid")

    days: float | None = Field(
        description="Finished batches submitted longer ago are deleted; null keeps them",
        gt=0, le=36_500,
    )


@router.get("/v1/retention", response_model=Retention, summary="The team's retention period")
def get_retention(principal: Operator, store: StoreDep) -> Retention:
    """How long the team's finished batches are kept (days; null: until deleted)."""
    return store.retention(principal.team)


@router.put("/v1/retention", response_model=Retention, summary="Set the team's retention period")
def set_retention(principal: Operator, store: StoreDep, body: RetentionSet) -> Retention:
    """Expire finished batches older than `days` from now on (audited); null turns it off."""
    return store.set_retention(principal.team, body.days, actor=actor_of(principal))


class AuditPage(BaseModel):
    """A page of the team's audit events, newest first."""

    events: list[AuditEvent]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= to go on; a page may be short when filters skip many events"
    )


@router.get("/v1/audit", response_model=AuditPage, summary="The team's audit log", tags=["audit"])
def audit_log(
    principal: Operator,
    store: StoreDep,
    actor: Annotated[str | None, Query(max_length=300, description="e.g. acme/rita")] = None,
    action: Annotated[
        str | None,
        Query(max_length=100, description='An action ("review.fix") or a prefix ("review.")'),
    ] = None,
    batch_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[float | None, Query(description="Epoch seconds, inclusive")] = None,
    until: Annotated[float | None, Query(description="Epoch seconds, inclusive")] = None,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Who did what: reviews, gold, versions of the batch flow, keys, deletions, settings."""
    where = AuditFilter(actor=actor, action=action, batch_id=batch_id, since=since, until=until)
    events, next_cursor = store.audit_page(principal.team, where, cursor=cursor, limit=limit)
    return AuditPage(events=events, next_cursor=next_cursor)
