"""Parse and check a submitted batch before anything is stored.

Two body formats carry the same batch: a JSON object (`{"task", "items", ...}`)
and NDJSON (one item per line, task and versions in query parameters). Both
become a `Submission`: items in order, each remembering where it came from, so
every error names the line (1-based) or the `items[i]` index and the field.
Limits on size raise 413 problems naming the limit and the actual value; bad
content raises 422 problems listing up to `MAX_REPORTED` errors. Nothing here
touches the store, so a rejected request can never leave anything behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from llmlabel.api.problems import Problem, validation_entries
from llmlabel.errors import InputError
from llmlabel.tasks import Task

__all__ = [
    "MAX_REPORTED",
    "BatchSubmit",
    "Limits",
    "Submission",
    "SubmittedItem",
    "check_content_length",
    "parse_json_batch",
    "parse_ndjson_batch",
    "request_hash",
    "validate_inputs",
]

MAX_REPORTED = 20
"""At most this many item errors are listed in one 422 (the detail says how many there were)."""

_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits of one submit request (from Settings)."""

    max_body_bytes: int
    max_batch_items: int
    max_item_bytes: int


class BatchSubmit(BaseModel):
    """The JSON submit body; `items` are checked one by one afterwards, naming their index."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, description="Task type, e.g. ner, safety, preference")
    items: list[Any] = Field(description="Items to label; each is an object with a string 'id'")
    guideline_version: str | None = Field(None, description="Pin a guideline version")
    prompt_version: str | None = Field(None, description="Pin a prompt version")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Kept with the batch")
    callback_url: AnyHttpUrl | None = Field(None, description="Called when the batch is done")


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
    """A parsed batch: task, pinned versions, items in submit order."""

    task: str
    items: list[SubmittedItem]
    guideline_version: str | None = None
    prompt_version: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    callback_url: str | None = None


class _Errors:
    """Collects item errors and raises one 422 listing the first MAX_REPORTED."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.entries: list[dict[str, Any]] = []
        self.texts: list[str] = []
        self.count = 0

    def add(self, where: dict[str, Any], where_text: str, field_name: str | None, msg: str) -> None:
        self.count += 1
        if len(self.entries) < MAX_REPORTED:
            self.entries.append({**where, "field": field_name, "message": msg})
            label = f"{where_text}: {field_name}" if field_name else where_text
            self.texts.append(f"{label}: {msg}")

    def raise_if_any(self) -> None:
        if not self.count:
            return
        more = f" (first {MAX_REPORTED} shown)" if self.count > MAX_REPORTED else ""
        noun = "error" if self.count == 1 else "errors"
        raise Problem(
            422,
            f"{self.count} {noun} in the batch{more}: " + "; ".join(self.texts),
            title=self.title,
            slug="invalid-batch",
            errors=self.entries,
        )


def _too_large(limit: str, allowed: int, actual: int, what: str) -> Problem:
    return Problem(
        413,
        f"{what} is {actual:,}, over the limit {limit}={allowed:,}",
        title="Request too large",
        slug="too-large",
        extra={"limit": limit, "allowed": allowed, "actual": actual},
    )


def check_content_length(header: str | None, limits: Limits) -> None:
    """Refuse a declared body size over the limit before reading any of it."""
    if header is None:
        return
    try:
        declared = int(header)
    except ValueError:
        raise Problem(400, f"Content-Length {header!r} is not a number") from None
    if declared > limits.max_body_bytes:
        raise _too_large("max_body_bytes", limits.max_body_bytes, declared, "request body (bytes)")


MAX_NESTING = 32
"""Deepest nesting of objects and arrays inside one item; labels never need more, and
deeper values break serialization later (pydantic and json both recurse)."""


class _NotJson(ValueError):
    """JSON that Python's parser accepts but the API does not (NaN, Infinity, deep nesting)."""


def _reject_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not valid JSON (use null or a number)")


def _loads(data: bytes) -> Any:
    """Strict JSON: no NaN/Infinity, and too-deep nesting is an input error, not a crash."""
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise _NotJson(f"nested more than {MAX_NESTING} levels deep") from None


def _walk(value: Any) -> Iterator[tuple[str, int, Any]]:
    """(field path, nesting depth, value) of every value inside an item, without recursion."""
    stack: list[tuple[str, int, Any]] = [("", 0, value)]
    while stack:
        path, depth, current = stack.pop()
        yield path, depth, current
        if isinstance(current, dict):
            stack.extend((f"{path}.{key}" if path else str(key), depth + 1, child)
                         for key, child in current.items())
        elif isinstance(current, list):
            stack.extend((f"{path}.{i}" if path else str(i), depth + 1, child)
                         for i, child in enumerate(current))


def _item_problem(item: Any) -> tuple[str | None, str] | None:
    """(field, reason) when an item cannot be stored as it is, else None."""
    for path, depth, value in _walk(item):
        if depth > MAX_NESTING:
            return None, f"nested more than {MAX_NESTING} levels deep"
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                bad = value[exc.start : exc.end]
                return path or None, f"holds a lone surrogate escape ({bad!a}), not valid text"
    return None


def _item_size(item: Any) -> int:
    return len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _check_count(count: int, limits: Limits) -> None:
    if count == 0:
        raise Problem(
            422, "the batch has no items; send at least one", title="Empty batch", slug="empty-batch"
        )
    if count > limits.max_batch_items:
        raise _too_large("max_batch_items", limits.max_batch_items, count, "number of items")


def _check_items(items: list[SubmittedItem], errors: _Errors) -> None:
    """Every item needs a non-empty string `id`, unique within the batch."""
    first_seen: dict[str, SubmittedItem] = {}
    for entry in items:
        item_id = entry.item.get("id")
        if not isinstance(item_id, str) or not item_id.strip():
            got = "missing" if item_id is None else f"got {json.dumps(item_id)[:40]}"
            errors.add(entry.locate(), entry.where, "id", f"needs a non-empty string id ({got})")
            continue
        earlier = first_seen.get(item_id)
        if earlier is not None:
            errors.add(
                {**entry.locate(), "duplicate_of": earlier.locate()},
                entry.where,
                "id",
                f"duplicate id {item_id!r}, already used at {earlier.where}",
            )
        else:
            first_seen[item_id] = entry


def parse_json_batch(body: bytes, limits: Limits) -> Submission:
    """A JSON submit body -> Submission (422 with the position of a syntax error)."""
    try:
        data = _loads(body)
    except json.JSONDecodeError as exc:
        raise Problem(
            422,
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            f"(char {exc.pos})",
            title="Malformed JSON",
            slug="malformed-json",
            errors=[{"line": exc.lineno, "column": exc.colno, "position": exc.pos,
                     "field": None, "message": exc.msg}],
        ) from None
    except UnicodeDecodeError as exc:
        raise Problem(422, f"body is not UTF-8 (byte {exc.start})", slug="malformed-json") from None
    except _NotJson as exc:
        raise Problem(422, f"body: {exc}", title="Malformed JSON", slug="malformed-json") from None
    if not isinstance(data, dict):
        raise Problem(
            422,
            "a JSON body is an object {\"task\": ..., \"items\": [...]}; "
            "send one item per line as application/x-ndjson instead",
            slug="invalid-batch",
        )
    try:
        submit = BatchSubmit.model_validate(data)
    except ValidationError as exc:
        entries = validation_entries(exc.errors())
        raise Problem(
            422,
            "; ".join(f"{e['field']}: {e['message']}" for e in entries),
            title="Invalid batch",
            slug="invalid-batch",
            errors=entries,
        ) from None
    _check_count(len(submit.items), limits)
    errors = _Errors("Invalid batch")
    items: list[SubmittedItem] = []
    for index, raw in enumerate(submit.items):
        problem = _item_problem(raw)
        if problem is not None:
            errors.add({"index": index}, f"items[{index}]", *problem)
            continue
        size = _item_size(raw)
        if size > limits.max_item_bytes:
            raise _too_large("max_item_bytes", limits.max_item_bytes, size, f"items[{index}] (bytes)")
        if not isinstance(raw, dict):
            errors.add({"index": index}, f"items[{index}]", None,
                       f"an item is a JSON object, got {type(raw).__name__}")
            continue
        items.append(SubmittedItem(item=raw, index=index))
    _check_items(items, errors)
    errors.raise_if_any()
    return Submission(
        task=submit.task,
        items=items,
        guideline_version=submit.guideline_version,
        prompt_version=submit.prompt_version,
        metadata=submit.metadata,
        callback_url=str(submit.callback_url) if submit.callback_url else None,
    )


def parse_ndjson_batch(
    body: bytes,
    limits: Limits,
    *,
    task: str,
    guideline_version: str | None = None,
    prompt_version: str | None = None,
    callback_url: str | None = None,
) -> Submission:
    """An NDJSON body (one item per line; blank lines ignored) -> Submission."""
    lines = body.split(b"\n")
    numbered = [(n, line.rstrip(b"\r")) for n, line in enumerate(lines, start=1)]
    numbered = [(n, line) for n, line in numbered if line.strip()]
    _check_count(len(numbered), limits)
    errors = _Errors("Invalid batch")
    items: list[SubmittedItem] = []
    for index, (number, line) in enumerate(numbered):
        if len(line) > limits.max_item_bytes:
            raise _too_large("max_item_bytes", limits.max_item_bytes, len(line),
                             f"line {number} (bytes)")
        where = {"line": number}
        try:
            value = _loads(line)
        except json.JSONDecodeError as exc:
            errors.add(where, f"line {number}", None,
                       f"not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        except UnicodeDecodeError as exc:
            errors.add(where, f"line {number}", None, f"not UTF-8 (byte {exc.start} of the line)")
            continue
        except _NotJson as exc:
            errors.add(where, f"line {number}", None, str(exc))
            continue
        if not isinstance(value, dict):
            errors.add(where, f"line {number}", None,
                       f"an item is a JSON object, got {type(value).__name__}")
            continue
        problem = _item_problem(value)
        if problem is not None:
            errors.add(where, f"line {number}", *problem)
            continue
        items.append(SubmittedItem(item=value, index=index, line=number))
    _check_items(items, errors)
    errors.raise_if_any()
    if callback_url is not None:
        try:
            callback_url = str(_URL.validate_python(callback_url))
        except ValidationError as exc:
            message = exc.errors()[0]["msg"]
            raise Problem(
                422,
                f"callback_url: {message}",
                title="Invalid batch",
                slug="invalid-batch",
                errors=[{"in": "query", "field": "callback_url", "message": message}],
            ) from None
    return Submission(
        task=task,
        items=items,
        guideline_version=guideline_version,
        prompt_version=prompt_version,
        callback_url=callback_url,
    )


def validate_inputs(task: Task, items: list[SubmittedItem]) -> None:
    """Check every item against the task's input model; one 422 naming line/index and field."""
    errors = _Errors(f"Items do not fit task {task.name!r}")
    for entry in items:
        try:
            task.validate_input(entry.item)
        except InputError as exc:
            message = str(exc)
            prefix = f"{exc.field}: "
            if exc.field and message.startswith(prefix):
                message = message[len(prefix):]
            errors.add(entry.locate(), entry.where, exc.field, message)
    errors.raise_if_any()


def request_hash(submission: Submission) -> str:
    """sha256 of the request's content, independent of body format and key order.

    Versions are hashed as the client pinned them, not as resolved, so a replay
    after an operator activated another version still matches the first request.
    """
    canonical = {
        "task": submission.task,
        "items": [entry.item for entry in submission.items],
        "guideline_version": submission.guideline_version,
        "prompt_version": submission.prompt_version,
        "metadata": submission.metadata,
        "callback_url": submission.callback_url,
    }
    data = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()
