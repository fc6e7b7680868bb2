"""OpenAI's Batch API: a JSONL file of chat.completions requests, polled, collected from two files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

import openai

from llmlabel.backends.base import Backend
from llmlabel.backends.batch_api import BatchLine, BatchState, LineResult, jsonl, missing
from llmlabel.backends.openai_backend import (
    ChatOptions,
    api_key_for,
    chat_request,
    map_openai_errors,
)
from llmlabel.backends.openai_http import _completion

__all__ = ["OpenAIBatchApi"]

_ENDPOINT: Final = "/v1/chat/completions"
_RUNNING = {"validating", "in_progress", "finalizing", "cancelling"}
# Results exist for these (expired and cancelled batches keep the lines they finished).
_ENDED = {"completed", "expired", "cancelled"}


class OpenAIBatchApi:
    """The Batch API through the official SDK, configured like the backend (key, base URL)."""

    def __init__(self, backend: Backend) -> None:
        profile = backend.profile
        self.backend = backend
        self.options = ChatOptions.of(profile)
        self.client = openai.AsyncOpenAI(
            api_key=api_key_for(profile),
            base_url=profile.base_url,
            max_retries=0,  # a failed poll is simply tried again at the next one
            timeout=profile.timeout_s,
        )

    async def submit(self, lines: Sequence[BatchLine]) -> str:
        """Upload the lines as a file (purpose "batch") and create the batch on it."""
        rows = []
        for line in lines:
            body: dict[str, Any] = chat_request(
                self.backend.model, self.options, line.messages, line.schema, line.n
            )
            body.update(temperature=line.temperature, max_tokens=line.max_tokens)
            rows.append({"custom_id": line.custom_id, "method": "POST", "url": _ENDPOINT, "body": body})
        with map_openai_errors():
            uploaded = await self.client.files.create(
                file=("llmlabel-batch.jsonl", jsonl(rows)), purpose="batch"
            )
            batch = await self.client.batches.create(
                input_file_id=uploaded.id, endpoint=_ENDPOINT, completion_window="24h"
            )
        return batch.id

    async def state(self, batch_id: str) -> tuple[BatchState, str]:
        """The batch's status, reduced to running / ended / failed."""
        with map_openai_errors():
            batch = await self.client.batches.retrieve(batch_id)
        if batch.status in _RUNNING:
            return "running", batch.status
        return ("ended" if batch.status in _ENDED else "failed"), batch.status

    async def results(self, batch_id: str, custom_ids: Sequence[str]) -> list[LineResult]:
        """Read the output file (answers) and the error file (failed lines)."""
        with map_openai_errors():
            batch = await self.client.batches.retrieve(batch_id)
            found: dict[str, LineResult] = {}
            for file_id in (batch.output_file_id, batch.error_file_id):
                if not file_id:
                    continue
                content = await self.client.files.content(file_id)
                for raw in content.text.splitlines():
                    if raw.strip():
                        result = self._line(json.loads(raw))
                        found[result.custom_id] = result
        return missing(found, custom_ids, f"not answered by the provider batch ({batch.status})")

    def _line(self, row: dict[str, Any]) -> LineResult:
        custom_id = str(row.get("custom_id"))
        response = row.get("response") or {}
        error = row.get("error")
        if error or response.get("status_code") != 200:
            body = response.get("body") or {}
            detail = error or body.get("error") or body
            status = response.get("status_code")
            return LineResult(custom_id=custom_id, error=f"{status or 'error'} from openai batch: {detail}")
        completion = _completion(response["body"], self.backend.model)
        return LineResult(custom_id=custom_id, completion=completion)
