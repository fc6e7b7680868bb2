"""Worker end to end: real `llmlabel worker` processes, real Redis, the fake provider."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmlabel.domain import ItemState, LabelRecord, Route
from llmlabel.errors import LeaseError
from llmlabel.settings import Settings
from llmlabel.store import BatchCreate, Decision, Role, Store
from tests.integration.conftest import Processes, principal, provider, service_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REVIEWER = principal(role=Role.REVIEWER, name="rita")


class Receiver:
    """A local HTTP endpoint that records the JSON bodies POSTed to it (batch callbacks)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/done"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def submit(
    store: Store, n: int, task: str = "classification", callback_url: str | None = None
) -> str:
    items = [
        {"id": f"t{i}", "text": f"customer message number {i}: the parcel arrived"}
        for i in range(n)
    ]
    info, _ = store.create_batch(
        principal(),
        BatchCreate(
            task=task,
            items=items,
            guideline_version="v1",
            prompt_version="v1",
            callback_url=callback_url,
        ),
        idempotency_key=None,
        request_hash="h",
    )
    return info.id


def provider_calls(base_url: str) -> int:
    stats = httpx.get(base_url.removesuffix("/v1") + "/stats", timeout=5).json()
    return int(stats["requests"])


def test_batch_is_labeled_reviewed_and_never_labeled_twice(
    make_settings: Callable[..., Settings],
    redis_url: str,
    fake_provider: str,
    processes: Processes,
    tmp_path: Path,
    receiver: Receiver,
) -> None:
    store = Store.from_settings(make_settings())
    totals_before = store.llm_totals()
    batch = submit(store, 24, callback_url=receiver.url)
    # Webhooks reach loopback receivers only when the operator allows them.
    env = service_env(redis_url, fake_provider, tmp_path, callback_allow="127.0.0.1")
    processes.run_burst(env, name="w1")

    info = store.get_batch("acme", batch)
    assert info.labeled
    assert info.counts[ItemState.FAILED] == 0
    assert info.counts[ItemState.AUTO_ACCEPTED] + info.counts[ItemState.NEEDS_REVIEW] == 24
    # The provider answers 30% of items inconsistently: both routes must occur.
    assert info.counts[ItemState.AUTO_ACCEPTED] > 0 and info.counts[ItemState.NEEDS_REVIEW] > 0
    assert info.usage.calls >= 24 and info.usage.prompt_tokens > 0
    assert store.check_counters("acme", batch).ok
    # The all-teams totals behind /metrics moved by exactly this batch's usage and items.
    totals = store.llm_totals()
    assert totals.calls - totals_before.calls == info.usage.calls
    assert totals.prompt_tokens - totals_before.prompt_tokens == info.usage.prompt_tokens
    labeled_now = sum(totals.latency_buckets.values()) - sum(totals_before.latency_buckets.values())
    assert labeled_now == 24 and totals.latency_sum_s > totals_before.latency_sum_s
    items = list(store.iter_results("acme", batch))
    assert all(i.label_writes == 1 and i.attempts == 1 for i in items)
    assert all(i.label is not None and i.model == "fake-model" and i.samples for i in items)
    accepted = [i for i in items if i.state == ItemState.AUTO_ACCEPTED]
    review = [i for i in items if i.state == ItemState.NEEDS_REVIEW]
    assert min(i.confidence or 0 for i in accepted) > max(i.confidence or 0 for i in review)
    # The batch's callback was posted once, with the finished progress.
    assert len(receiver.bodies) == 1
    event = receiver.bodies[0]
    assert event["type"] == "batch.labeled"
    assert event["batch"]["id"] == batch and event["batch"]["labeled"] is True

    # A duplicate of every ready entry (a double push) labels nothing again.
    calls_before = provider_calls(fake_provider)
    store._enqueue("acme", [i.item_id for i in items])
    processes.run_burst(env, name="w2")
    assert provider_calls(fake_provider) == calls_before
    assert len(receiver.bodies) == 1
    assert all(i.label_writes == 1 for i in store.iter_results("acme", batch))
    assert store.check_counters("acme", batch).ok

    # Review: approve one, fix another; results carry the human label.
    first = store.claim_review(REVIEWER)
    second = store.claim_review(REVIEWER)
    assert first is not None and second is not None and first.item_id != second.item_id
    store.decide(REVIEWER, first.item_id, lease_token=first.lease_token, decision=Decision.APPROVE)
    store.decide(
        REVIEWER,
        second.item_id,
        lease_token=second.lease_token,
        decision=Decision.FIX,
        label={"label": "negative"},
    )
    results = {i.item_id: i for i in store.iter_results("acme", batch)}
    assert (
        results[first.item_id].state == ItemState.APPROVED
        and results[first.item_id].source == "llm"
    )
    assert results[second.item_id].state == ItemState.FIXED
    assert (
        results[second.item_id].label == {"label": "negative"}
        and results[second.item_id].source == "human"
    )
    final = store.get_batch("acme", batch)
    assert final.done == len(accepted) + 2
    assert store.check_counters("acme", batch).ok


def test_provider_failures_fail_items_and_retry_failed_labels_them(
    make_settings: Callable[..., Settings], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    store = Store.from_settings(make_settings())
    with provider(latency_ms=5, latency_jitter_ms=0, error_rate=1.0) as base_url:
        batch = submit(store, 6)
        env = service_env(redis_url, base_url, tmp_path, max_retries=1)
        processes.run_burst(env, name="failing")
        info = store.get_batch("acme", batch)
        assert info.counts[ItemState.FAILED] == 6 and info.labeled and info.state == "done"
        failed = store.get_item("acme", f"{batch}:0")
        assert failed.error and failed.attempts == 1 and failed.label is None
        assert store.check_counters("acme", batch).ok

        httpx.post(
            base_url.removesuffix("/v1") + "/config", json={"error_rate": 0.0}, timeout=5
        ).raise_for_status()
        assert store.retry_failed("acme", batch, actor="op") == 6
        processes.run_burst(env, name="retry")
        info = store.get_batch("acme", batch)
        assert info.counts[ItemState.FAILED] == 0
        assert info.counts[ItemState.AUTO_ACCEPTED] + info.counts[ItemState.NEEDS_REVIEW] == 6
        relabeled = store.get_item("acme", f"{batch}:0")
        assert relabeled.error is None and relabeled.attempts == 2 and relabeled.label_writes == 1
        assert store.check_counters("acme", batch).ok


def test_worker_housekeeping_returns_expired_review_leases(
    make_settings: Callable[..., Settings],
    redis_url: str,
    fake_provider: str,
    processes: Processes,
    tmp_path: Path,
) -> None:
    store = Store.from_settings(make_settings(review_lease_s=5))
    batch = submit(store, 1)
    (work,) = store.claim_labeling(1)
    assert work.batch_id == batch
    record = LabelRecord(
        id=work.item_id,
        task="classification",
        label={"label": "neutral"},
        confidence=0.3,
        route=Route.REVIEW,
        reason="low agreement",
        samples_used=3,
        guideline_version="v1",
        guideline_hash="g",
        prompt_version="v1",
        prompt_hash="p",
        backend="openai",
        model="m",
    )
    assert store.save_label(work, record)
    claim = store.claim_review(REVIEWER)
    assert claim is not None
    # Nobody claims again: the running worker's housekeeping alone must release the lease.
    processes.worker(
        service_env(redis_url, fake_provider, tmp_path, reap_interval_s=1), name="keeper"
    )
    wait_until(
        lambda: store.get_item("acme", work.item_id).state == ItemState.NEEDS_REVIEW,
        timeout_s=20,
        what="the expired review lease to be released",
    )
    with pytest.raises(LeaseError):
        store.decide(
            REVIEWER, work.item_id, lease_token=claim.lease_token, decision=Decision.APPROVE
        )
    again = store.claim_review(REVIEWER)
    assert again is not None and again.item_id == work.item_id
