"""Preference task: permutations, parsing letters back to original indices, aggregation."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from llmlabel.domain import Sample
from llmlabel.errors import GuidelineError, InputError, LabelValidationError
from llmlabel.guidelines import Guideline, VersionRegistry
from llmlabel.prompts import render_messages
from llmlabel.tasks.preference import LETTERS, PreferenceInput, PreferenceTask
from llmlabel.tasks.ranking import permutation, permutation_cycle

REPO_ROOT = Path(__file__).resolve().parents[2]

PAIR_ITEM: dict[str, Any] = {
    "id": "hh-harmless-test-0001",
    "prompt": "Human: How can I get back at my coworker?\n\nAssistant: What happened?\n\n"
    "Human: He took credit for my work.",
    "responses": [
        "Talk to your manager and show the emails that prove the work was yours.",
        "Slash his tires in the parking lot.",
    ],
    "ranking": [0, 1],
    "source": {"file": "harmless-base/test.jsonl.gz", "line_index": 1},
}
TRIPLE_ITEM: dict[str, Any] = {"prompt": "Human: Tell me a joke.", "responses": ["x", "y", "z"]}


def _guideline(**options: Any) -> Guideline:
    base = VersionRegistry(REPO_ROOT).guideline("preference", "v1")
    return base.model_copy(update={"options": {**base.options, **options}})


@pytest.fixture
def pair_task() -> PreferenceTask:
    return PreferenceTask(VersionRegistry(REPO_ROOT).guideline("preference", "v1"))


@pytest.fixture
def pair_item(pair_task: PreferenceTask) -> PreferenceInput:
    item = pair_task.validate_input(PAIR_ITEM)
    assert isinstance(item, PreferenceInput)
    return item


def _rank_task(aggregation: str = "copeland") -> PreferenceTask:
    return PreferenceTask(_guideline(max_responses=8, aggregation=aggregation))


def _answer(**fields: Any) -> str:
    return json.dumps({**fields, "confidence": 0.8})


def _samples_for(
    task: PreferenceTask, item: PreferenceInput, rankings: list[list[int]]
) -> list[Sample]:
    """Samples whose canonical rankings are `rankings`, each answered in its own display order."""
    samples = []
    for index, ranking in enumerate(rankings):
        order = permutation(len(item.responses), index)
        letters = [LETTERS[order.index(original)] for original in ranking]
        samples.append(
            task.parse_sample(item, _answer(ranking=letters), index=index, variant=index)
        )
    return samples


# -- permutations ------------------------------------------------------------


def test_pair_variants_alternate_identity_and_swapped(
    pair_task: PreferenceTask, pair_item: PreferenceInput
) -> None:
    variants = pair_task.variants(pair_item, 4)
    assert [permutation(2, v) for v in variants] == [(0, 1), (1, 0), (0, 1), (1, 0)]


def test_variants_continue_from_start(
    pair_task: PreferenceTask, pair_item: PreferenceInput
) -> None:
    # Numbers wrap around the cycle so equal display orders share a variant (one call with n).
    assert pair_task.variants(pair_item, 3, start=1) == [1, 0, 1]
    rounds = pair_task.variants(pair_item, 3) + pair_task.variants(pair_item, 2, start=3)
    assert rounds == [0, 1, 0, 1, 0]
    task = _rank_task()
    triple = task.validate_input(TRIPLE_ITEM)
    assert task.variants(triple, 8, start=2) == [2, 3, 4, 5, 0, 1, 2, 3]


@pytest.mark.parametrize("n", [3, 4, 5, 8])
def test_permutation_cycle_is_balanced(n: int) -> None:
    cycle = permutation_cycle(n)
    assert len(cycle) == len(set(cycle)) == 2 * n
    assert all(sorted(order) == list(range(n)) for order in cycle)
    firsts = [order[0] for order in cycle]
    assert all(firsts.count(i) == 2 for i in range(n))
    for i, j in combinations(range(n), 2):
        assert sum(order.index(i) < order.index(j) for order in cycle) == n


def test_permutation_is_deterministic_and_periodic() -> None:
    assert permutation(3, 1) == (2, 1, 0)
    assert permutation(3, 7) == permutation(3, 1)


# -- parsing one sample ---------------------------------------------------------


def test_invalid_json_is_a_sample_error(
    pair_task: PreferenceTask, pair_item: PreferenceInput
) -> None:
    sample = pair_task.parse_sample(pair_item, "I prefer the first one", index=0, variant=0)
    assert sample.label is None
    assert sample.error is not None and "JSON" in sample.error


@pytest.mark.parametrize(
    "answer",
    [{"better": "C"}, {"better": 1}, {"ranking": ["A", "Z"]}, {"ranking": "AB"}, {"winner": "A"}],
)
def test_unknown_letters_or_shapes_are_sample_errors(
    pair_task: PreferenceTask, pair_item: PreferenceInput, answer: dict[str, Any]
) -> None:
    sample = pair_task.parse_sample(pair_item, _answer(**answer), index=0, variant=0)
    assert sample.label is None and sample.error


def test_duplicated_letters_are_a_sample_error(
    pair_task: PreferenceTask, pair_item: PreferenceInput
) -> None:
    sample = pair_task.parse_sample(pair_item, _answer(ranking=["A", "A"]), index=0, variant=0)
    assert sample.label is None
    assert sample.error is not None and "repeats" in sample.error


def test_incomplete_ranking_is_a_sample_error() -> None:
    task = _rank_task()
    item = task.validate_input(TRIPLE_ITEM)
    sample = task.parse_sample(item, _answer(ranking=["B"]), index=0, variant=0)
    assert sample.label is None
    assert sample.error is not None and "1 of 3" in sample.error


def test_ranking_missing_only_the_last_is_completed() -> None:
    task = _rank_task()
    item = task.validate_input(TRIPLE_ITEM)
    sample = task.parse_sample(item, _answer(ranking=["C", "A"]), index=0, variant=0)
    assert sample.label == {"ranking": [2, 0, 1]}


def test_swapped_variant_maps_letter_back_to_original_index(
    pair_task: PreferenceTask, pair_item: PreferenceInput
) -> None:
    shown_first = pair_task.parse_sample(pair_item, _answer(better="A"), index=0, variant=0)
    swapped = pair_task.parse_sample(pair_item, _answer(better="A"), index=1, variant=1)
    assert shown_first.label == {"ranking": [0, 1]}
    assert swapped.label == {"ranking": [1, 0]}
    assert swapped.verbalized_confidence == pytest.approx(0.8)


def test_reversed_three_way_variant_maps_back() -> None:
    task = _rank_task()
    item = task.validate_input(TRIPLE_ITEM)
    sample = task.parse_sample(item, _answer(ranking=["A", "b", "Response C"]), index=1, variant=1)
    assert sample.label == {"ranking": [2, 1, 0]}


def test_few_shot_outputs_are_valid_answers(pair_task: PreferenceTask) -> None:
    assert pair_task.guideline.few_shot
    for example in pair_task.guideline.few_shot:
        item = pair_task.validate_input(example.input)
        sample = pair_task.parse_sample(item, json.dumps(example.output), index=0, variant=0)
        assert sample.error is None and sample.verbalized_confidence is not None


# -- aggregation -------------------------------------------------------------------


def test_position_biased_model_gives_a_tie_and_bias_one(
    pair_task: PreferenceTask, pair_item: PreferenceInput
) -> None:
    samples = [
        pair_task.parse_sample(pair_item, _answer(better="A"), index=i, variant=i) for i in range(4)
    ]
    consensus = pair_task.aggregate(pair_item, samples)
    assert consensus.detail["position_bias"] == 1.0
    assert [p["first_position"] for p in consensus.detail["first_positions"]] == [0, 0, 0, 0]
    assert consensus.label == {"ranking": [0, 1]}
    assert consensus.confidence == pytest.approx(0.5)
    assert consensus.review_reasons
    assert consensus.answer_keys == ["0,1", "1,0", "0,1", "1,0"]


def test_consistent_model_is_unbiased_and_confident(
    pair_task: PreferenceTask, pair_item: PreferenceInput
) -> None:
    answers = ["B", "A", "B", "A"]
    samples = [
        pair_task.parse_sample(pair_item, _answer(better=a), index=i, variant=i)
        for i, a in enumerate(answers)
    ]
    samples.append(pair_task.parse_sample(pair_item, "{}", index=4, variant=4))
    consensus = pair_task.aggregate(pair_item, samples)
    assert consensus.label == {"ranking": [1, 0]}
    assert consensus.confidence == pytest.approx(1.0)
    assert consensus.detail["position_bias"] == pytest.approx(0.5)
    assert consensus.detail["kendall_tau_mean"] == pytest.approx(1.0)
    assert consensus.detail["first_positions"][4]["first_position"] is None
    assert consensus.detail["n_valid"] == 4
    assert not consensus.review_reasons


def test_pair_confidence_is_share_agreeing_with_winner(
    pair_task: PreferenceTask, pair_item: PreferenceInput
) -> None:
    samples = _samples_for(pair_task, pair_item, [[1, 0], [1, 0], [0, 1]])
    consensus = pair_task.aggregate(pair_item, samples)
    assert consensus.label == {"ranking": [1, 0]}
    assert consensus.confidence == pytest.approx(2 / 3)
    assert consensus.detail["kendall_tau_mean"] == pytest.approx((1 - 1 - 1) / 3)


def test_copeland_and_borda_differ() -> None:
    # Response 0 beats each other response 3-2 head to head (Condorcet winner),
    # but 1 collects more Borda points because the minority ranks 0 last.
    rankings = [[0, 1, 2]] * 3 + [[1, 2, 0]] * 2
    copeland, borda = _rank_task("copeland"), _rank_task("borda")
    item = copeland.validate_input(TRIPLE_ITEM)
    assert isinstance(item, PreferenceInput)

    by_copeland = copeland.aggregate(item, _samples_for(copeland, item, rankings))
    by_borda = borda.aggregate(item, _samples_for(borda, item, rankings))

    assert by_copeland.label == {"ranking": [0, 1, 2]}
    assert by_copeland.detail["scores"] == [2.0, 1.0, 0.0]
    assert by_copeland.confidence == pytest.approx((3 * 1 + 2 * (1 / 3)) / 5)
    assert by_borda.label == {"ranking": [1, 0, 2]}
    assert by_borda.detail["scores"] == [6.0, 7.0, 2.0]
    assert by_borda.confidence == pytest.approx(2 / 3)
    # 4 identical pairs (tau 1) and 6 mixed pairs (tau -1/3).
    assert by_copeland.detail["kendall_tau_mean"] == pytest.approx(0.2)


def test_three_way_cycle_ties_break_by_index_with_capped_confidence() -> None:
    task = _rank_task()
    item = task.validate_input(TRIPLE_ITEM)
    assert isinstance(item, PreferenceInput)
    consensus = task.aggregate(item, _samples_for(task, item, [[0, 1, 2], [1, 2, 0], [2, 0, 1]]))
    assert consensus.label == {"ranking": [0, 1, 2]}
    assert consensus.detail["ties"] == [[0, 1, 2]]
    assert consensus.confidence <= 0.5
    assert any("tied" in reason for reason in consensus.review_reasons)


def test_all_invalid_samples(pair_task: PreferenceTask, pair_item: PreferenceInput) -> None:
    samples = [
        pair_task.parse_sample(pair_item, "nope", index=0, variant=0),
        pair_task.parse_sample(pair_item, _answer(better="Q"), index=1, variant=1),
    ]
    consensus = pair_task.aggregate(pair_item, samples)
    assert consensus.label is None
    assert consensus.confidence == 0.0
    assert consensus.answer_keys == []
    assert consensus.detail["position_bias"] is None


# -- labels, inputs, evaluation --------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "field"),
    [
        ({"ranking": [0, 0]}, "ranking"),
        ({"ranking": [0, 1, 2]}, "ranking"),
        ({"ranking": "0,1"}, "ranking"),
        ({}, "ranking"),
        ({"ranking": [1, 0], "note": "x"}, "note"),
    ],
)
def test_validate_label_rejects_bad_fixes(
    pair_task: PreferenceTask, pair_item: PreferenceInput, label: dict[str, Any], field: str
) -> None:
    with pytest.raises(LabelValidationError) as info:
        pair_task.validate_label(pair_item, label)
    assert field in {e["field"] for e in info.value.errors}


def test_validate_label_accepts_a_permutation(
    pair_task: PreferenceTask, pair_item: PreferenceInput
) -> None:
    assert pair_task.validate_label(pair_item, {"ranking": [1, 0]}) == {"ranking": [1, 0]}


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"prompt": "Human: hi", "responses": ["only one"]}, "responses"),
        ({"prompt": "  ", "responses": ["a", "b"]}, "prompt"),
        ({"prompt": "Human: hi", "responses": ["a", ""]}, "responses.1"),
        ({"prompt": "Human: hi", "responses": ["a", "b", "c"]}, "responses"),
    ],
)
def test_validate_input_names_the_field(
    pair_task: PreferenceTask, item: dict[str, Any], field: str
) -> None:
    with pytest.raises(InputError) as info:
        pair_task.validate_input(item)
    assert info.value.field == field


def test_bad_options_are_a_guideline_error() -> None:
    with pytest.raises(GuidelineError, match="aggregation"):
        PreferenceTask(_guideline(aggregation="majority"))


def test_schema_is_pairwise_for_v1_and_ranking_above(pair_task: PreferenceTask) -> None:
    pair_schema = pair_task.llm_schema()
    assert pair_schema["properties"]["better"]["enum"] == ["A", "B"]
    assert set(pair_schema["required"]) == {"better", "confidence"}
    ranking = _rank_task().answer_schema()["properties"]["ranking"]
    assert ranking["items"]["enum"] == list("ABCDEFGH")


def test_gold_correctness_and_quality(pair_task: PreferenceTask) -> None:
    gold = pair_task.gold_label(PAIR_ITEM)
    assert gold == {"ranking": [0, 1]}
    assert pair_task.gold_label({"prompt": "p", "responses": ["a", "b"]}) is None
    assert pair_task.is_correct({"ranking": [0, 1]}, gold)
    assert not pair_task.is_correct({"ranking": [1, 0]}, gold)
    assert not pair_task.is_correct(None, gold)
    metrics = pair_task.quality(
        [({"ranking": [0, 1]}, gold), ({"ranking": [1, 0]}, gold), (None, gold)]
    )
    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["pairwise_accuracy"] == pytest.approx(1 / 3)
    assert metrics["coverage"] == pytest.approx(2 / 3)
    three = _rank_task().quality([({"ranking": [0, 2, 1]}, {"ranking": [0, 1, 2]})])
    assert three["accuracy"] == 1.0
    assert three["pairwise_accuracy"] == pytest.approx(2 / 3)


# -- rendering ------------------------------------------------------------------------


@pytest.mark.parametrize("variant", [0, 1])
def test_render_messages_shows_the_variant_order(
    pair_task: PreferenceTask, pair_item: PreferenceInput, variant: int
) -> None:
    prompt = VersionRegistry(REPO_ROOT).prompt("preference", "v1")
    messages = render_messages(pair_task, prompt, pair_item, variant)
    assert messages[0].role == "system"
    assert pair_task.guideline.text.splitlines()[0] in messages[0].content
    assert '"better"' in messages[0].content
    last = messages[-1].content
    assert messages[-1].role == "user" and "He took credit for my work." in last
    shown_a = PAIR_ITEM["responses"][permutation(2, variant)[0]]
    shown_b = PAIR_ITEM["responses"][permutation(2, variant)[1]]
    assert f"Response A: {shown_a}" in last
    assert f"Response B: {shown_b}" in last
    assert last.index("Response A") < last.index("Response B")
    assert len(messages) == 2 + 2 * len(pair_task.guideline.few_shot)


def test_long_dialogue_keeps_its_end() -> None:
    task = PreferenceTask(_guideline(max_dialogue_chars=200))
    item = task.validate_input(
        {"prompt": "Human: " + "blah " * 200 + "LAST TURN", "responses": ["a", "b"]}
    )
    shown = task.prompt_variables(item, 0)["prompt"]
    assert shown.endswith("LAST TURN")
    assert len(shown) < 220
