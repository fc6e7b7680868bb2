"""Gold upload validation, the LLM's labels judged against gold, and reviewer score roll-ups."""

from __future__ import annotations

from typing import Any

import pytest

from llmlabel.domain import LabelRecord, Route
from llmlabel.errors import InvalidInputError
from llmlabel.gold_scoring import TaskCache, checked_gold_items, llm_labels, reviewer_scores
from llmlabel.guidelines import VersionRegistry
from llmlabel.store.gold_models import GoldCreate, GoldItem, GoldScore
from llmlabel.tasks import build_task

CATEGORIES = ["sexual", "hate", "violence", "harassment", "self-harm", "sexual/minors",
              "hate/threatening", "violence/graphic"]


def flags(*raised: str) -> dict[str, Any]:
    return {"flags": {c: c in raised for c in CATEGORIES}, "rationale": None}


@pytest.fixture(scope="module")
def registry() -> VersionRegistry:
    return VersionRegistry()


def test_valid_items_come_back_with_canonical_labels(registry: VersionRegistry) -> None:
    task = build_task(registry.guideline("ner"))
    item = GoldCreate(id="g", input={"text": "Anna lives in Oslo"},
                      label={"entities": [{"start": 14, "end": 18, "label": "location"}]})
    [checked] = checked_gold_items(task, [item], max_item_bytes=10_000, stored_ids=set())
    assert checked.label["entities"][0]["start"] == 14
    assert checked.input == item.input and checked.id == "g"


def test_every_bad_item_is_named_by_index_and_field(registry: VersionRegistry) -> None:
    task = build_task(registry.guideline("safety"))
    items = [
        GoldCreate(input={"text": "fine"}, label=flags()),
        GoldCreate(input={"nope": 1}, label=flags()),
        GoldCreate(input={"text": "x"}, label={"flags": {"hate": True}}),
        GoldCreate(input={"text": "lone \ud800 surrogate"}, label=flags()),
        GoldCreate(id="kept", input={"text": "already stored"}, label=flags()),
        GoldCreate(id="twice", input={"text": "a"}, label=flags()),
        GoldCreate(id="twice", input={"text": "b"}, label=flags()),
    ]
    with pytest.raises(InvalidInputError) as caught:
        checked_gold_items(task, items, max_item_bytes=10_000, stored_ids={"kept"})
    problem = caught.value
    fields = [e["field"] for e in problem.errors]
    assert fields[0] == "items.1.input.text"
    assert fields[1:-3] and all(f.startswith("items.2.label") for f in fields[1:-3])
    assert fields[-3:] == ["items.3.input.text", "items.4.id", "items.6.id"]
    assert "items.1.input.text" in str(problem)
    assert "already exists" in problem.errors[-2]["message"]
    assert problem.errors[-1]["duplicate_of"] == {"in": "body", "index": 5}


def record(label: dict[str, Any] | None, gv: str = "v1") -> LabelRecord:
    return LabelRecord(id="x", task="safety", label=label, confidence=0.7, route=Route.REVIEW,
                       reason="r", guideline_version=gv, guideline_hash="g", prompt_version="v1",
                       prompt_hash="p", backend="openai", model="m", samples_used=3)


def test_llm_labels_are_judged_with_the_tasks_is_correct(registry: VersionRegistry) -> None:
    gold = GoldItem(gold_id="b_0000000000000000:0", id="g", task="safety", input={"text": "t"},
                    label=flags("hate"), guideline_version="v1", created_at=0.0, created_by="op")
    records = {("safety", "v1", "v1"): record(flags("hate")),
               ("safety", "v9", "v1"): record(flags(), gv="v9")}
    judged = llm_labels(TaskCache(registry), gold, records)
    assert [(j.guideline_version, j.correct) for j in judged] == [("v1", True), ("v9", None)]
    wrong = llm_labels(TaskCache(registry), gold, {("safety", "v1", "v1"): record(flags())})
    assert wrong[0].correct is False
    no_label = llm_labels(TaskCache(registry), gold, {("safety", "v1", "v1"): record(None)})
    assert no_label[0].correct is False


def test_reviewer_scores_roll_up_tasks() -> None:
    scores = [GoldScore(reviewer="ann", task="ner", n=4, correct=3),
              GoldScore(reviewer="ann", task="safety", n=6, correct=3),
              GoldScore(reviewer="bo", task="ner", n=1, correct=0)]
    ann, bo = reviewer_scores(scores)
    assert (ann.reviewer, ann.n, ann.correct, ann.accuracy) == ("ann", 10, 6, 0.6)
    assert [(t.task, t.accuracy) for t in ann.by_task] == [("ner", 0.75), ("safety", 0.5)]
    assert (bo.n, bo.accuracy) == (1, 0.0)
