"""Budgets end to end: a batch cap of a few cents, paused items, a raised cap, the estimate.

A real API and worker label against the fake provider with prices set. The
batch's spend never passes its cap, neither in the ledger nor by the provider's
own token counts; what the cap cannot take is paused (not failed); raising the
cap resumes it and every item is labeled exactly once. A dry run of a 500-item
batch is then compared with what labeling it really cost.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmlabel.settings import Settings
from llmlabel.store import Role, Store
from tests.integration.conftest import Processes, provider, service_env, wait_until
from tests.support.fault_checks import check_settled

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PRICES = {"price_input_per_mtok": 10.0, "price_output_per_mtok": 20.0}
CAP = 0.05


def provider_cost(stats: dict[str, Any]) -> float:
    return (stats["prompt_tokens"] * 10.0 + stats["completion_tokens"] * 20.0) / 1e6


def tickets(n: int, prefix: str = "t") -> list[dict[str, str]]:
    moods = ["thanks, works now", "still broken after the update", "meh, it is fine I guess"]
    return [{"id": f"{prefix}{i}", "text": f"Ticket {i}: {moods[i % 3]}"} for i in range(n)]


def test_cap_pauses_then_a_raised_cap_labels_each_item_once(
    make_settings: Callable[..., Settings], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    store = Store.from_settings(make_settings())
    sub = {"Authorization": "Bearer " + store.create_api_key(team="acme", role=Role.SUBMITTER)}
    ops = {"Authorization": "Bearer " + store.create_api_key(team="acme", role=Role.OPERATOR)}
    items = tickets(40)
    with provider(latency_ms=10, latency_jitter_ms=5, disagree_rate=0.3) as base_url:
        control = httpx.Client(base_url=base_url.removesuffix("/v1"), timeout=10)
        env = service_env(redis_url, base_url, tmp_path, worker_concurrency=8, **PRICES)
        api = httpx.Client(base_url=processes.api(env), timeout=30)
        processes.worker(env, name="w")
        body = {"task": "classification", "items": items, "max_cost_usd": CAP}
        created = api.post("/v1/batches", json=body, headers=sub)
        assert created.status_code == 201, created.text
        batch_id = created.json()["id"]

        def paused() -> dict[str, Any] | None:
            batch = api.get(f"/v1/batches/{batch_id}", headers=sub).json()
            return batch if batch["state"] == "paused" else None

        batch = wait_until(paused, timeout_s=90, what="the cap to pause the batch")
        stats = control.get("/stats").json()
        counts = batch["counts"]
        assert counts["failed"] == 0 and counts["paused"] > 0, counts
        assert counts["auto_accepted"] + counts["needs_review"] > 0, counts
        # Never past the cap: by the ledger, and by what the provider itself counted.
        assert batch["cost_usd"] <= CAP and batch["spend"]["reserved_usd"] == 0
        assert provider_cost(stats) <= CAP
        assert batch["spend"]["requests"] == stats["requests"]
        assert batch["projected_cost_usd"] > CAP
        paused_items = api.get(
            f"/v1/batches/{batch_id}/items", params={"state": "paused"}, headers=sub
        ).json()["items"]
        assert paused_items and all(i["state"] == "paused" for i in paused_items)
        spent_at_pause = batch["cost_usd"]
        print(f"cap ${CAP}: spent ${spent_at_pause:.5f} (provider ${provider_cost(stats):.5f}), "
              f"paused {counts['paused']} of {len(items)}")

        assert api.patch(f"/v1/batches/{batch_id}", json={"max_cost_usd": 1.0},
                         headers=sub).status_code == 403
        raised = api.patch(f"/v1/batches/{batch_id}", json={"max_cost_usd": 1.0}, headers=ops)
        assert raised.status_code == 200, raised.text
        assert raised.json()["resumed"] == counts["paused"]
        wait_until(
            lambda: api.get(f"/v1/batches/{batch_id}", headers=sub).json()["labeled"],
            timeout_s=90, what="the resumed items",
        )
        stats = control.get("/stats").json()
    final = check_settled(store, "acme", batch_id, [i["id"] for i in items], allow_failed=False)
    assert final.states["paused"] == 0
    info = store.get_batch("acme", batch_id)
    assert info.spend.requests == stats["requests"]
    assert info.spend.cost_usd == pytest.approx(provider_cost(stats), rel=1e-6)


def test_estimate_of_a_500_item_batch_is_within_20_percent(
    make_settings: Callable[..., Settings], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    store = Store.from_settings(make_settings())
    sub = {"Authorization": "Bearer " + store.create_api_key(team="acme", role=Role.SUBMITTER)}
    items = tickets(500, prefix="e")
    with provider(latency_ms=2, latency_jitter_ms=1, disagree_rate=0.3) as base_url:
        control = httpx.Client(base_url=base_url.removesuffix("/v1"), timeout=10)
        env = service_env(
            redis_url, base_url, tmp_path, worker_concurrency=32, requests_per_minute=6000,
            **PRICES,
        )
        api = httpx.Client(base_url=processes.api(env), timeout=60)
        body = {"task": "classification", "items": items}
        dry = api.post("/v1/batches", params={"dry_run": "true"}, json=body, headers=sub)
        assert dry.status_code == 200, dry.text
        estimate = dry.json()
        assert store.list_batches("acme") == []  # a dry run stores nothing
        assert estimate["cost_usd_min"] < estimate["cost_usd_expected"] < estimate["cost_usd_max"]
        assert estimate["calls_min"] == 500 and estimate["minutes_at_rate_limit"] > 0
        processes.worker(env, name="w")
        batch_id = api.post("/v1/batches", json=body, headers=sub).json()["id"]
        wait_until(
            lambda: api.get(f"/v1/batches/{batch_id}", headers=sub).json()["labeled"],
            timeout_s=180, what="the 500-item batch",
        )
        measured = api.get(f"/v1/batches/{batch_id}", headers=sub).json()
        stats = control.get("/stats").json()
        # A second dry run learns the unsettled share from the labels just made.
        again = api.post("/v1/batches", params={"dry_run": "true"}, json=body, headers=sub).json()
    cost = measured["cost_usd"]
    assert cost == pytest.approx(provider_cost(stats), rel=1e-6)
    error = estimate["cost_usd_expected"] / cost - 1
    error_again = again["cost_usd_expected"] / cost - 1
    print(
        f"estimate 500 items: expected ${estimate['cost_usd_expected']:.4f} "
        f"(range {estimate['cost_usd_min']:.4f}..{estimate['cost_usd_max']:.4f}), "
        f"measured ${cost:.4f}: {error:+.1%}; with history ${again['cost_usd_expected']:.4f}: "
        f"{error_again:+.1%}; calls expected {estimate['calls_expected']}, "
        f"made {measured['spend']['requests']}"
    )
    assert estimate["cost_usd_min"] <= cost <= estimate["cost_usd_max"]
    assert abs(error) <= 0.2 and abs(error_again) <= 0.2
