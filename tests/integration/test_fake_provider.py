"""The scripted provider process, driven through the real OpenAIBackend over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llmlabel.backends.base import BackendProfile
from llmlabel.backends.openai_backend import OpenAIBackend
from llmlabel.backends.retry import RetryPolicy
from llmlabel.domain import Message
from llmlabel.errors import RetriesExhaustedError
from tests.support.fake_provider import start_fake_provider

pytestmark = pytest.mark.integration

LABELS = ["PER", "ORG", "LOC"]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": LABELS},
        "flagged": {"type": "boolean"},
        "entities": {"type": "array", "items": {"$ref": "#/$defs/Entity"}},
        "rating": {"type": "integer", "minimum": 1, "maximum": 5},
        "ranking": {
            "type": "array",
            "items": {"type": "string", "enum": ["A", "B", "C"]},
            "minItems": 2,
        },
        "note": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["label", "flagged", "entities", "rating", "ranking", "confidence"],
    "$defs": {"Entity": {"type": "object", "properties": {"text": {"type": "string"}}}},
}


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with start_fake_provider(latency_ms=5, latency_jitter_ms=2, seed=3) as (base_url, _process):
        yield base_url


@pytest.fixture
def control(provider: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=provider.removesuffix("/v1"), timeout=5) as client:
        client.post("/reset").raise_for_status()
        yield client
        client.post(
            "/config",
            json={
                "error_rate": 0,
                "malformed_rate": 0,
                "timeout_rate": 0,
                "rate_limit_rpm": 0,
                "rate_limit_tpm": 0,
                "disagree_rate": 0,
            },
        )


def make_backend(base_url: str, **profile: Any) -> OpenAIBackend:
    backend = OpenAIBackend(
        BackendProfile(backend="openai", model="fake-model", base_url=base_url, **profile)
    )
    backend.retry_policy = RetryPolicy(base_s=0.01, cap_s=0.05)
    return backend


def check_fits_schema(answer: dict[str, Any]) -> None:
    assert set(SCHEMA["required"]) <= set(answer)
    assert answer["label"] in LABELS
    assert isinstance(answer["flagged"], bool)
    assert answer["entities"] == []
    assert isinstance(answer["rating"], int) and 1 <= answer["rating"] <= 5
    assert sorted(answer["ranking"]) == ["A", "B"]
    assert answer["note"] is None or len(answer["note"]) <= 5
    assert answer["confidence"] == 0.9


async def test_answers_schema_valid_deterministic_json(
    provider: str, control: httpx.Client
) -> None:
    backend = make_backend(provider)
    messages = [
        Message(role="system", content="Label it."),
        Message(role="user", content="Ada works at IBM"),
    ]
    first = await backend.sample(messages, SCHEMA, n=3, temperature=1.0, max_tokens=100)
    again = await backend.sample(messages, SCHEMA, n=2, temperature=1.0, max_tokens=100)
    await backend.aclose()
    answers = [json.loads(c.text) for c in [*first.choices, *again.choices]]
    for answer in answers:
        check_fits_schema(answer)
    assert all(answer == answers[0] for answer in answers)
    assert first.choices[0].mean_logprob is not None
    assert first.usage.prompt_tokens > 0 and first.usage.completion_tokens > 0
    stats = control.get("/stats").json()
    assert stats["requests"] == 2 and stats["models"]["fake-model"]["requests"] == 2


async def test_disagreeing_items_vary_across_choices(provider: str, control: httpx.Client) -> None:
    control.post("/config", json={"disagree_rate": 1.0}).raise_for_status()
    backend = make_backend(provider)
    completion = await backend.sample(
        [Message(role="user", content="item 7")], SCHEMA, n=8, temperature=1.0, max_tokens=100
    )
    await backend.aclose()
    labels = {json.loads(c.text)["label"] for c in completion.choices}
    assert len(labels) > 1


def test_429_with_retry_after_over_the_request_limit(provider: str, control: httpx.Client) -> None:
    control.post("/config", json={"rate_limit_rpm": 2}).raise_for_status()
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    statuses = [control.post("/v1/chat/completions", json=body) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert float(statuses[2].headers["retry-after"]) > 0
    assert control.get("/stats").json()["rate_limited"] == 1


def test_429_over_the_token_limit(provider: str, control: httpx.Client) -> None:
    control.post("/config", json={"rate_limit_tpm": 100}).raise_for_status()
    body = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "x" * 300}],
    }  # ~75 tokens
    statuses = [control.post("/v1/chat/completions", json=body).status_code for _ in range(2)]
    assert statuses == [200, 429]


async def test_server_error_storm_exhausts_retries(provider: str, control: httpx.Client) -> None:
    control.post("/config", json={"error_rate": 1.0}).raise_for_status()
    backend = make_backend(provider, max_retries=2)
    with pytest.raises(RetriesExhaustedError, match="after 3 attempts"):
        await backend.sample(
            [Message(role="user", content="x")], SCHEMA, n=1, temperature=0.0, max_tokens=10
        )
    await backend.aclose()
    assert control.get("/stats").json()["server_errors"] == 3


async def test_malformed_content_reaches_the_caller(provider: str, control: httpx.Client) -> None:
    control.post("/config", json={"malformed_rate": 1.0}).raise_for_status()
    backend = make_backend(provider)
    completion = await backend.sample(
        [Message(role="user", content="x")], SCHEMA, n=2, temperature=0.0, max_tokens=10
    )
    await backend.aclose()
    for choice in completion.choices:
        with pytest.raises(json.JSONDecodeError):
            json.loads(choice.text)


async def test_hanging_requests_time_out_and_are_retried(
    provider: str, control: httpx.Client
) -> None:
    control.post("/config", json={"timeout_rate": 1.0, "timeout_sleep_s": 5}).raise_for_status()
    backend = make_backend(provider, timeout_s=0.3, max_retries=1)
    with pytest.raises(RetriesExhaustedError, match="timed out"):
        await backend.sample(
            [Message(role="user", content="x")], SCHEMA, n=1, temperature=0.0, max_tokens=10
        )
    await backend.aclose()
    assert control.get("/stats").json()["timeouts"] == 2


def test_unknown_config_key_is_refused(control: httpx.Client) -> None:
    assert control.post("/config", json={"eror_rate": 1}).status_code == 400
