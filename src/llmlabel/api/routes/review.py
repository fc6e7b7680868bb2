"""Human review: claim an item under a lease, decide on it, renew the lease, queue depth.

A claim may hand out a gold item (`gold_share`, see `store/gold_review.py`) or an
item waiting for its second review (`double_review_share`); both look like any
other claim, and their decisions go through the same endpoint.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Query, Response

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import CurrentPrincipal, ProjectsDep, Reviewer, SettingsDep, StoreDep
from llmlabel.api.schemas import ClaimRequest, DecisionRequest, LeaseRequest, QueueDepth
from llmlabel.calibration_jobs import note_judgments
from llmlabel.errors import InputError, LabelValidationError, NotFoundError
from llmlabel.gold_scoring import decide_gold_item
from llmlabel.projects import Projects
from llmlabel.store.models import Decision, ItemView, ReviewClaim
from llmlabel.validation import check_value

__all__ = ["router"]

router = api_router(prefix="/v1/review", tags=["review"])


@router.post(
    "/claim",
    response_model=ReviewClaim,
    summary="Claim the next item to review",
    responses={204: {"description": "Nothing waits for review"}},
)
def claim(
    principal: Reviewer,
    store: StoreDep,
    body: Annotated[ClaimRequest | None, Body()] = None,
    task: Annotated[str | None, Query()] = None,
    batch_id: Annotated[str | None, Query()] = None,
) -> ReviewClaim | Response:
    """Lease the oldest waiting item (optionally of one task or batch); 204 when none waits."""
    filters = body or ClaimRequest()
    batch_id = filters.batch_id or batch_id
    if batch_id is not None:
        try:
            # Another team's batch id answers 404, like every other route, not an empty 204.
            store.get_batch(principal.team, batch_id)
        except NotFoundError:
            # The batch id of a gold item's claim answers like a real batch with nothing
            # (more) waiting: a reviewer must not learn from this which claims were gold.
            if not store.is_gold_batch(principal.team, batch_id):
                raise
            return Response(status_code=204)
    task = filters.task or task
    if filters.item_id is not None:
        one = store.claim_item(principal, filters.item_id)
        return Response(status_code=204) if one is None else one
    claimed = store.claim_gold(principal, task=task, batch_id=batch_id) or store.claim_review(
        principal, task=task, batch_id=batch_id
    )
    if claimed is None:
        return Response(status_code=204)
    return claimed


def _checked_label(
    projects: Projects, team: str, item: ItemView, label: dict[str, Any]
) -> dict[str, Any]:
    """A fixed label validated against the item's task under the guideline it was labeled with."""
    task = projects.task_for(
        team, task=item.task, guideline_version=item.guideline_version,
        guideline_hash=item.guideline_hash, project=item.project,
    )
    return task.validate_label(task.validate_input(item.input), label)


@router.post(
    "/items/{item_id}/decision",
    response_model=ItemView,
    summary="Approve, fix, reject or skip a claimed item",
    responses={409: {"description": "Lease expired or held by someone else"},
               422: {"description": "The fixed label does not fit the task"}},
)
def decide(
    principal: Reviewer,
    store: StoreDep,
    projects: ProjectsDep,
    settings: SettingsDep,
    item_id: str,
    decision: DecisionRequest,
) -> ItemView:
    """Apply a decision under the lease; a fix must carry a label that fits the task."""
    if decision.action is not Decision.FIX and decision.label is not None:
        raise LabelValidationError(
            f"'label' is only accepted with action 'fix', not {decision.action.value!r}",
            errors=[{"field": "label", "message": "only allowed with action 'fix'"}],
        )
    if decision.label is not None:
        # The same checks as any item's value: a fixed label is stored and read back.
        check_value(decision.label, field="label", max_bytes=settings.max_item_bytes)
    try:
        item = store.get_item(principal.team, item_id)
    except NotFoundError:
        # Gold items are not stored as items; their ids only look like item ids.
        if not store.is_gold_id(principal.team, item_id):
            raise
        return decide_gold_item(
            store, projects, principal, item_id, lease_token=decision.lease_token,
            action=decision.action, label=decision.label, comment=decision.comment,
        )
    label: dict[str, Any] | None = None
    if decision.action is Decision.FIX:
        if decision.label is None:
            raise InputError("a fix needs the corrected 'label'", field="label")
        label = _checked_label(projects, principal.team, item, decision.label)
    view = store.decide(
        principal,
        item_id,
        lease_token=decision.lease_token,
        decision=decision.action,
        label=label,
        comment=decision.comment,
    )
    if decision.action is not Decision.SKIP and view.guideline_version:
        # A judgment of the version's label: counts toward its next calibration refit.
        note_judgments(store, principal.team, view.project or view.task, view.guideline_version,
                       [item_id])
    return view


@router.post(
    "/items/{item_id}/renew",
    response_model=ReviewClaim,
    summary="Extend a review lease",
    responses={409: {"description": "Lease expired or held by someone else"}},
)
def renew(principal: Reviewer, store: StoreDep, item_id: str, lease: LeaseRequest) -> ReviewClaim:
    """Keep a claimed item for another lease period."""
    try:
        return store.renew_lease(principal, item_id, lease.lease_token)
    except NotFoundError:
        if not store.is_gold_id(principal.team, item_id):
            raise
        return store.renew_gold(principal, item_id, lease.lease_token)


@router.get("/queue", response_model=QueueDepth, summary="Review queue depth")
def queue_depth(principal: CurrentPrincipal, store: StoreDep) -> QueueDepth:
    """How many of the team's items wait for a reviewer."""
    return QueueDepth(team=principal.team, depth=store.review_queue_depth(principal.team))
