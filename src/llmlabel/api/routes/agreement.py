"""`GET /v1/agreement`: reviewer vs LLM and reviewer vs reviewer (`llmlabel.review_reports`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import CurrentPrincipal, ProjectsDep, StoreDep
from llmlabel.review_reports import AgreementReport, agreement_for

__all__ = ["router"]

router = api_router(prefix="/v1/agreement", tags=["agreement"])


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
    return agreement_for(store, projects, principal.team, task=task, batches=batches)
