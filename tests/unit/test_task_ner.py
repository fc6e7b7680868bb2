"""NER task: quotes to offsets, ambiguity, span voting, reviewer fixes and metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmlabel.domain import Sample
from llmlabel.errors import InputError, LabelValidationError
from llmlabel.guidelines import VersionRegistry
from llmlabel.prompts import render_messages
from llmlabel.tasks.ner import NerInput, NerTask, find_quote
from tests.conftest import load_dev_items

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def task() -> NerTask:
    return NerTask(VersionRegistry(REPO_ROOT).guideline("ner", "v1"))


def _item(task: NerTask, text: str, tokens: list[str] | None = None) -> NerInput:
    item = task.validate_input({"id": "x", "text": text, "tokens": tokens})
    assert isinstance(item, NerInput)
    return item


def _answer(*entities: dict[str, Any], confidence: float = 0.8) -> str:
    return json.dumps({"entities": list(entities), "confidence": confidence})


def _parse(task: NerTask, item: NerInput, raw: str, index: int = 0) -> Sample:
    return task.parse_sample(item, raw, index=index, variant=0)


def _spans(label: dict[str, Any] | None) -> list[tuple[int, int, str]]:
    assert label is not None
    return [(e["start"], e["end"], e["label"]) for e in label["entities"]]


def _dev_item(item_id: str) -> dict[str, Any]:
    return next(i for i in load_dev_items("ner") if i["id"] == item_id)


# -- input -------------------------------------------------------------------


def test_input_needs_text(task: NerTask) -> None:
    with pytest.raises(InputError) as err:
        task.validate_input({"id": "x", "text": ""})
    assert err.value.field == "text"
    with pytest.raises(InputError, match="non-whitespace") as err:
        task.validate_input({"id": "x", "text": " \n "})
    assert err.value.field == "text"


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (["Lyon", "rocks"], r"token 0 \('Lyon'\) does not match the text at offset 0"),
        (["Paris", "is"], r"the text from offset 9 \('nice'\) is in no token"),
        (["Paris", "is", "nice", "!"], r"token 3 \('!'\) does not match the text at offset 13"),
        (["Paris", "", "is", "nice"], r"token 1 \(''\) must be non-empty"),
        (["Paris is", "nice"], r"token 0 \('Paris is'\) must be non-empty and hold no whitespace"),
        (["nice", "is", "Paris"], r"token 0 \('nice'\)"),
    ],
)
def test_tokens_must_spell_out_the_text(task: NerTask, tokens: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        task.validate_input({"id": "x", "text": "Paris is nice", "tokens": tokens})
    assert err.value.field == "tokens"


def test_tokens_may_be_separated_by_any_whitespace(task: NerTask) -> None:
    item = _item(task, "  Paris,\tis\n nice ", tokens=["Paris", ",", "is", "nice"])
    assert item.tokens == ["Paris", ",", "is", "nice"]
    for dev in load_dev_items("ner"):
        task.validate_input(dev)


# -- one sample --------------------------------------------------------------


def test_quote_becomes_offsets_and_verbalized_confidence(task: NerTask) -> None:
    item = _item(task, "Did Bill Haydon meet Ann in London ?")
    sample = _parse(
        task,
        item,
        _answer(
            {"text": "Bill Haydon", "label": "person"},
            {"text": "London", "label": "location"},
            confidence=0.65,
        ),
    )
    assert sample.error is None
    assert _spans(sample.label) == [(4, 15, "person"), (28, 34, "location")]
    assert sample.label is not None
    assert sample.label["entities"][0]["text"] == "Bill Haydon"
    assert sample.verbalized_confidence == pytest.approx(0.65)
    assert "confidence" not in sample.label


def test_verbalized_confidence_is_clamped(task: NerTask) -> None:
    item = _item(task, "hello there")
    assert _parse(task, item, _answer(confidence=7)).verbalized_confidence == 1.0


def test_hallucinated_quote_is_a_sample_error(task: NerTask) -> None:
    item = _item(task, "Did Bill Haydon meet Ann ?")
    sample = _parse(task, item, _answer({"text": "Bill Hayden", "label": "person"}))
    assert sample.label is None
    assert sample.error is not None
    assert "'Bill Hayden'" in sample.error


def test_case_insensitive_match_keeps_the_item_text(task: NerTask) -> None:
    item = _item(task, "going to new york tomorrow")
    sample = _parse(task, item, _answer({"text": "New York", "label": "Location"}))
    assert _spans(sample.label) == [(9, 17, "location")]
    assert sample.label is not None
    assert sample.label["entities"][0]["text"] == "new york"


def test_exact_case_wins_over_case_insensitive(task: NerTask) -> None:
    item = _item(task, "APPLE pie and Apple stock")
    sample = _parse(task, item, _answer({"text": "Apple", "label": "corporation"}))
    assert _spans(sample.label) == [(14, 19, "corporation")]


def test_whole_word_matches_are_preferred() -> None:
    assert find_quote("Annual report by Ann", "Ann") == [(17, 20)]
    assert find_quote("Annual report", "Ann") == [(0, 3)]  # inside a word only if nothing else
    assert find_quote("aaa", "aa") == [(0, 2), (1, 3)]  # overlapping occurrences are all found


def test_repeated_quote_without_occurrence_is_ambiguous(task: NerTask) -> None:
    item = _item(task, "Neville said Neville is here")
    sample = _parse(task, item, _answer({"text": "Neville", "label": "person"}))
    assert sample.error is None
    assert sample.label == {
        "entities": [],
        "ambiguous": [{"text": "Neville", "label": "person", "occurrences": 2}],
    }
    consensus = task.aggregate(item, [sample, _parse(task, item, _answer(), index=1)])
    assert consensus.review_reasons == ["ambiguous quote 'Neville' (person)"]


def test_repeated_quote_with_occurrence(task: NerTask) -> None:
    item = _item(task, "Neville said Neville is here")
    sample = _parse(task, item, _answer({"text": "Neville", "label": "person", "occurrence": 2}))
    assert _spans(sample.label) == [(13, 20, "person")]
    assert sample.label is not None
    assert "ambiguous" not in sample.label


def test_occurrence_past_the_last_is_a_sample_error(task: NerTask) -> None:
    item = _item(task, "Neville said Neville is here")
    sample = _parse(task, item, _answer({"text": "Neville", "label": "person", "occurrence": 3}))
    assert sample.error is not None
    assert "no occurrence 3" in sample.error


def test_repeated_quote_listed_once_per_occurrence_is_placed(task: NerTask) -> None:
    item = _item(task, "Neville said Neville is here")
    mention = {"text": "Neville", "label": "person"}
    sample = _parse(task, item, _answer(mention, mention))
    assert _spans(sample.label) == [(0, 7, "person"), (13, 20, "person")]


def test_repeated_quote_with_two_labels_stays_ambiguous(task: NerTask) -> None:
    item = _item(task, "Apple sells the Apple Watch at Apple")
    sample = _parse(
        task,
        item,
        _answer(
            {"text": "Apple", "label": "corporation"},
            {"text": "Apple", "label": "product"},
            {"text": "Apple Watch", "label": "product"},
        ),
    )
    assert sample.label is not None
    assert _spans(sample.label) == [(16, 27, "product")]
    assert {a["label"] for a in sample.label["ambiguous"]} == {"corporation", "product"}


def test_overlapping_spans_keep_the_longest(task: NerTask) -> None:
    item = _item(task, "reading Harry Potter again")
    sample = _parse(
        task,
        item,
        _answer(
            {"text": "Harry", "label": "person"}, {"text": "Harry Potter", "label": "creative-work"}
        ),
    )
    assert _spans(sample.label) == [(8, 20, "creative-work")]


def test_one_span_with_two_labels_is_a_sample_error(task: NerTask) -> None:
    item = _item(task, "I love Uber")
    sample = _parse(
        task,
        item,
        _answer({"text": "Uber", "label": "product"}, {"text": "Uber", "label": "corporation"}),
    )
    assert sample.error is not None
    assert "'Uber'" in sample.error


def test_duplicate_mentions_collapse(task: NerTask) -> None:
    item = _item(task, "I love Uber")
    mention = {"text": "Uber", "label": "product", "occurrence": 1}
    sample = _parse(task, item, _answer(mention, mention))
    assert _spans(sample.label) == [(7, 11, "product")]


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("I think the entities are none", "not JSON"),
        ('{"entities": [}', "not valid JSON"),
        ('[{"text": "Uber", "label": "product"}]', "not an object"),
        ('{"spans": []}', "entities"),
        ('{"entities": [{"label": "product"}]}', "entities.0.text"),
        ('{"entities": [{"text": "Uber", "label": "company"}]}', "unknown label 'company'"),
        ('{"entities": [{"text": "  ", "label": "product"}]}', "empty quote"),
        ('{"entities": [{"text": "Uber", "label": "product", "occurrence": 0}]}', "occurrence"),
    ],
)
def test_bad_answers_are_recorded_not_raised(task: NerTask, raw: str, error: str) -> None:
    sample = _parse(task, _item(task, "I love Uber"), raw)
    assert sample.label is None
    assert sample.error is not None
    assert error in sample.error


def test_code_fenced_answer_is_parsed(task: NerTask) -> None:
    answer = '{"entities": [{"text": "Uber", "label": "product"}], "confidence": 0.9}'
    raw = f"Sure!\n```json\n{answer}\n```"
    sample = _parse(task, _item(task, "I love Uber"), raw)
    assert _spans(sample.label) == [(7, 11, "product")]


def test_token_indices_on_a_dev_item(task: NerTask) -> None:
    raw_item = _dev_item("wnut17-test-0911")  # "PT Citilink Indonesia" ... "Citilink" again
    item = task.validate_input(raw_item)
    answer = _answer(*({"text": e["text"], "label": e["label"]} for e in raw_item["entities"]))
    sample = task.parse_sample(item, answer, index=0, variant=0)
    assert sample.label is not None
    assert sample.label["entities"] == task.gold_label(raw_item)["entities"]  # type: ignore[index]
    assert [(e["token_start"], e["token_end"]) for e in sample.label["entities"]] == [
        (1, 4),
        (10, 11),
    ]


def test_every_dev_item_round_trips_from_its_gold_quotes(task: NerTask) -> None:
    """Quoting each gold entity (no offsets) must give back the gold offsets and tokens."""
    for raw_item in load_dev_items("ner"):
        item = task.validate_input(raw_item)
        answer = _answer(*({"text": e["text"], "label": e["label"]} for e in raw_item["entities"]))
        sample = task.parse_sample(item, answer, index=0, variant=0)
        assert sample.label == task.gold_label(raw_item), raw_item["id"]


# -- many samples ------------------------------------------------------------


def test_aggregate_keeps_majority_spans(task: NerTask) -> None:
    item = _item(task, "Mike flew to Paris with Delta")
    mike, paris, delta = (
        {"text": "Mike", "label": "person"},
        {"text": "Paris", "label": "location"},
        {"text": "Delta", "label": "corporation"},
    )
    raws = [
        _answer(mike, paris),
        _answer(mike, paris, delta),
        _answer(mike),
        "not json",
        _answer(mike, paris),
    ]
    samples = [_parse(task, item, raw, index=i) for i, raw in enumerate(raws)]
    consensus = task.aggregate(item, samples)
    assert _spans(consensus.label) == [(0, 4, "person"), (13, 18, "location")]
    # weakest kept span: Paris 3/4; dropped Delta 1/4 -> 0.75: min is 0.75
    assert consensus.confidence == pytest.approx(0.75)
    shares = {(s["text"], s["kept"]): s["share"] for s in consensus.detail["spans"]}
    assert shares == {("Mike", True): 1.0, ("Paris", True): 0.75, ("Delta", False): 0.25}
    assert consensus.detail["valid_samples"] == 4
    assert len(consensus.answer_keys) == 4
    assert consensus.answer_keys[0] == consensus.answer_keys[3] != consensus.answer_keys[1]


def test_aggregate_half_votes_drop_the_span_with_low_confidence(task: NerTask) -> None:
    item = _item(task, "Mike flew to Paris")
    raws = [_answer({"text": "Paris", "label": "location"}), _answer()]
    consensus = task.aggregate(item, [_parse(task, item, r, index=i) for i, r in enumerate(raws)])
    assert consensus.label == {"entities": []}
    assert consensus.confidence == pytest.approx(0.5)


def test_aggregate_unanimous_no_entities_is_certain(task: NerTask) -> None:
    item = _item(task, "lol so true")
    consensus = task.aggregate(item, [_parse(task, item, _answer(), index=i) for i in range(3)])
    assert consensus.label == {"entities": []}
    assert consensus.confidence == 1.0
    assert consensus.review_reasons == []


def test_aggregate_without_valid_samples(task: NerTask) -> None:
    item = _item(task, "lol so true")
    samples = [_parse(task, item, "nope", index=0), _parse(task, item, "[]", index=1)]
    consensus = task.aggregate(item, samples)
    assert consensus.label is None
    assert consensus.confidence == 0.0
    assert consensus.answer_keys == []


# -- reviewer fixes ----------------------------------------------------------


def test_validate_label_fills_text_and_tokens(task: NerTask) -> None:
    item = _item(task, "Mike flew to Paris", tokens=["Mike", "flew", "to", "Paris"])
    fixed = task.validate_label(
        item,
        {
            "entities": [
                {"start": 13, "end": 18, "label": "location"},
                {"start": 0, "end": 4, "label": "person", "text": "Mike"},
            ]
        },
    )
    assert fixed == {
        "entities": [
            {
                "start": 0,
                "end": 4,
                "label": "person",
                "text": "Mike",
                "token_start": 0,
                "token_end": 1,
            },
            {
                "start": 13,
                "end": 18,
                "label": "location",
                "text": "Paris",
                "token_start": 3,
                "token_end": 4,
            },
        ]
    }


@pytest.mark.parametrize(
    ("entity", "field"),
    [
        ({"start": 0, "end": 4, "label": "human"}, "entities.0.label"),
        ({"start": 4, "end": 4, "label": "person"}, "entities.0"),
        ({"start": "a", "end": 4, "label": "person"}, "entities.0.start"),
        ({"start": 0, "end": 4, "label": "person", "text": "Mick"}, "entities.0.text"),
        ({"start": 13, "end": 40, "label": "location"}, "entities.0.end"),
        ({"start": 0, "end": 4, "label": "person", "score": 1}, "entities.0.score"),
    ],
)
def test_validate_label_rejects_bad_fixes_naming_the_field(
    task: NerTask, entity: dict[str, Any], field: str
) -> None:
    item = _item(task, "Mike flew to Paris")
    with pytest.raises(LabelValidationError) as err:
        task.validate_label(item, {"entities": [entity]})
    assert field in [e["field"] for e in err.value.errors]
    assert field in str(err.value)


@pytest.mark.parametrize(
    ("entity", "tokens", "field", "words"),
    [
        ({"token_start": 7, "token_end": 8}, True, "entities.0.token_start", "out of range 0..3"),
        ({"token_start": 3, "token_end": 99}, True, "entities.0.token_end", "out of range 1..4"),
        ({"token_start": 2, "token_end": 4}, True, "entities.0.token_start", "tokens 3..4"),
        ({"token_start": 3}, False, "entities.0.token_start", "no tokens"),
        ({"token_end": -1}, True, "entities.0.token_end", "greater than or equal to 1"),
        ({"token_start": "3"}, True, "entities.0.token_start", "valid integer"),
    ],
)
def test_validate_label_checks_token_indices(
    task: NerTask, entity: dict[str, Any], tokens: bool, field: str, words: str
) -> None:
    item = _item(task, "Mike flew to Paris",
                 tokens=["Mike", "flew", "to", "Paris"] if tokens else None)
    span = {"start": 13, "end": 18, "label": "location"} | entity
    with pytest.raises(LabelValidationError) as err:
        task.validate_label(item, {"entities": [span]})
    assert field in [e["field"] for e in err.value.errors]
    assert words in str(err.value)


def test_validate_label_keeps_matching_token_indices(task: NerTask) -> None:
    item = _item(task, "Mike flew to Paris", tokens=["Mike", "flew", "to", "Paris"])
    span = {"start": 13, "end": 18, "label": "location", "token_start": 3, "token_end": 4}
    assert task.validate_label(item, {"entities": [span]})["entities"] == [span | {"text": "Paris"}]


def test_validate_label_rejects_overlapping_spans(task: NerTask) -> None:
    item = _item(task, "Mike flew to Paris")
    with pytest.raises(LabelValidationError) as err:
        task.validate_label(
            item,
            {
                "entities": [
                    {"start": 0, "end": 9, "label": "person"},
                    {"start": 5, "end": 9, "label": "product"},
                ]
            },
        )
    assert err.value.errors[0]["field"] == "entities.1"


# -- evaluation --------------------------------------------------------------


def test_gold_is_correct_and_quality(task: NerTask) -> None:
    raw_item = _dev_item("wnut17-test-0679")  # three people
    gold = task.gold_label(raw_item)
    assert gold is not None
    assert len(gold["entities"]) == 3
    assert task.is_correct(gold, gold)
    partial = {"entities": gold["entities"][:2] + [{**gold["entities"][2], "label": "location"}]}
    assert not task.is_correct(partial, gold)
    empty_gold: dict[str, Any] = {"entities": []}
    assert task.is_correct(None, empty_gold)
    metrics = task.quality([(partial, gold), (None, empty_gold), (None, gold)])
    # tp 2, fp 1, fn 1 + 3: precision 2/3, recall 2/6
    assert metrics["precision"] == pytest.approx(2 / 3)
    assert metrics["recall"] == pytest.approx(1 / 3)
    assert metrics["f1"] == pytest.approx(2 * (2 / 3) * (1 / 3) / (2 / 3 + 1 / 3))
    assert metrics["exact_match"] == pytest.approx(1 / 3)
    assert task.gold_label({"text": "no gold here"}) is None


# -- prompts -----------------------------------------------------------------


def test_prompt_renders_guideline_schema_and_item(task: NerTask) -> None:
    raw_item = _dev_item("wnut17-test-0679")
    prompt = VersionRegistry(REPO_ROOT).prompt("ner", "v1")
    messages = render_messages(task, prompt, task.validate_input(raw_item), 0)
    system = messages[0].content
    assert task.guideline.text in system
    assert json.dumps(task.llm_schema()) in system
    assert "ONLY a JSON object" in system
    assert messages[-1].role == "user"
    assert raw_item["text"] in messages[-1].content
    assert len(messages) == 2 + 2 * len(task.guideline.few_shot)


def test_few_shot_outputs_are_valid_answers(task: NerTask) -> None:
    assert task.guideline.few_shot
    for i, example in enumerate(task.guideline.few_shot):
        item = task.validate_input(example.input)
        sample = task.parse_sample(item, json.dumps(example.output), index=i, variant=0)
        assert sample.error is None
        assert sample.verbalized_confidence is not None


def test_quote_matching_ignores_spacing_and_apostrophe_style_only() -> None:
    from llmlabel.tasks.ner import find_quote

    text = "the boat ' s name and Lee ' s daughter @ TheRebelTV Woman \u2019 s"
    assert [text[a:b] for a, b in find_quote(text, "Lee's daughter")] == ["Lee ' s daughter"]
    assert [text[a:b] for a, b in find_quote(text, "@TheRebelTV")] == ["@ TheRebelTV"]
    assert [text[a:b] for a, b in find_quote(text, "Woman's")] == ["Woman \u2019 s"]
    assert find_quote(text, "Lees daughter") == []  # every character must still match
