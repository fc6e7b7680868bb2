"""Body parsing of POST /v1/batches: NDJSON lines, JSON errors, size limits, duplicate ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from llmlabel.api.bodies import check_content_length
from llmlabel.api.problems import Problem, kind_for
from llmlabel.api.submission import (
    MAX_REPORTED,
    Limits,
    SubmittedItem,
    parse_json_batch,
    parse_ndjson_batch,
    request_hash,
    validate_inputs,
)
from llmlabel.errors import InvalidInputError, LlmlabelError, PayloadTooLargeError
from llmlabel.guidelines import VersionRegistry
from llmlabel.tasks import build_task

LIMITS = Limits(max_body_bytes=10_000, max_batch_items=5, max_item_bytes=200)


def ndjson(*items: object) -> bytes:
    return "\n".join(json.dumps(item) for item in items).encode() + b"\n"


@dataclass
class Refusal:
    """What the API would answer: status, detail, errors and extra fields of the problem."""

    status: int
    detail: str
    errors: list[dict[str, Any]] | None
    extra: dict[str, Any]


def refusal(exc: BaseException) -> Refusal:
    if isinstance(exc, Problem):
        return Refusal(exc.status, exc.detail, exc.errors, exc.extra)
    assert isinstance(exc, LlmlabelError)
    extra: dict[str, Any] = {}
    if isinstance(exc, PayloadTooLargeError):
        extra = {"limit": exc.limit, "allowed": exc.allowed, "actual": exc.actual}
    errors = exc.errors if isinstance(exc, InvalidInputError) else None
    return Refusal(kind_for(exc).status, str(exc), errors, extra)


def raises(status: int, call: Callable[..., object], *args: Any, **kwargs: Any) -> Refusal:
    with pytest.raises((Problem, LlmlabelError)) as info:
        call(*args, **kwargs)
    got = refusal(info.value)
    assert got.status == status, got.detail
    return got


# -- NDJSON ---------------------------------------------------------------------


def test_ndjson_items_keep_their_line_numbers_and_skip_blank_lines() -> None:
    body = b'{"id": "a", "text": "x"}\n\n{"id": "b", "text": "y"}\r\n'
    submission = parse_ndjson_batch(body, LIMITS, task="ner", guideline_version="v1")
    assert [(e.item["id"], e.line) for e in submission.items] == [("a", 1), ("b", 3)]
    assert submission.task == "ner"
    assert submission.guideline_version == "v1"


def test_ndjson_malformed_line_names_its_line_number() -> None:
    body = b'{"id": "a"}\n{"id": "b", oops}\n'
    problem = raises(422, parse_ndjson_batch, body, LIMITS, task="ner")
    assert "line 2" in problem.detail
    assert problem.errors is not None and problem.errors[0]["line"] == 2


def test_ndjson_non_object_line_is_named() -> None:
    problem = raises(422, parse_ndjson_batch, b'{"id": "a"}\n[1, 2]\n', LIMITS, task="ner")
    assert problem.errors == [
        {"line": 2, "field": None, "message": "an item is a JSON object, got list"}
    ]


@pytest.mark.parametrize("bad_id", [None, "", "  ", 7, ["x"]])
def test_every_item_needs_a_non_empty_string_id(bad_id: object) -> None:
    item: dict[str, object] = {"text": "t"}
    if bad_id is not None:
        item["id"] = bad_id
    problem = raises(422, parse_ndjson_batch, ndjson({"id": "ok"}, item), LIMITS, task="ner")
    assert problem.errors is not None
    assert problem.errors[0]["line"] == 2
    assert problem.errors[0]["field"] == "id"


def test_duplicate_id_names_both_lines() -> None:
    body = ndjson({"id": "a"}, {"id": "b"}, {"id": "a"})
    problem = raises(422, parse_ndjson_batch, body, LIMITS, task="ner")
    assert "line 3" in problem.detail and "line 1" in problem.detail
    assert problem.errors is not None
    assert problem.errors[0]["line"] == 3
    assert problem.errors[0]["duplicate_of"] == {"line": 1}


def test_errors_are_collected_over_lines_up_to_a_cap() -> None:
    many = Limits(max_body_bytes=10**6, max_batch_items=1000, max_item_bytes=200)
    body = b"\n".join(b"not json" for _ in range(MAX_REPORTED + 5))
    problem = raises(422, parse_ndjson_batch, body, many, task="ner")
    assert problem.errors is not None and len(problem.errors) == MAX_REPORTED
    assert problem.detail.startswith(f"{MAX_REPORTED + 5} errors")
    assert [e["line"] for e in problem.errors[:3]] == [1, 2, 3]


def test_empty_ndjson_is_rejected() -> None:
    problem = raises(422, parse_ndjson_batch, b"\n\n", LIMITS, task="ner")
    assert "no items" in problem.detail


def test_too_many_ndjson_items_names_limit_and_count() -> None:
    body = ndjson(*({"id": str(i)} for i in range(6)))
    problem = raises(413, parse_ndjson_batch, body, LIMITS, task="ner")
    assert problem.extra == {"limit": "max_batch_items", "allowed": 5, "actual": 6}
    assert "max_batch_items" in problem.detail and "6" in problem.detail


def test_oversized_ndjson_line_names_line_and_size() -> None:
    big = {"id": "b", "text": "x" * 300}
    problem = raises(413, parse_ndjson_batch, ndjson({"id": "a"}, big), LIMITS, task="ner")
    assert "line 2" in problem.detail and "max_item_bytes" in problem.detail
    assert problem.extra["actual"] == len(json.dumps(big))


def test_ndjson_callback_url_must_be_http() -> None:
    problem = raises(422, parse_ndjson_batch, ndjson({"id": "a"}), LIMITS, task="ner",
                     callback_url="not a url")
    assert problem.errors is not None and problem.errors[0]["field"] == "callback_url"


# -- JSON -------------------------------------------------------------------------


def test_json_body_is_parsed_with_indices() -> None:
    body = json.dumps({"task": "ner", "items": [{"id": "a"}, {"id": "b"}],
                       "metadata": {"k": 1}, "callback_url": "https://example.org/hook"})
    submission = parse_json_batch(body.encode(), LIMITS)
    assert [(e.item["id"], e.index, e.line) for e in submission.items] == [("a", 0, None),
                                                                           ("b", 1, None)]
    assert submission.metadata == {"k": 1}
    assert submission.callback_url == "https://example.org/hook"


def test_malformed_json_reports_the_position() -> None:
    problem = raises(422, parse_json_batch, b'{"task": "ner",\n "items": [}', LIMITS)
    assert "line 2 column" in problem.detail
    assert problem.errors is not None and problem.errors[0]["line"] == 2
    assert problem.errors[0]["position"] == 27


def test_json_missing_fields_are_named() -> None:
    problem = raises(422, parse_json_batch, b'{"items": [{"id": "a"}], "colour": 1}', LIMITS)
    fields = {e["field"] for e in problem.errors or []}
    assert fields == {"task", "colour"}


def test_json_list_body_points_to_ndjson() -> None:
    problem = raises(422, parse_json_batch, b'[{"id": "a"}]', LIMITS)
    assert "application/x-ndjson" in problem.detail


def test_json_duplicate_ids_name_both_indices() -> None:
    body = json.dumps({"task": "ner", "items": [{"id": "a"}, {"id": "a"}]}).encode()
    problem = raises(422, parse_json_batch, body, LIMITS)
    assert "items[1]" in problem.detail and "items[0]" in problem.detail
    assert problem.errors is not None
    assert problem.errors[0]["index"] == 1 and problem.errors[0]["duplicate_of"] == {"index": 0}


def test_json_empty_batch_is_rejected() -> None:
    raises(422, parse_json_batch, b'{"task": "ner", "items": []}', LIMITS)


def test_json_oversized_item_names_its_index() -> None:
    body = json.dumps({"task": "ner", "items": [{"id": "a", "text": "y" * 500}]}).encode()
    problem = raises(413, parse_json_batch, body, LIMITS)
    assert "items[0]" in problem.detail and problem.extra["limit"] == "max_item_bytes"


@pytest.mark.parametrize(("header", "status"), [("10001", 413), ("abc", 400)])
def test_content_length_is_checked_before_reading(header: str, status: int) -> None:
    problem = raises(status, check_content_length, header, LIMITS.max_body_bytes)
    if status == 413:
        assert problem.extra == {"limit": "max_body_bytes", "allowed": 10_000, "actual": 10_001}


def test_content_length_within_limit_passes() -> None:
    check_content_length("10000", LIMITS.max_body_bytes)
    check_content_length(None, LIMITS.max_body_bytes)


# -- task validation and hashing ------------------------------------------------------


def test_items_are_validated_against_the_task_naming_line_and_field() -> None:
    task = build_task(VersionRegistry().guideline("ner"))
    items = [
        SubmittedItem(item={"id": "a", "text": "Paris is nice"}, index=0, line=1),
        SubmittedItem(item={"id": "b"}, index=1, line=2),
        SubmittedItem(item={"id": "c", "text": 5}, index=2, line=4),
    ]
    problem = raises(422, validate_inputs, task, items)
    assert [(e["line"], e["field"]) for e in problem.errors or []] == [(2, "text"), (4, "text")]
    assert "line 2: text" in problem.detail


def test_request_hash_ignores_body_format_and_key_order() -> None:
    as_json = parse_json_batch(
        b'{"items": [{"text": "t", "id": "a"}], "task": "ner", "guideline_version": "v1"}', LIMITS
    )
    as_ndjson = parse_ndjson_batch(b'{"id": "a", "text": "t"}', LIMITS, task="ner",
                                   guideline_version="v1")
    assert request_hash(as_json) == request_hash(as_ndjson)
    other = parse_ndjson_batch(b'{"id": "a", "text": "u"}', LIMITS, task="ner",
                               guideline_version="v1")
    assert request_hash(other) != request_hash(as_ndjson)


def test_strict_json_refuses_nan_deep_nesting_and_lone_surrogates() -> None:
    from llmlabel.api.submission import MAX_NESTING

    limits = Limits(max_body_bytes=10**8, max_batch_items=10, max_item_bytes=10**7)

    def refused(call: Any) -> str:
        return raises(422, call).detail

    nan = b'{"task": "ner", "items": [{"id": "a", "text": "t", "s": NaN}]}'
    assert "NaN is not valid JSON" in refused(lambda: parse_json_batch(nan, limits))
    nested = "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)
    deep = b'{"task": "ner", "items": [{"id": "a", "text": "t", "m": ' + nested.encode() + b"}]}"
    assert "items[0]: m: nested more than" in refused(lambda: parse_json_batch(deep, limits))
    surrogate = b'{"id": "a", "text": "ok", "meta": {"k": ["\\udfff"]}}'
    message = refused(lambda: parse_ndjson_batch(surrogate, limits, task="ner"))
    assert "line 1: meta.k.0: holds a lone surrogate" in message
    # at the limit is fine
    ok_nested = "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1)
    body = b'{"task": "ner", "items": [{"id": "a", "text": "t", "m": ' + ok_nested.encode() + b"}]}"
    assert len(parse_json_batch(body, limits).items) == 1


def test_a_pilot_takes_its_share_default_and_changes_the_request_hash() -> None:
    body = {"task": "ner", "items": [{"id": "a", "text": "t"}]}
    plain = parse_json_batch(json.dumps(body).encode(), LIMITS)
    pilot = parse_json_batch(json.dumps(body | {"pilot": True}).encode(), LIMITS)
    half = parse_ndjson_batch(b'{"id": "a", "text": "t"}', LIMITS, task="ner", pilot=True,
                              double_review_share=0.5)
    assert (plain.pilot, plain.double_review_share) == (False, None)
    assert (pilot.pilot, pilot.double_review_share) == (True, 0.3)
    assert half.double_review_share == 0.5
    assert len({request_hash(plain), request_hash(pilot), request_hash(half)}) == 3
    problem = raises(422, parse_json_batch,
                     json.dumps(body | {"double_review_share": 0.5}).encode(), LIMITS)
    assert [e["field"] for e in problem.errors or []] == ["double_review_share"]
