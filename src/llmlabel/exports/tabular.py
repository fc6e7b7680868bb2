"""`csv`: safety flags and classification labels as one 0/1 column per category.

Safety: `id, text, <category>..., rationale`. The category columns are
`ExportOptions.categories` when given, else the flag names of the first row in
the order its label lists them (one guideline, one category list), so the file
streams. A flag that is null (unknown) is an empty cell. A later row with a
category outside the header is an error naming it, not a silently dropped column.

Classification: `id, text, label, <label>...`. `label` holds the single label,
or the labels joined by "|" for multi-label items; the 0/1 columns are the
given categories, else every label seen, sorted. Without given categories the
rows are read in full before the header can be written.

Cells that would start like a spreadsheet formula (`=`, `+`, `-`, `@`, tab, CR) are
written with a leading `'` (`neutralize`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from llmlabel.exports.rows import ExportOptions, ExportStats, ResultRow

__all__ = ["export_csv", "neutralize"]


# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (`=HYPERLINK(...)`, `@SUM(...)`, `-2+3`): it is written with a leading `'`, which the
# spreadsheet shows as plain text (OWASP's CSV injection advice).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: object) -> object:
    """A cell value that no spreadsheet evaluates: texts starting like a formula get a `'`."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _line(values: Sequence[object]) -> str:
    # The csv module owns quoting of commas, quotes and newlines inside texts.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([neutralize(v) for v in values])
    return buffer.getvalue()


def _cell(value: bool | None) -> str | int:
    return "" if value is None else int(value)


def _flags(row: ResultRow) -> dict[str, bool | None]:
    flags = (row.label or {}).get("flags")
    if not isinstance(flags, dict) or not all(v is None or isinstance(v, bool) for v in flags.values()):
        raise row.error("label 'flags' must map categories to true/false",
                        field="label.flags")
    return flags


def _safety(rows: Iterable[ResultRow], options: ExportOptions, stats: ExportStats) -> Iterator[str]:
    columns: Sequence[str] | None = options.categories
    if columns is not None:
        yield _line(["id", "text", *columns, "rationale"])
    for row in rows:
        flags = _flags(row)
        if columns is None:
            columns = list(flags)
            yield _line(["id", "text", *columns, "rationale"])
        unknown = [name for name in flags if name not in columns]
        if unknown:
            raise row.error(
                f"category {unknown[0]!r} is not a column "
                f"({', '.join(columns)}); pass the full category list", field="label.flags")
        rationale = (row.label or {}).get("rationale")
        stats.written += 1
        yield _line([row.id, row.text_input("text"), *(_cell(flags.get(c)) for c in columns),
                     rationale if isinstance(rationale, str) else ""])


def _labels(row: ResultRow) -> list[str]:
    label = row.label or {}
    if isinstance(label.get("label"), str):
        return [label["label"]]
    many = label.get("labels")
    if isinstance(many, list) and all(isinstance(x, str) for x in many):
        return list(many)
    raise row.error("label needs 'label' (a string) or 'labels' (a list of strings)",
                    field="label")


def _classification(rows: Iterable[ResultRow], options: ExportOptions, stats: ExportStats
                    ) -> Iterator[str]:
    if options.categories is not None:
        columns: Sequence[str] = options.categories
        labeled: Iterable[tuple[ResultRow, list[str]]] = ((row, _labels(row)) for row in rows)
    else:
        buffered = [(row, _labels(row)) for row in rows]
        columns = sorted({name for _row, names in buffered for name in names})
        labeled = buffered
    yield _line(["id", "text", "label", *columns])
    for row, names in labeled:
        unknown = [name for name in names if name not in columns]
        if unknown:
            raise row.error(f"label {unknown[0]!r} is not one of the categories "
                            f"({', '.join(columns)})", field="label")
        stats.written += 1
        yield _line([row.id, row.text_input("text"), "|".join(names),
                     *(int(c in names) for c in columns)])


def export_csv(rows: Iterable[ResultRow], task: str, options: ExportOptions,
               stats: ExportStats) -> Iterator[str]:
    """CSV with a header line, then one line per row (see the module docstring for columns)."""
    if task == "safety":
        yield from _safety(rows, options, stats)
    else:
        yield from _classification(rows, options, stats)
