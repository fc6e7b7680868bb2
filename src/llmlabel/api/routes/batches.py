"""Batches: submit (JSON or NDJSON, idempotent), progress, items, streamed results, retry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import Header, Query, Response
from fastapi.responses import StreamingResponse

from llmlabel.api.bodies import RawBody, api_router
from llmlabel.api.deps import (
    BatchReader,
    CursorQuery,
    Operator,
    ProjectsDep,
    SettingsDep,
    StoreDep,
    Submitter,
    actor_of,
)
from llmlabel.api.problems import Problem
from llmlabel.api.schemas import (
    BatchList,
    BatchPublic,
    BatchUpdate,
    ItemsPage,
    ResultLine,
    ResumeResult,
    RetryResult,
)
from llmlabel.api.submission import (
    Limits,
    Submission,
    parse_json_batch,
    parse_ndjson_batch,
    request_hash,
    validate_inputs,
)
from llmlabel.domain import ItemState
from llmlabel.estimate import CostEstimate, History, estimate_batch
from llmlabel.settings import Settings
from llmlabel.store.models import BatchCreate, ItemView, Priority
from llmlabel.webhooks import parse_allow_list, resolve_destination

__all__ = ["router"]

router = api_router(prefix="/v1/batches", tags=["batches"])

NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
NDJSON_MEDIA_TYPE = "application/x-ndjson"


def limits_of(settings: Settings) -> Limits:
    """The submit size limits configured in settings."""
    return Limits(
        max_body_bytes=settings.max_body_bytes,
        max_batch_items=settings.max_batch_items,
        max_item_bytes=settings.max_item_bytes,
    )


def _media_type(content_type: str | None) -> str:
    return (content_type or "application/json").split(";", 1)[0].strip().lower()


_SUBMIT_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "task": {"type": "string"},
                        "project": {"type": "string"},
                        "items": {"type": "array", "items": {"type": "object"}},
                        "guideline_version": {"type": "string"},
                        "prompt_version": {"type": "string"},
                        "metadata": {"type": "object"},
                        "callback_url": {"type": "string", "format": "uri"},
                        "priority": {
                            "type": "string",
                            "enum": ["low", "normal", "high"],
                            "default": "normal",
                            "description": "Weight within the team's share of the workers: "
                            "low 1, normal 4, high 16. Teams share equally whatever "
                            "their batches' priorities.",
                        },
                        "cache": {
                            "type": "boolean",
                            "default": True,
                            "description": "Reuse answers of identical earlier provider calls "
                            "(same messages, schema, model, sampling, sample index); "
                            "false: call the provider for every sample",
                        },
                        "max_cost_usd": {"type": "number", "minimum": 0},
                        "mode": {"type": "string", "enum": ["sync", "offline"]},
                        "pilot": {
                            "type": "boolean",
                            "default": False,
                            "description": "Every item goes to review, a share twice; "
                            "GET /v1/batches/{id}/feedback reports where people and the "
                            "LLM disagree",
                        },
                        "double_review_share": {
                            "type": "number", "minimum": 0, "maximum": 1,
                            "description": "Pilot only: share of items reviewed twice "
                            "(default 0.3)",
                        },
                    },
                }
            },
            NDJSON_MEDIA_TYPE: {
                "schema": {"type": "string", "description": "one JSON item per line"}
            },
        },
    }
}


@router.post(
    "",
    status_code=201,
    response_model=BatchPublic | CostEstimate,
    summary="Submit a batch (JSON body or NDJSON upload), or estimate its cost (?dry_run=true)",
    openapi_extra=_SUBMIT_BODY_DOC,
    responses={
        200: {
            "description": "Replay of an earlier request with the same Idempotency-Key, "
            "or the cost estimate of a dry run (nothing stored)"
        },
        409: {"description": "Idempotency-Key reused with another body"},
        413: {"description": "Over a size limit"},
        422: {"description": "Invalid batch; the problem names lines/indices and fields"},
    },
)
def submit_batch(
    principal: Submitter,
    store: StoreDep,
    projects: ProjectsDep,
    settings: SettingsDep,
    body: RawBody,
    response: Response,
    content_type: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
    task: Annotated[str | None, Query(description="NDJSON uploads: the task")] = None,
    project: Annotated[str | None, Query(description="NDJSON uploads: the project")] = None,
    guideline_version: Annotated[str | None, Query(description="NDJSON: pin a guideline")] = None,
    prompt_version: Annotated[str | None, Query(description="NDJSON: pin a prompt")] = None,
    callback_url: Annotated[str | None, Query(description="NDJSON: callback when done")] = None,
    priority: Annotated[
        Priority, Query(description="NDJSON: low, normal or high (weight in the team's share)")
    ] = "normal",
    cache: Annotated[bool, Query(description="NDJSON: reuse identical earlier calls")] = True,
    max_cost_usd: Annotated[
        float | None, Query(ge=0, allow_inf_nan=False, description="NDJSON: the batch's cost cap")
    ] = None,
    mode: Annotated[
        Literal["sync", "offline"] | None, Query(description="NDJSON: sync or offline")
    ] = None,
    pilot: Annotated[bool, Query(description="NDJSON: a pilot batch (all reviewed)")] = False,
    double_review_share: Annotated[
        float | None,
        Query(ge=0, le=1, allow_inf_nan=False, description="NDJSON: a pilot's twice-reviewed share"),
    ] = None,
    dry_run: Annotated[
        bool, Query(description="Estimate the cost and calls; store and label nothing")
    ] = False,
) -> BatchPublic | CostEstimate:
    """Validate every item against the task, then store the batch and queue it for labeling."""
    limits = limits_of(settings)
    media_type = _media_type(content_type)
    submission: Submission
    if media_type in NDJSON_TYPES:
        if not task and not project:
            raise Problem(
                422,
                "an NDJSON upload names its task (or project) in the query: ?task=<task>",
                title="Invalid request",
                slug="invalid-request",
                errors=[{"in": "query", "field": "task", "message": "Field required"}],
            )
        submission = parse_ndjson_batch(
            body, limits, task=task, project=project, guideline_version=guideline_version,
            prompt_version=prompt_version, callback_url=callback_url,
            priority=priority, cache=cache, pilot=pilot,
            double_review_share=double_review_share,
        )
        submission.max_cost_usd = max_cost_usd
        submission.mode = mode or "sync"
    elif media_type == "application/json" or media_type.endswith("+json"):
        submission = parse_json_batch(body, limits)
    else:
        raise Problem(
            415,
            f"unsupported Content-Type {media_type!r}: send application/json "
            f"or {NDJSON_MEDIA_TYPE}",
            slug="unsupported-media-type",
        )
    if submission.callback_url is not None:
        # Checked again before every delivery: DNS can change in between.
        resolve_destination(submission.callback_url, parse_allow_list(settings.callback_allow))
    resolved = projects.resolve(
        principal.team, project=submission.project, task=submission.task,
        guideline_version=submission.guideline_version,
        prompt_version=submission.prompt_version,
    )
    validate_inputs(resolved.task, submission.items)
    if submission.mode == "offline" and settings.profile().backend not in ("openai", "anthropic"):
        raise Problem(
            422,
            f'"mode": "offline" needs a provider batch API (openai or anthropic); this server '
            f"labels with the {settings.profile().backend} backend",
            title="Invalid batch",
            slug="invalid-batch",
            errors=[{"field": "mode", "message": "offline needs the openai or anthropic backend"}],
        )
    if dry_run:
        response.status_code = 200
        samples_used, per_sample = store.label_history(
            principal.team, resolved.project.task, resolved.guideline.version,
            resolved.prompt.version,
        )
        return estimate_batch(
            resolved.task,
            resolved.prompt,
            settings.profile(resolved.project.model_profile),
            [entry.item for entry in submission.items],
            mode=submission.mode,
            history=History(samples_used, per_sample),
        )
    info, created = store.create_batch(
        principal,
        BatchCreate(
            task=resolved.project.task,
            project=resolved.project.name,
            items=[entry.item for entry in submission.items],
            guideline_version=resolved.guideline.version,
            prompt_version=resolved.prompt.version,
            guideline_hash=resolved.guideline_hash,
            prompt_hash=resolved.prompt_hash,
            model_profile=resolved.project.model_profile,
            metadata=submission.metadata,
            callback_url=submission.callback_url,
            priority=submission.priority,
            cache=submission.cache,
            max_cost_usd=submission.max_cost_usd,
            mode=submission.mode,
            pilot=submission.pilot,
            double_review_share=submission.double_review_share,
        ),
        idempotency_key=idempotency_key,
        request_hash=request_hash(submission),
    )
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"{router.prefix}/{info.id}"
    return BatchPublic.of(info)


@router.get("", response_model=BatchList, summary="List the team's batches")
def list_batches(
    principal: BatchReader,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: CursorQuery = None,
) -> BatchList:
    """The caller's team's batches, newest first, a page at a time (`next_cursor`)."""
    batches, next_cursor = store.batches_page(principal.team, cursor=cursor, limit=limit)
    return BatchList(batches=[BatchPublic.of(b) for b in batches], count=len(batches),
                     next_cursor=next_cursor)


@router.get("/{batch_id}", response_model=BatchPublic, summary="Batch progress")
def get_batch(principal: BatchReader, store: StoreDep, batch_id: str) -> BatchPublic:
    """Counts by state, progress, tokens and cost of one batch."""
    return BatchPublic.of(store.get_batch(principal.team, batch_id))


@router.get("/{batch_id}/items", response_model=ItemsPage, summary="A page of a batch's items")
def list_items(
    principal: BatchReader,
    store: StoreDep,
    batch_id: str,
    state: ItemState | None = None,
    offset: Annotated[int, Query(ge=0, description="Or: page with cursor")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: CursorQuery = None,
) -> ItemsPage:
    """Items in submit order, optionally only those in one state, a page at a time."""
    batch = store.get_batch(principal.team, batch_id)
    if offset and not cursor:
        items = store.list_items(principal.team, batch_id, state=state, offset=offset,
                                 limit=limit)
        next_cursor = (store.items_cursor_after(items[-1].item_id, state)
                       if len(items) == limit else None)
    else:
        items, next_cursor = store.items_page(principal.team, batch_id, state=state,
                                              cursor=cursor, limit=limit)
    total = batch.counts.get(state.value, 0) if state is not None else batch.total
    return ItemsPage(
        batch_id=batch_id, state=state, offset=offset, limit=limit, total=total, items=items,
        next_cursor=next_cursor,
    )


def _result_lines(items: Iterator[ItemView], include_input: bool) -> Iterator[bytes]:
    for item in items:
        line = ResultLine(
            id=item.id,
            item_id=item.item_id,
            state=item.state,
            label=item.label,
            source=item.source,
            confidence=item.confidence,
            guideline_version=item.guideline_version,
            prompt_version=item.prompt_version,
            model=item.model,
            route_reason=item.route_reason,
            usage=item.usage,
            error=item.error,
            input=item.input if include_input else None,
            examples=item.examples,
            pool_snapshot=item.pool_snapshot,
        )
        exclude = None if include_input else {"input"}
        yield line.model_dump_json(exclude=exclude).encode("utf-8") + b"\n"


@router.get(
    "/{batch_id}/results",
    summary="Stream results as NDJSON",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON_MEDIA_TYPE: {}}, "description": "One line per item"}},
)
def stream_results(
    principal: BatchReader,
    store: StoreDep,
    batch_id: str,
    include_input: Annotated[bool, Query(description="Add each item's input")] = False,
) -> StreamingResponse:
    """One JSON line per item in submit order: label, source, confidence, versions, usage."""
    # Look the batch up first: once streaming starts, a 404 can no longer be sent.
    store.get_batch(principal.team, batch_id)
    return StreamingResponse(
        _result_lines(store.iter_results(principal.team, batch_id), include_input),
        media_type=NDJSON_MEDIA_TYPE,
    )


@router.post("/{batch_id}/retry-failed", response_model=RetryResult, summary="Re-queue failed items")
def retry_failed(principal: Operator, store: StoreDep, batch_id: str) -> RetryResult:
    """Move the batch's failed items back to the labeling queue (operator)."""
    requeued = store.retry_failed(principal.team, batch_id, actor=actor_of(principal))
    return RetryResult(
        batch_id=batch_id,
        requeued=requeued,
        batch=BatchPublic.of(store.get_batch(principal.team, batch_id)),
    )


@router.patch("/{batch_id}", response_model=ResumeResult, summary="Change a batch's cost cap")
def update_batch(
    principal: Operator, store: StoreDep, batch_id: str, body: BatchUpdate
) -> ResumeResult:
    """Set or remove the batch's cap (operator); items paused by a budget resume."""
    resumed = store.set_batch_cap(
        principal.team, batch_id, body.max_cost_usd, actor=actor_of(principal)
    )
    return ResumeResult(
        batch_id=batch_id,
        resumed=resumed,
        batch=BatchPublic.of(store.get_batch(principal.team, batch_id)),
    )


@router.post("/{batch_id}/resume", response_model=ResumeResult, summary="Resume paused items")
def resume_batch(principal: Operator, store: StoreDep, batch_id: str) -> ResumeResult:
    """Queue the batch's items paused by a budget again, where they stopped (operator).

    Items the caps still cannot take pause again at their next call.
    """
    resumed = store.resume_batch(principal.team, batch_id, actor=actor_of(principal))
    return ResumeResult(
        batch_id=batch_id,
        resumed=resumed,
        batch=BatchPublic.of(store.get_batch(principal.team, batch_id)),
    )
