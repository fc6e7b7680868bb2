"""problem+json mapping: llmlabel errors, FastAPI's own errors, unknown routes and crashes."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from llmlabel import errors
from llmlabel.api.problems import (
    PROBLEM_MEDIA_TYPE,
    Problem,
    install_problem_handlers,
    kind_for,
    problem_type,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.NotFoundError("x"), 404),
        (errors.ConflictError("x"), 409),
        (errors.LeaseError("x"), 409),
        (errors.InputError("x", field="text"), 422),
        (errors.LabelValidationError("x"), 422),
        (errors.UnknownVersionError("x"), 422),
        (errors.VersionConflictError("x"), 409),
        (errors.BudgetExceededError("x"), 402),
        (errors.ConfigError("x"), 500),
        (errors.GuidelineError("x"), 500),
        (errors.StoreError("x"), 500),
        (errors.RateLimitedError("x"), 502),
        (errors.SampleError("x"), 500),
    ],
)
def test_error_classes_map_to_statuses(error: errors.LlmlabelError, status: int) -> None:
    assert kind_for(error).status == status


class Body(BaseModel):
    count: int
    name: str


def make_client() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/raise/{kind}")
    def raise_error(kind: str) -> None:
        if kind == "not-found":
            raise errors.NotFoundError("no batch 'b1'")
        if kind == "label":
            raise errors.LabelValidationError(
                "label does not fit", errors=[{"field": "entities.0.label", "message": "bad"}]
            )
        if kind == "input":
            raise errors.InputError("text: Field required", field="text", line=3)
        if kind == "config":
            raise errors.ConfigError("LLMLABEL_REDIS_URL is not set")
        if kind == "redis-down":
            import redis.exceptions

            raise redis.exceptions.ConnectionError("Connection refused")
        if kind == "problem":
            raise Problem(413, "too big", slug="too-large", extra={"limit": "max_body_bytes"})
        raise RuntimeError("secret internals: password=hunter2")

    @app.post("/body")
    def post_body(body: Body) -> Body:
        return body

    # raise_server_exceptions=False: see the 500 the client would get, as under uvicorn.
    return TestClient(app, raise_server_exceptions=False)


def assert_problem(response: httpx2.Response, status: int, path: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["instance"] == path
    assert body["type"].startswith("urn:llmlabel:problem:")
    assert body["title"] and body["detail"]
    return body


def test_unreachable_redis_is_503_with_retry_after() -> None:
    response = make_client().get("/raise/redis-down")
    body = assert_problem(response, 503, "/raise/redis-down")
    assert response.headers["retry-after"] == "5"
    assert "retry" in body["detail"]


def test_llmlabel_error_becomes_problem() -> None:
    body = assert_problem(make_client().get("/raise/not-found"), 404, "/raise/not-found")
    assert body["detail"] == "no batch 'b1'"
    assert body["type"] == problem_type("not-found")


def test_label_validation_lists_fields() -> None:
    body = assert_problem(make_client().get("/raise/label"), 422, "/raise/label")
    assert body["errors"] == [{"field": "entities.0.label", "message": "bad"}]


def test_input_error_names_field_and_line() -> None:
    body = assert_problem(make_client().get("/raise/input"), 422, "/raise/input")
    assert body["errors"] == [{"field": "text", "line": 3, "message": "text: Field required"}]


def test_config_error_shows_its_message() -> None:
    body = assert_problem(make_client().get("/raise/config"), 500, "/raise/config")
    assert "LLMLABEL_REDIS_URL" in body["detail"]


def test_own_problem_carries_extra_members() -> None:
    body = assert_problem(make_client().get("/raise/problem"), 413, "/raise/problem")
    assert body["limit"] == "max_body_bytes"


def test_unexpected_error_is_500_without_internals(caplog: pytest.LogCaptureFixture) -> None:
    response = make_client().get("/raise/crash")
    body = assert_problem(response, 500, "/raise/crash")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert body["title"] == "Internal server error"
    assert any("api.unhandled_error" in r.getMessage() for r in caplog.records)


def test_request_validation_names_fields() -> None:
    response = make_client().post("/body", json={"count": "many"})
    body = assert_problem(response, 422, "/body")
    assert {(e["in"], e["field"]) for e in body["errors"]} == {("body", "count"), ("body", "name")}


def test_malformed_json_body_is_422_problem() -> None:
    response = make_client().post(
        "/body", content=b'{"count": ', headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "/body")


def test_unknown_route_is_404_problem() -> None:
    body = assert_problem(make_client().get("/nowhere"), 404, "/nowhere")
    assert "/nowhere" in body["detail"]


def test_wrong_method_is_405_problem_with_allow() -> None:
    response = make_client().delete("/body")
    body = assert_problem(response, 405, "/body")
    assert response.headers["allow"] == "POST"
    assert "POST" in body["detail"]
