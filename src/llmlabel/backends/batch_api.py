"""The providers' batch APIs (about half price, results within 24 h): one neutral seam, two protocols.

`BatchApi` uploads lines (one provider request each, with a `custom_id`), polls
the provider batch, and collects a `LineResult` per line: a Completion with the
provider's usage, or the error that line got. OpenAI: a JSONL file uploaded with
purpose "batch", `POST /v1/batches` on /v1/chat/completions, an output and an
error file. Anthropic: `POST /v1/messages/batches` with the requests inline,
`processing_status == "ended"`, JSONL results (succeeded, errored, canceled,
expired). Request bodies are the synchronous ones (same prompt, schema, `n`);
retrying failed lines, budgets and the ledger are the caller's (`offline.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from llmlabel.backends.base import Backend
from llmlabel.domain import Completion, Message
from llmlabel.errors import ConfigError

__all__ = ["BatchApi", "BatchLine", "BatchState", "LineResult", "batch_api_for"]

BatchState = Literal["running", "ended", "failed"]


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One request of a provider batch."""

    custom_id: str
    messages: Sequence[Message]
    schema: dict[str, Any]
    n: int
    temperature: float
    max_tokens: int


@dataclass(frozen=True, slots=True)
class LineResult:
    """What one line got: a completion (with usage), or an error to retry it for."""

    custom_id: str
    completion: Completion | None = None
    error: str | None = None


class BatchApi(Protocol):
    """Submit, poll and collect one provider batch."""

    async def submit(self, lines: Sequence[BatchLine]) -> str:
        """Create the provider batch; its id."""
        ...

    async def state(self, batch_id: str) -> tuple[BatchState, str]:
        """running, ended (results ready) or failed (none will come), with the provider's status."""
        ...

    async def results(self, batch_id: str, custom_ids: Sequence[str]) -> list[LineResult]:
        """One result per asked line; a line the provider did not answer gets an error."""
        ...


def batch_api_for(backend: Backend) -> BatchApi:
    """The batch protocol of a backend (openai or anthropic)."""
    if backend.name == "openai":
        from llmlabel.backends.openai_batch import OpenAIBatchApi

        return OpenAIBatchApi(backend)
    if backend.name == "anthropic":
        from llmlabel.backends.anthropic_batch import AnthropicBatchApi

        return AnthropicBatchApi(backend)
    raise ConfigError(f'the {backend.name} backend has no batch API: use "mode": "sync"')


def missing(results: dict[str, LineResult], custom_ids: Sequence[str], why: str) -> list[LineResult]:
    """The results in the asked order, an error for each line the provider left out."""
    return [results.get(c) or LineResult(custom_id=c, error=why) for c in custom_ids]


def jsonl(rows: Sequence[dict[str, Any]]) -> bytes:
    """Rows as JSON Lines."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
