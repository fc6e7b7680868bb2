"""OpenAIHttpBackend (the direct aiohttp client) against a scripted server on 127.0.0.1.

The same requests and answers as the SDK tests (test_backend_openai.py), so
both clients are held to one behaviour. respx patches httpx, not aiohttp, so
the provider here is a real aiohttp server in the test's own event loop: each
test scripts its answers and reads back the requests it received.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

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
from tests.unit.test_backend_openai import MESSAGES, SCHEMA, RecordingSleep, completion_body

Answer = web.Response | Callable[[web.Request], Awaitable[web.Response]]


def reply(status: int = 200, *, json_body: Any = None, text: str = "", **headers: str) -> Answer:
    if json_body is not None:
        return web.json_response(json_body, status=status, headers=headers)
    return web.Response(status=status, text=text, headers=headers)


@dataclass
class Provider:
    """Answers POST /v1/chat/completions from `answers` in order (the last one repeats)."""

    base_url: str
    answers: list[Answer] = field(default_factory=list)
    # Set at teardown: a handler that hangs until then lets the server stop at once.
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), json.loads(await request.read())))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, web.Response):
            # A Response object can be sent once: answer with a copy.
            return web.Response(
                status=answer.status, body=answer.body, headers=dict(answer.headers)
            )
        return await answer(request)


_PROVIDER = web.AppKey("provider", Provider)


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    app = web.Application()
    server = Provider(base_url="")
    app[_PROVIDER] = server
    app.router.add_post("/v1/chat/completions", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.base_url = f"http://127.0.0.1:{port}/v1"
    yield server
    server.closing.set()
    await runner.cleanup()


@pytest.fixture
async def backend(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[OpenAIHttpBackend]:
    monkeypatch.delenv("LLMLABEL_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    built = build_backend(
        BackendProfile(
            backend="openai",
            model="gpt-4o-mini",
            api_key="sk-test",
            base_url=provider.base_url,
            max_retries=3,
            timeout_s=2,
        )
    )
    assert isinstance(built, OpenAIHttpBackend)
    built.retry_policy = RetryPolicy(sleep=RecordingSleep(), rand=lambda: 0.5)
    yield built
    await built.aclose()


def test_the_sdk_is_one_option_away() -> None:
    profile = BackendProfile(backend="openai", model="m", api_key="k", options={"client": "sdk"})
    assert isinstance(build_backend(profile), OpenAIBackend)


async def test_request_body_and_parsed_completion(
    provider: Provider, backend: OpenAIHttpBackend
) -> None:
    provider.answers = [
        reply(
            json_body=completion_body(
                '{"label": "pos"}', '{"label": "neg"}', cached=400, logprobs=[-0.1, -0.3]
            )
        )
    ]
    completion = await backend.sample(MESSAGES, SCHEMA, n=2, temperature=0.7, max_tokens=64)

    assert len(provider.requests) == 1
    headers, body = provider.requests[0]
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
    assert headers["Authorization"] == "Bearer sk-test"
    assert headers["Content-Type"] == "application/json"

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


async def test_local_server_single_sample_json_object_no_logprobs(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMLABEL_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = build_backend(
        BackendProfile(
            backend="openai",
            model="qwen",
            base_url=provider.base_url + "/",
            options={"response_format": "json_object", "logprobs": False},
        )
    )
    provider.answers = [
        reply(json_body={"choices": [{"message": {"content": None, "refusal": "no"}}], "model": ""})
    ]
    completion = await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    await backend.aclose()
    headers, body = provider.requests[0]
    assert "n" not in body and "logprobs" not in body
    assert body["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert headers["Authorization"].startswith("Bearer ")
    # A refusal's text reaches the task; no usage in the answer still counts the call.
    assert completion.choices[0].text == "no" and completion.usage.calls == 1
    assert completion.model == "qwen"


async def test_429_with_retry_after_then_success(
    provider: Provider, backend: OpenAIHttpBackend
) -> None:
    provider.answers = [
        reply(429, json_body={"error": {"message": "Rate limit reached"}}, **{"Retry-After": "3"}),
        reply(json_body=completion_body('{"label": "pos"}')),
    ]
    completion = await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert len(provider.requests) == 2 and completion.choices[0].text == '{"label": "pos"}'
    waits = backend.retry_policy.sleep.waits  # type: ignore[attr-defined]
    assert len(waits) == 1 and waits[0] >= 3.0


async def test_5xx_storm_exhausts_the_retry_budget(
    provider: Provider, backend: OpenAIHttpBackend
) -> None:
    provider.answers = [reply(503, json_body={"error": {"message": "The server is overloaded"}})]
    with pytest.raises(RetriesExhaustedError) as info:
        await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert len(provider.requests) == 4
    assert str(info.value) == (
        "provider kept failing: 503 from openai: The server is overloaded after 4 attempts"
    )


async def test_other_4xx_fails_at_once(provider: Provider, backend: OpenAIHttpBackend) -> None:
    provider.answers = [reply(400, json_body={"error": {"message": "Invalid schema"}})]
    with pytest.raises(PermanentBackendError) as info:
        await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert len(provider.requests) == 1 and info.value.status_code == 400
    assert "400 from openai: Invalid schema" in str(info.value)


async def _hang(request: web.Request) -> web.Response:
    await request.app[_PROVIDER].closing.wait()
    return web.Response()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (_hang, RetryableBackendError),
        (reply(text="<html>proxy</html>"), RetryableBackendError),
        (reply(json_body={"no": "choices"}), RetryableBackendError),
        (reply(429, text="slow", **{"retry-after-ms": "1500"}), RateLimitedError),
        (reply(401, text="no key"), PermanentBackendError),
    ],
)
async def test_every_failure_is_mapped(
    provider: Provider, backend: OpenAIHttpBackend, answer: Answer, expected: type[Exception]
) -> None:
    provider.answers = [answer]
    backend._timeout = type(backend._timeout)(total=0.3)
    with pytest.raises(expected) as info:
        await backend.complete(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert type(info.value) is expected
    if isinstance(info.value, RateLimitedError):
        assert info.value.retry_after == 1.5
    if answer is _hang:
        assert "timed out" in str(info.value)


async def test_a_refused_connection_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nobody listens there
    backend = build_backend(
        BackendProfile(backend="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1")
    )
    with pytest.raises(RetryableBackendError) as info:
        await backend.complete(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    await backend.aclose()
    assert "connection failed" in str(info.value)


async def test_calls_in_flight_share_kept_connections(
    provider: Provider, backend: OpenAIHttpBackend
) -> None:
    release = asyncio.Event()
    peers: set[Any] = set()
    started = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal started
        started += 1
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        await release.wait()
        return web.json_response(completion_body('{"label": "pos"}'))

    provider.answers = [slow]
    calls = [
        asyncio.create_task(backend.complete(MESSAGES, SCHEMA, n=1, temperature=0, max_tokens=8))
        for _ in range(10)
    ]
    while started < 10:
        await asyncio.sleep(0.01)
    # All ten in flight at once, each on its own connection.
    assert len(peers) == 10
    release.set()
    await asyncio.gather(*calls)
    # Later calls reuse those connections: no new one is opened.
    await asyncio.gather(
        *(backend.complete(MESSAGES, SCHEMA, n=1, temperature=0, max_tokens=8) for _ in range(10))
    )
    assert len(peers) == 10 and len(provider.requests) == 20
