"""Instruction task: generate mode (medoid + category vote) and rate mode (median rating)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmlabel.domain import Sample
from llmlabel.errors import GuidelineError, InputError, LabelValidationError
from llmlabel.guidelines import Guideline, VersionRegistry
from llmlabel.prompts import render_messages
from llmlabel.tasks.instruction import (
    CORRECT_SIMILARITY,
    SINGLE_SAMPLE_CONFIDENCE,
    InstructionInput,
    InstructionTask,
)
from llmlabel.tasks.similarity import SIMILARITY_METRIC, similarity

REPO_ROOT = Path(__file__).resolve().parents[2]

ITEM: dict[str, Any] = {
    "id": "selfinstruct-seed_task_7",
    "instruction": "Translate the sentence into French.",
    "context": "The library opens at nine.",
    "response": "La bibliothèque ouvre à neuf heures.",
    "category": "generation",
    "subset": "seed_task",
    "source_labels": {"name": "translation"},
    "source": {"file": "data/seed_tasks.jsonl", "line_index": 7, "n_instances": 1},
}


def _guideline(**options: Any) -> Guideline:
    base = VersionRegistry(REPO_ROOT).guideline("instruction", "v1")
    return base.model_copy(update={"options": {**base.options, **options}})


@pytest.fixture
def task() -> InstructionTask:
    return InstructionTask(VersionRegistry(REPO_ROOT).guideline("instruction", "v1"))


@pytest.fixture
def item(task: InstructionTask) -> InstructionInput:
    parsed = task.validate_input(ITEM)
    assert isinstance(parsed, InstructionInput)
    return parsed


@pytest.fixture
def rater() -> InstructionTask:
    return InstructionTask(_guideline(mode="rate"))


def _answer(**fields: Any) -> str:
    return json.dumps({**fields, "confidence": 0.7})


def _samples(task: InstructionTask, item: InstructionInput, answers: list[str]) -> list[Sample]:
    return [task.parse_sample(item, raw, index=i, variant=0) for i, raw in enumerate(answers)]


# -- parsing -------------------------------------------------------------------------


def test_parse_generation(task: InstructionTask, item: InstructionInput) -> None:
    sample = task.parse_sample(
        item,
        _answer(category="Rewriting", response="  La bibliothèque ouvre à 9h. "),
        index=0,
        variant=0,
    )
    assert sample.label == {"response": "La bibliothèque ouvre à 9h.", "category": "rewriting"}
    assert sample.verbalized_confidence == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"category": "rewriting", "response": "   "}, "empty"),
        ({"category": "rewriting"}, "empty"),
        ({"category": "rewriting", "response": 42}, "empty"),
        ({"category": "translation", "response": "Bonjour"}, "category"),
        ({"category": None, "response": "Bonjour"}, "category"),
    ],
)
def test_bad_generations_are_sample_errors(
    task: InstructionTask, item: InstructionInput, answer: dict[str, Any], reason: str
) -> None:
    sample = task.parse_sample(item, _answer(**answer), index=0, variant=0)
    assert sample.label is None
    assert sample.error is not None and reason in sample.error


def test_invalid_json_is_a_sample_error(task: InstructionTask, item: InstructionInput) -> None:
    sample = task.parse_sample(item, "Sure! Here is the translation.", index=0, variant=0)
    assert sample.label is None and sample.error


def test_few_shot_outputs_are_valid_answers(task: InstructionTask) -> None:
    assert task.guideline.few_shot
    for example in task.guideline.few_shot:
        example_item = task.validate_input(example.input)
        sample = task.parse_sample(example_item, json.dumps(example.output), index=0, variant=0)
        assert sample.error is None and sample.verbalized_confidence is not None


# -- generate aggregation ------------------------------------------------------------


def test_medoid_is_the_central_response(task: InstructionTask, item: InstructionInput) -> None:
    answers = [
        _answer(category="rewriting", response="La bibliothèque ouvre à neuf heures."),
        _answer(category="rewriting", response="La bibliothèque ouvre à neuf heures du matin."),
        _answer(category="qa", response="Bibliothèque: ouverture à neuf heures."),
        _answer(category="rewriting", response="I do not speak French."),
        "not json at all",
    ]
    consensus = task.aggregate(item, _samples(task, item, answers))
    assert consensus.label == {
        "response": "La bibliothèque ouvre à neuf heures.",
        "category": "rewriting",
    }
    assert consensus.detail["medoid_sample"] == 0
    assert consensus.detail["n_valid"] == 4
    assert consensus.detail["metric"] == SIMILARITY_METRIC
    assert consensus.detail["category_votes"] == {"rewriting": 3, "qa": 1}
    assert consensus.detail["category_agreement"] == pytest.approx(0.75)
    texts = [json.loads(a)["response"] for a in answers[:4]]
    expected = sum(similarity(texts[0], other) for other in texts[1:]) / 3
    # text agreement times category agreement (3 of 4 name "rewriting")
    assert consensus.confidence == pytest.approx(expected * 0.75)
    assert consensus.signals["text_agreement"] == pytest.approx(expected)
    assert consensus.detail["mean_similarity"]["0"] == max(
        consensus.detail["mean_similarity"].values()
    )
    # vote keys: same category and ROUGE-L >= 0.5 to the medoid count as one answer
    assert consensus.answer_keys[0] == "rewriting|medoid"


def test_identical_answers_are_confident_and_share_a_key(
    task: InstructionTask, item: InstructionInput
) -> None:
    answers = [
        _answer(category="rewriting", response="La bibliothèque ouvre à neuf heures."),
        _answer(category="rewriting", response="la bibliothèque  ouvre à neuf heures"),
        _answer(category="rewriting", response="La Bibliothèque ouvre à neuf heures !"),
    ]
    consensus = task.aggregate(item, _samples(task, item, answers))
    assert consensus.confidence == pytest.approx(1.0)
    assert len(set(consensus.answer_keys)) == 1


def test_category_tie_goes_to_the_medoid_category(
    task: InstructionTask, item: InstructionInput
) -> None:
    answers = [
        _answer(category="rewriting", response="something else entirely"),
        _answer(category="qa", response="La bibliothèque ouvre à neuf heures."),
        _answer(category="rewriting", response="La bibliothèque ouvre à neuf heures."),
        _answer(category="qa", response="La bibliothèque ouvre à neuf heures, oui."),
    ]
    consensus = task.aggregate(item, _samples(task, item, answers))
    assert consensus.detail["category_votes"] == {"rewriting": 2, "qa": 2}
    assert consensus.detail["medoid_sample"] == 1
    # Ontology order alone would pick "rewriting"; the medoid's category wins the tie.
    assert consensus.label is not None and consensus.label["category"] == "qa"


def test_single_valid_sample_has_neutral_confidence(
    task: InstructionTask, item: InstructionInput
) -> None:
    answers = [
        _answer(category="rewriting", response="Bonjour"),
        _answer(category="rewriting", response=""),
    ]
    consensus = task.aggregate(item, _samples(task, item, answers))
    assert consensus.label == {"response": "Bonjour", "category": "rewriting"}
    assert consensus.confidence == SINGLE_SAMPLE_CONFIDENCE


def test_all_invalid_samples(task: InstructionTask, item: InstructionInput) -> None:
    consensus = task.aggregate(
        item, _samples(task, item, ["", "{}", _answer(category="x", response="y")])
    )
    assert consensus.label is None
    assert consensus.confidence == 0.0
    assert consensus.answer_keys == []


# -- rate mode -------------------------------------------------------------------------


def test_rate_mode_schema_and_parse(rater: InstructionTask) -> None:
    rated = rater.validate_input(ITEM)
    assert set(rater.answer_schema()["required"]) == {"quality", "issues"}
    ok = rater.parse_sample(
        rated, _answer(quality=4.0, issues=[" too formal ", ""]), index=0, variant=0
    )
    assert ok.label == {"quality": 4, "issues": ["too formal"]}
    for bad in (
        {"quality": 6, "issues": []},
        {"quality": True, "issues": []},
        {"quality": 3, "issues": "x"},
    ):
        sample = rater.parse_sample(rated, _answer(**bad), index=0, variant=0)
        assert sample.label is None and sample.error


def test_rate_mode_median_and_closeness(rater: InstructionTask) -> None:
    rated = rater.validate_input(ITEM)
    assert isinstance(rated, InstructionInput)
    answers = [
        _answer(quality=4, issues=["missing accent"]),
        _answer(quality=5, issues=[]),
        _answer(quality=4, issues=["stiff"]),
        _answer(quality=1, issues=["wrong language"]),
    ]
    consensus = rater.aggregate(rated, _samples(rater, rated, answers))
    assert consensus.label == {"quality": 4, "issues": ["missing accent"]}
    # Closeness 1 (exact), 0.5 (one off), 1, 0 (three off).
    assert consensus.confidence == pytest.approx(2.5 / 4)
    assert consensus.detail["exact_agreement"] == pytest.approx(0.5)
    assert consensus.answer_keys == ["4", "5", "4", "1"]


def test_rate_mode_requires_a_response(rater: InstructionTask) -> None:
    with pytest.raises(InputError) as info:
        rater.validate_input({"instruction": "Say hi", "context": ""})
    assert info.value.field == "response"


def test_rate_mode_labels_and_gold(rater: InstructionTask) -> None:
    rated = rater.validate_input(ITEM)
    assert rater.validate_label(rated, {"quality": 3}) == {"quality": 3, "issues": []}
    with pytest.raises(LabelValidationError) as info:
        rater.validate_label(rated, {"quality": 0})
    assert info.value.errors[0]["field"] == "quality"
    assert rater.gold_label(ITEM) is None
    gold = rater.gold_label({**ITEM, "quality": 4})
    assert gold == {"quality": 4, "issues": []}
    assert rater.is_correct({"quality": 5, "issues": []}, gold)
    assert not rater.is_correct({"quality": 2, "issues": []}, gold)
    assert rater.quality([({"quality": 2, "issues": []}, gold)])["quality_mae"] == 2.0


# -- labels, inputs, options -------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "field"),
    [
        ({"response": "   ", "category": "qa"}, "response"),
        ({"category": "qa"}, "response"),
        ({"response": "Bonjour", "category": "translation"}, "category"),
        ({"response": "Bonjour", "category": "qa", "extra": 1}, "extra"),
    ],
)
def test_validate_label_rejects_bad_fixes(
    task: InstructionTask, item: InstructionInput, label: dict[str, Any], field: str
) -> None:
    with pytest.raises(LabelValidationError) as info:
        task.validate_label(item, label)
    assert field in {e["field"] for e in info.value.errors}


def test_validate_label_accepts_a_good_fix(task: InstructionTask, item: InstructionInput) -> None:
    fixed = task.validate_label(item, {"response": " Bonjour ", "category": "qa"})
    assert fixed == {"response": "Bonjour", "category": "qa"}


@pytest.mark.parametrize(
    ("raw", "field"), [({"instruction": "  "}, "instruction"), ({"context": "x"}, "instruction")]
)
def test_validate_input_names_the_field(
    task: InstructionTask, raw: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputError) as info:
        task.validate_input(raw)
    assert info.value.field == field


def test_bad_options_are_a_guideline_error() -> None:
    with pytest.raises(GuidelineError, match="mode"):
        InstructionTask(_guideline(mode="judge"))


# -- evaluation ---------------------------------------------------------------------------


def test_gold_correctness_and_quality(task: InstructionTask) -> None:
    gold = task.gold_label(ITEM)
    assert gold == {"response": ITEM["response"], "category": "generation"}
    assert task.gold_label({"instruction": "x"}) is None
    close = {"response": "La bibliothèque ouvre à neuf heures du matin.", "category": "rewriting"}
    far = {"response": "Je ne sais pas.", "category": "qa"}
    assert similarity(close["response"], ITEM["response"]) >= CORRECT_SIMILARITY
    assert task.is_correct(close, gold)
    assert not task.is_correct(far, gold)
    assert not task.is_correct(None, gold)
    metrics = task.quality([(close, gold), (far, gold), (None, gold)])
    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["coverage"] == pytest.approx(2 / 3)
    expected = (
        similarity(close["response"], ITEM["response"])
        + similarity(far["response"], ITEM["response"])
    ) / 3
    assert metrics[SIMILARITY_METRIC] == pytest.approx(expected)


# -- rendering ------------------------------------------------------------------------------


def test_render_messages_generate(task: InstructionTask, item: InstructionInput) -> None:
    prompt = VersionRegistry(REPO_ROOT).prompt("instruction", "v1")
    messages = render_messages(task, prompt, item, 0)
    system = messages[0].content
    assert task.guideline.text.splitlines()[0] in system
    assert all(label in system for label in task.guideline.labels)
    assert '"category"' in system
    last = messages[-1].content
    assert "Translate the sentence into French." in last
    assert "The library opens at nine." in last
    assert ITEM["response"] not in last
    assert len(messages) == 2 + 2 * len(task.guideline.few_shot)


def test_render_messages_rate(rater: InstructionTask) -> None:
    rated = rater.validate_input({"instruction": "Say hi", "response": "Hello there!"})
    prompt = VersionRegistry(REPO_ROOT).prompt("instruction", "v1")
    messages = render_messages(
        rater.__class__(rater.guideline.model_copy(update={"few_shot": []})), prompt, rated, 0
    )
    assert '"quality"' in messages[0].content
    assert "Hello there!" in messages[-1].content
    assert "Context:" not in messages[-1].content
