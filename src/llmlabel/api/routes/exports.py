"""Export a batch's final labels in a format a trainer or labeling tool reads, streamed.

The same formats as `llmlabel export` (`llmlabel.exports`), fed with the
batch's results in submit order. The format is checked before the first byte,
so a wrong name is a 422 listing the formats valid for the batch's task.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from llmlabel.api.deps import Exporter, StoreDep
from llmlabel.api.problems import Problem
from llmlabel.errors import InputError
from llmlabel.exports import (
    EXPORT_FORMATS,
    ExportOptions,
    ExportStats,
    export,
    formats_for,
    get_format,
)
from llmlabel.exports.rows import ResultRow
from llmlabel.store.models import ItemView

__all__ = ["MEDIA_TYPES", "router"]

router = APIRouter(prefix="/v1/batches", tags=["exports"])

# HTTP media types by file extension: JSON Lines go out as NDJSON (the type the
# results stream uses), and text types say their charset.
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "conll": "text/plain; charset=utf-8",
    "json": "application/json",
}

_FORMATS_DOC = "; ".join(
    f"{name}: {', '.join(sorted(f.tasks))}" for name, f in EXPORT_FORMATS.items()
)


def result_row(item: ItemView) -> ResultRow:
    """The fields of a stored item that exporters read."""
    return ResultRow(
        id=item.id,
        task=item.task,
        input=item.input,
        label=item.label,
        source=item.source,
        state=item.state.value,
        confidence=item.confidence,
        guideline_version=item.guideline_version,
        prompt_version=item.prompt_version,
        model=item.model,
    )


def _encoded(chunks: Iterator[str]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.encode("utf-8")


@router.get(
    "/{batch_id}/export",
    summary="Export a batch's final labels (JSONL, DPO, CoNLL, CSV, chat, Label Studio ...)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The export file, as an attachment",
            "content": {media: {} for media in sorted(set(MEDIA_TYPES.values()))},
        },
        422: {"description": "Unknown format, or one that does not apply to the batch's task"},
    },
)
def export_batch(
    principal: Exporter,
    store: StoreDep,
    batch_id: str,
    fmt: Annotated[str, Query(alias="format", description=f"Format and its tasks: {_FORMATS_DOC}")],
    include_pending: Annotated[
        bool, Query(description="Also export labels still waiting for review")
    ] = False,
    pairs: Annotated[
        Literal["all", "best"], Query(description="dpo: every ordered pair, or best vs each other")
    ] = "all",
    categories: Annotated[
        str | None, Query(description="csv: comma-separated category columns, in order")
    ] = None,
    min_quality: Annotated[
        int | None, Query(ge=1, le=5, description="instruction (rate mode): minimum rating kept")
    ] = None,
    conll_ids: Annotated[
        bool, Query(description="conll: '# id = ...' before each sentence")
    ] = False,
) -> StreamingResponse:
    """Stream the batch's final labels (submitter, operator or admin of the team)."""
    info = store.get_batch(principal.team, batch_id)
    try:
        chosen = get_format(fmt, info.task)
    except InputError as exc:
        valid = formats_for(info.task)
        raise Problem(
            422,
            str(exc),
            title="Invalid export format",
            slug="invalid-format",
            errors=[{"in": "query", "field": "format", "message": str(exc)}],
            extra={"valid_formats": valid},
        ) from exc
    options = ExportOptions(
        include_pending=include_pending,
        pairs=pairs,
        categories=tuple(c.strip() for c in categories.split(",") if c.strip())
        if categories
        else None,
        min_quality=min_quality,
        conll_ids=conll_ids,
    )
    rows = (result_row(item) for item in store.iter_results(principal.team, batch_id))
    chunks = export(rows, chosen.name, info.task, options=options, stats=ExportStats())
    filename = f"{batch_id}-{chosen.name}.{chosen.extension}"
    return StreamingResponse(
        _encoded(chunks),
        media_type=MEDIA_TYPES.get(chosen.extension, chosen.media_type),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
