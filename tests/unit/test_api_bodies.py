"""Every JSON body is parsed by llmlabel.validation before FastAPI sees it, on every router."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from llmlabel.api.bodies import JsonRoute, api_router
from llmlabel.api.problems import install_problem_handlers
from llmlabel.api.routes import ROUTERS
from llmlabel.settings import Settings


def test_every_router_parses_json_bodies_strictly() -> None:
    # A new router made with a plain APIRouter would let NaN, lone surrogates and
    # deep nesting through: build routers with `api_router(...)`.
    def routes(router: APIRouter) -> list[Any]:
        found = []
        for route in router.routes:
            inner = getattr(route, "original_router", None)  # an included router
            found.extend(routes(inner) if inner is not None else [route])
        return found

    for router in ROUTERS:
        assert router.route_class is JsonRoute, router.prefix
        for route in routes(router):
            assert isinstance(route, JsonRoute), getattr(route, "path", route)


class Thing(BaseModel):
    name: str
    data: dict[str, Any] = {}


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.state.settings = Settings(_env_file=None, max_body_bytes=1_000)  # type: ignore[call-arg]
    install_problem_handlers(app)
    router = api_router()

    @router.post("/things")
    def make(thing: Thing) -> dict[str, Any]:
        return thing.model_dump()

    app.include_router(router)
    return TestClient(app)


@pytest.mark.parametrize(
    ("content", "status", "words"),
    [
        (b'{"name": "x", "data": {"v": NaN}}', 422, "NaN is not valid JSON"),
        (b'{"name": "\\ud800"}', 422, "name: holds a lone surrogate"),
        (b'{"name": "x", "data": {"\\udfff": 1}}', 422, "data: key holds a lone surrogate"),
        (b'{"name": "x", "data": ' + b"[" * 70 + b"]" * 70 + b"}", 422, "nested more than 64"),
        (b'{"name": ', 422, "not valid JSON"),
        (b'{"name": "' + b"x" * 2_000 + b'"}', 413, "max_body_bytes"),
        (b'{"name": 5}', 422, "name"),
    ],
)
def test_bad_bodies_are_problems(client: TestClient, content: bytes, status: int,
                                 words: str) -> None:
    response = client.post("/things", content=content,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert words in body["detail"] + str(body.get("errors")), body


def test_good_bodies_pass(client: TestClient) -> None:
    response = client.post("/things", json={"name": "é", "data": {"a": [1, 2.5]}})
    assert response.status_code == 200
    assert response.json() == {"name": "é", "data": {"a": [1, 2.5]}}
