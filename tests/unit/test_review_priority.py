"""Review value of a label record: its parts, their order, and near-duplicate buckets."""

from __future__ import annotations

from typing import Any

from llmlabel.domain import LabelRecord, Route, Sample
from llmlabel.review_priority import near_duplicate_bucket, review_value


def record(
    confidence: float,
    labels: list[dict[str, Any] | None],
    *,
    label: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> LabelRecord:
    samples = [
        Sample(index=i, raw="", label=lab, error=None if lab else "bad JSON")
        for i, lab in enumerate(labels)
    ]
    return LabelRecord(
        id="x", task="classification", label=label if label is not None else {"label": "a"},
        confidence=confidence, route=Route.REVIEW, reason="r", samples=samples,
        samples_used=len(samples), detail=detail or {}, guideline_version="v1",
        guideline_hash="g", prompt_version="v1", prompt_hash="p", backend="b", model="m",
    )


A, B = {"label": "a"}, {"label": "b"}
TEXT = {"text": "the parcel arrived late and the box was crushed on one side"}


def test_lower_confidence_is_worth_more() -> None:
    low = review_value(record(0.4, [A, B, A]), TEXT)
    high = review_value(record(0.8, [A, B, A, A, A]), TEXT)
    assert low.uncertainty == 0.6 and high.uncertainty == 0.2
    assert low.value > high.value


def test_split_samples_beat_a_malformed_one_off_beats_agreement() -> None:
    split = review_value(record(0.67, [A, B, A]), TEXT)
    malformed = review_value(record(1.0, [A, None, A]), TEXT)
    agreed = review_value(record(1.0, [A, A, A]), TEXT)
    assert (split.disagreement, malformed.disagreement, agreed.disagreement) == (1.0, 0.5, 0.0)
    assert malformed.value > agreed.value == 0.0
    unusable = review_value(record(0.0, [None, None], label={}), TEXT)
    assert unusable.disagreement == 0.5


def test_raised_safety_flags_are_a_risk() -> None:
    raised = record(1.0, [A], label={"flags": {"hate": True, "violence": False}})
    minority = record(1.0, [A], label={"flags": {"hate": False}},
                      detail={"positive_share": {"hate": 0.2}})
    calm = record(1.0, [A], label={"flags": {"hate": False}},
                  detail={"positive_share": {"hate": 0.0}})
    assert [review_value(r, TEXT).risk for r in (raised, minority, calm)] == [1.0, 0.5, 0.0]


def test_value_is_a_weighted_sum_in_unit_range_and_boosts_by_horizon() -> None:
    worst = review_value(record(0.0, [A, B], label={"flags": {"x": True}}), TEXT)
    assert worst.value == 1.0 and worst.boost_s(600) == 600.0
    assert review_value(record(1.0, [A, A]), TEXT).boost_s(600) == 0.0


def test_near_duplicates_share_a_bucket_and_other_texts_do_not() -> None:
    bucket = near_duplicate_bucket(TEXT)
    # Case, punctuation and the client's id do not matter; the words do.
    assert near_duplicate_bucket({"id": "7", "text": TEXT["text"].upper() + "!"}) == bucket
    others = [
        "how do I reset my password", "the film was far too long", "great coffee, rude staff",
        "refund has not arrived after two weeks", "cannot log in on the mobile app",
        "the hotel room smelled of smoke", "delivery driver left it in the rain",
        "love the new update, much faster",
    ]
    buckets = {near_duplicate_bucket({"text": t}) for t in others}
    assert bucket not in buckets and len(buckets) == len(others)
    # Templated texts differing in a word or two are near-duplicates: mostly one bucket.
    templated = [near_duplicate_bucket({"text": f"question: how do I reset password {i}?"})
                 for i in range(20)]
    assert max(templated.count(b) for b in templated) >= 10
    # Every string of a structured input counts (a preference item's prompt and responses).
    pair = {"prompt": "write a haiku", "responses": ["leaves fall softly", "rain on the roof"]}
    assert near_duplicate_bucket(pair) != near_duplicate_bucket({"prompt": "write a haiku"})
    assert near_duplicate_bucket({}) == near_duplicate_bucket({})
