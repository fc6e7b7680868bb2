"""Export formats that trainers and labeling tools read, looked up by name.

`export(rows, fmt, task)` streams a format's text in chunks (lines for the
line-based formats), so the API can send it as it goes and the CLI can write it
without holding the batch in memory. Rows are result rows (see `rows.py`); only
final labels are written unless `ExportOptions.include_pending` says otherwise.

    format        tasks                       what
    jsonl         all                         label + provenance per item
    dpo           preference                  TRL standard prompt/chosen/rejected strings
    dpo-chat      preference                  TRL conversational (message lists)
    conll         ner                         token<TAB>BIO-tag, blank line per sentence
    spans         ner                         text + character-offset entities
    csv           safety, classification      one 0/1 column per category
    sharegpt      instruction                 ShareGPT conversations
    openai-chat   instruction                 OpenAI chat fine-tuning messages
    alpaca        instruction                 instruction / input / output
    label-studio  all                         Label Studio tasks with predictions
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from llmlabel.errors import InputError
from llmlabel.exports.chat import export_alpaca, export_openai_chat, export_sharegpt
from llmlabel.exports.jsonl import export_jsonl
from llmlabel.exports.label_studio import export_label_studio, labeling_config
from llmlabel.exports.ner import export_conll, export_spans
from llmlabel.exports.preference import export_dpo, export_dpo_chat
from llmlabel.exports.rows import (
    ExportOptions,
    ExportStats,
    ResultRow,
    parse_result_lines,
    select_rows,
)
from llmlabel.exports.tabular import export_csv

__all__ = [
    "ALL_TASKS",
    "EXPORT_FORMATS",
    "ExportFormat",
    "ExportOptions",
    "ExportStats",
    "ResultRow",
    "export",
    "formats_for",
    "get_format",
    "labeling_config",
    "parse_result_lines",
]

ALL_TASKS = frozenset({"ner", "safety", "preference", "instruction", "classification"})

Writer = Callable[[Iterable[ResultRow], str, ExportOptions, ExportStats], Iterator[str]]


@dataclass(frozen=True, slots=True)
class ExportFormat:
    """One export format: the tasks it serves, its writer and how to serve the file."""

    name: str
    tasks: frozenset[str]
    writer: Writer
    media_type: str
    extension: str
    description: str


_JSONL = "application/jsonl"

EXPORT_FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("jsonl", ALL_TASKS, export_jsonl, _JSONL, "jsonl",
                     "final labels with source, confidence, versions and model"),
        ExportFormat("dpo", frozenset({"preference"}), export_dpo, _JSONL, "jsonl",
                     "TRL DPO pairs, standard form (prompt/chosen/rejected strings)"),
        ExportFormat("dpo-chat", frozenset({"preference"}), export_dpo_chat, _JSONL, "jsonl",
                     "TRL DPO pairs, conversational form (message lists)"),
        ExportFormat("conll", frozenset({"ner"}), export_conll, "text/plain; charset=utf-8", "conll",
                     "CoNLL BIO tags, token<TAB>tag"),
        ExportFormat("spans", frozenset({"ner"}), export_spans, _JSONL, "jsonl",
                     "text with character-offset entities"),
        ExportFormat("csv", frozenset({"safety", "classification"}), export_csv,
                     "text/csv; charset=utf-8", "csv", "one 0/1 column per category"),
        ExportFormat("sharegpt", frozenset({"instruction"}), export_sharegpt, _JSONL, "jsonl",
                     "ShareGPT conversations"),
        ExportFormat("openai-chat", frozenset({"instruction"}), export_openai_chat, _JSONL, "jsonl",
                     "OpenAI chat fine-tuning messages"),
        ExportFormat("alpaca", frozenset({"instruction"}), export_alpaca, _JSONL, "jsonl",
                     "Alpaca instruction/input/output"),
        ExportFormat("label-studio", ALL_TASKS, export_label_studio, "application/json", "json",
                     "Label Studio tasks with predictions, for import"),
    )
}


def formats_for(task: str) -> list[str]:
    """Names of the formats that can export labels of `task`."""
    return [name for name, f in EXPORT_FORMATS.items() if task in f.tasks]


def get_format(fmt: str, task: str) -> ExportFormat:
    """The format, or InputError listing the formats valid for the task."""
    if task not in ALL_TASKS:
        raise InputError(f"unknown task {task!r} (known: {', '.join(sorted(ALL_TASKS))})", field="task")
    found = EXPORT_FORMATS.get(fmt)
    if found is None or task not in found.tasks:
        what = "unknown format" if found is None else "format"
        suffix = "" if found is None else f" does not apply to {task}"
        raise InputError(
            f"{what} {fmt!r}{suffix}; formats for {task}: {', '.join(formats_for(task))}",
            field="format")
    return found


def export(rows: Iterable[dict[str, Any] | ResultRow], fmt: str, task: str, *,
           options: ExportOptions | None = None, stats: ExportStats | None = None) -> Iterator[str]:
    """Stream `rows` of `task` in format `fmt`, as text chunks to be written in order.

    The format is checked before the first chunk, so a wrong name fails at the
    call, not midway through a response. `stats`, when given, is filled in as
    the iterator is consumed.
    """
    chosen = get_format(fmt, task)
    opts = options or ExportOptions()
    counts = stats if stats is not None else ExportStats()
    return chosen.writer(select_rows(rows, task, opts, counts), task, opts, counts)
