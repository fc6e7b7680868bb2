"""Store batches against a real Redis: counters, idempotency, team isolation, all-or-nothing submit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis

from llmlabel.domain import ItemState
from llmlabel.errors import ConflictError, NotFoundError, StoreError
from llmlabel.settings import Settings
from llmlabel.store import BatchCreate, Store
from llmlabel.store import keys as store_keys
from tests.integration.conftest import principal

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def make_batch(n: int, task: str = "classification", **extra: Any) -> BatchCreate:
    items = [{"id": f"t{i}", "text": f"text number {i}"} for i in range(n)]
    return BatchCreate(task=task, items=items, guideline_version="v1", prompt_version="v1", **extra)


def test_create_batch_stores_items_counters_and_ready_list(store: Store) -> None:
    info, created = store.create_batch(
        principal(), make_batch(70), idempotency_key=None, request_hash="h"
    )
    assert created
    assert info.total == 70
    assert info.counts[ItemState.QUEUED] == 70
    assert set(info.counts) == {s.value for s in ItemState}
    assert info.state == "running" and not info.labeled and info.progress == 0.0
    assert info.guideline_version == "v1" and info.prompt_version == "v1"
    # Every item waits on the batch's ready list, in submit order.
    assert store.ready_count() == 70
    assert [w.item_id for w in store.claim_labeling(2)] == [f"{info.id}:0", f"{info.id}:1"]
    assert store.check_counters("acme", info.id).ok
    assert store.state_totals()[ItemState.QUEUED] == 68


def test_batch_and_items_keep_the_project_and_content_hashes(store: Store) -> None:
    batch = make_batch(2).model_copy(update={
        "project": "spam", "guideline_hash": "a" * 64, "prompt_hash": "b" * 64,
        "model_profile": "fast",
    })
    info, _ = store.create_batch(principal(), batch, idempotency_key=None, request_hash="h")
    assert (info.project, info.guideline_version, info.prompt_version) == ("spam", "v1", "v1")
    item = store.get_item("acme", f"{info.id}:0")
    assert (item.project, item.guideline_hash, item.prompt_hash) == ("spam", "a" * 64, "b" * 64)
    work = next(w for w in store.claim_labeling(10) if w.item_id == f"{info.id}:0")
    assert (work.project, work.guideline_hash, work.prompt_hash, work.model_profile) == (
        "spam", "a" * 64, "b" * 64, "fast")


def test_idempotent_resubmit_returns_the_same_batch(store: Store) -> None:
    first, created = store.create_batch(
        principal(), make_batch(5), idempotency_key="k1", request_hash="h1"
    )
    again, created_again = store.create_batch(
        principal(), make_batch(5), idempotency_key="k1", request_hash="h1"
    )
    assert created and not created_again
    assert again.id == first.id
    assert len(store.list_batches("acme")) == 1
    assert store.ready_count() == 5
    with pytest.raises(ConflictError):
        store.create_batch(principal(), make_batch(6), idempotency_key="k1", request_hash="other")
    # The same key in another team is another key.
    other, created_other = store.create_batch(
        principal("globex"), make_batch(5), idempotency_key="k1", request_hash="h1"
    )
    assert created_other and other.id != first.id


def test_concurrent_submits_with_one_key_create_one_batch(
    make_settings: Callable[..., Settings],
) -> None:
    results: list[str] = []
    errors: list[Exception] = []

    def submit() -> None:
        store = Store.from_settings(make_settings())
        try:
            info, _ = store.create_batch(
                principal(), make_batch(300), idempotency_key="same", request_hash="h"
            )
            results.append(info.id)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1
    store = Store.from_settings(make_settings())
    assert len(store.list_batches("acme")) == 1
    # The losers' items were deleted: only one batch worth of item hashes exists.
    assert (
        len(list(store.redis.scan_iter(match=store_keys.team_prefix("acme") + "i:*", count=1000)))
        == 300
    )
    assert store.state_totals()[ItemState.QUEUED] == 300


def test_failed_enqueue_leaves_nothing_behind(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(team: str, item_ids: list[str]) -> int:
        raise redis.ConnectionError("queue is down")

    monkeypatch.setattr(store, "_enqueue", broken)
    with pytest.raises(StoreError, match="enqueue"):
        store.create_batch(principal(), make_batch(2500), idempotency_key="k", request_hash="h")
    assert store.list_batches("acme") == []
    assert list(store.redis.scan_iter(match=store_keys.team_prefix("acme") + "*")) == []
    assert store.redis.get(store_keys.idempotency("acme", "k")) is None
    assert all(v == 0 for v in store.state_totals().values())
    monkeypatch.undo()
    # The same idempotency key works afterwards: nothing of the failed attempt counts.
    info, created = store.create_batch(
        principal(), make_batch(3), idempotency_key="k", request_hash="h"
    )
    assert created and info.total == 3


def test_failed_item_write_leaves_nothing_behind(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store._write_items
    calls = {"n": 0}

    def half(*args: Any) -> None:
        real(*args)
        calls["n"] += 1
        raise redis.ConnectionError("connection lost mid-batch")

    monkeypatch.setattr(store, "_write_items", half)
    with pytest.raises(StoreError):
        store.create_batch(principal(), make_batch(1500), idempotency_key=None, request_hash="h")
    assert calls["n"] == 1
    assert list(store.redis.scan_iter(match=store_keys.team_prefix("acme") + "*")) == []


def test_other_teams_see_nothing(store: Store) -> None:
    info, _ = store.create_batch(principal(), make_batch(3), idempotency_key=None, request_hash="h")
    with pytest.raises(NotFoundError):
        store.get_batch("globex", info.id)
    with pytest.raises(NotFoundError):
        store.get_item("globex", f"{info.id}:0")
    with pytest.raises(NotFoundError):
        store.list_items("globex", info.id)
    with pytest.raises(NotFoundError):
        store.retry_failed("globex", info.id, actor="x")
    assert store.list_batches("globex") == []
    with pytest.raises(NotFoundError):
        store.get_item("acme", "not-an-id")
    # Ids that would alias other keys of the team are not found either (not a Redis type error).
    with pytest.raises(NotFoundError):
        store.get_batch("acme", f"{info.id}:s:queued")
    with pytest.raises(NotFoundError):
        store.list_items("acme", f"{info.id}:s:queued")


def test_list_items_pages_in_submit_order_and_filters_by_state(store: Store) -> None:
    info, _ = store.create_batch(
        principal(), make_batch(1200), idempotency_key=None, request_hash="h"
    )
    page = store.list_items("acme", info.id, offset=10, limit=5)
    assert [i.id for i in page] == ["t10", "t11", "t12", "t13", "t14"]
    assert page[0].input == {"id": "t10", "text": "text number 10"}
    assert page[0].state == ItemState.QUEUED and page[0].label is None
    assert store.list_items("acme", info.id, offset=1198, limit=10)[-1].id == "t1199"
    queued = store.list_items("acme", info.id, state=ItemState.QUEUED, offset=0, limit=3)
    assert [i.item_id for i in queued] == [f"{info.id}:0", f"{info.id}:1", f"{info.id}:2"]
    assert store.list_items("acme", info.id, state=ItemState.FAILED, offset=0, limit=3) == []
    results = list(store.iter_results("acme", info.id))
    assert [r.id for r in results] == [f"t{i}" for i in range(1200)]


def test_items_without_client_id_get_their_index(store: Store) -> None:
    batch = BatchCreate(
        task="classification",
        items=[{"text": "a"}, {"text": "b"}],
        guideline_version="v1",
        prompt_version="v1",
    )
    info, _ = store.create_batch(principal(), batch, idempotency_key=None, request_hash="h")
    assert [i.id for i in store.iter_results("acme", info.id)] == ["0", "1"]


def test_list_batches_newest_first_with_metadata(store: Store) -> None:
    a, _ = store.create_batch(
        principal(), make_batch(1, metadata={"run": 1}), idempotency_key=None, request_hash="a"
    )
    b, _ = store.create_batch(
        principal(), make_batch(1, callback_url="http://cb"), idempotency_key=None, request_hash="b"
    )
    listed = store.list_batches("acme")
    assert [x.id for x in listed] == [b.id, a.id]
    assert listed[1].metadata == {"run": 1}
    assert listed[0].callback_url == "http://cb"
    assert [x.id for x in store.list_batches("acme", limit=1)] == [b.id]
