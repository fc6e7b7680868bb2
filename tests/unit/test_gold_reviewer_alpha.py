"""Reviewer-vs-reviewer agreement: alpha per task measure, task equality, grouping; hand-computed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from llmlabel.domain import ItemState
from llmlabel.guidelines import VersionRegistry
from llmlabel.review_reports import ConsensusRecomputer, group_pairs
from llmlabel.reviewer_agreement import reviewer_agreement
from llmlabel.store.models import ItemView, SecondReview
from llmlabel.tasks import Task, build_task

CATEGORIES = ["sexual", "hate", "violence", "harassment", "self-harm", "sexual/minors",
              "hate/threatening", "violence/graphic"]


def flags(*raised: str) -> dict[str, Any]:
    return {"flags": {c: c in raised for c in CATEGORIES}, "rationale": None}


def task(name: str) -> Task:
    return build_task(VersionRegistry().guideline(name))


def test_safety_alpha_per_category_and_task_equality() -> None:
    # hate: (T,T) (T,F) (F,F) (F,F): o_TT=2, o_TF=o_FT=1, o_FF=4; n_T=3, n_F=5, n=8;
    # alpha = 1 - 7 * 2 / (2 * 3 * 5) = 8/15. violence agrees everywhere it is judged.
    pairs = [(flags("hate"), flags("hate")), (flags("hate"), flags()), (flags(), flags()),
             (flags("violence"), flags("violence")), (None, flags())]
    result = reviewer_agreement("safety", pairs, task("safety"))
    assert (result.n_items, result.n_pairs, result.n_skipped) == (5, 4, 1)
    assert result.agreement == pytest.approx(3 / 4)
    assert result.alpha["alpha/hate"] == pytest.approx(8 / 15)
    assert result.alpha["alpha/violence"] == 1.0
    assert result.alpha["alpha/sexual"] is None, "one category everywhere: alpha undefined"


def test_classification_alpha_on_the_label() -> None:
    # a/b over 4 items: (pos,pos) (neg,neg) (pos,neg) (neu,neu). Values: pos 3, neg 3, neu 2; n=8.
    # Disagreement o_pn + o_np = 2; expected = 2 * (3*3 + 3*2 + 3*2) = 42; alpha = 1 - 7*2/42 = 2/3.
    labels = [("positive", "positive"), ("negative", "negative"), ("positive", "negative"),
              ("neutral", "neutral")]
    pairs = [({"label": a}, {"label": b}) for a, b in labels]
    result = reviewer_agreement("classification", pairs, task("classification"))
    assert result.alpha == {"alpha/label": pytest.approx(2 / 3)}
    assert result.agreement == pytest.approx(3 / 4)


def test_ner_alpha_on_the_whole_span_set() -> None:
    one = {"entities": [{"start": 0, "end": 5, "label": "location", "text": "Paris"}]}
    none: dict[str, Any] = {"entities": []}
    # (one, one) (none, none): perfect agreement on two distinct values.
    assert reviewer_agreement("ner", [(one, one), (none, none)], task("ner")).alpha == {
        "alpha/spans": 1.0}
    # (one, none) (none, none): n_one=1, n_none=3, n=4; alpha = 1 - 3 * 2 / (2 * 1 * 3) = 0.
    result = reviewer_agreement("ner", [(one, none), (none, none)], task("ner"))
    assert result.alpha["alpha/spans"] == pytest.approx(0.0)
    assert result.agreement == 0.5


def test_preference_alpha_on_the_best_response_and_no_task_means_plain_equality() -> None:
    pairs = [({"ranking": [0, 1, 2]}, {"ranking": [0, 2, 1]}), ({"ranking": [1, 0]}, {"ranking": [1, 0]})]
    with_task = reviewer_agreement("preference", pairs, task("preference"))
    assert with_task.alpha == {"alpha/best": 1.0}
    assert with_task.agreement == 1.0, "is_correct compares the top response"
    assert reviewer_agreement("preference", pairs).agreement == 0.5, "without a task: identical labels"


def test_instruction_alpha_on_category_only_and_nothing_reviewed_twice() -> None:
    pairs = [({"response": "Paris.", "category": "qa"}, {"response": "It is Paris", "category": "qa"}),
             ({"response": "x", "category": "brainstorm"}, {"response": "y", "category": "qa"})]
    result = reviewer_agreement("instruction", pairs)
    assert set(result.alpha) == {"alpha/category"}
    empty = reviewer_agreement("instruction", [(None, None)])
    assert (empty.n_pairs, empty.agreement, empty.alpha) == (0, None, {})


def _item(index: int, state: ItemState, label: dict[str, Any], second: SecondReview | None) -> ItemView:
    return ItemView(item_id=f"b1:{index}", id=str(index), batch_id="b1", task="safety", state=state,
                    input={"text": "t"}, label=label, source="human", guideline_version="v1",
                    prompt_version="v1", second_review=second, updated_at=time.time())


def test_groups_use_only_finished_second_reviews_and_a_first_rejection_has_no_label() -> None:
    done = SecondReview(state="done", reviewer="bob", decision="fix", label=flags("hate"))
    queued = SecondReview(state="queued")
    items = [
        _item(0, ItemState.FIXED, flags("hate"), done),
        _item(1, ItemState.REJECTED, flags(), done),
        _item(2, ItemState.FIXED, flags(), queued),
        _item(3, ItemState.FIXED, flags(), None),
    ]
    recompute = ConsensusRecomputer(VersionRegistry())
    [group] = group_pairs(items, recompute, recompute.task_for)
    assert group.reviewers is not None
    assert (group.reviewers.n_items, group.reviewers.n_pairs, group.reviewers.n_skipped) == (2, 1, 1)
    assert group.reviewers.agreement == 1.0
    [no_second] = group_pairs(items[2:], recompute, recompute.task_for)
    assert no_second.reviewers is None
