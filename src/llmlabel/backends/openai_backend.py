"""OpenAI and OpenAI-compatible servers (vLLM, llama.cpp server, Ollama) via the official SDK.

The default client is the direct aiohttp call of `openai_http.py` (the same
request, a fraction of the CPU); this one is chosen with the profile option
`client: "sdk"` (`LLMLABEL_OPENAI_CLIENT=sdk`).

Profile options:
    response_format: "json_schema" (default), "json_object" (sends the schema
        under a "schema" key, as llama.cpp's server expects) or "none".
    strict: bool, OpenAI strict structured outputs (default False: strict mode
        rejects schemas with optional fields).
    logprobs: bool (default True); turn off for servers that answer 400 to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import ChatCompletion
from openai.types.chat.chat_completion import Choice as SdkChoice

from llmlabel.backends.base import Backend, BackendProfile
from llmlabel.backends.provider_http import error_for_status, is_local_url
from llmlabel.domain import Choice, Completion, Message, Usage
from llmlabel.errors import ConfigError, RetryableBackendError

__all__ = ["ChatOptions", "OpenAIBackend", "api_key_for", "chat_request", "map_openai_errors"]

_RESPONSE_FORMATS = ("json_schema", "json_object", "none")
# Local servers ignore the key but the SDK refuses to start without one.
_PLACEHOLDER_KEY = "sk-no-key-required"


def api_key_for(profile: BackendProfile) -> str:
    """The key to send: the profile's, else LLMLABEL_API_KEY / OPENAI_API_KEY, else a placeholder
    for local servers; ConfigError for a remote server without one."""
    if profile.api_key is not None and profile.api_key.get_secret_value():
        return profile.api_key.get_secret_value()
    for variable in ("LLMLABEL_API_KEY", "OPENAI_API_KEY"):
        if os.environ.get(variable):
            return os.environ[variable]
    if is_local_url(profile.base_url):
        return _PLACEHOLDER_KEY
    where = profile.base_url or "api.openai.com"
    raise ConfigError(
        f"no API key for the openai backend at {where}: set LLMLABEL_API_KEY or OPENAI_API_KEY"
    )


@contextmanager
def map_openai_errors() -> Iterator[None]:
    """Translate the SDK's exceptions into llmlabel backend errors."""
    try:
        yield
    except openai.APIStatusError as exc:
        raise error_for_status(
            "openai", exc.status_code, _provider_message(exc), exc.response.headers
        ) from exc
    except openai.APITimeoutError as exc:
        raise RetryableBackendError(f"openai request timed out: {exc}") from exc
    except openai.APIConnectionError as exc:
        raise RetryableBackendError(f"openai connection failed: {exc}") from exc


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return exc.message


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """The profile options that shape a chat.completions request (see the module docstring)."""

    response_format: str = "json_schema"
    strict: bool = False
    logprobs: bool = True

    @classmethod
    def of(cls, profile: BackendProfile) -> ChatOptions:
        """Read and check the options of a profile."""
        response_format = profile.options.get("response_format", "json_schema")
        if response_format not in _RESPONSE_FORMATS:
            raise ConfigError(
                f"openai option response_format={response_format!r}: use one of {_RESPONSE_FORMATS}"
            )
        return cls(
            response_format=response_format,
            strict=bool(profile.options.get("strict", False)),
            logprobs=bool(profile.options.get("logprobs", True)),
        )


def chat_request(
    model: str, options: ChatOptions, messages: Sequence[Message], schema: dict[str, Any], n: int
) -> dict[str, Any]:
    """The chat.completions body (without temperature and max_tokens) both clients send."""
    request: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
    }
    if n > 1:
        request["n"] = n
    if options.logprobs:
        request["logprobs"] = True
    if options.response_format == "json_schema":
        request["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "label", "schema": schema, "strict": options.strict},
        }
    elif options.response_format == "json_object":
        request["response_format"] = {"type": "json_object", "schema": schema}
    return request


class OpenAIBackend(Backend):
    """Chat completions with structured output; n choices in one call."""

    default_supports_n = True

    def __init__(self, profile: BackendProfile) -> None:
        super().__init__(profile)
        self._options = ChatOptions.of(profile)
        self._client = openai.AsyncOpenAI(
            api_key=api_key_for(profile),
            base_url=profile.base_url,
            max_retries=0,  # the one retry layer is llmlabel.backends.retry
            timeout=profile.timeout_s,
        )

    async def complete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any],
        *,
        n: int,
        temperature: float,
        max_tokens: int,
    ) -> Completion:
        """One chat.completions call for n choices."""
        request = chat_request(self.profile.model, self._options, messages, schema, n)
        with map_openai_errors():
            response: ChatCompletion = await self._client.chat.completions.create(
                **request, temperature=temperature, max_tokens=max_tokens
            )
        return Completion(
            choices=[_choice(choice) for choice in response.choices],
            usage=_usage(response),
            model=response.model or self.profile.model,
        )

    async def aclose(self) -> None:
        """Close the SDK's connection pool."""
        await self._client.close()


def _choice(choice: SdkChoice) -> Choice:
    message = choice.message
    # A refusal has no content; its text still reaches the task, which marks it invalid.
    text = message.content if message.content is not None else (message.refusal or "")
    tokens = choice.logprobs.content if choice.logprobs is not None else None
    mean_logprob = sum(t.logprob for t in tokens) / len(tokens) if tokens else None
    return Choice(text=text, mean_logprob=mean_logprob, finish_reason=choice.finish_reason)


def _usage(response: ChatCompletion) -> Usage:
    usage = response.usage
    if usage is None:
        return Usage(calls=1)
    details = usage.prompt_tokens_details
    cached = details.cached_tokens if details is not None and details.cached_tokens else 0
    return Usage(
        calls=1,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=cached,
    )
