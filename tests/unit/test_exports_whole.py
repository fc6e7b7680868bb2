"""write_whole: a complete file, or every row the format cannot write, listed by id and field."""

from __future__ import annotations

from typing import Any

import pytest

from llmlabel.errors import InputError
from llmlabel.exports import ExportOptions, export
from llmlabel.exports.whole import MAX_PROBLEMS, write_whole


def ner_row(item_id: str, text: str, tokens: list[str] | None = None,
            entities: list[tuple[int, int, str]] = (), state: str = "auto_accepted") -> dict[str, Any]:
    item: dict[str, Any] = {"text": text}
    if tokens is not None:
        item["tokens"] = tokens
    return {"id": item_id, "task": "ner", "input": item, "state": state,
            "label": {"entities": [{"start": s, "end": e, "label": lab} for s, e, lab in entities]}}


def run(rows: list[dict[str, Any]], fmt: str, task: str = "ner", **options: Any
        ) -> tuple[str, Any]:
    chunks: list[str] = []
    outcome = write_whole(rows, fmt, task, chunks.append, options=ExportOptions(**options))
    return "".join(chunks), outcome


def test_a_complete_export_is_what_the_streaming_exporter_writes() -> None:
    rows = [ner_row("a", "Paris is nice", entities=[(0, 5, "location")]),
            ner_row("b", "so is Lyon", state="needs_review")]
    text, outcome = run(rows, "conll")
    assert outcome.complete and outcome.problems == []
    assert text == "".join(export(rows, "conll", "ner"))
    assert (outcome.stats.written, outcome.stats.skipped) == (1, {"state needs_review": 1})


def test_every_failing_row_is_listed_and_nothing_after_the_first_is_written() -> None:
    rows = [ner_row("ok", "Paris is nice"),
            ner_row("bad1", "Paris is nice", tokens=["Lyon", "rocks"]),
            ner_row("ok2", "so is Lyon"),
            ner_row("bad2", "Harrypotter rocks", entities=[(0, 11, "creative-work"), (0, 5, "person")]),
            {"id": "bad3", "task": "safety", "input": {"text": "x"}, "label": {}}]
    text, outcome = run(rows, "conll")
    assert not outcome.complete
    assert [(p.item, p.field) for p in outcome.problems] == [
        ("bad1", "input.tokens"), ("bad2", "label.entities"), ("bad3", "task")]
    assert outcome.n_problems == 3
    assert "bad1" in outcome.problems[0].message
    assert "Paris" in text and "Lyon" not in text  # writing stopped at the first failure


def test_the_list_is_capped_but_every_failure_is_counted() -> None:
    rows = [ner_row(f"b{i}", "Paris", tokens=["Lyon"]) for i in range(MAX_PROBLEMS + 5)]
    _text, outcome = run(rows, "conll")
    assert (len(outcome.problems), outcome.n_problems) == (MAX_PROBLEMS, MAX_PROBLEMS + 5)


def test_a_buffering_writer_names_the_row_at_fault() -> None:
    # Without --categories the classification CSV reads every row before its first line.
    rows = [{"id": "c1", "task": "classification", "input": {"text": "hi"}, "state": "approved",
             "label": {"label": "greeting"}},
            {"id": "c2", "task": "classification", "input": {"text": 5}, "state": "approved",
             "label": {"label": "farewell"}},
            {"id": "c3", "task": "classification", "input": {"text": "bye"}, "state": "approved",
             "label": {"label": "farewell"}}]
    _text, outcome = run(rows, "csv", "classification")
    assert [(p.item, p.field) for p in outcome.problems] == [("c2", "input.text")]


def test_an_error_before_any_row_is_read_is_raised() -> None:
    with pytest.raises(InputError, match="formats for ner"):
        run([ner_row("a", "Paris")], "csv")
