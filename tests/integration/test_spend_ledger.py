"""The ledger equals the provider's own counts, call for call, through a provider storm.

20 % 500s, 10 % hung requests (past the client timeout) and bursts of 429s hit a
real worker labeling a batch, then a gold upload, then an evaluation of a
version on that gold set. The fake provider is reset between the three, so its
request and token counters are the truth for each ledger scope: every attempt
(failed, timed out, rate-limited and retried ones too) must be in the ledger once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmlabel.settings import Settings
from llmlabel.store import Store
from llmlabel.store.gold_models import GoldCreate
from tests.integration.conftest import Processes, principal, provider, service_env, wait_until
from tests.support.fault_checks import is_settled, submit_classification

# Generous hang guards: on a loaded 2-core machine the storm phases take minutes, not seconds.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

STORM = {"error_rate": 0.2, "timeout_rate": 0.1, "timeout_sleep_s": 1.5}


def bursts(control: httpx.Client, stop: threading.Event) -> None:
    """429 for everything, 0.4 s at a time, until stopped."""
    while not stop.wait(0.6):
        control.post("/config", json={"throttle_rate": 1.0, "throttle_retry_after_s": 0.1})
        time.sleep(0.4)
        control.post("/config", json={"throttle_rate": 0.0})


def storm_phase(control: httpx.Client, run: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Reset the provider's counters, run one phase under 429 bursts, return its stats."""
    control.post("/reset").raise_for_status()
    stop = threading.Event()
    thread = threading.Thread(target=bursts, args=(control, stop), daemon=True)
    thread.start()
    try:
        result = run()
    finally:
        stop.set()
        thread.join()
    time.sleep(0.2)  # calls settle right after their answer; let the last ones land
    return result, control.get("/stats").json()


def assert_same(store: Store, scope: str, stats: dict[str, Any]) -> dict[str, int]:
    spend = store.scope_spend("acme", scope)
    ledger = {
        "requests": spend.requests,
        "prompt_tokens": spend.prompt_tokens,
        "completion_tokens": spend.completion_tokens,
        "cached_tokens": spend.cached_tokens,
    }
    provider_counts = {k: stats[k] for k in ledger}
    assert ledger == provider_counts, (scope, ledger, provider_counts)
    assert spend.reserved_usd == 0 and spend.unsettled == 0
    failed = stats["server_errors"] + stats["timeouts"] + stats["rate_limited"]
    assert spend.failed == failed and spend.timeouts == stats["timeouts"], (spend, stats)
    return ledger


def test_ledger_equals_provider_counts_for_batch_gold_and_evaluation(
    make_settings: Callable[..., Settings], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    store = Store.from_settings(make_settings())
    items = [{"id": f"i{n}", "text": f"Ticket {n}: {'fine' if n % 3 else 'broken'}"} for n in range(30)]
    with provider(latency_ms=10, latency_jitter_ms=5, disagree_rate=0.3, **STORM) as base_url:
        control = httpx.Client(base_url=base_url.removesuffix("/v1"), timeout=10)
        env = service_env(
            redis_url,
            base_url,
            tmp_path,
            worker_concurrency=8,
            request_timeout_s=0.5,
            max_retries=8,
            price_input_per_mtok=1.0,
            price_output_per_mtok=2.0,
        )
        processes.worker(env, name="w")

        def label_batch() -> str:
            batch_id = submit_classification(store, items, request_hash="ledger")
            wait_until(lambda: is_settled(store, "acme", batch_id), timeout_s=240, what="the batch")
            return batch_id

        batch_id, stats = storm_phase(control, label_batch)
        counts = {"batch": assert_same(store, f"batch:{batch_id}", stats)}
        assert stats["server_errors"] and stats["timeouts"] and stats["rate_limited"], stats

        def upload_gold() -> str:
            golds = [
                GoldCreate(id=f"g{n}", input={"text": items[n]["text"]}, label={"label": "negative"})
                for n in range(8)
            ]
            stored = store.add_gold(
                principal(), "classification", golds,
                guideline_version="v1", prompt_version="v1", actor="ops",
            )
            ids = [g.gold_id for g in stored]
            wait_until(
                lambda: len(store.gold_records("acme", ids)) == len(ids)
                and all(store.gold_records("acme", ids).values()),
                timeout_s=240, what="gold labeling",
            )
            return ids[0].rpartition(":")[0]

        upload, stats = storm_phase(control, upload_gold)
        counts["gold"] = assert_same(store, f"gold:{upload}", stats)

        def evaluate() -> str:
            evaluation = store.create_evaluation(
                "acme", "classification", guideline_version="v1", prompt_version="v1", actor="ops"
            )
            wait_until(
                lambda: store.get_evaluation("acme", evaluation.id).state in ("done", "failed"),
                timeout_s=240, what="the evaluation",
            )
            return evaluation.id

        evaluation_id, stats = storm_phase(control, evaluate)
        counts["eval"] = assert_same(store, f"eval:{evaluation_id}", stats)

    # Team and all-teams totals are the same ledger: the sum of the three scopes.
    team = store.team_spend("acme").total
    everything = store.spend_totals()
    for field in ("requests", "prompt_tokens", "completion_tokens"):
        expected = sum(c[field] for c in counts.values())
        assert getattr(team, field) == getattr(everything, field) == expected, field
    batch = store.get_batch("acme", batch_id)
    assert batch.spend.requests == counts["batch"]["requests"] > batch.usage.calls
    print(f"ledger == provider: {counts}")
