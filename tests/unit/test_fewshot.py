"""Similar-example selection (pure) and its place in the prompt and the label record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmlabel.fewshot import PoolExample, example_text, make_snapshot, select_examples
from llmlabel.guidelines import SimilarExamples, VersionRegistry
from llmlabel.labeler import Labeler
from llmlabel.tasks import build_task
from tests.unit.test_labeler import ScriptedBackend, sentiment


def ex(eid: str, text: str, label: str = "negative", **flags: bool) -> PoolExample:
    return PoolExample(id=eid, source="fix", task="classification", input={"text": text},
                       label={"label": label}, at=1.0, **flags)


POOL = [
    ex("a", "the parcel arrived late and crushed"),
    ex("b", "lovely staff, great coffee", "positive"),
    ex("c", "delivery was late again, box damaged"),
    ex("d", "opening hours are 9 to 5", "neutral"),
]


def test_the_most_similar_examples_come_first_and_ties_break_by_id() -> None:
    snapshot = make_snapshot(POOL)
    item = {"text": "my delivery came late and the box was crushed"}
    chosen = select_examples(snapshot, item, 2)
    assert {e.id for e in chosen} == {"a", "c"}
    scores = snapshot.scores(item)
    assert scores[0] > scores.get(1, 0.0) and scores[2] > scores.get(3, 0.0)
    # Same pool (in any order), same item: the same choice, in the same order, every time.
    again = select_examples(make_snapshot(reversed(POOL)), item, 2)
    assert [e.id for e in again] == [e.id for e in chosen]
    twins = [ex("y", "late box"), ex("x", "late box")]
    assert [e.id for e in select_examples(make_snapshot(twins), {"text": "a late box"}, 1)] == ["x"]


def test_pinned_first_excluded_never_and_the_item_itself_is_skipped() -> None:
    pool = [*POOL[:3], ex("d", "opening hours are 9 to 5", "neutral", pinned=True),
            ex("e", "late delivery, crushed box", excluded=True)]
    chosen = select_examples(make_snapshot(pool), {"text": "late delivery, crushed box"}, 3)
    ids = [e.id for e in chosen]
    assert ids[0] == "d" and "e" not in ids and len(ids) == 3
    own = select_examples(make_snapshot(POOL), {"text": "the parcel arrived late and crushed"}, 4)
    assert "a" not in [e.id for e in own]
    # Nothing alike and nothing pinned: no example (it would only cost tokens).
    assert select_examples(make_snapshot(POOL[:1]), {"text": "zzz"}, 3) == ()
    assert select_examples(make_snapshot([]), {"text": "late"}, 3) == ()


def test_the_snapshot_id_follows_content_and_flags_not_order() -> None:
    first = make_snapshot(POOL).snapshot_id
    assert make_snapshot(list(reversed(POOL))).snapshot_id == first
    pinned = [POOL[0].model_copy(update={"pinned": True}), *POOL[1:]]
    assert make_snapshot(pinned).snapshot_id != first
    relabeled = [POOL[0].model_copy(update={"label": {"label": "neutral"}}), *POOL[1:]]
    assert make_snapshot(relabeled).snapshot_id != first
    assert example_text({"b": "World", "a": ["Hello  ", {"x": "there"}], "n": 3}) == "hello there world"


def test_stored_json_starts_with_the_edited_flag_and_has_no_flags() -> None:
    stored = POOL[0].model_copy(update={"edited": True, "pinned": True}).stored_json()
    assert stored.startswith('{"edited":true') and "pinned" not in json.loads(stored)


async def test_chosen_examples_follow_the_fixed_block_and_are_recorded(repo_root: Path) -> None:
    registry = VersionRegistry(repo_root)
    guideline = registry.guideline("classification", "v1").model_copy(
        update={"similar_examples": SimilarExamples(k=2)}
    )
    backend = ScriptedBackend([sentiment("negative")] * 9)
    labeler = Labeler(task=build_task(guideline), prompt=registry.prompt("classification", "v1"),
                      backend=backend)
    snapshot = make_snapshot(POOL)
    item = {"id": "x", "text": "late delivery and a crushed box"}
    record = await labeler.label("x", item, pool=snapshot)
    assert record.pool_snapshot == snapshot.snapshot_id and set(record.examples) == {"a", "c"}
    messages = backend.calls[0]["messages"]
    fixed = len(guideline.few_shot) * 2
    assert messages[fixed].cache and not any(m.cache for m in messages[fixed + 1:])
    chosen = messages[fixed + 1 : -1]
    assert [m.role for m in chosen] == ["user", "assistant"] * 2
    assert json.loads(chosen[1].content) == {"label": "negative", "confidence": 0.9}
    assert "crushed" in chosen[0].content or "crushed" in chosen[2].content
    # Same snapshot, same item: the same prompt.
    await labeler.label("x", item, pool=make_snapshot(list(reversed(POOL))))
    assert backend.calls[1]["messages"] == messages
    # No pool given, or a version without similar_examples: the prompt has the fixed block only.
    plain = await labeler.label("x", item)
    assert plain.examples == [] and plain.pool_snapshot is None
    assert len(backend.calls[2]["messages"]) == fixed + 2


def test_an_example_whose_label_would_not_read_back_is_left_out(repo_root: Path) -> None:
    registry = VersionRegistry(repo_root)
    guideline = registry.guideline("classification", "v1").model_copy(
        update={"similar_examples": SimilarExamples(k=3)}
    )
    labeler = Labeler(task=build_task(guideline), prompt=registry.prompt("classification", "v1"),
                      backend=ScriptedBackend([]))
    bad = ex("z", "late crushed box", "not-a-label")
    shots = labeler.shots_for({"text": "late box"}, make_snapshot([bad, POOL[0]]))
    assert [s[0] for s in shots] == ["a"]


@pytest.mark.parametrize("k", [0, 17])
def test_k_is_bounded(k: int) -> None:
    with pytest.raises(ValueError):
        SimilarExamples(k=k)


def test_only_the_task_fields_are_compared() -> None:
    # Ids and gold fields an item carries neither match examples nor hide the item's twin.
    pool = [PoolExample(id="a", source="fix", task="ner", input={"id": "x-1", "text": "apple pie"},
                        label={"entities": []}, at=0.0),
            PoolExample(id="b", source="fix", task="ner", input={"id": "x-2", "text": "rain today"},
                        label={"entities": []}, at=0.0)]
    item = {"id": "x-3", "text": "rain today", "entities": [{"text": "apple"}]}
    assert [e.id for e in select_examples(make_snapshot(pool), item, 2, ("text",))] == []
    assert {e.id for e in select_examples(make_snapshot(pool), item, 2)} == {"a", "b"}


def test_ner_and_preference_labels_read_back_as_answers(repo_root: Path) -> None:
    registry = VersionRegistry(repo_root)
    ner = build_task(registry.guideline("ner", "v1"))
    text = "Lee met Lee in Paris"
    view = ner.validate_input({"text": text})
    label = ner.validate_label(view, {"entities": [{"start": 8, "end": 11, "label": "person"},
                                                   {"start": 15, "end": 20, "label": "location"}]})
    answer = ner.example_answer(view, label)
    assert answer is not None and answer["entities"][0] == {
        "text": "Lee", "label": "person", "occurrence": 2}
    pref = build_task(registry.guideline("preference", "v1"))
    pair = pref.validate_input({"prompt": "hi", "responses": ["a", "b"]})
    assert pref.example_answer(pair, {"ranking": [1, 0]}) == {"better": "B", "confidence": 0.9}
