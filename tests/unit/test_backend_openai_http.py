"""OpenAIHttpBackend (the direct httpx client) against a mocked api.openai.com (respx).

The same requests and answers as the SDK tests (test_backend_openai.py), so
both clients are held to one behaviour.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx

from llmlabel.backends import build_backend
from llmlabel.backends.base import BackendProfile
from llmlabel.backends.openai_backend import OpenAIBackend
from llmlabel.backends.openai_http import OpenAIHttpBackend
from llmlabel.backends.retry import RetryPolicy
from llmlabel.errors import (
    PermanentBackendError,
    RateLimitedError,
    RetriesExhaustedError,
    RetryableBackendError,
)
from tests.unit.test_backend_openai import (
    MESSAGES,
    SCHEMA,
    URL,
    RecordingSleep,
    completion_body,
)


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> OpenAIHttpBackend:
    monkeypatch.delenv("LLMLABEL_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    built = build_backend(
        BackendProfile(backend="openai", model="gpt-4o-mini", api_key="sk-test", max_retries=3)
    )
    assert isinstance(built, OpenAIHttpBackend)
    built.retry_policy = RetryPolicy(sleep=RecordingSleep(), rand=lambda: 0.5)
    return built


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content)


def test_the_sdk_is_one_option_away() -> None:
    profile = BackendProfile(backend="openai", model="m", api_key="k", options={"client": "sdk"})
    assert isinstance(build_backend(profile), OpenAIBackend)


@respx.mock
async def test_request_body_and_parsed_completion(backend: OpenAIHttpBackend) -> None:
    route = respx.post(URL).respond(
        200,
        json=completion_body(
            '{"label": "pos"}', '{"label": "neg"}', cached=400, logprobs=[-0.1, -0.3]
        ),
    )
    completion = await backend.sample(MESSAGES, SCHEMA, n=2, temperature=0.7, max_tokens=64)

    assert route.call_count == 1
    body = sent(route)
    assert body["model"] == "gpt-4o-mini" and body["n"] == 2
    assert body["temperature"] == 0.7 and body["max_tokens"] == 64
    assert body["logprobs"] is True
    assert body["messages"] == [
        {"role": "system", "content": "You label sentiment."},
        {"role": "user", "content": "I loved it"},
    ]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "label", "schema": SCHEMA, "strict": False},
    }
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.headers["content-type"] == "application/json"

    assert [c.text for c in completion.choices] == ['{"label": "pos"}', '{"label": "neg"}']
    assert completion.choices[0].mean_logprob == pytest.approx(-0.2)
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (
        1,
        1000,
        200,
        400,
    )
    assert usage.cost_usd == pytest.approx((600 * 0.15 + 400 * 0.075 + 200 * 0.60) / 1e6)
    assert completion.model == "gpt-4o-mini-2024-07-18" and not completion.cache_hit


@respx.mock
async def test_local_server_single_sample_json_object_no_logprobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LLMLABEL_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = build_backend(
        BackendProfile(
            backend="openai",
            model="qwen",
            base_url="http://127.0.0.1:8080/v1/",
            options={"response_format": "json_object", "logprobs": False},
        )
    )
    route = respx.post("http://127.0.0.1:8080/v1/chat/completions").respond(
        200, json={"choices": [{"message": {"content": None, "refusal": "no"}}], "model": ""}
    )
    completion = await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    body = sent(route)
    assert "n" not in body and "logprobs" not in body
    assert body["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert route.calls.last.request.headers["authorization"].startswith("Bearer ")
    # A refusal's text reaches the task; no usage in the answer still counts the call.
    assert completion.choices[0].text == "no" and completion.usage.calls == 1
    assert completion.model == "qwen"


@respx.mock
async def test_429_with_retry_after_then_success(backend: OpenAIHttpBackend) -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(
                429, headers={"retry-after": "3"}, json={"error": {"message": "Rate limit reached"}}
            ),
            httpx.Response(200, json=completion_body('{"label": "pos"}')),
        ]
    )
    completion = await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert route.call_count == 2 and completion.choices[0].text == '{"label": "pos"}'
    waits = backend.retry_policy.sleep.waits  # type: ignore[attr-defined]
    assert len(waits) == 1 and waits[0] >= 3.0


@respx.mock
async def test_5xx_storm_exhausts_the_retry_budget(backend: OpenAIHttpBackend) -> None:
    route = respx.post(URL).respond(503, json={"error": {"message": "The server is overloaded"}})
    with pytest.raises(RetriesExhaustedError) as info:
        await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert route.call_count == 4
    assert str(info.value) == (
        "provider kept failing: 503 from openai: The server is overloaded after 4 attempts"
    )


@respx.mock
async def test_other_4xx_fails_at_once(backend: OpenAIHttpBackend) -> None:
    route = respx.post(URL).respond(400, json={"error": {"message": "Invalid schema"}})
    with pytest.raises(PermanentBackendError) as info:
        await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert route.call_count == 1 and info.value.status_code == 400
    assert "400 from openai: Invalid schema" in str(info.value)


@pytest.mark.parametrize(
    ("side_effect", "expected"),
    [
        (httpx.ReadTimeout("slow"), RetryableBackendError),
        (httpx.ConnectError("refused"), RetryableBackendError),
        (httpx.Response(200, text="<html>proxy</html>"), RetryableBackendError),
        (httpx.Response(200, json={"no": "choices"}), RetryableBackendError),
        (httpx.Response(429, headers={"retry-after-ms": "1500"}, text="slow"), RateLimitedError),
        (httpx.Response(401, text="no key"), PermanentBackendError),
    ],
)
@respx.mock
async def test_every_failure_is_mapped(
    backend: OpenAIHttpBackend, side_effect: Any, expected: type[Exception]
) -> None:
    respx.post(URL).mock(side_effect=[side_effect])
    with pytest.raises(expected) as info:
        await backend.complete(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert type(info.value) is expected
    if isinstance(info.value, RateLimitedError):
        assert info.value.retry_after == 1.5


@respx.mock
async def test_calls_in_flight_spread_over_small_clients(backend: OpenAIHttpBackend) -> None:
    release = asyncio.Event()
    started = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal started
        started += 1
        await release.wait()
        return httpx.Response(200, json=completion_body('{"label": "pos"}'))

    respx.post(URL).mock(side_effect=slow)
    calls = [
        asyncio.create_task(backend.complete(MESSAGES, SCHEMA, n=1, temperature=0, max_tokens=8))
        for _ in range(10)
    ]
    while started < 10:
        await asyncio.sleep(0)
    pool = backend._pool
    assert len(pool.clients) == 3 and sorted(pool.busy) == [2, 4, 4]
    release.set()
    await asyncio.gather(*calls)
    assert pool.busy == [0, 0, 0]
    # Later calls reuse the open clients (and their connections).
    await backend.complete(MESSAGES, SCHEMA, n=1, temperature=0, max_tokens=8)
    assert len(pool.clients) == 3
    await backend.aclose()
