"""Write an export whole or not at all: every row is checked before the file is handed out.

The exporters stream and stop at the first row they cannot write. An edge that
must not hand out a short file (the HTTP export, `llmlabel export --out`)
writes through `write_whole` into a file of its own: when a row fails, the
rows after it are still checked (their output discarded) so the caller can
list every item the format cannot hold in one error, and the file is thrown
away. Rows left out on purpose (not final, below --min-quality) are counted in
`ExportStats.skipped`; they are a choice of the options, not a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from llmlabel.errors import InputError
from llmlabel.exports import get_format
from llmlabel.exports.rows import ExportOptions, ExportStats, ResultRow, select_rows

__all__ = ["RowProblem", "WholeExport", "write_whole"]

MAX_PROBLEMS = 100
"""How many failing rows an outcome lists by name (all of them are counted)."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One row the format cannot write: its id, the field at fault and why."""

    item: str | None
    field: str | None
    message: str


@dataclass(slots=True)
class WholeExport:
    """The outcome of `write_whole`: what was written and skipped, or the rows that failed."""

    stats: ExportStats = field(default_factory=ExportStats)
    problems: list[RowProblem] = field(default_factory=list)
    n_problems: int = 0

    @property
    def complete(self) -> bool:
        """Whether every selected row was written (the output may be handed out)."""
        return self.n_problems == 0


class _Cursor:
    """The raw rows, counting how many have been taken (to tell row errors from others)."""

    def __init__(self, rows: Iterable[dict[str, Any] | ResultRow]) -> None:
        self._rows = iter(rows)
        self.taken = 0

    def __iter__(self) -> Iterator[dict[str, Any] | ResultRow]:
        for row in self._rows:
            self.taken += 1
            yield row


def write_whole(rows: Iterable[dict[str, Any] | ResultRow], fmt: str, task: str,
                write: Callable[[str], object], *,
                options: ExportOptions | None = None) -> WholeExport:
    """Pass `rows` as `fmt` to `write` chunk by chunk, or list every row that cannot be written.

    When the outcome is not complete, what `write` got is a partial file the
    caller must discard. An error raised before any row is read (a bad option)
    propagates.
    """
    chosen = get_format(fmt, task)
    opts = options or ExportOptions()
    outcome = WholeExport()
    cursor = _Cursor(rows)
    while True:
        taken = cursor.taken
        try:
            for chunk in chosen.writer(select_rows(cursor, task, opts, outcome.stats), task, opts,
                                       outcome.stats):
                if outcome.complete:
                    write(chunk)
            return outcome
        except InputError as exc:
            if cursor.taken == taken:
                raise  # not about a row: nothing was read since the last start
            outcome.n_problems += 1
            if len(outcome.problems) < MAX_PROBLEMS:
                outcome.problems.append(RowProblem(exc.item, exc.field, str(exc)))
            # Go on with the rows after the failing one (a new writer: the old one is
            # finished), so one answer lists every row at fault.
