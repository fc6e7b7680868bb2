"""AnthropicBackend against a mocked https://api.anthropic.com (pytest-httpx2's `httpx2_mock`)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
import respx

from llmlabel.backends import build_backend
from llmlabel.backends.anthropic_backend import TOOL_NAME, AnthropicBackend, map_anthropic_errors
from llmlabel.backends.base import BackendProfile
from llmlabel.backends.retry import RetryPolicy
from llmlabel.domain import Message
from llmlabel.errors import (
    ConfigError,
    PermanentBackendError,
    RateLimitedError,
    RetriesExhaustedError,
    RetryableBackendError,
)

URL = "https://api.anthropic.com/v1/messages"
SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["pos", "neg"]}},
    "required": ["label"],
}
FEW_SHOT = [
    Message(role="system", content="Guideline: label sentiment."),
    Message(role="user", content="Great film"),
    Message(role="assistant", content='{"label": "pos"}', cache=True),
    Message(role="user", content="Dull and long"),
]


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def message_body(
    answer: dict[str, Any] | None, *, text: str = "", cache_read: int = 0, cache_write: int = 0
) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if text:
        content.append({"type": "text", "text": text})
    if answer is not None:
        content.append({"type": "tool_use", "id": "toolu_1", "name": TOOL_NAME, "input": answer})
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": content,
        "stop_reason": "tool_use" if answer is not None else "max_tokens",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 100,
            "output_tokens": 20,
            "cache_read_input_tokens": cache_read,
            "cache_creation_input_tokens": cache_write,
        },
    }


@pytest.fixture
def backend() -> AnthropicBackend:
    profile = BackendProfile(
        backend="anthropic", model="claude-haiku-4-5", api_key="sk-ant-test", max_retries=2
    )
    built = build_backend(profile)
    assert isinstance(built, AnthropicBackend)
    built.retry_policy = RetryPolicy(sleep=RecordingSleep(), rand=lambda: 0.5)
    return built


def sent(route: respx.Route, index: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[index].request.content)


async def test_forced_tool_use_with_cache_breakpoint_on_the_flagged_turn(
    httpx2_mock: respx.Router, backend: AnthropicBackend
) -> None:
    route = httpx2_mock.post(URL).respond(200, json=message_body({"label": "neg"}, cache_read=900))
    completion = await backend.sample(FEW_SHOT, SCHEMA, n=1, temperature=0.5, max_tokens=128)

    assert route.call_count == 1
    body = sent(route)
    assert body["tools"] == [
        {
            "name": TOOL_NAME,
            "description": "Record the label for the item, following the guideline.",
            "input_schema": SCHEMA,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    assert body["system"] == [{"type": "text", "text": "Guideline: label sentiment."}]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Great film"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": '{"label": "pos"}', "cache_control": {"type": "ephemeral"}}
            ],
        },
        {"role": "user", "content": [{"type": "text", "text": "Dull and long"}]},
    ]
    assert body["max_tokens"] == 128
    assert "temperature" not in body  # the 2.x SDK has no temperature; see send_temperature
    assert "n" not in body
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-ant-test"

    assert json.loads(completion.choices[0].text) == {"label": "neg"}
    usage = completion.usage
    # input_tokens excludes the cache hit: the whole prompt is 100 + 900.
    assert (usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (1000, 900, 20)
    # claude-haiku-4-5 list price: 100 * 1.00 + 900 * 0.10 + 20 * 5.00 per Mtok.
    assert usage.cost_usd == pytest.approx((100 * 1.00 + 900 * 0.10 + 20 * 5.00) / 1e6)


async def test_cached_system_prompt_gets_the_breakpoint(
    httpx2_mock: respx.Router, backend: AnthropicBackend
) -> None:
    route = httpx2_mock.post(URL).respond(200, json=message_body({"label": "pos"}))
    messages = [
        Message(role="system", content="Guideline", cache=True),
        Message(role="user", content="x"),
    ]
    await backend.sample(messages, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    body = sent(route)
    assert body["system"] == [
        {"type": "text", "text": "Guideline", "cache_control": {"type": "ephemeral"}}
    ]
    assert "cache_control" not in body["messages"][0]["content"][0]


async def test_temperature_is_sent_when_enabled(httpx2_mock: respx.Router) -> None:
    backend = AnthropicBackend(
        BackendProfile(
            backend="anthropic",
            model="claude-haiku-4-5",
            api_key="k",
            options={"send_temperature": True},
        )
    )
    route = httpx2_mock.post(URL).respond(200, json=message_body({"label": "pos"}))
    await backend.sample(FEW_SHOT, SCHEMA, n=1, temperature=0.3, max_tokens=16)
    assert sent(route)["temperature"] == 0.3


async def test_n_samples_are_single_calls(
    httpx2_mock: respx.Router, backend: AnthropicBackend
) -> None:
    route = httpx2_mock.post(URL).respond(200, json=message_body({"label": "pos"}))
    completion = await backend.sample(FEW_SHOT, SCHEMA, n=3, temperature=1.0, max_tokens=16)
    assert route.call_count == 3
    assert len(completion.choices) == 3 and completion.usage.calls == 3


async def test_overloaded_529_is_retried(
    httpx2_mock: respx.Router, backend: AnthropicBackend
) -> None:
    route = httpx2_mock.post(URL).mock(
        side_effect=[
            httpx.Response(
                529,
                json={
                    "type": "error",
                    "error": {"type": "overloaded_error", "message": "Overloaded"},
                },
            ),
            httpx.Response(
                429,
                headers={"retry-after": "4"},
                json={"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
            ),
            httpx.Response(200, json=message_body({"label": "pos"})),
        ]
    )
    completion = await backend.sample(FEW_SHOT, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert route.call_count == 3
    assert json.loads(completion.choices[0].text) == {"label": "pos"}
    waits = backend.retry_policy.sleep.waits  # type: ignore[attr-defined]
    assert len(waits) == 2 and waits[1] >= 4.0


async def test_overload_storm_exhausts_the_budget(
    httpx2_mock: respx.Router, backend: AnthropicBackend
) -> None:
    route = httpx2_mock.post(URL).respond(
        529, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    with pytest.raises(
        RetriesExhaustedError, match="529 from anthropic: Overloaded after 3 attempts"
    ):
        await backend.sample(FEW_SHOT, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert route.call_count == 3


async def test_bad_request_fails_at_once(
    httpx2_mock: respx.Router, backend: AnthropicBackend
) -> None:
    route = httpx2_mock.post(URL).respond(
        400,
        json={
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "tools.0.input_schema: bad"},
        },
    )
    with pytest.raises(
        PermanentBackendError, match="400 from anthropic: tools.0.input_schema: bad"
    ):
        await backend.sample(FEW_SHOT, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert route.call_count == 1


async def test_answer_without_tool_call_passes_text_through(
    httpx2_mock: respx.Router, backend: AnthropicBackend
) -> None:
    httpx2_mock.post(URL).respond(200, json=message_body(None, text="I think it is neg"))
    completion = await backend.sample(FEW_SHOT, SCHEMA, n=1, temperature=0.0, max_tokens=16)
    assert completion.choices[0].text == "I think it is neg"
    assert completion.choices[0].finish_reason == "max_tokens"


def test_missing_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMLABEL_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        build_backend(BackendProfile(backend="anthropic", model="claude-haiku-4-5"))


_REQUEST = httpx2.Request("POST", URL)


def _status(code: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(code, request=_REQUEST, headers=headers or {})


@pytest.mark.parametrize(
    ("sdk_error", "expected"),
    [
        (
            anthropic.RateLimitError("rl", response=_status(429, {"retry-after": "2"}), body=None),
            RateLimitedError,
        ),
        (
            anthropic.InternalServerError("ise", response=_status(500), body=None),
            RetryableBackendError,
        ),
        (
            anthropic.ServiceUnavailableError("503", response=_status(503), body=None),
            RetryableBackendError,
        ),
        (anthropic.OverloadedError("529", response=_status(529), body=None), RetryableBackendError),
        (anthropic.APIStatusError("529", response=_status(529), body=None), RetryableBackendError),
        (
            anthropic.RequestTimeoutError("408", response=_status(408), body=None),
            RetryableBackendError,
        ),
        (anthropic.APITimeoutError(request=_REQUEST), RetryableBackendError),
        (anthropic.APIConnectionError(request=_REQUEST), RetryableBackendError),
        (anthropic.BadRequestError("bad", response=_status(400), body=None), PermanentBackendError),
        (
            anthropic.AuthenticationError("auth", response=_status(401), body=None),
            PermanentBackendError,
        ),
        (
            anthropic.PermissionDeniedError("perm", response=_status(403), body=None),
            PermanentBackendError,
        ),
        (anthropic.NotFoundError("model", response=_status(404), body=None), PermanentBackendError),
        (
            anthropic.ContentTooLargeError("big", response=_status(413), body=None),
            PermanentBackendError,
        ),
    ],
)
def test_every_sdk_error_is_mapped(
    sdk_error: anthropic.AnthropicError, expected: type[Exception]
) -> None:
    with pytest.raises(expected) as info, map_anthropic_errors():
        raise sdk_error
    assert type(info.value) is expected
    assert info.value.__cause__ is sdk_error
    if isinstance(info.value, RateLimitedError):
        assert info.value.retry_after == 2.0
