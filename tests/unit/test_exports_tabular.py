"""CSV export of safety flags and classification labels, read back with csv.DictReader."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from llmlabel.errors import InputError
from llmlabel.exports import ExportOptions, export
from llmlabel.exports.tabular import neutralize
from tests.conftest import load_dev_items


def make_row(item_id: str, task: str, text: str, label: dict[str, Any]) -> dict[str, Any]:
    return {"id": item_id, "task": task, "state": "auto_accepted", "input": {"text": text}, "label": label}


def read(task: str, rows: list[dict[str, Any]], **options: Any) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO("".join(export(rows, "csv", task, options=ExportOptions(**options)))))
    records = list(reader)
    return list(reader.fieldnames or []), records


def test_safety_rows_round_trip_through_dict_reader() -> None:
    items = load_dev_items("safety")
    rows = [make_row(i["id"], "safety", i["text"], {"flags": i["flags"], "rationale": "why, \"quoted\"\nmore"})
            for i in items]
    header, records = read("safety", rows)
    assert header == ["id", "text", *items[0]["flags"], "rationale"]
    assert len(records) == len(items)
    decode = {"1": True, "0": False, "": None}
    for item, record in zip(items, records, strict=True):
        # Long multi-line texts with quotes and commas come back unchanged (but for the
        # leading ' of texts that start like a formula).
        assert record["id"] == item["id"]
        assert record["text"] == neutralize(item["text"])
        assert {c: decode[record[c]] for c in item["flags"]} == item["flags"]
        assert record["rationale"] == "why, \"quoted\"\nmore"


def test_safety_columns_follow_the_given_categories() -> None:
    row = make_row("a", "safety", "hi", {"flags": {"hate": True, "sexual": False}, "rationale": None})
    header, records = read("safety", [row], categories=("sexual", "hate", "violence"))
    assert header == ["id", "text", "sexual", "hate", "violence", "rationale"]
    assert records == [{"id": "a", "text": "hi", "sexual": "0", "hate": "1", "violence": "",
                        "rationale": ""}]


def test_safety_header_is_written_even_without_rows_when_categories_are_given() -> None:
    header, records = read("safety", [], categories=("sexual", "hate"))
    assert (header, records) == (["id", "text", "sexual", "hate", "rationale"], [])


def test_a_category_outside_the_header_is_an_error() -> None:
    rows = [make_row("a", "safety", "x", {"flags": {"hate": False}}),
            make_row("b", "safety", "y", {"flags": {"hate": False, "spam": True}})]
    with pytest.raises(InputError, match="row 'b': category 'spam' is not a column"):
        read("safety", rows)


def test_non_boolean_flags_are_refused() -> None:
    with pytest.raises(InputError, match="'flags' must map categories to true/false"):
        read("safety", [make_row("a", "safety", "x", {"flags": {"hate": "yes"}})])


def test_classification_single_label_gets_a_label_column_and_one_hot_columns() -> None:
    rows = [make_row("a", "classification", "good", {"label": "pos"}),
            make_row("b", "classification", "bad", {"label": "neg"})]
    header, records = read("classification", rows)
    assert header == ["id", "text", "label", "neg", "pos"]  # labels seen, sorted
    assert records == [
        {"id": "a", "text": "good", "label": "pos", "neg": "0", "pos": "1"},
        {"id": "b", "text": "bad", "label": "neg", "neg": "1", "pos": "0"},
    ]


def test_classification_multi_label_joins_labels_and_sets_each_column() -> None:
    rows = [make_row("a", "classification", "t", {"labels": ["sports", "news"]}),
            make_row("b", "classification", "u", {"labels": []})]
    header, records = read("classification", rows, categories=("news", "sports", "tech"))
    assert header == ["id", "text", "label", "news", "sports", "tech"]
    assert records[0] == {"id": "a", "text": "t", "label": "sports|news", "news": "1", "sports": "1", "tech": "0"}
    assert records[1]["label"] == "" and records[1]["tech"] == "0"


def test_classification_label_outside_given_categories_is_an_error() -> None:
    with pytest.raises(InputError, match="label 'tech' is not one of the categories"):
        read("classification", [make_row("a", "classification", "t", {"label": "tech"})],
             categories=("news",))


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)",
                                  "\tlead"])
def test_formula_like_cells_are_neutralized(text: str) -> None:
    row = make_row(text, "safety", text, {"flags": {"hate": True}, "rationale": text})
    _, records = read("safety", [row])
    assert records[0]["id"] == records[0]["text"] == records[0]["rationale"] == "'" + text
    assert neutralize("fine -1") == "fine -1" and neutralize(3) == 3
    assert neutralize("\rlead") == "'\rlead"
