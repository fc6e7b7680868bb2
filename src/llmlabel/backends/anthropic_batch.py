"""Anthropic's Message Batches: the requests inline, polled until ended, results as JSON Lines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmlabel.backends.anthropic_backend import (
    AnthropicBackend,
    _choice,
    _usage,
    build_request,
    map_anthropic_errors,
)
from llmlabel.backends.base import Backend
from llmlabel.backends.batch_api import BatchLine, BatchState, LineResult, missing
from llmlabel.domain import Completion

__all__ = ["AnthropicBatchApi"]


class AnthropicBatchApi:
    """Message Batches through the backend's SDK client; one choice per line (no `n`)."""

    def __init__(self, backend: Backend) -> None:
        assert isinstance(backend, AnthropicBackend)
        self.backend = backend
        self.client = backend._client

    async def submit(self, lines: Sequence[BatchLine]) -> str:
        """Create the batch with every line's Messages request."""
        requests = []
        for line in lines:
            if line.n != 1:
                raise ValueError("anthropic batch lines draw one choice each")
            params: dict[str, Any] = build_request(self.backend.model, line.messages, line.schema)
            params["max_tokens"] = line.max_tokens
            if self.backend._send_temperature:
                params["temperature"] = line.temperature
            requests.append({"custom_id": line.custom_id, "params": params})
        with map_anthropic_errors():
            batch = await self.client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        return batch.id

    async def state(self, batch_id: str) -> tuple[BatchState, str]:
        """in_progress / canceling are running; ended has results."""
        with map_anthropic_errors():
            batch = await self.client.messages.batches.retrieve(batch_id)
        return ("ended" if batch.processing_status == "ended" else "running"), batch.processing_status

    async def results(self, batch_id: str, custom_ids: Sequence[str]) -> list[LineResult]:
        """Succeeded lines become completions; errored, canceled and expired ones errors."""
        found: dict[str, LineResult] = {}
        with map_anthropic_errors():
            stream = await self.client.messages.batches.results(batch_id)
            async for entry in stream:
                result = entry.result
                if result.type == "succeeded":
                    message = result.message
                    completion = Completion(
                        choices=[_choice(message)], usage=_usage(message), model=message.model
                    )
                    found[entry.custom_id] = LineResult(custom_id=entry.custom_id, completion=completion)
                else:
                    detail = getattr(result, "error", None)
                    text = f"{result.type} in anthropic batch" + (f": {detail}" if detail else "")
                    found[entry.custom_id] = LineResult(custom_id=entry.custom_id, error=text)
        return missing(found, custom_ids, "not answered by the provider batch")
