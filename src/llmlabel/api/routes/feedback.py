"""Guideline feedback reports: a (pilot) batch's, and a standing one per project version.

Thin: the reports are built by `llmlabel.review_reports` (fed by the store) and
computed by `llmlabel.feedback` (pure).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import BatchReader, Operator, ProjectsDep, StoreDep
from llmlabel.review_reports import BatchFeedback, VersionFeedback
from llmlabel.review_reports import batch_feedback as build_batch_feedback
from llmlabel.review_reports import version_feedback as build_version_feedback

__all__ = ["batch_router", "project_router"]

batch_router = api_router(prefix="/v1/batches", tags=["feedback"])
project_router = api_router(prefix="/v1/projects", tags=["feedback"])


@batch_router.get(
    "/{batch_id}/feedback", response_model=BatchFeedback,
    summary="Where reviewers and the LLM disagree in a batch (a pilot's report)",
)
def batch_feedback(
    principal: BatchReader, store: StoreDep, projects: ProjectsDep, batch_id: str
) -> BatchFeedback:
    """Fix rate and confusions per label / category / span type, reviewer agreement per row."""
    return build_batch_feedback(store, projects, principal.team, batch_id)


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
    return build_version_feedback(
        store, projects, principal.team, name, guideline_version=guideline_version,
        prompt_version=prompt_version, batches=batches,
    )
