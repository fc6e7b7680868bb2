"""OpenAI and OpenAI-compatible servers with one direct httpx POST (the default client).

The same request body as the SDK path (`openai_backend.chat_request`), sent as
bytes, and the answer read from plain JSON. Why: profiling a worker showed the
SDK spending most of its ~3 ms per call building and validating typed request
and response objects (`openai/_utils/_transform.py`, pydantic models for every
choice and logprob), work a labeler does not need: llmlabel validates the
answer text against the task's own schema anyway. The SDK path stays
available (`client: "sdk"`) for servers or features this one does not cover.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from llmlabel.backends.base import Backend, BackendProfile
from llmlabel.backends.openai_backend import ChatOptions, api_key_for, chat_request
from llmlabel.backends.provider_http import error_for_status
from llmlabel.domain import Choice, Completion, Message, Usage
from llmlabel.errors import RetryableBackendError

__all__ = ["OpenAIHttpBackend"]

_DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Calls in flight per httpx client before another client is opened. httpx's pool
# walks every one of its connections for each request (expiry and idle checks, a
# socket poll each): with 64 connections in one pool that walk was a third of the
# worker's CPU (bench/profile_worker.py), with 4 it is noise.
_PER_CLIENT = 4
# Connections each client may keep: never a reconnect (TLS handshake) per call.
_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=64)


class _ClientPool:
    """Small httpx clients, one more whenever every open one has `_PER_CLIENT` calls in flight."""

    def __init__(self, headers: dict[str, str], timeout: float) -> None:
        self._headers = headers
        self._timeout = timeout
        self.clients: list[httpx.AsyncClient] = []
        self.busy: list[int] = []

    def take(self) -> int:
        """The index of the least busy client (a new one if all are full), now one busier."""
        index = min(range(len(self.busy)), key=self.busy.__getitem__, default=-1)
        if index < 0 or self.busy[index] >= _PER_CLIENT:
            self.clients.append(
                httpx.AsyncClient(timeout=self._timeout, limits=_LIMITS, headers=self._headers)
            )
            self.busy.append(0)
            index = len(self.clients) - 1
        self.busy[index] += 1
        return index

    def give_back(self, index: int) -> None:
        self.busy[index] -= 1

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


class OpenAIHttpBackend(Backend):
    """Chat completions with structured output; n choices in one call; plain httpx."""

    default_supports_n = True

    def __init__(self, profile: BackendProfile) -> None:
        super().__init__(profile)
        self._options = ChatOptions.of(profile)
        base = (profile.base_url or _DEFAULT_BASE_URL).rstrip("/")
        self._url = f"{base}/chat/completions"
        self._pool = _ClientPool(
            {
                "Authorization": f"Bearer {api_key_for(profile)}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            profile.timeout_s,
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
        """One POST /chat/completions for n choices."""
        body = chat_request(self.profile.model, self._options, messages, schema, n)
        body["temperature"] = temperature
        body["max_tokens"] = max_tokens
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        shard = self._pool.take()
        try:
            response = await self._pool.clients[shard].post(self._url, content=content)
        except httpx.TimeoutException as exc:
            raise RetryableBackendError(f"openai request timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise RetryableBackendError(f"openai connection failed: {exc!r}") from exc
        finally:
            self._pool.give_back(shard)
        if response.status_code >= 400:
            raise error_for_status(
                "openai", response.status_code, _error_message(response), response.headers
            )
        try:
            data = response.json()
            return _completion(data, self.profile.model)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # A proxy's HTML page or a truncated body: transient as far as we can tell.
            raise RetryableBackendError(
                f"openai returned an unreadable answer ({response.status_code}): {exc!r}"
            ) from exc

    async def aclose(self) -> None:
        """Close every client's connections."""
        await self._pool.aclose()


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return response.text[:500]


def _completion(data: dict[str, Any], model: str) -> Completion:
    choices = []
    for choice in data["choices"]:
        message = choice.get("message") or {}
        content = message.get("content")
        # A refusal has no content; its text still reaches the task, which marks it invalid.
        text = content if content is not None else (message.get("refusal") or "")
        tokens = (choice.get("logprobs") or {}).get("content") or []
        mean = sum(t["logprob"] for t in tokens) / len(tokens) if tokens else None
        choices.append(
            Choice(text=text, mean_logprob=mean, finish_reason=choice.get("finish_reason"))
        )
    usage = data.get("usage") or None
    if usage is None:
        parsed = Usage(calls=1)
    else:
        details = usage.get("prompt_tokens_details") or {}
        parsed = Usage(
            calls=1,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=int(details.get("cached_tokens") or 0),
        )
    return Completion(choices=choices, usage=parsed, model=data.get("model") or model)
