"""Data lifecycle through the real server (finding 12): delete, retention, cursors, the audit log.

A deleted batch must leave nothing behind in Redis but the audit tombstone;
a retention period expires finished batches only; every listing pages with a
cursor that new entries do not disturb; the audit log is readable and filtered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from llmlabel.settings import Settings
from llmlabel.store import Role, Store
from tests.integration.conftest import Processes, service_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

Headers = dict[str, str]
TEAM = "life"


@pytest.fixture
def env(redis_url: str, fake_provider: str, tmp_path: Path) -> dict[str, str]:
    return service_env(redis_url, fake_provider, tmp_path, upkeep_interval_s=0.5)


@pytest.fixture
def client(env: dict[str, str], processes: Processes) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=processes.api(env), timeout=30) as http:
        yield http


@pytest.fixture
def key(store: Store) -> Callable[..., Headers]:
    def make(role: Role, name: str | None = None, team: str = TEAM) -> Headers:
        plain = store.create_api_key(team=team, role=role, name=name or role.value)
        return {"Authorization": f"Bearer {plain}"}

    return make


def submit(client: httpx.Client, auth: Headers, n: int, *, tag: str = "i",
           headers: Headers | None = None, pilot: bool = False) -> str:
    """A classification batch; a pilot sends every item to review (once: no second share)."""
    items = [{"id": f"{tag}{k}", "text": f"lifecycle message {tag} {k} about parcels"}
             for k in range(n)]
    body: dict[str, Any] = {"task": "classification", "items": items}
    if pilot:
        body |= {"pilot": True, "double_review_share": 0}
    response = client.post("/v1/batches", json=body, headers=auth | (headers or {}))
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


def keys_mentioning(redis_url: str, text: str) -> list[str]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return sorted(k for k in client.scan_iter(match="*", count=1000)
                  if text in k or (client.type(k) == "zset" and any(
                      text in m for m in client.zrange(k, 0, -1))))


def test_delete_removes_the_batch_and_keeps_a_tombstone(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes,
    env: dict[str, str], redis_url: str, store: Store,
) -> None:
    submitter, operator = key(Role.SUBMITTER), key(Role.OPERATOR)
    reviewer = key(Role.REVIEWER, "rita")
    totals_before = store.state_totals()
    # A pilot: all 12 wait for review whatever the fake provider's samples say (a plain
    # batch sometimes had none left for the claim below).
    batch_id = submit(client, submitter, 12, headers={"Idempotency-Key": "once"}, pilot=True)
    kept = submit(client, submitter, 2, tag="k")
    processes.run_burst(env, name="w-delete")
    decided = client.post("/v1/review/claim", json={"batch_id": batch_id}, headers=reviewer).json()
    assert decided["batch_id"] == batch_id
    approved = client.post(f"/v1/review/items/{decided['item_id']}/decision",
                           json={"lease_token": decided["lease_token"], "action": "approve"},
                           headers=reviewer)
    assert approved.status_code == 200
    pool = client.get("/v1/projects/classification/examples", headers=operator).json()
    assert decided["item_id"] in [e["id"] for e in pool["examples"]], "approvals enter the pool"
    held = client.post("/v1/review/claim", json={"batch_id": batch_id}, headers=reviewer).json()
    assert held["batch_id"] == batch_id, "the batch needs an item in review for this test"

    assert client.delete(f"/v1/batches/{batch_id}", headers=reviewer).status_code == 403
    outsider = key(Role.ADMIN, team="elsewhere")
    assert client.delete(f"/v1/batches/{batch_id}", headers=outsider).status_code == 404
    deleted = client.delete(f"/v1/batches/{batch_id}", headers=submitter)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["items"] == 12 and deleted.json()["deleted_by"] == f"{TEAM}/submitter"

    for path in ("", "/items", "/results"):
        assert client.get(f"/v1/batches/{batch_id}{path}", headers=submitter).status_code == 404
    assert client.delete(f"/v1/batches/{batch_id}", headers=submitter).status_code == 404
    # Nothing of it is left in Redis: items, labels, samples, state sets, queue entries,
    # the example pool's copy of a reviewed item.
    assert keys_mentioning(redis_url, batch_id) == [], keys_mentioning(redis_url, batch_id)
    pool = client.get("/v1/projects/classification/examples", headers=operator).json()
    assert not [e for e in pool["examples"] if e["id"].startswith(batch_id)]
    late = client.post(f"/v1/review/items/{held['item_id']}/decision",
                       json={"lease_token": held["lease_token"], "action": "approve"},
                       headers=reviewer)
    assert late.status_code == 404
    waiting = store.get_batch(TEAM, kept).counts["needs_review"]
    assert client.get("/v1/review/queue", headers=reviewer).json()["depth"] == waiting
    # The all-teams counters moved back by exactly the deleted batch's items.
    totals = store.state_totals()
    kept_counts = store.get_batch(TEAM, kept).counts
    assert {s: totals.get(s, 0) - totals_before.get(s, 0) for s in kept_counts} == kept_counts

    events = client.get("/v1/audit", params={"batch_id": batch_id}, headers=operator).json()
    assert [e["action"] for e in events["events"]] == ["batch.delete"]
    tombstone = events["events"][0]
    assert tombstone["actor"] == f"{TEAM}/submitter" and tombstone["before"]["items"] == 12
    history = client.get("/v1/review/history", headers=reviewer).json()["entries"]
    assert all(not str(e.get("item_id", "")).startswith(batch_id) for e in history)
    # The idempotency key went with the batch: the same request makes a new batch.
    again = submit(client, submitter, 12, headers={"Idempotency-Key": "once"}, pilot=True)
    assert again != batch_id


def test_an_interrupted_delete_is_finished_by_a_worker(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes,
    env: dict[str, str], redis_url: str, store: Store,
) -> None:
    batch_id = submit(client, key(Role.SUBMITTER), 5)
    # The deleter dies right after the unpublishing step, long ago.
    store._run("BATCH_DELETE",
               [f"ll:t:{TEAM}:b:{batch_id}", f"ll:t:{TEAM}:batches", "ll:dispatch", "ll:purges",
                "ll:totals", f"ll:t:{TEAM}:audit"],
               [f"ll:t:{TEAM}:", TEAM, batch_id, time.time() - 3600, "deleter", 1000])
    assert keys_mentioning(redis_url, batch_id) != []
    # The tombstone is written with the unpublishing step, so the deleter's death cannot lose it.
    events = client.get("/v1/audit", params={"action": "batch.delete"},
                        headers=key(Role.OPERATOR)).json()["events"]
    assert [(e["actor"], e["batch_id"], e["before"]["items"]) for e in events] == [
        ("deleter", batch_id, 5)]
    processes.worker(env, name="w-purge")
    wait_until(lambda: keys_mentioning(redis_url, batch_id) == [], timeout_s=60,
               what="the worker to finish the deletion")


def test_retention_expires_finished_batches_only(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes,
    env: dict[str, str], store: Store,
) -> None:
    operator, submitter, reviewer = key(Role.OPERATOR), key(Role.SUBMITTER), key(Role.REVIEWER)
    finished = submit(client, submitter, 4, tag="f")
    open_ = submit(client, submitter, 12, tag="o")
    processes.run_burst(env, name="w-retention")
    # Review the first batch to the end; the second keeps items waiting for review.
    while (held := client.post("/v1/review/claim", json={"batch_id": finished},
                               headers=reviewer)).status_code == 200:
        body = {"lease_token": held.json()["lease_token"], "action": "approve"}
        client.post(f"/v1/review/items/{held.json()['item_id']}/decision", json=body,
                    headers=reviewer)
    assert store.get_batch(TEAM, finished).state == "done"
    assert store.get_batch(TEAM, open_).state != "done"
    assert client.get("/v1/retention", headers=operator).json()["days"] is None
    assert client.put("/v1/retention", json={"days": 0}, headers=operator).status_code == 422
    assert client.put("/v1/retention", json={"days": 1}, headers=submitter).status_code == 403
    set_ = client.put("/v1/retention", json={"days": 2 / 86_400}, headers=operator)
    assert set_.status_code == 200 and set_.json()["set_by"] == f"{TEAM}/operator"
    time.sleep(2)
    processes.worker(env, name="w-expire")
    wait_until(lambda: client.get(f"/v1/batches/{finished}", headers=submitter).status_code
               == 404, timeout_s=60, what="the finished batch to expire")
    assert client.get(f"/v1/batches/{open_}", headers=submitter).status_code == 200
    events = client.get("/v1/audit", params={"action": "batch.delete"}, headers=operator).json()
    assert [(e["actor"], e["batch_id"]) for e in events["events"]] == [("retention", finished)]
    assert client.put("/v1/retention", json={"days": None}, headers=operator).json()["days"] is None


def pages(client: httpx.Client, path: str, headers: Headers, field: str, **params: Any
          ) -> list[list[Any]]:
    out, cursor = [], None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        body = client.get(path, params=query, headers=headers).json()
        out.append(body[field])
        cursor = body["next_cursor"]
        if cursor is None:
            return out


def test_every_listing_pages_with_a_stable_cursor(
    client: httpx.Client, key: Callable[..., Headers], make_settings: Callable[..., Settings],
) -> None:
    submitter, operator = key(Role.SUBMITTER), key(Role.OPERATOR)
    made = [submit(client, submitter, 1, tag=f"p{k}") for k in range(7)]
    first = client.get("/v1/batches", params={"limit": 3}, headers=submitter).json()
    assert [b["id"] for b in first["batches"]] == made[::-1][:3]
    newer = submit(client, submitter, 1, tag="new")  # arrives between two pages
    rest = pages(client, "/v1/batches", submitter, "batches", limit=3,
                 cursor=first["next_cursor"])
    seen = [b["id"] for b in first["batches"]] + [b["id"] for page in rest for b in page]
    assert seen == made[::-1] and newer not in seen, "no repeats, no skips, no shift"

    big = submit(client, submitter, 10, tag="big")
    item_pages = pages(client, f"/v1/batches/{big}/items", submitter, "items", limit=4)
    assert [len(p) for p in item_pages] == [4, 4, 2]
    assert [i["id"] for p in item_pages for i in p] == [f"big{k}" for k in range(10)]
    queued = pages(client, f"/v1/batches/{big}/items", submitter, "items", limit=3,
                   state="queued")
    assert sum(len(p) for p in queued) == 10

    for k in range(5):
        client.post("/v1/keys", json={"role": "submitter", "name": f"k{k}"}, headers=operator)
    key_pages = pages(client, "/v1/keys", operator, "keys", limit=2)
    names = [k["name"] for p in key_pages for k in p]
    assert len(names) == len(set(names)) and {f"k{k}" for k in range(5)} <= set(names)
    audit = pages(client, "/v1/audit", operator, "events", limit=2, action="key.create")
    assert sum(len(p) for p in audit) == len(names)
    bad = client.get("/v1/batches", params={"cursor": "not-a-cursor"}, headers=submitter)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_the_audit_log_is_the_teams_and_filters(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes,
    env: dict[str, str],
) -> None:
    operator, submitter = key(Role.OPERATOR, "olga"), key(Role.SUBMITTER)
    reviewer = key(Role.REVIEWER, "rita")
    batch_id = submit(client, submitter, 12)
    processes.run_burst(env, name="w-audit")
    held = client.post("/v1/review/claim", headers=reviewer).json()
    client.post(f"/v1/review/items/{held['item_id']}/decision",
                json={"lease_token": held["lease_token"], "action": "reject"}, headers=reviewer)
    for role in (Role.SUBMITTER, Role.REVIEWER):
        assert client.get("/v1/audit", headers=key(role)).status_code == 403
    other = key(Role.ADMIN, team="elsewhere")
    middle = time.time()
    client.post("/v1/keys", json={"role": "reviewer", "name": "late"}, headers=operator)
    assert client.get("/v1/audit", params={"actor": "rita"}, headers=other).json()["events"] == []

    def actions(**params: Any) -> list[str]:
        body = client.get("/v1/audit", params=params, headers=operator).json()
        return [e["action"] for e in body["events"]]

    assert actions(actor="rita") == ["review.reject"]
    assert actions(action="review.") == ["review.reject"]
    assert actions(batch_id=batch_id) == ["review.reject"]
    assert actions(since=middle) == ["key.create"]
    assert "review.reject" in actions(until=middle) and "key.create" in actions(until=middle)
    newest = client.get("/v1/audit", params={"limit": 1}, headers=operator).json()
    assert newest["events"][0]["action"] == "key.create" and newest["next_cursor"]
