"""Instruction exports: ShareGPT, OpenAI chat fine-tuning and Alpaca records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmlabel.errors import InputError
from llmlabel.exports import ExportOptions, ExportStats, export
from tests.conftest import load_dev_items


def make_row(item_id: str, instruction: str, context: str, label: dict[str, Any],
             response: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"instruction": instruction, "context": context}
    if response is not None:
        item["response"] = response
    return {"id": item_id, "task": "instruction", "state": "fixed", "input": item, "label": label}


def records(fmt: str, rows: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    out = "".join(export(rows, fmt, "instruction", options=ExportOptions(**options)))
    return [json.loads(line) for line in out.splitlines()]


ROW = make_row("t1", "Translate to French.", "Good morning", {"response": "Bonjour", "category": "generation"})


def test_sharegpt_has_a_human_and_a_gpt_turn_with_the_context_appended() -> None:
    assert records("sharegpt", [ROW]) == [{"id": "t1", "conversations": [
        {"from": "human", "value": "Translate to French.\n\nGood morning"},
        {"from": "gpt", "value": "Bonjour"},
    ]}]


def test_openai_chat_has_only_messages() -> None:
    (record,) = records("openai-chat", [ROW])
    assert record == {"messages": [
        {"role": "user", "content": "Translate to French.\n\nGood morning"},
        {"role": "assistant", "content": "Bonjour"},
    ]}


def test_alpaca_keeps_the_context_as_input() -> None:
    assert records("alpaca", [ROW]) == [
        {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"}]


def test_an_empty_context_leaves_the_user_message_as_the_instruction() -> None:
    row = make_row("t2", "Tell a joke.", "", {"response": "No.", "category": "generation"})
    (chat,) = records("openai-chat", [row])
    assert chat["messages"][0]["content"] == "Tell a joke."
    assert records("alpaca", [row])[0]["input"] == ""


def test_rate_mode_exports_the_items_own_response_above_the_quality_floor() -> None:
    rows = [make_row("good", "Q1", "", {"quality": 5, "issues": []}, response="A1"),
            make_row("poor", "Q2", "", {"quality": 2, "issues": ["wrong"]}, response="A2")]
    stats = ExportStats()
    out = "".join(export(rows, "alpaca", "instruction", options=ExportOptions(min_quality=4), stats=stats))
    assert [json.loads(line)["output"] for line in out.splitlines()] == ["A1"]
    assert stats.written == 1 and stats.skipped == {"quality below 4": 1}


def test_dev_set_responses_survive_every_format() -> None:
    items = load_dev_items("instruction")
    rows = [make_row(i["id"], i["instruction"], i["context"], {"response": i["response"],
                                                               "category": i["category"]}) for i in items]
    share, chat, alpaca = records("sharegpt", rows), records("openai-chat", rows), records("alpaca", rows)
    for item, s, c, a in zip(items, share, chat, alpaca, strict=True):
        assert s["conversations"][1]["value"] == c["messages"][1]["content"] == a["output"] == item["response"]
        assert s["conversations"][0]["value"] == c["messages"][0]["content"]
        assert c["messages"][0]["content"].startswith(item["instruction"])
        assert (a["instruction"], a["input"]) == (item["instruction"], item["context"])


def test_a_label_with_neither_response_nor_quality_names_the_row() -> None:
    with pytest.raises(InputError, match="row 'x': label needs 'response'"):
        records("sharegpt", [make_row("x", "Q", "", {"category": "c"})])


def test_missing_instruction_is_an_error() -> None:
    row = make_row("x", "Q", "", {"response": "A"})
    del row["input"]["instruction"]
    with pytest.raises(InputError, match="input field 'instruction' must be a string"):
        records("alpaca", [row])
