"""Pure parts of the store: key rules, hash <-> model conversion, counter checks (no Redis)."""

from __future__ import annotations

import json

import pytest

from llmlabel.domain import ItemState, LabelRecord, Route, Usage
from llmlabel.errors import InputError
from llmlabel.store import keys
from llmlabel.store.base import batch_info, item_view, split_item_id
from llmlabel.store.models import CounterCheck


@pytest.mark.parametrize(
    ("item_id", "expected"),
    [
        ("b_0123456789abcdef:0", ("b_0123456789abcdef", 0)),
        ("b_0123456789abcdef:17", ("b_0123456789abcdef", 17)),
        ("b_0123456789abcdef", None),
        ("b_0123456789abcdef:x", None),
        (":3", None),
        ("b_1:3", None),
        ("x:s:queued:3", None),
    ],
)
def test_split_item_id(item_id: str, expected: tuple[str, int] | None) -> None:
    assert split_item_id(item_id) == expected


@pytest.mark.parametrize("team", ["acme", "team-1", "a.b_c", "x" * 64])
def test_valid_team_names(team: str) -> None:
    assert keys.check_team(team) == team


@pytest.mark.parametrize("team", ["", "a|b", "a:b", "a b", "x" * 65, "é"])
def test_invalid_team_names(team: str) -> None:
    with pytest.raises(InputError) as info:
        keys.check_team(team)
    assert info.value.field == "team"


def test_batch_ids_have_one_shape() -> None:
    made = keys.new_batch_id()
    assert keys.is_batch_id(made) and made != keys.new_batch_id()
    assert not keys.is_batch_id("b_0123456789abcdef:s:queued")
    assert not keys.is_batch_id("B_0123456789ABCDEF")


def test_team_keys_are_prefixed_by_team() -> None:
    assert keys.item("acme", "b:1").startswith(keys.team_prefix("acme"))
    assert keys.batch("acme", "b") != keys.batch("globex", "b")
    assert keys.batch_state("acme", "b", "queued") == keys.batch("acme", "b") + ":s:queued"


def test_batch_info_fills_every_state_and_progress() -> None:
    fields = {
        "task": "ner",
        "gv": "v1",
        "pv": "",
        "created_at": "10.5",
        "total": "4",
        "metadata": '{"a": 1}',
        "c:queued": "1",
        "c:auto_accepted": "2",
        "c:needs_review": "1",
        "u:calls": "3",
        "u:prompt_tokens": "30",
        "u:cost_usd": "0.0150000001",
    }
    info = batch_info("acme", "b1", fields)
    assert set(info.counts) == {s.value for s in ItemState}
    assert info.counts["failed"] == 0 and info.done == 2 and info.progress == 0.5
    assert info.state == "running" and not info.labeled
    assert info.prompt_version is None and info.metadata == {"a": 1}
    assert info.usage == Usage(calls=3, prompt_tokens=30, cost_usd=0.0150000001)
    done = batch_info(
        "acme", "b1", {**fields, "c:queued": "0", "c:needs_review": "0", "c:fixed": "2"}
    )
    assert done.state == "done" and done.labeled and done.progress == 1.0


def test_item_view_reads_the_label_record() -> None:
    record = LabelRecord(
        id="b:0",
        task="ner",
        label={"entities": []},
        confidence=0.7,
        route=Route.REVIEW,
        reason="low",
        samples_used=3,
        guideline_version="v2",
        guideline_hash="g",
        prompt_version="v1",
        prompt_hash="p",
        backend="openai",
        model="m",
        usage=Usage(calls=1),
    )
    fields = {
        "batch": "b",
        "idx": "0",
        "id": "s1",
        "task": "ner",
        "input": '{"text": "x"}',
        "state": "fixed",
        "record": record.model_dump_json(),
        "label": json.dumps({"entities": [{"text": "x"}]}),
        "source": "human",
        "attempts": "2",
        "label_writes": "1",
        "updated_at": "3.5",
        "comment": "",
    }
    view = item_view("b:0", fields)
    assert view.state == ItemState.FIXED and view.source == "human"
    assert view.label == {"entities": [{"text": "x"}]}
    assert view.confidence == 0.7 and view.route_reason == "low" and view.guideline_version == "v2"
    assert view.attempts == 2 and view.review_comment is None
    queued = item_view(
        "b:1",
        {"batch": "b", "id": "s2", "task": "ner", "input": "{}", "state": "queued", "gv": "v1"},
    )
    assert queued.label is None and queued.guideline_version == "v1" and queued.usage == Usage()


def test_counter_check_compares_counts_and_usage() -> None:
    counts = {"queued": 1, "failed": 0}
    same = CounterCheck(
        counters=counts,
        actual=counts,
        indexed=counts,
        usage_counted=Usage(calls=2, cost_usd=0.3),
        usage_actual=Usage(calls=2, cost_usd=0.1 + 0.2),
    )
    assert same.ok
    assert not same.model_copy(update={"actual": {"queued": 0, "failed": 1}}).ok
    assert not same.model_copy(update={"indexed": {"queued": 2, "failed": 0}}).ok
    assert not same.model_copy(update={"usage_actual": Usage(calls=3, cost_usd=0.3)}).ok
