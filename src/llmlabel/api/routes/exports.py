"""Export a batch's final labels in a format a trainer or labeling tool reads.

The same formats as `llmlabel export` (`llmlabel.exports`), fed with the
batch's results in submit order. The file is written whole before the first
byte is sent (memory up to `_SPOOL_BYTES`, then a temporary file), so the
answer is either the complete file, with its Content-Length and what was
written and skipped in `X-Export-Written` / `X-Export-Skipped`, or a 422
listing every item the format cannot hold. A short body can then only be a
broken connection, which every HTTP client reports as an error.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from typing import IO, Annotated, Literal

from fastapi import Query
from fastapi.responses import StreamingResponse

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import Exporter, StoreDep
from llmlabel.api.problems import Problem
from llmlabel.errors import InputError
from llmlabel.exports import EXPORT_FORMATS, ExportOptions, formats_for, get_format
from llmlabel.exports.rows import ResultRow
from llmlabel.exports.whole import WholeExport, write_whole
from llmlabel.store.models import ItemView

__all__ = ["MEDIA_TYPES", "router"]

router = api_router(prefix="/v1/batches", tags=["exports"])

# HTTP media types by file extension: JSON Lines go out as NDJSON (the type the
# results stream uses), and text types say their charset.
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "conll": "text/plain; charset=utf-8",
    "json": "application/json",
}

# Exports up to this size are built in memory, larger ones in a temporary file.
_SPOOL_BYTES = 8 * 1024 * 1024
_READ_BYTES = 64 * 1024

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


def _sent(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := spool.read(_READ_BYTES):
            yield chunk
    finally:
        spool.close()


def _incomplete(outcome: WholeExport, fmt: str) -> Problem:
    """The 422 listing the items a format cannot hold (the file is not sent at all)."""
    shown = outcome.problems
    more = outcome.n_problems - len(shown)
    detail = (f"{outcome.n_problems} item(s) cannot be exported as {fmt}, so nothing was "
              f"sent; first: {shown[0].message}" + (f" (and {more} more not listed)" if more else ""))
    return Problem(
        422,
        detail,
        title="Items cannot be exported in this format",
        slug="export-incomplete",
        errors=[{"in": "item", "item": p.item, "field": p.field, "message": p.message}
                for p in shown],
        extra={"n_items": outcome.n_problems},
    )


@router.get(
    "/{batch_id}/export",
    summary="Export a batch's final labels (JSONL, DPO, CoNLL, CSV, chat, Label Studio ...)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The export file, as an attachment",
            "content": {media: {} for media in sorted(set(MEDIA_TYPES.values()))},
        },
        422: {"description": "Unknown format, one that does not apply to the batch's task, "
              "or items the format cannot hold (listed in `errors`; nothing is sent)"},
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
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 (_sent closes it)
    try:
        outcome = write_whole(rows, chosen.name, info.task,
                              lambda chunk: spool.write(chunk.encode("utf-8")), options=options)
        if not outcome.complete:
            raise _incomplete(outcome, chosen.name)
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    filename = f"{batch_id}-{chosen.name}.{chosen.extension}"
    return StreamingResponse(
        _sent(spool),
        media_type=MEDIA_TYPES.get(chosen.extension, chosen.media_type),
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(size),
            "X-Export-Written": str(outcome.stats.written),
            # Left out by the options (not final, below min_quality): reason -> count.
            "X-Export-Skipped": json.dumps(outcome.stats.skipped, sort_keys=True),
        },
    )
