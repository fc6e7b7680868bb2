"""The export registry, which rows count as final, result-line parsing and the jsonl format."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmlabel.errors import InputError
from llmlabel.exports import (
    EXPORT_FORMATS,
    ExportOptions,
    ExportStats,
    export,
    formats_for,
    parse_result_lines,
)


def make_row(item_id: str = "a", **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"id": item_id, "task": "classification", "input": {"text": "t"},
                           "label": {"label": "pos"}, "state": "auto_accepted", "source": "llm",
                           "confidence": 0.8, "guideline_version": "v3", "prompt_version": "v2",
                           "model": "m1"}
    row.update(fields)
    return row


def jsonl(rows: list[dict[str, Any]], **options: Any) -> tuple[list[dict[str, Any]], ExportStats]:
    stats = ExportStats()
    out = "".join(export(rows, "jsonl", "classification", options=ExportOptions(**options), stats=stats))
    return [json.loads(line) for line in out.splitlines()], stats


def test_every_task_has_jsonl_and_label_studio_and_its_trainer_formats() -> None:
    assert formats_for("preference") == ["jsonl", "dpo", "dpo-chat", "label-studio"]
    assert formats_for("ner") == ["jsonl", "conll", "spans", "label-studio"]
    assert formats_for("safety") == ["jsonl", "csv", "label-studio"]
    assert formats_for("classification") == ["jsonl", "csv", "label-studio"]
    assert formats_for("instruction") == ["jsonl", "sharegpt", "openai-chat", "alpaca", "label-studio"]
    assert {f.media_type for f in EXPORT_FORMATS.values()} >= {"application/jsonl", "text/csv; charset=utf-8"}


def test_an_unknown_format_fails_at_the_call_listing_the_tasks_formats() -> None:
    with pytest.raises(InputError, match=r"unknown format 'parquet'; formats for ner: jsonl, conll, spans, "
                                         r"label-studio") as info:
        export([], "parquet", "ner")  # not iterated: the check is eager
    assert info.value.field == "format"


def test_a_format_of_another_task_is_refused() -> None:
    with pytest.raises(InputError, match="format 'dpo' does not apply to ner; formats for ner:"):
        export([], "dpo", "ner")


def test_an_unknown_task_is_refused() -> None:
    with pytest.raises(InputError, match="unknown task 'pos-tagging'"):
        export([], "jsonl", "pos-tagging")


def test_jsonl_writes_label_and_provenance() -> None:
    (record,), _ = jsonl([make_row(samples=[{"raw": "..."}], usage={"calls": 3})])
    assert record == {"id": "a", "task": "classification", "label": {"label": "pos"}, "source": "llm",
                      "confidence": 0.8, "guideline_version": "v3", "prompt_version": "v2",
                      "model": "m1", "state": "auto_accepted"}


def test_cli_rows_default_to_llm_source_and_have_no_state() -> None:
    cli_row = make_row(route="accept", reason="confident")
    del cli_row["state"], cli_row["source"]
    (record,), _ = jsonl([cli_row])
    assert record["source"] == "llm" and "state" not in record


@pytest.mark.parametrize(("fields", "reason"), [
    ({"state": "needs_review"}, "state needs_review"),
    ({"state": "in_review"}, "state in_review"),
    ({"state": "rejected"}, "state rejected"),
    ({"state": "failed", "label": None}, "no label"),
    ({"state": None, "route": "review"}, "route review"),
])
def test_only_final_labels_are_exported_by_default(fields: dict[str, Any], reason: str) -> None:
    records, stats = jsonl([make_row("keep"), make_row("drop", **fields)])
    assert [r["id"] for r in records] == ["keep"]
    assert stats.written == 1 and stats.skipped == {reason: 1}


def test_include_pending_adds_unreviewed_labels_but_never_rejected_ones() -> None:
    rows = [make_row("a", state="needs_review"), make_row("b", state=None, route="review"),
            make_row("c", state="rejected"), make_row("d", state="approved")]
    records, stats = jsonl(rows, include_pending=True)
    assert [r["id"] for r in records] == ["a", "b", "d"]
    assert stats.skipped == {"state rejected": 1}


def test_a_row_of_another_task_is_an_error() -> None:
    with pytest.raises(InputError, match=r"row 'x': a 'ner' row in a 'classification' export"):
        jsonl([make_row(), make_row("x", task="ner")])


def test_integer_ids_are_written_as_text() -> None:
    (record,), _ = jsonl([make_row(7)])
    assert record["id"] == "7"


def test_parse_skips_blank_lines_and_remembers_line_numbers() -> None:
    lines = [json.dumps(make_row("a")), "", "  ", json.dumps(make_row("b", label=None))]
    rows = list(parse_result_lines(lines))
    assert [r.id for r in rows] == ["a", "b"]
    assert str(rows[1].error("boom")) == "row 'b' (line 4): boom"


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", r"results.jsonl: line 2: invalid JSON"),
    ("[1, 2]", r"results.jsonl: line 2: a result row is a JSON object"),
    ('{"task": "ner"}', r"results.jsonl: line 2: row None: id: Field required"),
    ('{"id": "z", "label": "pos"}', r"results.jsonl: line 2: row 'z': label: Input should be a valid dictionary"),
    (b"\xff\xfe", r"results.jsonl: line 2: not UTF-8"),
])
def test_a_malformed_line_names_its_number(line: str | bytes, message: str) -> None:
    first: str | bytes = json.dumps(make_row()).encode() if isinstance(line, bytes) else json.dumps(make_row())
    with pytest.raises(InputError, match=message) as info:
        list(parse_result_lines([first, line], source="results.jsonl"))
    assert info.value.line == 2
