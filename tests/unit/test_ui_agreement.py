"""Reviewer-vs-LLM agreement groups: pairs per state, recomputed LLM consensus, grouping."""

from __future__ import annotations

import time
from typing import Any

import pytest

from llmlabel.domain import ItemState, Sample
from llmlabel.guidelines import VersionRegistry
from llmlabel.review_reports import ConsensusRecomputer, group_pairs
from llmlabel.store.models import ItemView

CATEGORIES = ["sexual", "hate", "violence", "harassment", "self-harm", "sexual/minors",
              "hate/threatening", "violence/graphic"]


def flags(*raised: str) -> dict[str, Any]:
    return {"flags": {c: c in raised for c in CATEGORIES}, "rationale": None}


def item(index: int, state: ItemState, label: dict[str, Any] | None, *, task: str = "safety",
         source: str | None = "llm", samples: list[Sample] | None = None,
         guideline_version: str = "v1", item_input: dict[str, Any] | None = None) -> ItemView:
    return ItemView(
        item_id=f"b1:{index}", id=f"x{index}", batch_id="b1", task=task, state=state,
        input=item_input or {"text": f"text {index}"}, label=label, source=source,  # type: ignore[arg-type]
        samples=samples or [], guideline_version=guideline_version, prompt_version="v1",
        updated_at=time.time(),
    )


def samples(*labels: dict[str, Any]) -> list[Sample]:
    return [Sample(index=i, raw="{}", label=label) for i, label in enumerate(labels)]


@pytest.fixture(scope="module")
def recompute() -> ConsensusRecomputer:
    return ConsensusRecomputer(VersionRegistry())


def test_fixed_item_pairs_recomputed_llm_majority_with_reviewer_label(
    recompute: ConsensusRecomputer,
) -> None:
    # Two of three samples raised "hate": the LLM said hate; the reviewer said harassment.
    fixed = item(0, ItemState.FIXED, flags("harassment"), source="human",
                 samples=samples(flags("hate"), flags("hate"), flags()))
    assert recompute(fixed) == flags("hate")
    [group] = group_pairs([fixed], recompute)
    assert (group.reviewed, group.fixed, group.approved, group.approval_rate) == (1, 1, 0, 0.0)
    metrics = group.summary.metrics
    assert metrics["agreement/hate"] == 0.0
    assert metrics["agreement/harassment"] == 0.0
    assert metrics["agreement/violence"] == 1.0


def test_approved_items_agree_rejected_are_skipped_and_open_items_ignored(
    recompute: ConsensusRecomputer,
) -> None:
    items = [
        item(0, ItemState.APPROVED, flags("hate")),
        item(1, ItemState.APPROVED, flags()),
        item(2, ItemState.REJECTED, flags("violence")),
        item(3, ItemState.NEEDS_REVIEW, flags("sexual")),
        item(4, ItemState.AUTO_ACCEPTED, flags("sexual")),
    ]
    [group] = group_pairs(items, recompute)
    assert (group.reviewed, group.approved, group.rejected) == (3, 2, 1)
    assert group.approval_rate == pytest.approx(2 / 3)
    assert (group.summary.n_pairs, group.summary.n_skipped) == (2, 1)
    assert group.summary.metrics["kappa/hate"] == 1.0
    assert group.summary.metrics["agreement/hate"] == 1.0


def test_groups_split_by_task_and_version_in_sorted_order(recompute: ConsensusRecomputer) -> None:
    text = "Anna lives in Paris"
    ner_llm = {"entities": [{"start": 14, "end": 19, "label": "location", "text": "Paris"}]}
    ner_human = {"entities": [{"start": 0, "end": 4, "label": "person", "text": "Anna"},
                              {"start": 14, "end": 19, "label": "location", "text": "Paris"}]}
    items = [
        item(0, ItemState.APPROVED, flags(), guideline_version="v2"),
        item(1, ItemState.FIXED, ner_human, task="ner", source="human",
             samples=samples(ner_llm, ner_llm), item_input={"text": text}),
        item(2, ItemState.APPROVED, flags()),
    ]
    groups = group_pairs(items, recompute)
    assert [(g.task, g.guideline_version) for g in groups] == [
        ("ner", "v1"), ("safety", "v1"), ("safety", "v2")]
    ner = groups[0].summary.metrics
    assert (ner["span_precision"], ner["span_recall"]) == (1.0, 0.5)


def test_unknown_guideline_version_counts_as_skipped(recompute: ConsensusRecomputer) -> None:
    fixed = item(0, ItemState.FIXED, flags("hate"), source="human", guideline_version="v999",
                 samples=samples(flags(), flags()))
    assert recompute(fixed) is None
    [group] = group_pairs([fixed], recompute)
    assert (group.fixed, group.summary.n_pairs, group.summary.n_skipped) == (1, 0, 1)
