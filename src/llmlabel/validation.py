"""One validation path for every JSON value that enters llmlabel.

Batch items and metadata, gold inputs and labels, review fixes, project and
version bodies, and the CLI's input files all pass through here, so they are
refused for the same reasons with the same words, and whatever passes can be
stored and read back: strict JSON (no NaN or Infinity, valid UTF-8), no lone
surrogate escapes in values or keys (they cannot be encoded as UTF-8 later),
bounded nesting (serializers recurse) and bounded size.

The functions raise `InvalidInputError` (422), whose `errors` list names each
problem's field path and, for NDJSON, its line, or `PayloadTooLargeError`
(413) naming the limit. `Problems` collects many errors into one raise, so a
client fixes a whole batch at once. Pure: no HTTP, no Redis.

Typical use::

    value = loads(body)                                   # a whole request body
    check_value(value["metadata"], field="metadata")      # one value inside it
    problems = Problems("Invalid gold items")
    problems.check(item["input"], field=f"items.{i}.input")
    problems.duplicates((item.get("id"), f"items[{i}]", {"index": i})
                        for i, item in enumerate(items))
    problems.raise_if_any()
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from llmlabel.errors import InvalidInputError, PayloadTooLargeError

__all__ = [
    "DOCUMENT_DEPTH",
    "MAX_DEPTH",
    "MAX_REPORTED",
    "Problems",
    "check_document",
    "check_size",
    "check_value",
    "dumps",
    "find_problem",
    "json_size",
    "loads",
    "model_errors",
    "validate_model",
]

M = TypeVar("M", bound=BaseModel)

MAX_DEPTH = 32
"""Deepest nesting of objects and arrays inside one value a client sends (an item, a label,
metadata): labels never need more, and deeper values break serialization later."""

DOCUMENT_DEPTH = 64
"""Deepest nesting of a whole request body; its values sit a few levels below the top."""

MAX_REPORTED = 20
"""At most this many errors are listed in one 422 (the detail says how many there were)."""

# A depth error names the first few fields of the path, not the whole chain of brackets.
_PATH_PARTS_SHOWN = 4


class _NotJson(ValueError):
    """JSON that Python's parser accepts but llmlabel does not."""


def _reject_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not valid JSON (use null or a number)")


def _malformed(message: str, *, line: int | None, **entry: Any) -> InvalidInputError:
    where = f"line {line}" if line is not None else "body"
    location = {"line": line} if line is not None else {}
    return InvalidInputError(
        f"{where}: {message}", errors=[{**location, "field": None, "message": message, **entry}],
        title="Malformed JSON", line=line,
    )


def loads(data: bytes | str, *, line: int | None = None, max_depth: int = DOCUMENT_DEPTH,
          check: bool = True) -> Any:
    """Parse strict JSON and (unless `check` is False) `check_document` it.

    InvalidInputError says where it fails. `line` is the NDJSON line the text
    came from; without it the text is a whole body, and a syntax error gives
    its own line and column. Callers that check each value of the document
    themselves (naming it better) pass `check=False`.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise _malformed(f"not UTF-8 (byte {exc.start})", line=line) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        if line is not None:
            raise _malformed(f"not valid JSON: {exc.msg} at column {exc.colno}", line=line,
                             column=exc.colno) from None
        raise InvalidInputError(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            f"(char {exc.pos})",
            errors=[{"line": exc.lineno, "column": exc.colno, "position": exc.pos,
                     "field": None, "message": exc.msg}],
            title="Malformed JSON", line=exc.lineno,
        ) from None
    except _NotJson as exc:
        raise _malformed(str(exc), line=line) from None
    except RecursionError:
        raise _malformed(f"nested more than {max_depth} levels deep", line=line) from None
    if check:
        check_document(value, line=line, max_depth=max_depth)
    return value


def _lone_surrogate(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start : exc.end]
    return None


def _deep_path(path: tuple[str, ...]) -> tuple[str, ...]:
    """The first parts of a too-deep value's path, without trailing list indices ("m.0.0" -> "m")."""
    parts = list(path[:_PATH_PARTS_SHOWN])
    while len(parts) > 1 and parts[-1].isdigit():
        parts.pop()
    return tuple(parts)


def _join(prefix: str | None, path: tuple[str, ...]) -> str | None:
    parts = ([prefix] if prefix else []) + list(path)
    return ".".join(parts) or None


def _scalar_problem(value: Any, max_depth: int, depth: int) -> str | None:
    """Why a non-container value cannot be stored, else None."""
    if type(value) is str:
        # isascii() is a fast C check; only non-ASCII text can hold a surrogate.
        bad = None if value.isascii() else _lone_surrogate(value)
        return None if bad is None else (
            f"holds a lone surrogate escape ({bad!a}), not valid Unicode text")
    if type(value) is float and not math.isfinite(value):
        return f"{value} is not valid JSON (use null or a number)"
    return None


def find_problem(
    value: Any, *, field: str | None = None, max_depth: int = MAX_DEPTH
) -> tuple[str | None, str] | None:
    """(field path, reason) of the first thing in `value` that cannot be stored as JSON, else None.

    Checks nesting depth, NaN/Infinity floats (from parsers that allow them)
    and lone surrogates in strings and object keys. `field` prefixes the path.
    One loop without recursion: it runs over every value of every submitted item.
    """
    reason = _scalar_problem(value, max_depth, 0)
    if reason is not None:
        return field, reason
    stack: list[tuple[tuple[str, ...], int, Any]] = [((), 0, value)]
    while stack:
        path, depth, current = stack.pop()
        if isinstance(current, dict):
            pairs: Any = current.items()
        elif isinstance(current, (list, tuple)):
            pairs = enumerate(current)
        else:
            continue
        if depth >= max_depth and current:
            return (_join(field, _deep_path((*path, "0"))),
                    f"nested more than {max_depth} levels deep")
        for key, child in pairs:
            if type(key) is str and not key.isascii() and _lone_surrogate(key) is not None:
                bad = _lone_surrogate(key)
                return (_join(field, path),
                        f"key holds a lone surrogate escape ({bad!a}), not valid Unicode text")
            if isinstance(child, (dict, list, tuple)):
                stack.append(((*path, str(key)), depth + 1, child))
                continue
            reason = _scalar_problem(child, max_depth, depth + 1)
            if reason is not None:
                return _join(field, (*path, str(key))), reason
    return None


def check_document(value: Any, *, line: int | None = None, max_depth: int = DOCUMENT_DEPTH) -> None:
    """Raise InvalidInputError naming the field path if a parsed body cannot be stored."""
    problem = find_problem(value, max_depth=max_depth)
    if problem is not None:
        field, reason = problem
        label = f"line {line}: " if line is not None else ""
        entry = {"field": field, "message": reason, **({"line": line} if line is not None else {})}
        raise InvalidInputError(f"{label}{field or 'body'}: {reason}", errors=[entry],
                                title="Invalid JSON value", field=field, line=line)


def check_value(value: Any, *, field: str, max_depth: int = MAX_DEPTH,
                max_bytes: int | None = None, limit_name: str = "max_item_bytes") -> None:
    """Check one value inside a request (depth, NaN, surrogates, size); errors name `field`."""
    problems = Problems("Invalid input")
    problems.check(value, field=field, max_depth=max_depth)
    problems.raise_if_any()
    if max_bytes is not None:
        check_size(value, field=field, max_bytes=max_bytes, limit_name=limit_name)


def dumps(value: Any) -> str:
    """Compact JSON as llmlabel stores it (UTF-8 text kept readable, keys in given order)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_size(value: Any) -> int:
    """Bytes of `value` as stored (compact UTF-8 JSON)."""
    return len(dumps(value).encode("utf-8"))


def check_size(value: Any, *, field: str, max_bytes: int, limit_name: str = "max_item_bytes") -> int:
    """The stored size of `value`; PayloadTooLargeError (413) naming the limit if over it."""
    size = json_size(value)
    if size > max_bytes:
        raise PayloadTooLargeError(
            f"{field} (bytes) is {size:,}, over the limit {limit_name}={max_bytes:,}",
            limit=limit_name, allowed=max_bytes, actual=size, field=field,
        )
    return size


def model_errors(exc: ValidationError, *, prefix: str | None = None) -> list[dict[str, Any]]:
    """A pydantic ValidationError as `{"field", "message"}` entries (field paths joined by dots)."""
    return [
        {"field": _join(prefix, tuple(str(part) for part in error["loc"])), "message": error["msg"]}
        for error in exc.errors()
    ]


def validate_model(model: type[M], value: Any, *, title: str = "Invalid input",
                   prefix: str | None = None) -> M:
    """`model.model_validate(value)` after `check_document`; one InvalidInputError naming fields."""
    problem = find_problem(value, field=prefix, max_depth=DOCUMENT_DEPTH)
    if problem is not None:
        raise InvalidInputError(f"{problem[0] or 'body'}: {problem[1]}", title=title,
                                errors=[{"field": problem[0], "message": problem[1]}],
                                field=problem[0])
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        entries = model_errors(exc, prefix=prefix)
        raise InvalidInputError(
            "; ".join(f"{e['field']}: {e['message']}" for e in entries), errors=entries,
            title=title, field=entries[0]["field"] if entries else None,
        ) from None


class Problems:
    """Collects input errors and raises one InvalidInputError listing the first MAX_REPORTED.

    Each error is an entry `{"field", "message"}` plus where it was (`line`,
    `index`, `in`), so a client can point at every bad value at once.
    """

    def __init__(self, title: str, *, what: str = "the request") -> None:
        self.title = title
        self.what = what
        self.entries: list[dict[str, Any]] = []
        self.texts: list[str] = []
        self.count = 0

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, message: str, *, field: str | None = None, where: str | None = None,
            **location: Any) -> None:
        """One error; `where` (e.g. "line 3", "items[2]") prefixes the text, `location` the entry."""
        self.count += 1
        if len(self.entries) >= MAX_REPORTED:
            return
        self.entries.append({**location, "field": field, "message": message})
        label = ": ".join(part for part in (where, field) if part)
        self.texts.append(f"{label}: {message}" if label else message)

    def check(self, value: Any, *, field: str | None, max_depth: int = MAX_DEPTH,
              where: str | None = None, **location: Any) -> bool:
        """Add the first storage problem of `value` (see `find_problem`); True if there was none."""
        problem = find_problem(value, field=field, max_depth=max_depth)
        if problem is None:
            return True
        self.add(problem[1], field=problem[0], where=where, **location)
        return False

    def duplicates(self, ids: Iterable[tuple[object, str, dict[str, Any]]], *,
                   field: str = "id") -> None:
        """Add an error for every id already seen, from (id, where, location) triples.

        `where` is how the text names the place ("items[2]", "line 4"), `location`
        how the entry does ({"index": 2}, {"line": 4}); `field` may contain
        "{where}" ("{where}.id"). None ids are skipped (a missing id is another
        check's business).
        """
        first: dict[object, tuple[str, dict[str, Any]]] = {}
        for value, where, location in ids:
            if value is None:
                continue
            earlier = first.get(value)
            if earlier is None:
                first[value] = (where, location)
                continue
            self.add(f"duplicate id {value!r}, already used at {earlier[0]}",
                     field=field.replace("{where}", where), where=where, **location,
                     duplicate_of=earlier[1])

    def raise_if_any(self) -> None:
        """Raise InvalidInputError if any error was added."""
        if not self.count:
            return
        more = f" (first {MAX_REPORTED} shown)" if self.count > MAX_REPORTED else ""
        noun = "error" if self.count == 1 else "errors"
        first = self.entries[0]
        raise InvalidInputError(
            f"{self.count} {noun} in {self.what}{more}: " + "; ".join(self.texts),
            errors=self.entries, title=self.title,
            field=first.get("field"), line=first.get("line"),
        )
