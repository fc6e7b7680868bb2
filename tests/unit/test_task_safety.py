"""Safety task: strict flag parsing, per-category votes, the risk rule and metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmlabel.domain import Sample
from llmlabel.errors import GuidelineError, LabelValidationError
from llmlabel.guidelines import Guideline, VersionRegistry
from llmlabel.prompts import render_messages
from llmlabel.tasks.safety import SafetyTask
from tests.conftest import load_dev_items

REPO_ROOT = Path(__file__).resolve().parents[2]
CATEGORIES = [
    "sexual",
    "hate",
    "violence",
    "harassment",
    "self-harm",
    "sexual/minors",
    "hate/threatening",
    "violence/graphic",
]
ITEM = {"id": "t-1", "text": "You people make me sick.", "flags": {}}


def _guideline(**options: Any) -> Guideline:
    base = VersionRegistry(REPO_ROOT).guideline("safety", "v1")
    return base.model_copy(update={"options": {**base.options, **options}})


@pytest.fixture(scope="module")
def task() -> SafetyTask:
    return SafetyTask(VersionRegistry(REPO_ROOT).guideline("safety", "v1"))


def _flags(*flagged: str) -> dict[str, bool]:
    return {c: c in flagged for c in CATEGORIES}


def _answer(*flagged: str, rationale: str = "why", confidence: float = 0.8) -> str:
    return json.dumps({"flags": _flags(*flagged), "rationale": rationale, "confidence": confidence})


def _samples(task: SafetyTask, raws: list[str]) -> list[Sample]:
    item = task.validate_input(ITEM)
    return [task.parse_sample(item, raw, index=i, variant=0) for i, raw in enumerate(raws)]


def test_guideline_has_the_eight_categories(task: SafetyTask) -> None:
    assert list(task.categories) == CATEGORIES
    assert set(task.guideline.label_descriptions) == set(CATEGORIES)
    schema = task.llm_schema()
    assert schema["properties"]["flags"]["required"] == CATEGORIES


def test_parse_good_answer(task: SafetyTask) -> None:
    [sample] = _samples(task, [_answer("hate", rationale="slur", confidence=0.4)])
    assert sample.error is None
    assert sample.label == {"flags": _flags("hate"), "rationale": "slur"}
    assert sample.verbalized_confidence == pytest.approx(0.4)


def test_rationale_is_optional(task: SafetyTask) -> None:
    [sample] = _samples(task, [json.dumps({"flags": _flags()})])
    assert sample.label == {"flags": _flags(), "rationale": None}


def _without(category: str) -> dict[str, bool]:
    flags = _flags()
    del flags[category]
    return flags


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("all fine", "not JSON"),
        ('{"flags": {"sexual": tru}}', "not valid JSON"),
        ('["sexual"]', "not an object"),
        ('{"rationale": "x"}', "missing field 'flags'"),
        ('{"flags": ["hate"]}', "'flags' is not an object"),
        (json.dumps({"flags": _without("violence")}), "missing category 'violence'"),
        (json.dumps({"flags": {**_flags(), "spam": True}}), "unknown category 'spam'"),
        (
            json.dumps({"flags": {**_flags(), "self-harm": "no"}}),
            "'self-harm' is not true or false",
        ),
        (json.dumps({"flags": _flags(), "rationale": 3}), "rationale"),
    ],
)
def test_bad_answers_are_sample_errors(task: SafetyTask, raw: str, error: str) -> None:
    [sample] = _samples(task, [raw])
    assert sample.label is None
    assert sample.error is not None
    assert error in sample.error


def test_code_fenced_answer(task: SafetyTask) -> None:
    [sample] = _samples(task, ["```json\n" + _answer("sexual", "sexual/minors") + "\n```"])
    assert sample.label is not None
    assert sample.label["flags"] == _flags("sexual", "sexual/minors")


def test_aggregate_votes_per_category_and_keeps_an_agreeing_rationale(task: SafetyTask) -> None:
    raws = [
        _answer("hate", rationale="only hate"),
        _answer("hate", "harassment", rationale="both"),
        _answer("hate", "harassment", rationale="both again"),
        "garbage",
    ]
    consensus = task.aggregate(task.validate_input(ITEM), _samples(task, raws))
    assert consensus.label == {"flags": _flags("hate", "harassment"), "rationale": "both"}
    assert consensus.confidence == pytest.approx(2 / 3)  # harassment 2 of 3
    assert consensus.detail["valid_samples"] == 3
    assert consensus.detail["positive_share"]["hate"] == 1.0
    assert consensus.detail["positive_share"]["harassment"] == pytest.approx(2 / 3)
    assert consensus.review_reasons == []
    assert consensus.answer_keys[1] == consensus.answer_keys[2] != consensus.answer_keys[0]


def test_tie_flags_the_category(task: SafetyTask) -> None:
    consensus = task.aggregate(
        task.validate_input(ITEM), _samples(task, [_answer("violence"), _answer()])
    )
    assert consensus.label is not None
    assert consensus.label["flags"]["violence"] is True
    assert consensus.confidence == pytest.approx(0.5)


def test_risk_rule_a_minority_flag_asks_for_review(task: SafetyTask) -> None:
    raws = [_answer(), _answer(), _answer(), _answer("violence")]
    consensus = task.aggregate(task.validate_input(ITEM), _samples(task, raws))
    assert consensus.label is not None
    assert consensus.label["flags"] == _flags()
    assert consensus.confidence == pytest.approx(0.75)
    assert consensus.review_reasons == ["1 of 4 samples flagged 'violence'"]


def test_risk_rule_can_be_switched_off() -> None:
    task = SafetyTask(_guideline(flag_forces_review=False))
    raws = [_answer(), _answer(), _answer("violence")]
    consensus = task.aggregate(task.validate_input(ITEM), _samples(task, raws))
    assert consensus.review_reasons == []


def test_bad_option_is_a_guideline_error() -> None:
    with pytest.raises(GuidelineError, match="flag_forces_review"):
        SafetyTask(_guideline(flag_forces_review="yes"))


def test_no_rationale_when_no_sample_matches_the_consensus(task: SafetyTask) -> None:
    # hate 2/3 and violence 2/3, but no single sample has exactly {hate, violence}.
    raws = [_answer("hate"), _answer("violence"), _answer("hate", "violence", "sexual")]
    consensus = task.aggregate(task.validate_input(ITEM), _samples(task, raws))
    assert consensus.label == {"flags": _flags("hate", "violence"), "rationale": None}
    assert consensus.review_reasons == ["1 of 3 samples flagged 'sexual'"]


def test_aggregate_without_valid_samples(task: SafetyTask) -> None:
    consensus = task.aggregate(task.validate_input(ITEM), _samples(task, ["x", "[1]"]))
    assert consensus.label is None
    assert consensus.confidence == 0.0


def test_validate_label(task: SafetyTask) -> None:
    item = task.validate_input(ITEM)
    fixed = task.validate_label(item, {"flags": dict(reversed(_flags("hate").items()))})
    assert fixed == {"flags": _flags("hate"), "rationale": None}
    assert list(fixed["flags"]) == CATEGORIES


@pytest.mark.parametrize(
    ("label", "field", "words"),
    [
        ({"flags": _without("hate")}, "flags", "missing category 'hate'"),
        ({"flags": {**_flags(), "spam": False}}, "flags", "unknown category 'spam'"),
        ({"flags": {**_flags(), "hate": "yes"}}, "flags.hate", "boolean"),
        ({"flags": _flags(), "note": "x"}, "note", "Extra"),
        ({}, "flags", "required"),
    ],
)
def test_validate_label_rejects_bad_fixes(
    task: SafetyTask, label: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(LabelValidationError) as err:
        task.validate_label(task.validate_input(ITEM), label)
    assert [e["field"] for e in err.value.errors] == [field]
    assert words in err.value.errors[0]["message"]


def test_gold_keeps_unknown_categories() -> None:
    task = SafetyTask(VersionRegistry(REPO_ROOT).guideline("safety", "v1"))
    raw = next(i for i in load_dev_items("safety") if None in i["flags"].values())
    gold = task.gold_label(raw)
    assert gold is not None
    assert gold["flags"] == raw["flags"]
    unknown = [c for c, v in gold["flags"].items() if v is None]
    # A prediction is judged only on known categories.
    prediction = {
        "flags": {c: (True if c in unknown else bool(v)) for c, v in gold["flags"].items()}
    }
    assert task.is_correct(prediction, gold)
    assert not task.is_correct(None, gold)
    assert task.gold_label({"text": "no flags"}) is None


def test_quality_per_category_micro_and_any_flagged(task: SafetyTask) -> None:
    gold_a = {"flags": {**_flags("hate"), "violence": None}}
    gold_b = {"flags": _flags()}
    gold_c = {"flags": _flags("sexual")}
    pred_a = {"flags": _flags("hate", "violence")}  # violence unknown in gold: not scored
    pred_b = {"flags": _flags("harassment")}  # false alarm
    metrics = task.quality([(pred_a, gold_a), (pred_b, gold_b), (None, gold_c)])
    assert metrics["f1:hate"] == 1.0
    assert metrics["precision:harassment"] == 0.0
    assert metrics["recall:sexual"] == 0.0
    assert metrics["f1:violence/graphic"] == 1.0  # no positives, none predicted
    # micro: tp 1 (hate), fp 1 (harassment), fn 1 (sexual)
    assert metrics["precision"] == pytest.approx(0.5)
    assert metrics["recall"] == pytest.approx(0.5)
    assert metrics["f1"] == pytest.approx(0.5)
    assert metrics["any_flagged_accuracy"] == pytest.approx(1 / 3)
    assert metrics["exact_match"] == pytest.approx(1 / 3)


def test_prompt_renders_guideline_schema_and_item(task: SafetyTask) -> None:
    raw = load_dev_items("safety", 1)[0]
    prompt = VersionRegistry(REPO_ROOT).prompt("safety", "v1")
    messages = render_messages(task, prompt, task.validate_input(raw), 0)
    assert task.guideline.text in messages[0].content
    assert json.dumps(task.llm_schema()) in messages[0].content
    assert "ONLY a JSON object" in messages[0].content
    assert raw["text"] in messages[-1].content


def test_few_shot_outputs_are_valid_answers(task: SafetyTask) -> None:
    assert task.guideline.few_shot
    for i, example in enumerate(task.guideline.few_shot):
        item = task.validate_input(example.input)
        sample = task.parse_sample(item, json.dumps(example.output), index=i, variant=0)
        assert sample.error is None
