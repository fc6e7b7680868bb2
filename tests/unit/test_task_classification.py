"""Classification task: single and multi-label parsing, votes, ties, fixes and metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmlabel.domain import Sample
from llmlabel.errors import GuidelineError, LabelValidationError
from llmlabel.guidelines import Guideline, VersionRegistry
from llmlabel.prompts import render_messages
from llmlabel.tasks import build_task
from llmlabel.tasks.classification import ClassificationTask

REPO_ROOT = Path(__file__).resolve().parents[2]
ITEM = {"id": "c-1", "text": "Great food, rude staff.", "label": "neutral"}


def _guideline(**update: Any) -> Guideline:
    base = VersionRegistry(REPO_ROOT).guideline("classification", "v1")
    return base.model_copy(update=update)


@pytest.fixture(scope="module")
def single() -> ClassificationTask:
    task = build_task(_guideline())
    assert isinstance(task, ClassificationTask)
    return task


@pytest.fixture(scope="module")
def multi() -> ClassificationTask:
    return ClassificationTask(_guideline(options={"multi_label": True}))


def _samples(task: ClassificationTask, raws: list[str]) -> list[Sample]:
    item = task.validate_input(ITEM)
    return [task.parse_sample(item, raw, index=i, variant=0) for i, raw in enumerate(raws)]


def _one(label: str, confidence: float = 0.9) -> str:
    return json.dumps({"label": label, "confidence": confidence})


def _many(*labels: str) -> str:
    return json.dumps({"labels": list(labels), "confidence": 0.7})


# -- configuration -----------------------------------------------------------


def test_schema_follows_the_mode(single: ClassificationTask, multi: ClassificationTask) -> None:
    assert single.answer_schema()["properties"] == {
        "label": {"type": "string", "enum": ["positive", "negative", "neutral"]}
    }
    assert multi.answer_schema()["required"] == ["labels"]
    assert multi.llm_schema()["required"] == ["labels", "confidence"]


@pytest.mark.parametrize(
    "update",
    [{"labels": []}, {"options": {"multi_label": "yes"}}],
)
def test_bad_guideline_is_refused(update: dict[str, Any]) -> None:
    with pytest.raises(GuidelineError):
        ClassificationTask(_guideline(**update))


# -- one sample --------------------------------------------------------------


def test_parse_single_normalizes_case(single: ClassificationTask) -> None:
    [sample] = _samples(single, [_one(" Positive ", confidence=1.5)])
    assert sample.label == {"label": "positive"}
    assert sample.verbalized_confidence == 1.0


def test_parse_multi_dedupes_in_ontology_order(multi: ClassificationTask) -> None:
    [sample] = _samples(multi, [_many("neutral", "positive", "neutral")])
    assert sample.label == {"labels": ["positive", "neutral"]}


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("positive", "not JSON"),
        ('{"label": positive}', "not valid JSON"),
        ('["positive"]', "not an object"),
        ('{"labels": ["positive"]}', "missing field 'label'"),
        ('{"label": "joyful"}', "unknown label 'joyful'"),
        ('{"label": 1}', "not a string"),
    ],
)
def test_single_bad_answers(single: ClassificationTask, raw: str, error: str) -> None:
    [sample] = _samples(single, [raw])
    assert sample.label is None
    assert sample.error is not None
    assert error in sample.error


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ('{"label": "positive"}', "missing field 'labels'"),
        ('{"labels": "positive"}', "not a list"),
        ('{"labels": ["positive", "meh"]}', "unknown label 'meh'"),
    ],
)
def test_multi_bad_answers(multi: ClassificationTask, raw: str, error: str) -> None:
    [sample] = _samples(multi, [raw])
    assert sample.error is not None
    assert error in sample.error


def test_code_fenced_answer(single: ClassificationTask) -> None:
    [sample] = _samples(single, ['Here you go:\n```\n{"label": "negative"}\n```'])
    assert sample.label == {"label": "negative"}


# -- many samples ------------------------------------------------------------


def test_single_majority(single: ClassificationTask) -> None:
    raws = [_one("negative"), _one("neutral"), _one("negative"), "oops"]
    consensus = single.aggregate(single.validate_input(ITEM), _samples(single, raws))
    assert consensus.label == {"label": "negative"}
    assert consensus.confidence == pytest.approx(2 / 3)
    assert consensus.detail["votes"] == {"negative": 2, "neutral": 1}
    assert consensus.answer_keys == ["negative", "neutral", "negative"]


@pytest.mark.parametrize(
    ("labels", "winner", "confidence"),
    [
        (["neutral", "positive"], "positive", 0.5),  # positive comes first in the ontology
        (["neutral", "negative", "positive"], "positive", 1 / 3),
        (["neutral", "negative", "negative", "neutral"], "negative", 0.5),
    ],
)
def test_single_tie_is_deterministic_and_shows_in_confidence(
    single: ClassificationTask, labels: list[str], winner: str, confidence: float
) -> None:
    consensus = single.aggregate(
        single.validate_input(ITEM), _samples(single, [_one(x) for x in labels])
    )
    assert consensus.label == {"label": winner}
    assert consensus.confidence == pytest.approx(confidence)
    assert consensus.detail["tie"] is True


def test_multi_vote_per_class(multi: ClassificationTask) -> None:
    raws = [
        _many("positive", "negative"),
        _many("positive"),
        _many("positive", "negative"),
        _many(),
    ]
    consensus = multi.aggregate(multi.validate_input(ITEM), _samples(multi, raws))
    # positive 3/4, negative 2/4 (tie: included), neutral 0/4
    assert consensus.label == {"labels": ["positive", "negative"]}
    assert consensus.confidence == pytest.approx(0.5)
    assert consensus.detail["positive_share"] == {"positive": 0.75, "negative": 0.5, "neutral": 0.0}
    assert consensus.answer_keys[0] == consensus.answer_keys[2] != consensus.answer_keys[1]


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_aggregate_without_valid_samples(
    mode: str, single: ClassificationTask, multi: ClassificationTask
) -> None:
    task = single if mode == "single" else multi
    consensus = task.aggregate(task.validate_input(ITEM), _samples(task, ["?", '{"x": 1}']))
    assert consensus.label is None
    assert consensus.confidence == 0.0


# -- reviewer fixes ----------------------------------------------------------


def test_validate_label(single: ClassificationTask, multi: ClassificationTask) -> None:
    item = single.validate_input(ITEM)
    assert single.validate_label(item, {"label": "neutral"}) == {"label": "neutral"}
    assert multi.validate_label(item, {"labels": ["neutral", "positive"]}) == {
        "labels": ["positive", "neutral"]
    }


@pytest.mark.parametrize(
    ("mode", "label", "field"),
    [
        ("single", {"label": "meh"}, "label"),
        ("single", {"labels": ["positive"]}, "label"),
        ("single", {"label": "positive", "extra": 1}, "extra"),
        ("multi", {"labels": ["positive", "meh"]}, "labels"),
        ("multi", {"labels": "positive"}, "labels"),
    ],
)
def test_validate_label_rejects_bad_fixes(
    mode: str,
    label: dict[str, Any],
    field: str,
    single: ClassificationTask,
    multi: ClassificationTask,
) -> None:
    task = single if mode == "single" else multi
    with pytest.raises(LabelValidationError) as err:
        task.validate_label(task.validate_input(ITEM), label)
    assert field in [e["field"] for e in err.value.errors]
    assert field in str(err.value)


# -- evaluation --------------------------------------------------------------


def test_single_gold_and_accuracy(single: ClassificationTask) -> None:
    gold = single.gold_label(ITEM)
    assert gold == {"label": "neutral"}
    assert single.gold_label({"text": "x", "labels": ["negative"]}) == {"label": "negative"}
    assert single.gold_label({"text": "x"}) is None
    pairs = [({"label": "neutral"}, gold), ({"label": "positive"}, gold), (None, gold)]
    assert single.quality(pairs)["accuracy"] == pytest.approx(1 / 3)


def test_multi_gold_and_micro_f1(multi: ClassificationTask) -> None:
    gold = multi.gold_label({"text": "x", "labels": ["neutral", "positive"]})
    assert gold == {"labels": ["positive", "neutral"]}
    assert multi.gold_label(ITEM) == {"labels": ["neutral"]}
    assert multi.is_correct({"labels": ["neutral", "positive"]}, gold)
    metrics = multi.quality([({"labels": ["positive", "negative"]}, gold), (None, gold)])
    # tp 1, fp 1, fn 1 + 2
    assert metrics["precision"] == pytest.approx(0.5)
    assert metrics["recall"] == pytest.approx(0.25)
    assert metrics["f1"] == pytest.approx(1 / 3)
    assert metrics["exact_match"] == 0.0


# -- prompts -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["single", "multi"])
def test_prompt_renders_guideline_schema_and_item(
    mode: str, single: ClassificationTask, multi: ClassificationTask
) -> None:
    task = single if mode == "single" else multi
    prompt = VersionRegistry(REPO_ROOT).prompt("classification", "v1")
    messages = render_messages(task, prompt, task.validate_input(ITEM), 0)
    assert task.guideline.text in messages[0].content
    assert json.dumps(task.llm_schema()) in messages[0].content
    assert "ONLY a JSON object" in messages[0].content
    assert messages[-1].content == f"Text: {ITEM['text']}"


def test_few_shot_outputs_are_valid_answers(single: ClassificationTask) -> None:
    assert single.guideline.few_shot
    for i, example in enumerate(single.guideline.few_shot):
        item = single.validate_input(example.input)
        sample = single.parse_sample(item, json.dumps(example.output), index=i, variant=0)
        assert sample.error is None
