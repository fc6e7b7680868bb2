"""Provider storms: 30% 5xx, bursts of 429, hung requests, malformed JSON, all at once.

The fake provider is reconfigured at runtime (`POST /config`) while two workers
label a batch. Items the retry layer cannot save end `failed` with the provider
error; everything else is labeled exactly once. Then the storm stops, an
operator retries the failed items, and they are labeled too, still once each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmlabel.settings import Settings
from llmlabel.store import Store
from tests.integration.conftest import Processes, provider, service_env, wait_until
from tests.support.fault_checks import check_settled, is_settled, submit_classification

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

N_ITEMS = 500
STORM = {"error_rate": 0.3, "timeout_rate": 0.04, "timeout_sleep_s": 3.0, "malformed_rate": 0.15}
CALM = {"error_rate": 0.0, "timeout_rate": 0.0, "malformed_rate": 0.0, "throttle_rate": 0.0}
BURSTS = 3
BURST_S = 1.0


def test_provider_storm_settles_every_item_exactly_once(
    make_settings: Callable[..., Settings], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    store = Store.from_settings(make_settings())
    items = [
        {"id": f"s{i}", "text": f"Ticket {i}: {'thanks!' if i % 2 else 'still broken'}"}
        for i in range(N_ITEMS)
    ]
    batch_id = submit_classification(store, items, request_hash="storm")
    with provider(latency_ms=60, latency_jitter_ms=20, disagree_rate=0.2) as base_url:
        control = httpx.Client(base_url=base_url.removesuffix("/v1"), timeout=10)

        def configure(**options: Any) -> None:
            control.post("/config", json=options).raise_for_status()

        configure(**STORM)
        env = service_env(
            redis_url,
            base_url,
            tmp_path,
            worker_concurrency=8,
            request_timeout_s=1,
            max_retries=3,
            labeling_lease_s=30,
            reap_interval_s=1,
        )
        for i in range(2):
            processes.worker(env, name=f"w{i}")
        wait_until(
            lambda: store.get_batch("acme", batch_id).counts["labeling"] > 0,
            timeout_s=60,
            what="the workers to start labeling",
            every_s=0.05,
        )
        # Bursts of 429s (with a short Retry-After) on top of the storm.
        for _ in range(BURSTS):
            time.sleep(1.0)
            configure(throttle_rate=1.0, throttle_retry_after_s=0.3)
            time.sleep(BURST_S)
            configure(throttle_rate=0.0)
        wait_until(
            lambda: is_settled(store, "acme", batch_id),
            timeout_s=150,
            what="the batch to settle during the storm",
            every_s=0.25,
        )
        stormy = control.get("/stats").json()
        first = check_settled(store, "acme", batch_id, [i["id"] for i in items], allow_failed=True)

        # The storm really happened, in every kind.
        for counter in ("server_errors", "rate_limited", "timeouts", "malformed"):
            assert stormy[counter] > 0, (counter, stormy)
        for item in first.items.values():
            if item.state == "failed":
                # check_settled asserted the error is set; it names the provider failure.
                assert item.error and ("provider" in item.error or "Error" in item.error), (
                    item.error
                )

        configure(**CALM)
        failed = first.states["failed"]
        assert store.retry_failed("acme", batch_id, actor="ops") == failed
        wait_until(
            lambda: is_settled(store, "acme", batch_id),
            timeout_s=90,
            what="the retried items to settle",
            every_s=0.25,
        )
        calls_served = control.get("/stats").json()["ok"]

    final = check_settled(store, "acme", batch_id, [i["id"] for i in items], allow_failed=False)
    kinds = ("requests", "ok", "server_errors", "rate_limited", "timeouts", "malformed")
    print(f"storm: {dict(first.states)} provider={ {k: stormy[k] for k in kinds} }")
    # Labels made during the storm were not touched by the retry.
    for item_id, item in first.items.items():
        if item.state != "failed":
            assert final.items[item_id].label == item.label
            assert final.items[item_id].updated_at == item.updated_at
    assert sum(i.usage.calls for i in final.items.values()) <= calls_served
