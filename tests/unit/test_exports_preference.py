"""DPO exports, checked against the preference layouts in TRL's dataset-formats guide."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmlabel.errors import InputError
from llmlabel.exports import ExportOptions, export
from llmlabel.exports.preference import hh_to_messages, ranked_pairs
from tests.conftest import load_dev_items

HH = "Human: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Name a fruit."


def make_row(item_id: str, prompt: str, responses: list[str], ranking: list[int]) -> dict[str, Any]:
    return {"id": item_id, "task": "preference", "state": "approved", "source": "human",
            "input": {"prompt": prompt, "responses": responses}, "label": {"ranking": ranking}}


def lines(fmt: str, rows: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    text = "".join(export(rows, fmt, "preference", options=ExportOptions(**options)))
    return [json.loads(line) for line in text.splitlines()]


def assert_trl_standard(record: dict[str, Any]) -> None:
    """TRL 'standard' preference: exactly prompt, chosen, rejected, all strings."""
    assert set(record) == {"prompt", "chosen", "rejected"}
    assert all(isinstance(record[k], str) for k in record)


def assert_trl_conversational(record: dict[str, Any]) -> None:
    """TRL 'conversational' preference: message lists; the completions are assistant turns."""
    assert set(record) == {"prompt", "chosen", "rejected"}
    for messages in record.values():
        assert isinstance(messages, list) and messages
        for message in messages:
            assert set(message) == {"role", "content"}
            assert message["role"] in {"system", "user", "assistant"}
            assert isinstance(message["content"], str)
    assert record["prompt"][-1]["role"] == "user"  # the completion answers the last user turn
    assert [m["role"] for m in record["chosen"]] == ["assistant"]
    assert [m["role"] for m in record["rejected"]] == ["assistant"]


def test_standard_form_ends_an_hh_prompt_with_the_assistant_cue() -> None:
    (record,) = lines("dpo", [make_row("a", HH, ["Rock.", "An apple."], [1, 0])])
    assert_trl_standard(record)
    assert record == {"prompt": HH + "\n\nAssistant:", "chosen": " An apple.", "rejected": " Rock."}
    # prompt + chosen reads as the full HH dialogue the trainer scores.
    assert (record["prompt"] + record["chosen"]).endswith("Name a fruit.\n\nAssistant: An apple.")


def test_standard_form_keeps_a_plain_prompt_as_given() -> None:
    (record,) = lines("dpo", [make_row("a", "Name a fruit.", ["Apple", "Rock"], [0, 1])])
    assert record == {"prompt": "Name a fruit.", "chosen": "Apple", "rejected": "Rock"}


def test_conversational_form_splits_hh_turns_into_messages() -> None:
    (record,) = lines("dpo-chat", [make_row("a", HH, ["Rock.", "An apple."], [1, 0])])
    assert_trl_conversational(record)
    assert record["prompt"] == [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Name a fruit."},
    ]
    assert record["chosen"] == [{"role": "assistant", "content": "An apple."}]
    assert record["rejected"] == [{"role": "assistant", "content": "Rock."}]


def test_plain_prompt_is_one_user_message() -> None:
    assert hh_to_messages("Summarize: Human rights matter.") == [
        {"role": "user", "content": "Summarize: Human rights matter."}]


@pytest.mark.parametrize(("mode", "expected"), [
    ("all", [(2, 0), (2, 1), (0, 1)]),   # 3 responses: 3*2/2 = 3 ordered pairs
    ("best", [(2, 0), (2, 1)]),          # the best against each of the 2 others
])
def test_a_ranking_implies_pairs(mode: str, expected: list[tuple[int, int]]) -> None:
    assert ranked_pairs([2, 0, 1], mode) == expected
    records = lines("dpo", [make_row("a", "Q?", ["r0", "r1", "r2"], [2, 0, 1])], pairs=mode)
    assert [(r["chosen"], r["rejected"]) for r in records] == [(f"r{b}", f"r{w}") for b, w in expected]


def test_dev_set_round_trip_keeps_the_human_choice() -> None:
    items = load_dev_items("preference")
    rows = [make_row(i["id"], i["prompt"], i["responses"], i["ranking"]) for i in items]
    standard, chat = lines("dpo", rows), lines("dpo-chat", rows)
    assert len(standard) == len(chat) == len(items)  # two responses: one pair each
    for item, std, conv in zip(items, standard, chat, strict=True):
        assert_trl_standard(std)
        assert_trl_conversational(conv)
        winner, loser = (item["responses"][i] for i in item["ranking"])
        assert std["chosen"].strip() == conv["chosen"][0]["content"] == winner.strip()
        assert std["rejected"].strip() == conv["rejected"][0]["content"] == loser.strip()
        assert std["prompt"] == item["prompt"] + "\n\nAssistant:"
        # The messages rebuild the original HH dialogue.
        rebuilt = "\n\n".join(
            f"{'Human' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in conv["prompt"])
        assert rebuilt == item["prompt"]


def test_a_ranking_of_one_response_fails_the_row_instead_of_being_skipped() -> None:
    with pytest.raises(InputError, match=r"row 'a': label 'ranking' orders 1 response") as info:
        "".join(export([make_row("a", "Q?", ["x", "y"], [1])], "dpo", "preference"))
    assert (info.value.item, info.value.field) == ("a", "label.ranking")


@pytest.mark.parametrize("ranking", [[0, 0], [0, 2], ["0", "1"]])
def test_a_bad_ranking_names_the_row(ranking: list[Any]) -> None:
    with pytest.raises(InputError, match=r"row 'bad': label 'ranking' must list distinct indices"):
        "".join(export([make_row("bad", "Q?", ["x", "y"], ranking)], "dpo", "preference"))


def test_missing_responses_names_the_field() -> None:
    row = make_row("a", "Q?", ["x", "y"], [0, 1])
    del row["input"]["responses"]
    with pytest.raises(InputError, match="'responses' must be a list of strings") as info:
        "".join(export([row], "dpo-chat", "preference"))
    assert info.value.field == "input.responses"
