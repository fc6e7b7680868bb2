"""The assembled app over a recording stand-in for the Store: auth, roles, limits, validation.

The stand-in implements only the Store methods these requests reach and records
every call, so a test can assert that a rejected request stored nothing. Real
Redis flows are in tests/integration/test_api_*.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from llmlabel.api.app import create_app
from llmlabel.domain import ItemState, Usage
from llmlabel.errors import NotFoundError
from llmlabel.settings import Settings
from llmlabel.store import Store
from llmlabel.store.models import (
    BatchCreate,
    BatchInfo,
    Decision,
    ItemView,
    LlmTotals,
    Principal,
    Role,
)
from tests.support.memory_projects import MemoryProjects

KEYS = {f"{role.value}-key": Principal(key_id=role.value, team="t1", role=role) for role in Role}


class RecordingStore(MemoryProjects):
    """Answers the few Store calls the API makes here and records them."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []
        self.created = True
        self.up = True
        self.item = ItemView(
            item_id="b1:0", id="a", batch_id="b1", task="ner", state=ItemState.IN_REVIEW,
            input={"id": "a", "text": "Paris is nice"}, guideline_version="v1",
            prompt_version="v1", updated_at=time.time(),
        )

    def authenticate(self, key: str) -> Principal | None:
        return KEYS.get(key)

    def ping(self) -> bool:
        return self.up

    def create_batch(self, principal: Principal, batch: BatchCreate, *,
                     idempotency_key: str | None, request_hash: str) -> tuple[BatchInfo, bool]:
        self.calls.append(("create_batch", batch))
        info = BatchInfo(
            id="b1", team=principal.team, task=batch.task,
            guideline_version=batch.guideline_version, prompt_version=batch.prompt_version,
            created_at=time.time(), total=len(batch.items),
            counts={s.value: 0 for s in ItemState} | {"queued": len(batch.items)},
            done=0, progress=0.0, usage=Usage(), state="running", labeled=False,
        )
        return info, self.created

    def get_batch(self, team: str, batch_id: str) -> BatchInfo:
        raise NotFoundError(f"no batch {batch_id!r}")

    def iter_results(self, team: str, batch_id: str) -> Iterator[ItemView]:
        raise AssertionError("results must not stream for an unknown batch")

    def get_item(self, team: str, item_id: str) -> ItemView:
        if item_id != self.item.item_id:
            raise NotFoundError(f"no item {item_id!r}")
        return self.item

    def decide(self, principal: Principal, item_id: str, *, lease_token: str,
               decision: Decision, label: dict[str, Any] | None,
               comment: str | None) -> ItemView:
        self.calls.append(("decide", (decision, label)))
        return self.item.model_copy(update={"label": label})

    def count_judgments(self, team: str, project: str, version: str, n: int = 1) -> int:
        self.calls.append(("count_judgments", (project, version, n)))
        return n

    def mark_judged(self, team: str, project: str, version: str, item_ids: list[str]) -> None:
        self.calls.append(("mark_judged", (project, version, tuple(item_ids))))

    def state_totals(self) -> dict[str, int]:
        return {s.value: 0 for s in ItemState} | {"needs_review": 4}

    def review_queue_depth(self, team: str | None = None) -> int:
        return 4

    def llm_totals(self) -> LlmTotals:
        return LlmTotals(calls=7, prompt_tokens=700, completion_tokens=70, cost_usd=0.25,
                         latency_sum_s=3.5, latency_buckets={"0.5": 2, "2.5": 1, "+Inf": 1})

    def stored(self) -> list[str]:
        return [name for name, _ in self.calls if name == "create_batch"]


# _env_file=None: a developer's .env must not change the limits under test.
SETTINGS = Settings(  # type: ignore[call-arg]
    _env_file=None, redis_url="redis://127.0.0.1:1/0",
    max_body_bytes=4000, max_batch_items=10, max_item_bytes=600,
)


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()


@pytest.fixture
def client(store: RecordingStore) -> TestClient:
    return TestClient(create_app(SETTINGS, store=cast(Store, store)))


def auth(role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {role.value}-key"}


def submit(client: TestClient, role: Role = Role.SUBMITTER, **body: Any) -> Any:
    payload = {"task": "ner", "items": [{"id": "a", "text": "Paris is nice"}]} | body
    return client.post("/v1/batches", json=payload, headers=auth(role))


def test_missing_key_is_401_problem(client: TestClient) -> None:
    response = client.get("/v1/batches")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.json()["detail"]


def test_unknown_key_is_401(client: TestClient) -> None:
    response = client.get("/v1/batches", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert "unknown" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "role", "needed"),
    [
        ("post", "/v1/batches", Role.REVIEWER, "submitter"),
        ("post", "/v1/batches", Role.OPERATOR, "submitter"),
        ("post", "/v1/tasks/ner/versions/v1/activate", Role.REVIEWER, "operator"),
        ("post", "/v1/tasks/ner/rollback", Role.SUBMITTER, "operator"),
        ("post", "/v1/review/claim", Role.SUBMITTER, "reviewer"),
        ("post", "/v1/review/items/b1:0/decision", Role.SUBMITTER, "reviewer"),
        ("post", "/v1/batches/b1/retry-failed", Role.REVIEWER, "operator"),
    ],
)
def test_wrong_role_is_403_naming_the_role(
    client: TestClient, store: RecordingStore, method: str, path: str, role: Role, needed: str
) -> None:
    response = client.request(method, path, headers=auth(role), json={})
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["required_role"] == needed
    assert needed in body["detail"] and role.value in body["detail"]
    assert store.calls == []


def test_submit_answers_201_with_resolved_versions(client: TestClient, store: RecordingStore) -> None:
    response = submit(client)
    assert response.status_code == 201, response.text
    assert response.json()["id"] == "b1"
    assert response.headers["location"] == "/v1/batches/b1"
    batch = store.calls[-1][1]
    # No version activated: the default project follows the latest built-ins.
    assert (batch.project, batch.guideline_version, batch.prompt_version) == ("ner", "v2", "v2")
    # The batch names the exact content: the workers load it by these hashes.
    assert batch.guideline_hash == store.versions[("ner", "guideline", "v2")].sha256
    assert batch.prompt_hash == store.versions[("ner", "prompt", "v2")].sha256


def test_replay_answers_200(client: TestClient, store: RecordingStore) -> None:
    store.created = False
    assert submit(client).status_code == 200


def test_admin_may_submit(client: TestClient) -> None:
    assert submit(client, Role.ADMIN).status_code == 201


def test_ndjson_upload_takes_task_from_query(client: TestClient, store: RecordingStore) -> None:
    body = b'{"id": "a", "text": "Paris"}\n{"id": "b", "text": "Rome"}\n'
    response = client.post(
        "/v1/batches?task=ner&guideline_version=v1", content=body,
        headers=auth(Role.SUBMITTER) | {"content-type": "application/x-ndjson"},
    )
    assert response.status_code == 201, response.text
    assert [item["id"] for item in store.calls[-1][1].items] == ["a", "b"]


def test_ndjson_without_task_is_422(client: TestClient, store: RecordingStore) -> None:
    response = client.post("/v1/batches", content=b'{"id": "a"}\n',
                           headers=auth(Role.SUBMITTER) | {"content-type": "application/x-ndjson"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "task"
    assert store.stored() == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"task": "poetry"}, "known tasks: classification"),
        ({"guideline_version": "v9"}, "guideline version 'v9'"),
        ({"prompt_version": "v9"}, "prompt version 'v9'"),
        ({"items": [{"id": "a", "text": ""}]}, "items[0]: text"),
        ({"items": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}, "duplicate id"),
    ],
)
def test_invalid_submit_is_422_and_stores_nothing(
    client: TestClient, store: RecordingStore, body: dict[str, Any], fragment: str
) -> None:
    response = submit(client, **body)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]
    assert store.calls == []


def test_declared_oversized_body_is_413(client: TestClient, store: RecordingStore) -> None:
    items = [{"id": str(i), "text": "x" * 500} for i in range(9)]
    response = submit(client, items=items)
    assert response.status_code == 413
    assert response.json()["limit"] == "max_body_bytes"
    assert store.calls == []


def test_chunked_oversized_body_is_413_while_streaming(
    client: TestClient, store: RecordingStore
) -> None:
    def chunks() -> Iterator[bytes]:
        for i in range(20):
            yield json.dumps({"id": str(i), "text": "y" * 300}).encode() + b"\n"

    response = client.post("/v1/batches?task=ner", content=chunks(),
                           headers=auth(Role.SUBMITTER) | {"content-type": "application/x-ndjson"})
    assert response.status_code == 413
    assert response.json()["actual"] > SETTINGS.max_body_bytes
    assert store.calls == []


def test_unsupported_media_type_is_415(client: TestClient) -> None:
    response = client.post("/v1/batches", content=b"a,b", headers=auth(Role.SUBMITTER) | {
        "content-type": "text/csv"})
    assert response.status_code == 415


def test_fix_label_is_validated_listing_fields(client: TestClient, store: RecordingStore) -> None:
    response = client.post(
        "/v1/review/items/b1:0/decision",
        headers=auth(Role.REVIEWER),
        json={"lease_token": "t", "action": "fix",
              "label": {"entities": [{"start": "x", "end": 5, "label": "planet"}]}},
    )
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["entities.0.start", "entities.0.label"]
    assert store.calls == []


def test_fix_label_is_canonicalised_before_the_store(
    client: TestClient, store: RecordingStore
) -> None:
    response = client.post(
        "/v1/review/items/b1:0/decision",
        headers=auth(Role.REVIEWER),
        json={"lease_token": "t", "action": "fix",
              "label": {"entities": [{"start": 0, "end": 5, "label": "location"}]}},
    )
    assert response.status_code == 200, response.text
    assert store.calls == [("decide", (Decision.FIX, {"entities": [
        {"start": 0, "end": 5, "label": "location", "text": "Paris"}]})),
        ("mark_judged", ("ner", "v1", (store.item.item_id,))),
        ("count_judgments", ("ner", "v1", 1))]  # a judgment toward the version's next refit


@pytest.mark.parametrize(
    ("decision", "field"),
    [({"action": "fix"}, "label"), ({"action": "approve", "label": {"entities": []}}, "label"),
     ({"action": "maybe"}, "action")],
)
def test_decision_body_errors_are_422(
    client: TestClient, store: RecordingStore, decision: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/review/items/b1:0/decision", headers=auth(Role.REVIEWER),
                           json={"lease_token": "t"} | decision)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert store.calls == []


def test_results_of_unknown_batch_is_404_before_streaming(client: TestClient) -> None:
    response = client.get("/v1/batches/nope/results", headers=auth(Role.SUBMITTER))
    assert response.status_code == 404
    assert response.json()["detail"] == "no batch 'nope'"


def test_items_limit_is_capped(client: TestClient) -> None:
    response = client.get("/v1/batches/b1/items?limit=1001", headers=auth(Role.SUBMITTER))
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "in": "query", "field": "limit", "message": "Input should be less than or equal to 1000"}


def test_readyz_is_503_when_redis_is_down(client: TestClient, store: RecordingStore) -> None:
    assert client.get("/readyz").status_code == 200
    store.up = False
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")


def test_metrics_expose_store_gauges_and_route_templates(client: TestClient) -> None:
    client.get("/v1/batches/zzz", headers=auth(Role.SUBMITTER))
    client.get("/healthz")
    text = client.get("/metrics").text
    assert 'llmlabel_items{state="needs_review"} 4.0' in text
    assert "llmlabel_review_queue_depth 4.0" in text
    assert "llmlabel_llm_calls_total 7.0" in text
    assert 'llmlabel_llm_tokens_total{kind="completion"} 70.0' in text
    assert "llmlabel_llm_cost_usd_total 0.25" in text
    # cumulative buckets: 2 items <= 0.5 s, 3 <= 2.5 s, 4 in all
    assert 'llmlabel_item_labeling_seconds_bucket{le="0.5"} 2.0' in text
    assert 'llmlabel_item_labeling_seconds_bucket{le="2.5"} 3.0' in text
    assert "llmlabel_item_labeling_seconds_count 4.0" in text
    assert ('llmlabel_http_requests_total{method="GET",route="/v1/batches/{batch_id}",'
            'status="404"} 1.0') in text
    assert "zzz" not in text


def test_openapi_documents_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/batches", "/v1/review/claim", "/v1/tasks/{task}/rollback", "/readyz"} <= set(paths)
    assert client.get("/docs").status_code == 200
