"""OpenAI and OpenAI-compatible servers with one direct aiohttp POST (the default client).

The same request body as the SDK path (`openai_backend.chat_request`), sent as
bytes, and the answer read from plain JSON. Why: profiling a worker showed the
SDK spending most of its ~3 ms per call building and validating typed request
and response objects (`openai/_utils/_transform.py`, pydantic models for every
choice and logprob), work a labeler does not need: llmlabel validates the
answer text against the task's own schema anyway. Why aiohttp and not httpx:
the same POST costs about 1.5 ms of CPU through httpx and httpcore (request
and response models, anyio streams, a pool that walks every connection per
request) and about 0.3 ms through aiohttp, whose HTTP parser is compiled
(bench/RESULTS.md). The SDK path stays available (`client: "sdk"`) for servers
or features this one does not cover.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp

from llmlabel.backends.base import Backend, BackendProfile
from llmlabel.backends.openai_backend import ChatOptions, api_key_for, chat_request
from llmlabel.backends.provider_http import error_for_status
from llmlabel.domain import Choice, Completion, Message, Usage
from llmlabel.errors import RetryableBackendError

__all__ = ["OpenAIHttpBackend"]

_DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Connections kept per worker process (one per call in flight, reused: no TLS
# handshake per call); calls beyond it wait for a free connection.
_MAX_CONNECTIONS = 256


class OpenAIHttpBackend(Backend):
    """Chat completions with structured output; n choices in one call; plain aiohttp."""

    default_supports_n = True

    def __init__(self, profile: BackendProfile) -> None:
        super().__init__(profile)
        self._options = ChatOptions.of(profile)
        base = (profile.base_url or _DEFAULT_BASE_URL).rstrip("/")
        self._url = f"{base}/chat/completions"
        self._headers = {
            "Authorization": f"Bearer {api_key_for(profile)}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._timeout = aiohttp.ClientTimeout(total=profile.timeout_s)
        self._proxy = _proxy_for(self._url)
        # Made on first use inside the running loop (an aiohttp session belongs to one).
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=_MAX_CONNECTIONS),
                headers=self._headers,
                timeout=self._timeout,
            )
            self._loop = loop
        return self._session

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
        try:
            async with self._client().post(
                self._url, data=content, proxy=self._proxy
            ) as response:
                status, headers = response.status, response.headers
                raw = await response.read()
        except TimeoutError as exc:
            raise RetryableBackendError(f"openai request timed out: {exc!r}") from exc
        except aiohttp.ClientError as exc:
            raise RetryableBackendError(f"openai connection failed: {exc!r}") from exc
        if status >= 400:
            raise error_for_status("openai", status, _error_message(raw), headers)
        try:
            return _completion(json.loads(raw), self.profile.model)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # A proxy's HTML page or a truncated body: transient as far as we can tell.
            raise RetryableBackendError(
                f"openai returned an unreadable answer ({status}): {exc!r}"
            ) from exc

    async def aclose(self) -> None:
        """Close the session's connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()


def _proxy_for(url: str) -> str | None:
    """The proxy HTTP(S)_PROXY / NO_PROXY name for this URL, as httpx read them.

    Read once: aiohttp's `trust_env` reads the environment again for every request.
    """
    parts = urlsplit(url)
    if proxy_bypass(parts.hostname or ""):
        return None
    return getproxies().get(parts.scheme) or None


def _error_message(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return text[:500]
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return text[:500]


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
