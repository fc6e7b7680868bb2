"""Offline mode end to end: a batch labeled through the fake provider's Batch API.

A real API and worker; the fake provider answers provider batches (files,
batches, output and error files) and fails a fifth of the lines. Every item is
labeled once, the items that disagree take a second round (a second provider
batch), failed lines are retried in the next one, nothing goes through the
synchronous endpoint, and the ledger holds every line at half price.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from llmlabel.settings import Settings
from llmlabel.store import Role, Store
from tests.integration.conftest import Processes, provider, service_env, wait_until
from tests.support.fault_checks import check_settled

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_offline_batch_is_labeled_through_provider_batches(
    make_settings: Callable[..., Settings], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    store = Store.from_settings(make_settings())
    sub = {"Authorization": "Bearer " + store.create_api_key(team="acme", role=Role.SUBMITTER)}
    items = [{"id": f"o{i}", "text": f"Ticket {i}: {'works' if i % 2 else 'broken'}"} for i in range(30)]
    with provider(latency_ms=5, disagree_rate=0.3, error_rate=0.2, batch_delay_s=0.3) as base_url:
        control = httpx.Client(base_url=base_url.removesuffix("/v1"), timeout=10)
        env = service_env(
            redis_url, base_url, tmp_path, offline_poll_s=0.3, offline_flush_s=0.3, max_retries=6,
            price_input_per_mtok=10.0, price_output_per_mtok=20.0,
        )
        api = httpx.Client(base_url=processes.api(env), timeout=30)
        processes.worker(env, name="w")
        body = {"task": "classification", "items": items, "mode": "offline"}
        created = api.post("/v1/batches", json=body, headers=sub)
        assert created.status_code == 201, created.text
        batch_id = created.json()["id"]
        assert created.json()["mode"] == "offline"
        wait_until(
            lambda: api.get(f"/v1/batches/{batch_id}", headers=sub).json()["labeled"],
            timeout_s=120, what="the offline batch",
        )
        stats = control.get("/stats").json()
        batch = api.get(f"/v1/batches/{batch_id}", headers=sub).json()
    final = check_settled(store, "acme", batch_id, [i["id"] for i in items], allow_failed=False)
    assert all(item.label_writes == 1 for item in final.items.values())
    assert stats["batch_lines"] == stats["requests"], "a line went through the sync endpoint"
    assert stats["provider_batches"] >= 2 and stats["server_errors"] > 0, stats
    spend = batch["spend"]
    assert spend["requests"] == stats["requests"] and spend["failed"] == stats["server_errors"]
    assert (spend["prompt_tokens"], spend["completion_tokens"]) == (
        stats["prompt_tokens"], stats["completion_tokens"]
    )
    full_price = (stats["prompt_tokens"] * 10.0 + stats["completion_tokens"] * 20.0) / 1e6
    assert spend["cost_usd"] == pytest.approx(full_price / 2, rel=1e-6)
    assert spend["reserved_usd"] == 0
    more = [i for i in final.items.values() if len(i.samples) > 3]
    assert more, "no item needed a second round"
    print(f"offline: {stats['provider_batches']} provider batches, {stats['requests']} lines "
          f"({stats['server_errors']} failed and retried), {len(more)} items in a second round, "
          f"${spend['cost_usd']:.4f} (half of ${full_price:.4f})")
