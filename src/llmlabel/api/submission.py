"""Parse and check a submitted batch before anything is stored.

Two body formats carry the same batch: a JSON object (`{"task", "items", ...}`)
and NDJSON (one item per line, task and versions in query parameters). Both
become a `Submission`: items in order, each remembering where it came from, so
every error names the line (1-based) or the `items[i]` index and the field.
Every JSON value is checked by `llmlabel.validation`, the one path all input
takes: size limits raise `PayloadTooLargeError` (413) naming the limit and the
actual value; bad content raises `InvalidInputError` (422) listing up to
`MAX_REPORTED` errors. Nothing here touches the store, so a rejected request can
never leave anything behind.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    TypeAdapter,
    ValidationError,
)

from llmlabel.errors import InputError, InvalidInputError, PayloadTooLargeError
from llmlabel.store.models import Priority
from llmlabel.tasks import Task
from llmlabel.validation import (
    MAX_DEPTH,
    MAX_REPORTED,
    Problems,
    check_size,
    json_size,
    loads,
    model_errors,
)

__all__ = [
    "DEFAULT_PILOT_SHARE",
    "MAX_NESTING",
    "MAX_REPORTED",
    "BatchSubmit",
    "Limits",
    "Submission",
    "SubmittedItem",
    "parse_json_batch",
    "parse_ndjson_batch",
    "request_hash",
    "validate_inputs",
]

MAX_NESTING = MAX_DEPTH
"""Deepest nesting of objects and arrays inside one item (see `llmlabel.validation`)."""

_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)

DEFAULT_PILOT_SHARE = 0.3
"""Share of a pilot batch's items reviewed twice when the body names none."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits of one submit request (from Settings)."""

    max_body_bytes: int
    max_batch_items: int
    max_item_bytes: int


class BatchSubmit(BaseModel):
    """The JSON submit body; `items` are checked one by one afterwards, naming their index."""

    model_config = ConfigDict(extra="forbid")

    task: str | None = Field(
        None, min_length=1,
        description="Task type, e.g. ner, safety, preference: labeled by the team's default "
        "project of that type (needed unless 'project' is given)",
    )
    project: str | None = Field(None, min_length=1, description="Label with this project")
    items: list[Any] = Field(description="Items to label; each is an object with a string 'id'")
    guideline_version: str | None = Field(None, description="Pin a guideline version")
    prompt_version: str | None = Field(None, description="Pin a prompt version")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Kept with the batch")
    callback_url: AnyHttpUrl | None = Field(None, description="Called when the batch is done")
    priority: Priority = Field(
        "normal",
        description="Share of the team's labeling turn: low 1, normal 4, high 16 "
        "(teams always share workers equally)",
    )
    cache: bool = Field(
        True, description="Reuse answers of identical earlier provider calls; false: always call"
    )
    max_cost_usd: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="Cost cap of the batch in USD"
    )
    mode: Literal["sync", "offline"] = Field(
        "sync", description="offline: the provider's batch API (about half price, within 24 h)"
    )
    pilot: StrictBool = Field(
        False, description="A pilot: every item goes to review whatever its confidence, a "
        "share of them to a second reviewer; GET /v1/batches/{id}/feedback reports on it"
    )
    double_review_share: StrictFloat | None = Field(
        None, ge=0, le=1, allow_inf_nan=False,
        description=f"Pilot only: share of items also reviewed a second time "
        f"(default {DEFAULT_PILOT_SHARE})",
    )


@dataclass(frozen=True, slots=True)
class SubmittedItem:
    """One item and where it was in the request."""

    item: dict[str, Any]
    index: int
    line: int | None = None

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else f"items[{self.index}]"

    def locate(self) -> dict[str, Any]:
        return {"line": self.line} if self.line is not None else {"index": self.index}


@dataclass(slots=True)
class Submission:
    """A parsed batch: task and/or project, pinned versions, items in submit order."""

    task: str | None
    items: list[SubmittedItem]
    project: str | None = None
    guideline_version: str | None = None
    prompt_version: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    callback_url: str | None = None
    priority: Priority = "normal"
    cache: bool = True
    max_cost_usd: float | None = None
    mode: Literal["sync", "offline"] = "sync"
    pilot: bool = False
    # A pilot's share of items reviewed twice (None for other batches).
    double_review_share: float | None = None


def _too_large(limit: str, allowed: int, actual: int, what: str) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"{what} is {actual:,}, over the limit {limit}={allowed:,}",
        limit=limit, allowed=allowed, actual=actual,
    )


def _invalid(message: str, field: str, **location: object) -> InvalidInputError:
    return InvalidInputError(f"{field}: {message}", title="Invalid batch", field=field,
                             errors=[{**location, "field": field, "message": message}])


def _check_count(count: int, limits: Limits) -> None:
    if count == 0:
        raise InvalidInputError(
            "the batch has no items; send at least one",
            errors=[{"field": "items", "message": "no items"}], title="Empty batch",
        )
    if count > limits.max_batch_items:
        raise _too_large("max_batch_items", limits.max_batch_items, count, "number of items")


def _check_items(items: list[SubmittedItem], errors: Problems) -> None:
    """Every item needs a non-empty string `id`, unique within the batch."""
    named: list[SubmittedItem] = []
    for entry in items:
        item_id = entry.item.get("id")
        if not isinstance(item_id, str) or not item_id.strip():
            got = "missing" if item_id is None else f"got {json.dumps(item_id)[:40]}"
            errors.add(f"needs a non-empty string id ({got})", field="id", where=entry.where,
                       **entry.locate())
            continue
        named.append(entry)
    errors.duplicates((e.item["id"], e.where, e.locate()) for e in named)


_TASK_REQUIRED: dict[str, Any] = {
    "field": "task",
    "message": "Field required: name the 'task' (your default project of it) or a 'project'",
}


def parse_json_batch(body: bytes, limits: Limits) -> Submission:
    """A JSON submit body -> Submission (422 with the position of a syntax error)."""
    # Each value is checked below, so a depth or text error names the item or field.
    data = loads(body, check=False)
    if not isinstance(data, dict):
        raise InvalidInputError(
            "a JSON body is an object {\"task\": ..., \"items\": [...]}; "
            "send one item per line as application/x-ndjson instead",
            errors=[{"field": None, "message": "expected an object"}], title="Invalid batch",
        )
    errors = Problems("Invalid batch", what="the batch")
    for name, value in data.items():
        if name != "items":
            errors.check(value, field=name)
    errors.raise_if_any()
    needs_task = data.get("task") is None and data.get("project") is None
    try:
        submit = BatchSubmit.model_validate(data)
    except ValidationError as exc:
        entries = model_errors(exc)
        if needs_task:
            entries.insert(0, _TASK_REQUIRED)
        raise InvalidInputError(
            "; ".join(f"{e['field']}: {e['message']}" for e in entries),
            errors=entries, title="Invalid batch", field=entries[0]["field"],
        ) from None
    check_size(submit.metadata, field="metadata", max_bytes=limits.max_item_bytes)
    if needs_task:
        raise InvalidInputError(
            f"task: {_TASK_REQUIRED['message']}", errors=[_TASK_REQUIRED],
            title="Invalid batch", field="task",
        )
    _check_count(len(submit.items), limits)
    items: list[SubmittedItem] = []
    for index, raw in enumerate(submit.items):
        where = f"items[{index}]"
        if not errors.check(raw, field=None, where=where, index=index):
            continue
        size = json_size(raw)
        if size > limits.max_item_bytes:
            raise _too_large("max_item_bytes", limits.max_item_bytes, size, f"{where} (bytes)")
        if not isinstance(raw, dict):
            errors.add(f"an item is a JSON object, got {type(raw).__name__}", where=where,
                       index=index)
            continue
        items.append(SubmittedItem(item=raw, index=index))
    _check_items(items, errors)
    errors.raise_if_any()
    return Submission(
        task=submit.task,
        project=submit.project,
        items=items,
        guideline_version=submit.guideline_version,
        prompt_version=submit.prompt_version,
        metadata=submit.metadata,
        callback_url=str(submit.callback_url) if submit.callback_url else None,
        priority=submit.priority,
        cache=submit.cache,
        max_cost_usd=submit.max_cost_usd,
        mode=submit.mode,
        **_pilot_fields(submit.pilot, submit.double_review_share),
    )


def _pilot_fields(pilot: bool, share: float | None, **location: object) -> dict[str, Any]:
    """A pilot's flag and second-review share; a share without `pilot` is refused (422)."""
    if not pilot:
        if share is not None:
            raise _invalid("only a pilot batch takes a share; add \"pilot\": true",
                           "double_review_share", **location)
        return {}
    return {"pilot": True,
            "double_review_share": DEFAULT_PILOT_SHARE if share is None else share}


def parse_ndjson_batch(
    body: bytes,
    limits: Limits,
    *,
    task: str | None,
    project: str | None = None,
    guideline_version: str | None = None,
    prompt_version: str | None = None,
    callback_url: str | None = None,
    priority: Priority = "normal",
    cache: bool = True,
    pilot: bool = False,
    double_review_share: float | None = None,
) -> Submission:
    """An NDJSON body (one item per line; blank lines ignored) -> Submission."""
    lines = body.split(b"\n")
    numbered = [(n, line.rstrip(b"\r")) for n, line in enumerate(lines, start=1)]
    numbered = [(n, line) for n, line in numbered if line.strip()]
    _check_count(len(numbered), limits)
    errors = Problems("Invalid batch", what="the batch")
    items: list[SubmittedItem] = []
    for index, (number, line) in enumerate(numbered):
        if len(line) > limits.max_item_bytes:
            raise _too_large("max_item_bytes", limits.max_item_bytes, len(line),
                             f"line {number} (bytes)")
        where = f"line {number}"
        try:
            value = loads(line, line=number, max_depth=MAX_DEPTH)
        except InvalidInputError as exc:
            entry = exc.errors[0]
            errors.add(entry["message"], field=entry.get("field"), where=where, line=number)
            continue
        if not isinstance(value, dict):
            errors.add(f"an item is a JSON object, got {type(value).__name__}", where=where,
                       line=number)
            continue
        items.append(SubmittedItem(item=value, index=index, line=number))
    _check_items(items, errors)
    errors.raise_if_any()
    if callback_url is not None:
        try:
            callback_url = str(_URL.validate_python(callback_url))
        except ValidationError as exc:
            raise _invalid(exc.errors()[0]["msg"], "callback_url", **{"in": "query"}) from None
    return Submission(
        task=task,
        project=project,
        items=items,
        guideline_version=guideline_version,
        prompt_version=prompt_version,
        callback_url=callback_url,
        priority=priority,
        cache=cache,
        **_pilot_fields(pilot, double_review_share, **{"in": "query"}),
    )


def validate_inputs(task: Task, items: list[SubmittedItem]) -> None:
    """Check every item against the task's input model; one 422 naming line/index and field."""
    errors = Problems(f"Items do not fit task {task.name!r}", what="the batch")
    for entry in items:
        try:
            task.validate_input(entry.item)
        except InputError as exc:
            message = str(exc)
            prefix = f"{exc.field}: "
            if exc.field and message.startswith(prefix):
                message = message[len(prefix):]
            errors.add(message, field=exc.field, where=entry.where, **entry.locate())
    errors.raise_if_any()


def request_hash(submission: Submission) -> str:
    """sha256 of the request's content, independent of body format and key order.

    Versions are hashed as the client pinned them, not as resolved, so a replay
    after an operator activated another version still matches the first request.
    """
    canonical: dict[str, Any] = {
        "task": submission.task,
        "items": [entry.item for entry in submission.items],
        "guideline_version": submission.guideline_version,
        "prompt_version": submission.prompt_version,
        "metadata": submission.metadata,
        "callback_url": submission.callback_url,
    }
    # Only when set, so requests from before these fields existed keep their hash.
    if submission.priority != "normal":
        canonical["priority"] = submission.priority
    if not submission.cache:
        canonical["cache"] = False
    if submission.max_cost_usd is not None:
        canonical["max_cost_usd"] = submission.max_cost_usd
    if submission.mode != "sync":
        canonical["mode"] = submission.mode
    if submission.project is not None:
        canonical["project"] = submission.project
    if submission.pilot:
        canonical["pilot"] = True
        canonical["double_review_share"] = submission.double_review_share
    data = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()
