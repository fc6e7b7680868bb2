"""Gold items (operator): upload with known labels, list, delete; reviewer and LLM scores on gold.

Gold items are the team's, per task. Uploading validates each input and label
with the task (under the active guideline version, or the one given) and
queues them for the LLM to label; once labeled, a share of review claims
(`gold_share`) hands them to reviewers, whose decisions are scored here.
Only operators see gold labels: reviewers must not learn which items are gold.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import (
    CursorQuery,
    Operator,
    ProjectsDep,
    SettingsDep,
    StoreDep,
    actor_of,
)
from llmlabel.errors import UnknownVersionError
from llmlabel.gold_scoring import (
    GoldList,
    GoldPublic,
    GoldScores,
    GoldUpload,
    GoldUploaded,
    TaskCache,
    checked_gold_items,
    llm_accuracy,
    llm_labels,
    reviewer_scores,
)
from llmlabel.projects import Projects
from llmlabel.projects.service import pin_of

__all__ = ["router"]

router = api_router(prefix="/v1/gold", tags=["gold"])


@router.post(
    "",
    status_code=201,
    response_model=GoldUploaded,
    summary="Upload gold items with known labels",
    responses={
        422: {"description": "An input or label does not fit the task; names items.<i>.<field>"}
    },
)
def upload_gold(
    principal: Operator,
    store: StoreDep,
    projects: ProjectsDep,
    settings: SettingsDep,
    body: GoldUpload,
) -> GoldUploaded:
    """Store gold items of one task (or project) and queue them for the LLM to label (operator)."""
    resolved = projects.resolve(
        principal.team,
        project=body.project,
        task=body.task,
        guideline_version=body.guideline_version,
        prompt_version=body.prompt_version,
    )
    project = resolved.project
    items = checked_gold_items(
        resolved.task,
        body.items,
        max_item_bytes=settings.max_item_bytes,
        stored_ids=store.gold_client_ids(principal.team, project.task),
    )
    stored = store.add_gold(
        principal,
        project.task,
        items,
        guideline_version=resolved.guideline.version,
        prompt_version=resolved.prompt.version,
        actor=actor_of(principal),
        project=None if project.default else project.name,
        pin=pin_of(resolved),
    )
    return GoldUploaded(
        task=project.task,
        project=project.name,
        guideline_version=resolved.guideline.version,
        prompt_version=resolved.prompt.version,
        count=len(stored),
        items=stored,
    )


def _tasks(projects: Projects, task: str | None) -> list[str]:
    known = projects.defaults.tasks()
    if task is not None and task not in known:
        raise UnknownVersionError(f"unknown task {task!r} (known tasks: {', '.join(known)})")
    return [task] if task is not None else known


@router.get("", response_model=GoldList, summary="List gold items")
def list_gold(
    principal: Operator,
    store: StoreDep,
    projects: ProjectsDep,
    task: Annotated[str | None, Query(description="Only this task")] = None,
    offset: Annotated[int, Query(ge=0, description="Or: page with cursor")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: CursorQuery = None,
) -> GoldList:
    """Gold items in upload order, with the LLM's labels of them per version (operator)."""
    tasks = _tasks(projects, task)
    total = sum(store.gold_count(principal.team, name) for name in tasks)
    next_cursor: str | None = None
    if offset and not cursor:
        ids = [gold_id for name in tasks for gold_id in store.gold_ids(principal.team, name)]
        page = store.get_golds(principal.team, ids[offset : offset + limit])
    else:
        page, next_cursor = store.gold_page(principal.team, tasks, cursor=cursor, limit=limit)
    records = store.gold_records(principal.team, [g.gold_id for g in page])
    cache = TaskCache(projects, principal.team)
    return GoldList(
        task=task,
        total=total,
        offset=offset,
        limit=limit,
        next_cursor=next_cursor,
        items=[
            GoldPublic(**g.model_dump(), llm=llm_labels(cache, g, records.get(g.gold_id, {})))
            for g in page
        ],
    )


@router.get("/scores", response_model=GoldScores, summary="Reviewer and LLM accuracy on gold")
def gold_scores(principal: Operator, store: StoreDep, projects: ProjectsDep) -> GoldScores:
    """Per reviewer: gold decisions and share right; per task and version: the LLM's accuracy."""
    return GoldScores(
        team=principal.team,
        reviewers=reviewer_scores(store.gold_scores(principal.team)),
        llm=llm_accuracy(
            store, TaskCache(projects, principal.team), principal.team, _tasks(projects, None)
        ),
    )


@router.delete("/{gold_id}", status_code=204, summary="Delete a gold item")
def delete_gold(principal: Operator, store: StoreDep, gold_id: str) -> Response:
    """Remove a gold item and the LLM's labels of it; reviewer scores counted so far stay."""
    store.delete_gold(principal.team, gold_id, actor=actor_of(principal))
    return Response(status_code=204)
