"""Anthropic via the official SDK: forced tool use fills the label schema.

The label schema is the input schema of one tool, `record_label`, and
`tool_choice` forces the model to call it, so the answer is always the tool's
JSON input. The message flagged `cache=True` (the end of the stable guideline
and few-shot prefix) gets a `cache_control` breakpoint so repeated items
of one version read that prefix from the prompt cache.

Profile options:
    send_temperature: bool (default False). The anthropic 2.x SDK has no
        `temperature` argument any more, so by default the model's own sampling
        is used (its default temperature already varies samples); set this for an
        API or model that still takes one, and it is sent in the request body.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anthropic
from anthropic.types import Message as SdkMessage

from llmlabel.backends.base import Backend, BackendProfile
from llmlabel.backends.provider_http import error_for_status, is_local_url
from llmlabel.domain import Choice, Completion, Message, Usage
from llmlabel.errors import ConfigError, RetryableBackendError

__all__ = ["TOOL_NAME", "AnthropicBackend", "map_anthropic_errors"]

TOOL_NAME = "record_label"
_EPHEMERAL = {"type": "ephemeral"}


def _api_key(profile: BackendProfile) -> str:
    if profile.api_key is not None and profile.api_key.get_secret_value():
        return profile.api_key.get_secret_value()
    for variable in ("LLMLABEL_API_KEY", "ANTHROPIC_API_KEY"):
        if os.environ.get(variable):
            return os.environ[variable]
    if is_local_url(profile.base_url):
        return "no-key-required"
    raise ConfigError(
        "no API key for the anthropic backend: set LLMLABEL_API_KEY or ANTHROPIC_API_KEY"
    )


@contextmanager
def map_anthropic_errors() -> Iterator[None]:
    """Translate the SDK's exceptions into llmlabel backend errors (529 overloaded is a 5xx)."""
    try:
        yield
    except anthropic.APIStatusError as exc:
        message = exc.api_message or exc.message
        raise error_for_status("anthropic", exc.status_code, message, exc.response.headers) from exc
    except anthropic.APITimeoutError as exc:
        raise RetryableBackendError(f"anthropic request timed out: {exc}") from exc
    except anthropic.APIConnectionError as exc:
        raise RetryableBackendError(f"anthropic connection failed: {exc}") from exc


def _block(text: str, cache: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if cache:
        block["cache_control"] = _EPHEMERAL
    return block


def build_request(
    model: str, messages: Sequence[Message], schema: dict[str, Any]
) -> dict[str, Any]:
    """The Messages API body for one call (without sampling parameters)."""
    system = [_block(m.content, m.cache) for m in messages if m.role == "system"]
    turns = [
        {"role": m.role, "content": [_block(m.content, m.cache)]}
        for m in messages
        if m.role != "system"
    ]
    request: dict[str, Any] = {
        "model": model,
        "messages": turns,
        "tools": [
            {
                "name": TOOL_NAME,
                "description": "Record the label for the item, following the guideline.",
                "input_schema": schema,
            }
        ],
        "tool_choice": {"type": "tool", "name": TOOL_NAME},
    }
    if system:
        request["system"] = system
    return request


class AnthropicBackend(Backend):
    """Messages API with a forced tool call; one choice per call (no `n`)."""

    default_supports_n = False
    # Forced tool use adds a tool-use system prompt (313-346 tokens per Anthropic's docs).
    fixed_overhead_tokens = 400

    @classmethod
    def framing_tokens(cls, messages: int) -> int:
        """The tool-use system prompt plus a few tokens per message."""
        return 330 + 3 * messages

    def __init__(self, profile: BackendProfile) -> None:
        super().__init__(profile)
        self._send_temperature = bool(profile.options.get("send_temperature", False))
        self._client = anthropic.AsyncAnthropic(
            api_key=_api_key(profile),
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
        """One Messages call; `n` above 1 is a caller bug (`sample` sends single calls)."""
        if n != 1:
            raise ValueError("the anthropic backend draws one choice per call")
        request = build_request(self.profile.model, messages, schema)
        if self._send_temperature:
            request["extra_body"] = {"temperature": temperature}
        with map_anthropic_errors():
            response = await self._client.messages.create(**request, max_tokens=max_tokens)
        return Completion(choices=[_choice(response)], usage=_usage(response), model=response.model)

    async def aclose(self) -> None:
        """Close the SDK's connection pool."""
        await self._client.close()


def _choice(response: SdkMessage) -> Choice:
    for block in response.content:
        if block.type == "tool_use" and block.name == TOOL_NAME:
            text = json.dumps(block.input, ensure_ascii=False)
            return Choice(text=text, finish_reason=response.stop_reason)
    # No tool call (e.g. cut off by max_tokens): pass the text on; the task marks it invalid.
    text = "".join(block.text for block in response.content if block.type == "text")
    return Choice(text=text, finish_reason=response.stop_reason)


def _usage(response: SdkMessage) -> Usage:
    usage = response.usage
    cache_read = usage.cache_read_input_tokens or 0
    cache_write = usage.cache_creation_input_tokens or 0
    # Anthropic's input_tokens excludes cached and cache-written tokens; Usage counts
    # the whole prompt in prompt_tokens and the cache hits in cached_tokens.
    return Usage(
        calls=1,
        prompt_tokens=usage.input_tokens + cache_read + cache_write,
        completion_tokens=usage.output_tokens,
        cached_tokens=cache_read,
    )
