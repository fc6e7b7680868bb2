"""The two provider batch protocols against mocked APIs (respx on httpx2, as the SDKs use).

OpenAI Batch API: a JSONL file uploaded with purpose "batch", a batch on
/v1/chat/completions with a 24h window, polled, results from the output file and
the error file. Anthropic Message Batches: requests inline, processing_status
until "ended", JSONL results with succeeded / errored / expired lines.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx

from llmlabel.backends import build_backend
from llmlabel.backends.base import Backend, BackendProfile
from llmlabel.backends.batch_api import BatchLine, batch_api_for
from llmlabel.domain import Message
from llmlabel.errors import ConfigError
from tests.unit.test_backend_anthropic import TOOL_NAME, message_body
from tests.unit.test_backend_openai import completion_body

SCHEMA = {"type": "object", "properties": {"label": {"enum": ["pos", "neg"]}}}
MESSAGES = [Message(role="system", content="Label.", cache=True), Message(role="user", content="ok")]
OPENAI = "https://api.openai.com/v1"
ANTHROPIC = "https://api.anthropic.com/v1/messages/batches"


def lines(n: int, choices: int = 1) -> list[BatchLine]:
    return [BatchLine(f"l{i}", MESSAGES, SCHEMA, choices, 0.7, 64) for i in range(n)]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def openai_batch(status: str, output: str | None = None, error: str | None = None) -> dict[str, Any]:
    return {"id": "batch_1", "object": "batch", "endpoint": "/v1/chat/completions",
            "input_file_id": "file-in", "completion_window": "24h", "status": status,
            "created_at": 1, "output_file_id": output, "error_file_id": error}


async def test_openai_upload_create_poll_collect(
    httpx2_mock: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = build_backend(BackendProfile(backend="openai", model="gpt-4o-mini", api_key="sk-t"))
    api = batch_api_for(backend)
    upload = httpx2_mock.post(f"{OPENAI}/files").respond(200, json={
        "id": "file-in", "object": "file", "bytes": 1, "created_at": 1,
        "filename": "llmlabel-batch.jsonl", "purpose": "batch", "status": "processed"})
    create = httpx2_mock.post(f"{OPENAI}/batches").respond(200, json=openai_batch("validating"))
    assert await api.submit(lines(3, choices=2)) == "batch_1"
    form = upload.calls.last.request.content
    assert b'name="purpose"' in form and b"batch" in form
    rows = [json.loads(r) for r in form.split(b"\r\n\r\n", 2)[-1].splitlines() if r.startswith(b"{")]
    assert [r["custom_id"] for r in rows] == ["l0", "l1", "l2"]
    assert rows[0]["method"] == "POST" and rows[0]["url"] == "/v1/chat/completions"
    assert rows[0]["body"]["n"] == 2 and rows[0]["body"]["max_tokens"] == 64
    assert rows[0]["body"]["response_format"]["json_schema"]["schema"] == SCHEMA
    assert json.loads(create.calls.last.request.content) == {
        "input_file_id": "file-in", "endpoint": "/v1/chat/completions", "completion_window": "24h"}

    poll = httpx2_mock.get(f"{OPENAI}/batches/batch_1")
    poll.respond(200, json=openai_batch("in_progress"))
    assert (await api.state("batch_1"))[0] == "running"
    poll.respond(200, json=openai_batch("completed", "file-out", "file-err"))
    assert await api.state("batch_1") == ("ended", "completed")
    answer = completion_body('{"label": "pos"}', '{"label": "neg"}', cached=300)
    httpx2_mock.get(f"{OPENAI}/files/file-out/content").respond(200, content=jsonl([
        {"id": "r0", "custom_id": "l0", "response": {"status_code": 200, "body": answer},
         "error": None}]))
    httpx2_mock.get(f"{OPENAI}/files/file-err/content").respond(200, content=jsonl([
        {"id": "r1", "custom_id": "l1", "response": {"status_code": 500, "body": {
            "error": {"message": "server"}}}, "error": None}]))
    got = await api.results("batch_1", ["l0", "l1", "l2"])
    assert [r.custom_id for r in got] == ["l0", "l1", "l2"]
    assert got[0].completion is not None and len(got[0].completion.choices) == 2
    assert got[0].completion.usage.cached_tokens == 300
    assert got[1].completion is None and "500" in (got[1].error or "")
    assert got[2].completion is None and "not answered" in (got[2].error or "")


async def test_openai_failed_batch_has_no_results(
    httpx2_mock: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    api = batch_api_for(build_backend(BackendProfile(backend="openai", model="m", api_key="k")))
    httpx2_mock.get(f"{OPENAI}/batches/batch_1").respond(200, json=openai_batch("failed"))
    assert await api.state("batch_1") == ("failed", "failed")


async def test_anthropic_message_batch_create_poll_results(httpx2_mock: respx.Router) -> None:
    backend = build_backend(
        BackendProfile(backend="anthropic", model="claude-haiku-4-5", api_key="sk-ant-t")
    )
    api = batch_api_for(backend)
    batch = {"id": "msgbatch_1", "type": "message_batch", "processing_status": "in_progress",
             "request_counts": {"processing": 3, "succeeded": 0, "errored": 0, "canceled": 0,
                                "expired": 0},
             "created_at": "2026-12-01T00:00:00Z", "expires_at": "2026-12-02T00:00:00Z",
             "ended_at": None, "archived_at": None, "cancel_initiated_at": None,
             "results_url": None}
    create = httpx2_mock.post(ANTHROPIC).respond(200, json=batch)
    assert await api.submit(lines(3)) == "msgbatch_1"
    sent = json.loads(create.calls.last.request.content)["requests"]
    assert [r["custom_id"] for r in sent] == ["l0", "l1", "l2"]
    params = sent[0]["params"]
    assert params["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    assert params["max_tokens"] == 64 and params["model"] == "claude-haiku-4-5"
    assert params["system"] == [{"type": "text", "text": "Label.",
                                 "cache_control": {"type": "ephemeral"}}]
    poll = httpx2_mock.get(f"{ANTHROPIC}/msgbatch_1")
    poll.respond(200, json=batch)
    assert (await api.state("msgbatch_1"))[0] == "running"
    ended = {**batch, "processing_status": "ended", "results_url": f"{ANTHROPIC}/msgbatch_1/results"}
    poll.respond(200, json=ended)
    assert await api.state("msgbatch_1") == ("ended", "ended")
    httpx2_mock.get(f"{ANTHROPIC}/msgbatch_1/results").respond(200, content=jsonl([
        {"custom_id": "l0", "result": {"type": "succeeded",
                                       "message": message_body({"label": "pos"}, cache_read=50)}},
        {"custom_id": "l1", "result": {"type": "errored", "error": {"type": "error", "error": {
            "type": "overloaded_error", "message": "Overloaded"}}}},
        {"custom_id": "l2", "result": {"type": "expired"}},
    ]))
    got = await api.results("msgbatch_1", ["l0", "l1", "l2"])
    assert got[0].completion is not None
    assert json.loads(got[0].completion.choices[0].text) == {"label": "pos"}
    assert got[0].completion.usage.cached_tokens == 50
    assert "errored" in (got[1].error or "") and "expired" in (got[2].error or "")


def test_local_backend_has_no_batch_api() -> None:
    class Local(Backend):
        async def complete(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    with pytest.raises(ConfigError, match="no batch API"):
        batch_api_for(Local(BackendProfile(backend="local", model="x")))
