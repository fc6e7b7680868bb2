"""The OpenAI Batch API of the fake provider: upload a JSONL file, create a batch, poll, download.

POST /v1/files (multipart, purpose "batch") stores the file; POST /v1/batches
answers every line at once (each line is one request: it counts and bills like a
synchronous call, and fails with a 500 at the provider's --error-rate), keeps
the answers in an output file and the failures in an error file, and reports
the batch `in_progress` until --batch-delay-s has passed, then `completed`.
GET /v1/batches/{id} and GET /v1/files/{id}/content read them back.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from tests.support.fake_provider import FakeProvider

__all__ = ["FakeBatches"]


def _multipart_file(body: bytes, content_type: str) -> bytes:
    """The `file` part of a multipart/form-data body (enough for the SDK's uploads)."""
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, _, content = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return content.removesuffix(b"\r\n")
    raise ValueError("no file part")


class FakeBatches:
    """Files and batches in memory."""

    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}

    def routes(self) -> list[Route]:
        return [
            Route("/v1/files", self.upload, methods=["POST"]),
            Route("/v1/files/{file_id}/content", self.content, methods=["GET"]),
            Route("/v1/batches", self.create, methods=["POST"]),
            Route("/v1/batches/{batch_id}", self.retrieve, methods=["GET"]),
        ]

    def _file(self, content: bytes) -> dict[str, Any]:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = content
        return {"id": file_id, "object": "file", "bytes": len(content),
                "created_at": int(time.time()), "filename": "batch.jsonl", "purpose": "batch",
                "status": "processed"}

    async def upload(self, request: Request) -> JSONResponse:
        content = _multipart_file(await request.body(), request.headers["content-type"])
        return JSONResponse(self._file(content))

    async def content(self, request: Request) -> Response:
        return Response(self.files[request.path_params["file_id"]], media_type="application/jsonl")

    async def create(self, request: Request) -> JSONResponse:
        spec = await request.json()
        stats = self.provider.stats
        out, errors = [], []
        for raw in self.files[spec["input_file_id"]].decode().splitlines():
            line = json.loads(raw)
            stats["requests"] += 1
            stats["batch_lines"] = stats.get("batch_lines", 0) + 1
            if self.provider.rng.random() < self.provider.options.error_rate:
                stats["server_errors"] += 1
                errors.append({"id": f"req-{stats['requests']}", "custom_id": line["custom_id"],
                               "response": {"status_code": 500, "body": {"error": {
                                   "message": "scripted failure", "type": "server"}}},
                               "error": None})
                continue
            out.append({"id": f"req-{stats['requests']}", "custom_id": line["custom_id"],
                        "response": {"status_code": 200, "request_id": "r",
                                     "body": self.provider.completion(line["body"])},
                        "error": None})
        batch_id = f"batch_{len(self.batches) + 1}"
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": spec["endpoint"], "errors": None,
            "input_file_id": spec["input_file_id"], "completion_window": spec["completion_window"],
            "created_at": int(time.time()),
            "output_file_id": self._file(_jsonl(out))["id"] if out else None,
            "error_file_id": self._file(_jsonl(errors))["id"] if errors else None,
            "request_counts": {"total": len(out) + len(errors), "completed": len(out),
                               "failed": len(errors)},
            "ready_at": time.monotonic() + self.provider.options.batch_delay_s,
        }
        stats["provider_batches"] = stats.get("provider_batches", 0) + 1
        return JSONResponse(self._public(batch_id))

    def _public(self, batch_id: str) -> dict[str, Any]:
        batch = dict(self.batches[batch_id])
        done = time.monotonic() >= batch.pop("ready_at")
        batch["status"] = "completed" if done else "in_progress"
        if not done:
            batch["output_file_id"] = batch["error_file_id"] = None
        return batch

    async def retrieve(self, request: Request) -> JSONResponse:
        return JSONResponse(self._public(request.path_params["batch_id"]))


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()
