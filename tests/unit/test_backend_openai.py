"""OpenAIBackend against a mocked https://api.openai.com (pytest-httpx2's `httpx2_mock`).

The openai SDK rides on httpx2, which plain respx does not patch; the
`httpx2_mock` fixture (a respx router on httpcore2) does, and every test
asserts its route was really hit.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import httpx2
import openai
import pytest
import respx

from llmlabel.backends import build_backend
from llmlabel.backends.base import BackendProfile, Pricing
from llmlabel.backends.openai_backend import OpenAIBackend, map_openai_errors
from llmlabel.backends.retry import RetryPolicy
from llmlabel.domain import Message
from llmlabel.errors import (
    ConfigError,
    PermanentBackendError,
    RateLimitedError,
    RetriesExhaustedError,
    RetryableBackendError,
)

URL = "https://api.openai.com/v1/chat/completions"
SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["pos", "neg"]}},
    "required": ["label"],
}
MESSAGES = [
    Message(role="system", content="You label sentiment.", cache=True),
    Message(role="user", content="I loved it"),
]


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def completion_body(
    *contents: str, cached: int = 0, logprobs: list[float] | None = None
) -> dict[str, Any]:
    choices = []
    for index, content in enumerate(contents):
        choice: dict[str, Any] = {
            "index": index,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }
        if logprobs is not None:
            choice["logprobs"] = {
                "content": [
                    {"token": "t", "logprob": lp, "bytes": None, "top_logprobs": []}
                    for lp in logprobs
                ]
            }
        choices.append(choice)
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": choices,
        "usage": {
            "prompt_tokens": 1000,
            "completion_tokens": 200,
            "total_tokens": 1200,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> OpenAIBackend:
    monkeypatch.delenv("LLMLABEL_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    profile = BackendProfile(
        backend="openai",
        model="gpt-4o-mini",
        api_key="sk-test",
        max_retries=3,
        options={"client": "sdk"},
    )
    built = build_backend(profile)
    assert isinstance(built, OpenAIBackend)
    built.retry_policy = RetryPolicy(sleep=RecordingSleep(), rand=lambda: 0.5)
    return built


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content)


async def test_request_body_and_parsed_completion(
    httpx2_mock: respx.Router, backend: OpenAIBackend
) -> None:
    route = httpx2_mock.post(URL).respond(
        200,
        json=completion_body(
            '{"label": "pos"}', '{"label": "neg"}', cached=400, logprobs=[-0.1, -0.3]
        ),
    )
    completion = await backend.sample(MESSAGES, SCHEMA, n=2, temperature=0.7, max_tokens=64)

    assert route.call_count == 1
    body = sent(route)
    assert body["model"] == "gpt-4o-mini"
    assert body["n"] == 2
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
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-test"

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
    # gpt-4o-mini list price: 600 fresh * 0.15 + 400 cached * 0.075 + 200 out * 0.60 per Mtok.
    assert usage.cost_usd == pytest.approx((600 * 0.15 + 400 * 0.075 + 200 * 0.60) / 1e6)
    assert completion.model == "gpt-4o-mini-2024-07-18"


async def test_single_sample_sends_no_n_and_profile_pricing_wins(
    httpx2_mock: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    profile = BackendProfile(
        backend="openai",
        model="gpt-4o-mini",
        pricing=Pricing(input_per_mtok=2.0, output_per_mtok=4.0),
    )
    backend = OpenAIBackend(profile)
    route = httpx2_mock.post(URL).respond(200, json=completion_body('{"label": "pos"}'))
    completion = await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert route.called
    assert "n" not in sent(route)
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-env"
    assert completion.usage.cost_usd == pytest.approx((1000 * 2.0 + 200 * 4.0) / 1e6)


@pytest.mark.parametrize(
    ("options", "expected_format", "logprobs"),
    [
        ({"response_format": "json_object"}, {"type": "json_object", "schema": SCHEMA}, True),
        ({"response_format": "none", "logprobs": False}, None, None),
        (
            {"strict": True},
            {
                "type": "json_schema",
                "json_schema": {"name": "label", "schema": SCHEMA, "strict": True},
            },
            True,
        ),
    ],
)
async def test_options_shape_the_request(
    httpx2_mock: respx.Router, options: dict[str, Any], expected_format: Any, logprobs: Any
) -> None:
    backend = OpenAIBackend(
        BackendProfile(backend="openai", model="m", api_key="k", options=options)
    )
    route = httpx2_mock.post(URL).respond(200, json=completion_body("{}"))
    await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    body = sent(route)
    assert body.get("response_format") == expected_format
    assert body.get("logprobs") == logprobs


async def test_429_with_retry_after_then_success(
    httpx2_mock: respx.Router, backend: OpenAIBackend
) -> None:
    route = httpx2_mock.post(URL).mock(
        side_effect=[
            # respx builds its responses with (real) httpx; the httpcore2 mocker converts them.
            httpx.Response(
                429, headers={"retry-after": "3"}, json={"error": {"message": "Rate limit reached"}}
            ),
            httpx.Response(200, json=completion_body('{"label": "pos"}')),
        ]
    )
    completion = await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert route.call_count == 2
    assert completion.choices[0].text == '{"label": "pos"}'
    waits = backend.retry_policy.sleep.waits  # type: ignore[attr-defined]
    assert len(waits) == 1 and waits[0] >= 3.0


async def test_retry_after_ms_header_is_read(
    httpx2_mock: respx.Router, backend: OpenAIBackend
) -> None:
    httpx2_mock.post(URL).respond(
        429, headers={"retry-after-ms": "1500"}, json={"error": {"message": "slow"}}
    )
    backend.profile.max_retries = 0
    with pytest.raises(RetriesExhaustedError) as info:
        await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    last = info.value.last_error
    assert isinstance(last, RateLimitedError) and last.retry_after == 1.5


async def test_5xx_storm_exhausts_the_retry_budget(
    httpx2_mock: respx.Router, backend: OpenAIBackend
) -> None:
    route = httpx2_mock.post(URL).respond(
        503, json={"error": {"message": "The server is overloaded"}}
    )
    with pytest.raises(RetriesExhaustedError) as info:
        await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert route.call_count == backend.profile.max_retries + 1 == 4
    assert str(info.value) == (
        "provider kept failing: 503 from openai: The server is overloaded after 4 attempts"
    )
    assert isinstance(info.value.__cause__, RetryableBackendError)


async def test_other_4xx_fails_at_once(httpx2_mock: respx.Router, backend: OpenAIBackend) -> None:
    route = httpx2_mock.post(URL).respond(
        400,
        json={
            "error": {
                "message": "Invalid schema for response_format 'label'",
                "type": "invalid_request_error",
            }
        },
    )
    with pytest.raises(PermanentBackendError) as info:
        await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert route.call_count == 1
    assert info.value.status_code == 400
    assert "Invalid schema for response_format" in str(info.value)


async def test_malformed_output_passes_through_raw(
    httpx2_mock: respx.Router, backend: OpenAIBackend
) -> None:
    httpx2_mock.post(URL).respond(200, json=completion_body("Sure! {label: pos"))
    completion = await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert completion.choices[0].text == "Sure! {label: pos"


async def test_local_server_needs_no_key(
    httpx2_mock: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMLABEL_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = OpenAIBackend(
        BackendProfile(backend="openai", model="qwen", base_url="http://127.0.0.1:8080/v1")
    )
    route = httpx2_mock.post("http://127.0.0.1:8080/v1/chat/completions").respond(
        200, json=completion_body("{}")
    )
    await backend.sample(MESSAGES, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert route.called
    assert route.calls.last.request.headers["authorization"].startswith("Bearer ")


def test_missing_key_for_a_remote_server_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMLABEL_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="LLMLABEL_API_KEY or OPENAI_API_KEY"):
        build_backend(BackendProfile(backend="openai", model="gpt-4o-mini"))


def test_unknown_response_format_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="response_format"):
        OpenAIBackend(
            BackendProfile(
                backend="openai", model="m", api_key="k", options={"response_format": "xml"}
            )
        )


_REQUEST = httpx2.Request("POST", URL)


def _status(code: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(code, request=_REQUEST, headers=headers or {})


@pytest.mark.parametrize(
    ("sdk_error", "expected"),
    [
        (
            openai.RateLimitError("rl", response=_status(429, {"retry-after": "2"}), body=None),
            RateLimitedError,
        ),
        (
            openai.InternalServerError("ise", response=_status(500), body=None),
            RetryableBackendError,
        ),
        (openai.APIStatusError("bad gw", response=_status(502), body=None), RetryableBackendError),
        (openai.APIStatusError("timeout", response=_status(408), body=None), RetryableBackendError),
        (openai.APITimeoutError(request=_REQUEST), RetryableBackendError),
        (openai.APIConnectionError(request=_REQUEST), RetryableBackendError),
        (openai.BadRequestError("bad", response=_status(400), body=None), PermanentBackendError),
        (
            openai.AuthenticationError("auth", response=_status(401), body=None),
            PermanentBackendError,
        ),
        (
            openai.PermissionDeniedError("perm", response=_status(403), body=None),
            PermanentBackendError,
        ),
        (openai.NotFoundError("model", response=_status(404), body=None), PermanentBackendError),
        (
            openai.UnprocessableEntityError("422", response=_status(422), body=None),
            PermanentBackendError,
        ),
    ],
)
def test_every_sdk_error_is_mapped(
    sdk_error: openai.OpenAIError, expected: type[Exception]
) -> None:
    with pytest.raises(expected) as info, map_openai_errors():
        raise sdk_error
    assert type(info.value) is expected
    assert info.value.__cause__ is sdk_error
    if isinstance(info.value, RateLimitedError):
        assert info.value.retry_after == 2.0
