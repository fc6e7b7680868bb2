"""HTTP facts shared by the SDK backends: error classification, Retry-After, local hosts.

Shared so OpenAI, Anthropic and any OpenAI-compatible server agree on what is
worth retrying.
"""

from __future__ import annotations

import email.utils
import ipaddress
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from llmlabel.errors import (
    BackendError,
    PermanentBackendError,
    RateLimitedError,
    RetryableBackendError,
)

__all__ = ["RETRYABLE_STATUSES", "error_for_status", "is_local_url", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({408, 429})
"""4xx statuses that are transient; every 5xx (incl. Anthropic's 529 overloaded) is too."""


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_for_status(
    provider: str, status: int, message: str, headers: Mapping[str, str]
) -> BackendError:
    """The backend error for one HTTP error answer, message led by the status code."""
    text = f"{status} from {provider}: {message}"
    if status == 429:
        return RateLimitedError(text, retry_after=parse_retry_after(headers))
    if status >= 500 or status in RETRYABLE_STATUSES:
        return RetryableBackendError(text, status_code=status)
    return PermanentBackendError(text, status_code=status)


def is_local_url(base_url: str | None) -> bool:
    """True for loopback, private-network and single-label hosts (compose services).

    Such servers (llama.cpp, vLLM, Ollama) usually need no API key.
    """
    if not base_url:
        return False
    host = urlsplit(base_url).hostname or ""
    if host == "localhost" or ("." not in host and ":" not in host):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host.endswith((".local", ".internal", ".localhost"))
    return address.is_loopback or address.is_private or address.is_unspecified
