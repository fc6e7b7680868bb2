"""The one validation path: strict parsing, storable values, sizes, collected errors."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from llmlabel.errors import InvalidInputError, PayloadTooLargeError
from llmlabel.validation import (
    MAX_DEPTH,
    MAX_REPORTED,
    Problems,
    check_value,
    find_problem,
    json_size,
    loads,
    validate_model,
)


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b'{"a": NaN}', ["NaN is not valid JSON"]),
        (b'{"a": -Infinity}', ["-Infinity is not valid JSON"]),
        (b'{"a": "\xff"}', ["not UTF-8"]),
        (b'{"a": ', ["not valid JSON", "line 1 column"]),
        (b"[" * 100_000, ["nested more than"]),
        (b'{"a": "\\ud800"}', ["a: holds a lone surrogate"]),
        (b'{"k\\udfffey": 1}', ["key holds a lone surrogate"]),
    ],
)
def test_loads_refuses_what_cannot_be_stored(text: bytes, words: list[str]) -> None:
    with pytest.raises(InvalidInputError) as info:
        loads(text)
    for word in words:
        assert word in str(info.value), str(info.value)
    assert info.value.errors and "message" in info.value.errors[0]


def test_loads_names_the_ndjson_line() -> None:
    with pytest.raises(InvalidInputError) as info:
        loads(b'{"a": 1', line=7)
    assert str(info.value).startswith("line 7: not valid JSON")
    assert info.value.errors[0]["line"] == 7 and info.value.line == 7


def test_loads_accepts_valid_json_at_the_depth_limit() -> None:
    assert loads('{"a": [1.5, "é", {"b": null}]}') == {"a": [1.5, "é", {"b": None}]}
    loads(repr(nested(MAX_DEPTH)).replace("'", '"'), max_depth=MAX_DEPTH)


@pytest.mark.parametrize(
    ("value", "field", "reason"),
    [
        ({"m": nested(MAX_DEPTH + 1)}, "metadata.m", "nested more than 32"),
        ({"x": [1, float("nan")]}, "metadata.x.1", "nan is not valid JSON"),
        ({"x": {"ok": "\udc80"}}, "metadata.x.ok", "lone surrogate"),
        ({"\ud83d": 1}, "metadata", "key holds a lone surrogate"),
    ],
)
def test_find_problem_names_the_field(value: Any, field: str, reason: str) -> None:
    problem = find_problem(value, field="metadata")
    assert problem is not None
    assert problem[0] == field and reason in problem[1]
    with pytest.raises(InvalidInputError) as info:
        check_value(value, field="metadata")
    assert info.value.errors[0]["field"] == field


def test_check_value_size_is_a_413_naming_the_limit() -> None:
    value = {"pad": "é" * 100}
    assert json_size(value) == len('{"pad":""}') + 200
    check_value(value, field="metadata", max_bytes=210)
    with pytest.raises(PayloadTooLargeError) as info:
        check_value(value, field="metadata", max_bytes=209)
    assert (info.value.limit, info.value.allowed, info.value.actual) == ("max_item_bytes", 209, 210)
    assert "metadata" in str(info.value)


def test_problems_collect_up_to_a_cap_and_name_duplicates() -> None:
    problems = Problems("Invalid things", what="the things")
    assert not problems
    for i in range(MAX_REPORTED + 3):
        problems.check(float("inf"), field=f"items.{i}", index=i)
    problems.duplicates([("a", "items[0]", {"index": 0}), ("a", "items[4]", {"index": 4})],
                        field="{where}.id")
    with pytest.raises(InvalidInputError) as info:
        problems.raise_if_any()
    error = info.value
    assert str(error).startswith(f"{MAX_REPORTED + 4} errors in the things (first 20 shown)")
    assert len(error.errors) == MAX_REPORTED and error.title == "Invalid things"
    assert error.errors[0] == {"index": 0, "field": "items.0",
                               "message": "inf is not valid JSON (use null or a number)"}


def test_problems_duplicates_point_at_the_first_use() -> None:
    problems = Problems("Invalid batch")
    problems.duplicates([("a", "line 1", {"line": 1}), (None, "line 2", {"line": 2}),
                         ("a", "line 3", {"line": 3})])
    with pytest.raises(InvalidInputError) as info:
        problems.raise_if_any()
    assert info.value.errors == [{"line": 3, "duplicate_of": {"line": 1}, "field": "id",
                                  "message": "duplicate id 'a', already used at line 1"}]
    assert "line 3: id: duplicate id 'a'" in str(info.value)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    size: int = 0


def test_validate_model_names_fields_and_checks_values_first() -> None:
    assert validate_model(Body, {"name": "x"}) == Body(name="x")
    with pytest.raises(InvalidInputError) as info:
        validate_model(Body, {"name": 3, "extra": 1}, title="Invalid body")
    assert {e["field"] for e in info.value.errors} == {"name", "extra"}
    assert info.value.title == "Invalid body"
    with pytest.raises(InvalidInputError) as info:
        validate_model(Body, {"name": "\ud800"}, prefix="project")
    assert info.value.errors[0]["field"] == "project.name"
