"""The batch API end to end: a real uvicorn server (`llmlabel serve`), redis-server, workers.

One API process serves the whole module (its limits are small so the size
tests stay small); each test gets an emptied Redis and fresh keys. Labeling
runs in `llmlabel worker --burst` subprocesses against the fake provider.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmlabel.store import Role, Store
from tests.integration.conftest import Processes, provider, service_env

pytestmark = pytest.mark.integration

LIMITS = {"max_body_bytes": 20_000, "max_batch_items": 40, "max_item_bytes": 1_000}

Headers = dict[str, str]


@pytest.fixture(scope="module")
def api_env(
    redis_server: str, fake_provider: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return service_env(redis_server, fake_provider, tmp_path_factory.mktemp("var"), **LIMITS)


@pytest.fixture(scope="module")
def client(api_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    procs = Processes(Path(tmp_path_factory.mktemp("logs")))
    try:
        with httpx.Client(base_url=procs.api(api_env), timeout=30) as http:
            yield http
    finally:
        procs.stop_all()


@pytest.fixture
def key(store: Store) -> Callable[..., Headers]:
    """Authorization headers of a new key (team, role)."""

    def make(team: str = "t1", role: Role = Role.SUBMITTER) -> Headers:
        return {"Authorization": f"Bearer {store.create_api_key(team=team, role=role, name=role.value)}"}

    return make


def ner_items(n: int, prefix: str = "s") -> list[dict[str, Any]]:
    cities = ["Paris", "Berlin", "Lagos", "Lima", "Osaka"]
    return [{"id": f"{prefix}{i}", "text": f"{cities[i % 5]} hosted talk number {i}."} for i in range(n)]


def submit(client: httpx.Client, headers: Headers, **body: Any) -> httpx.Response:
    payload = {"task": "ner", "items": ner_items(3)} | body
    return client.post("/v1/batches", json=payload, headers=headers)


def batch_count(client: httpx.Client, headers: Headers) -> int:
    response = client.get("/v1/batches", headers=headers)
    assert response.status_code == 200
    return int(response.json()["count"])


def test_submit_label_and_stream_results(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes,
    api_env: dict[str, str],
) -> None:
    sub = key()
    response = submit(client, sub, items=ner_items(5), metadata={"run": 7})
    assert response.status_code == 201, response.text
    batch = response.json()
    assert response.headers["location"] == f"/v1/batches/{batch['id']}"
    assert (batch["total"], batch["counts"]["queued"], batch["metadata"]) == (5, 5, {"run": 7})
    assert (batch["guideline_version"], batch["prompt_version"]) == ("v2", "v2")  # latest

    processes.run_burst(api_env, name="w-results")

    batch = client.get(f"/v1/batches/{batch['id']}", headers=sub).json()
    assert sum(batch["counts"].values()) == 5
    assert batch["counts"]["queued"] == batch["counts"]["labeling"] == 0
    assert batch["usage"]["calls"] >= 5 and batch["progress"] > 0
    usage = batch["usage"]
    assert batch["tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert batch["cost_usd"] == usage["cost_usd"]

    results = client.get(f"/v1/batches/{batch['id']}/results", headers=sub)
    assert results.status_code == 200
    assert results.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in results.text.splitlines()]
    assert [line["id"] for line in lines] == [f"s{i}" for i in range(5)]
    for line in lines:
        assert line["state"] in {"auto_accepted", "needs_review"}
        assert (line["source"], line["model"]) == ("llm", "fake-model")
        assert (line["guideline_version"], line["prompt_version"]) == ("v2", "v2")
        assert 0.0 <= line["confidence"] <= 1.0 and line["usage"]["calls"] >= 1
        assert "input" not in line and line["item_id"]
    with_input = client.get(f"/v1/batches/{batch['id']}/results?include_input=true", headers=sub)
    assert json.loads(with_input.text.splitlines()[0])["input"]["id"] == "s0"


def test_failed_items_are_retried_by_an_operator(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes,
    api_env: dict[str, str], redis_server: str, tmp_path: Path,
) -> None:
    sub, operator = key(), key(role=Role.OPERATOR)
    batch_id = submit(client, sub, items=ner_items(3)).json()["id"]
    with provider(latency_ms=1, error_rate=1.0) as broken_url:
        broken = service_env(redis_server, broken_url, tmp_path / "var", max_retries=0)
        processes.run_burst(broken, name="w-broken")
    failed = client.get(f"/v1/batches/{batch_id}/items?state=failed", headers=sub).json()
    assert failed["total"] == 3 and all(item["error"] for item in failed["items"])

    retried = client.post(f"/v1/batches/{batch_id}/retry-failed", headers=operator)
    assert retried.status_code == 200, retried.text
    assert retried.json()["requeued"] == 3
    assert retried.json()["batch"]["counts"]["failed"] == 0

    processes.run_burst(api_env, name="w-retry")
    counts = client.get(f"/v1/batches/{batch_id}", headers=sub).json()["counts"]
    assert counts["failed"] == counts["queued"] == 0
    assert counts["auto_accepted"] + counts["needs_review"] == 3


def test_items_are_paged_and_filtered(client: httpx.Client, key: Callable[..., Headers]) -> None:
    sub = key()
    batch_id = submit(client, sub, items=ner_items(7)).json()["id"]
    page = client.get(f"/v1/batches/{batch_id}/items?offset=5&limit=5", headers=sub).json()
    assert [item["id"] for item in page["items"]] == ["s5", "s6"]
    assert page["total"] == 7
    queued = client.get(f"/v1/batches/{batch_id}/items?state=queued&limit=3", headers=sub).json()
    assert len(queued["items"]) == 3 and queued["total"] == 7
    failed = client.get(f"/v1/batches/{batch_id}/items?state=failed", headers=sub).json()
    assert failed["items"] == [] and failed["total"] == 0
    bad = client.get(f"/v1/batches/{batch_id}/items?state=lost", headers=sub)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "state"


def test_ndjson_upload(client: httpx.Client, key: Callable[..., Headers]) -> None:
    sub = key()
    body = "\n".join(json.dumps(item) for item in ner_items(4)) + "\n"
    response = client.post(
        "/v1/batches?task=ner&guideline_version=v1", content=body,
        headers=sub | {"Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 201, response.text
    batch_id = response.json()["id"]
    items = client.get(f"/v1/batches/{batch_id}/items", headers=sub).json()["items"]
    assert [item["id"] for item in items] == ["s0", "s1", "s2", "s3"]


def test_idempotent_resubmit(client: httpx.Client, key: Callable[..., Headers]) -> None:
    sub = key()
    headers = sub | {"Idempotency-Key": "run-42"}
    first = submit(client, headers)
    assert first.status_code == 201
    again = submit(client, headers)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = submit(client, headers, items=ner_items(2))
    assert other.status_code == 409
    assert other.headers["content-type"].startswith("application/problem+json")
    assert batch_count(client, sub) == 1


def _oversized_body() -> bytes:
    items = [{"id": f"x{i}", "text": "word " * 150} for i in range(30)]
    return json.dumps({"task": "ner", "items": items}).encode()


REJECTED = [
    ("json", _oversized_body(), 413, "max_body_bytes"),
    ("json", json.dumps({"task": "ner", "items": ner_items(41)}).encode(), 413, "max_batch_items"),
    ("json", json.dumps({"task": "ner", "items": [{"id": "a", "text": "w" * 1200}]}).encode(),
     413, "max_item_bytes"),
    ("ndjson", b'{"id": "a", "text": "ok"}\n{"id": "b", "text": }\n', 422, "line 2"),
    ("json", b'{"task": "ner", "items": [', 422, "line 1 column 27"),
    ("ndjson", b'{"id": "a", "text": "x"}\n{"id": "b", "text": "y"}\n{"id": "a", "text": "z"}\n',
     422, "already used at line 1"),
    ("json", json.dumps({"task": "poem", "items": ner_items(1)}).encode(), 422, "known tasks:"),
    ("json", json.dumps({"task": "ner", "guideline_version": "v7", "items": ner_items(1)}).encode(),
     422, "no guideline version 'v7' (known: v1, v2)"),
    ("json", json.dumps({"task": "ner", "items": [{"id": "a", "txt": "x"}]}).encode(), 422,
     "items[0]: text"),
    ("json", json.dumps({"task": "ner", "items": []}).encode(), 422, "no items"),
]


@pytest.mark.parametrize(("kind", "body", "status", "fragment"), REJECTED)
def test_rejected_submit_stores_nothing(
    client: httpx.Client, key: Callable[..., Headers], store: Store,
    kind: str, body: bytes, status: int, fragment: str,
) -> None:
    sub = key()
    # The team's default projects are made on first use (any read of its tasks): after
    # that, a refused batch adds nothing at all.
    assert client.get("/v1/tasks", headers=sub).status_code == 200
    before = store.redis.dbsize()
    content_type = "application/x-ndjson" if kind == "ndjson" else "application/json"
    query = "?task=ner" if kind == "ndjson" else ""
    response = client.post(f"/v1/batches{query}", content=body,
                           headers=sub | {"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert fragment in response.json()["detail"]
    assert batch_count(client, sub) == 0
    assert store.redis.dbsize() == before


def test_chunked_upload_over_the_limit_is_413(
    client: httpx.Client, key: Callable[..., Headers], store: Store
) -> None:
    sub = key()

    def lines() -> Iterator[bytes]:
        for i in range(40):
            yield json.dumps({"id": f"c{i}", "text": "z" * 800}).encode() + b"\n"

    assert client.get("/v1/tasks", headers=sub).status_code == 200
    before = store.redis.dbsize()
    response = client.post("/v1/batches?task=ner", content=lines(),
                           headers=sub | {"Content-Type": "application/x-ndjson"})
    assert response.status_code == 413
    assert response.json()["limit"] == "max_body_bytes"
    assert store.redis.dbsize() == before


def test_team_isolation_on_batch_routes(client: httpx.Client, key: Callable[..., Headers]) -> None:
    mine = key("t1")
    batch_id = submit(client, mine).json()["id"]
    item_id = client.get(f"/v1/batches/{batch_id}/items", headers=mine).json()["items"][0]["item_id"]
    for role in (Role.SUBMITTER, Role.OPERATOR, Role.ADMIN):
        theirs = key("t2", role)
        for path in ("", "/items", "/results"):
            response = client.get(f"/v1/batches/{batch_id}{path}", headers=theirs)
            assert response.status_code == 404, (path, response.text)
        assert batch_count(client, theirs) == 0
        if role is not Role.SUBMITTER:
            retry = client.post(f"/v1/batches/{batch_id}/retry-failed", headers=theirs)
            assert retry.status_code == 404
    reviewer = key("t2", Role.REVIEWER)
    decision = {"lease_token": "x", "action": "approve"}
    assert client.post(f"/v1/review/items/{item_id}/decision", json=decision,
                       headers=reviewer).status_code == 404
    assert client.post(f"/v1/review/items/{item_id}/renew", json={"lease_token": "x"},
                       headers=reviewer).status_code == 404
    assert client.post("/v1/review/claim", json={"batch_id": batch_id},
                       headers=reviewer).status_code == 404
    assert batch_count(client, mine) == 1


def test_roles_on_batch_routes(client: httpx.Client, key: Callable[..., Headers]) -> None:
    sub = key()
    batch_id = submit(client, sub).json()["id"]
    denied = submit(client, key(role=Role.REVIEWER))
    assert denied.status_code == 403 and "submitter" in denied.json()["detail"]
    assert client.post(f"/v1/batches/{batch_id}/retry-failed", headers=sub).status_code == 403
    retried = client.post(f"/v1/batches/{batch_id}/retry-failed", headers=key(role=Role.OPERATOR))
    assert retried.status_code == 200 and retried.json()["requeued"] == 0
    assert client.get(f"/v1/batches/{batch_id}", headers=key(role=Role.OPERATOR)).status_code == 200
    # One data rule for batch reads: reviewers see items only through their claims.
    reviewer = key(role=Role.REVIEWER)
    for path in ("", "/items", "/results"):
        assert client.get(f"/v1/batches/{batch_id}{path}", headers=reviewer).status_code == 403
    assert client.get("/v1/batches", headers=reviewer).status_code == 403
    assert client.get("/v1/batches").status_code == 401
    assert client.get("/v1/batches", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_http_errors_health_and_metrics(client: httpx.Client, key: Callable[..., Headers]) -> None:
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    wrong = client.delete("/v1/batches", headers=key())
    assert wrong.status_code == 405 and wrong.json()["status"] == 405
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'llmlabel_items{state="queued"}' in metrics.text
    assert "llmlabel_review_queue_depth" in metrics.text
    assert 'route="/v1/batches"' in metrics.text


def test_made_up_methods_share_one_metrics_label(client: httpx.Client) -> None:
    # Finding 11: 200 requests with made-up methods to /nope grew the counter by 200 series.
    def series() -> list[str]:
        text = client.get("/metrics").text
        return [line for line in text.splitlines()
                if line.startswith("llmlabel_http_requests_total{")]

    for n in range(200):
        response = client.request(f"BREW{n}", "/nope")
        assert response.status_code in (404, 405)
        assert response.headers["content-type"].startswith("application/problem+json")
    lines = series()
    methods = {line.split('method="', 1)[1].split('"', 1)[0] for line in lines}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert sum('method="other"' in line for line in lines) == 1, lines
