"""Result rows as exporters read them: validation, the "final label" filter, JSONL parsing.

A result row is what `GET /v1/batches/{id}/results` streams and what
`llmlabel label --out` writes. Both carry `id`, `task`, `input` and `label`;
the service adds `source` and `state`, the CLI adds `route`. Exporters read
only the fields below and ignore the rest (samples, usage, detail ...).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from llmlabel.errors import InputError

__all__ = [
    "ExportOptions",
    "ExportStats",
    "ResultRow",
    "dump_json",
    "parse_result_lines",
    "select_rows",
]

FINAL_STATES = frozenset({"auto_accepted", "approved", "fixed"})
"""Service states whose label is final: accepted by the LLM's confidence or by a reviewer."""

PENDING_STATES = frozenset({"needs_review", "in_review", "labeling", "queued"})
"""States whose label (if any) nobody has confirmed yet; exported only on request."""


class ResultRow(BaseModel):
    """The fields of one result row that exports use; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str
    task: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    label: dict[str, Any] | None = None
    source: str | None = None
    state: str | None = None
    route: str | None = None
    confidence: float | None = None
    guideline_version: str | None = None
    prompt_version: str | None = None
    model: str | None = None
    _line: int | None = PrivateAttr(default=None)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        # Client ids may be integers in hand-written files; every format writes them as text.
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    def at_line(self, line: int) -> ResultRow:
        """Remember the input line this row came from, for error messages."""
        self._line = line
        return self

    def error(self, message: str, *, field: str | None = None) -> InputError:
        """An InputError about this row, naming its id and, when known, its input line."""
        where = f"row {self.id!r}" + (f" (line {self._line})" if self._line is not None else "")
        return InputError(f"{where}: {message}", field=field, line=self._line, item=self.id)

    def text_input(self, name: str, *, required: bool = True) -> str:
        """A string field of the item's input; InputError naming the row when it is missing."""
        value = self.input.get(name)
        if isinstance(value, str):
            return value
        if value is None and not required:
            return ""
        raise self.error(f"input field {name!r} must be a string", field=f"input.{name}")


class ExportOptions(BaseModel):
    """Knobs shared by the exporters; each format reads only the ones it documents."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include_pending: bool = False
    """Also export labels nobody confirmed yet (state needs_review/in_review, CLI route review)."""
    pairs: Literal["all", "best"] = "all"
    """DPO: every ordered pair of the ranking, or only the best response against each other one."""
    categories: tuple[str, ...] | None = None
    """CSV: the category columns, in order (default: from the first safety row / all classification labels)."""
    min_quality: int | None = Field(default=None, ge=1, le=5)
    """Instruction formats, rate mode: keep only pairs rated at least this."""
    conll_ids: bool = False
    """CoNLL: precede each sentence with a `# id = ...` comment line."""


@dataclass
class ExportStats:
    """What an export wrote and skipped, filled in while its iterator is consumed."""

    written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _is_final(row: ResultRow, include_pending: bool) -> str | None:
    """None when the row's label should be exported, else the reason it is skipped."""
    if row.label is None:
        return "no label"
    if row.state is not None:
        if row.state in FINAL_STATES:
            return None
        if row.state in PENDING_STATES and include_pending:
            return None
        return f"state {row.state}"
    # CLI rows have no state: the route says whether the confidence cleared the threshold.
    if row.route == "review" and not include_pending:
        return "route review"
    return None


def select_rows(rows: Iterable[dict[str, Any] | ResultRow], task: str, options: ExportOptions,
                stats: ExportStats) -> Iterator[ResultRow]:
    """Validated rows of `task` whose label is final (or pending, when asked for).

    A row of another task is an error, not a skip: mixing tasks in one export
    is almost always a wrong file, and silently dropping it would hide that.
    """
    for raw in rows:
        row = raw if isinstance(raw, ResultRow) else _validate(raw)
        if row.task is not None and row.task != task:
            raise row.error(f"a {row.task!r} row in a {task!r} export", field="task")
        reason = _is_final(row, options.include_pending)
        if reason is not None:
            stats.skip(reason)
            continue
        yield row


def _validate(raw: dict[str, Any]) -> ResultRow:
    try:
        return ResultRow.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        ident = raw.get("id") if isinstance(raw, dict) else None
        raise InputError(f"row {ident!r}: {where}: {first['msg']}", field=where,
                         item=None if ident is None else str(ident)) from exc


def parse_result_lines(lines: Iterable[str | bytes], *, source: str = "input") -> Iterator[ResultRow]:
    """Result rows of a JSONL stream; a bad line raises InputError naming its number."""
    for line_no, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            raise InputError(f"{source}: line {line_no}: not UTF-8", line=line_no) from None
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source}: line {line_no}: invalid JSON: {exc.msg}", line=line_no) from None
        if not isinstance(value, dict):
            raise InputError(f"{source}: line {line_no}: a result row is a JSON object", line=line_no)
        try:
            row = _validate(value)
        except InputError as exc:
            raise InputError(f"{source}: line {line_no}: {exc}", field=exc.field, line=line_no) from exc
        yield row.at_line(line_no)


def dump_json(value: Any) -> str:
    """Compact JSON that keeps non-ASCII text readable (trainers read UTF-8)."""
    return json.dumps(value, ensure_ascii=False)
