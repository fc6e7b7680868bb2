"""A worker SIGKILLed mid-batch: another worker finishes, nothing is lost or labeled twice."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from llmlabel.domain import ItemState
from llmlabel.settings import Settings
from llmlabel.store import BatchCreate, Store
from tests.integration.conftest import Processes, principal, provider, service_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

N_ITEMS = 40


def test_killed_worker_items_are_finished_by_another_worker(
    make_settings: Callable[..., Settings], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    store = Store.from_settings(make_settings())
    with provider(latency_ms=400, latency_jitter_ms=50, disagree_rate=0.3) as base_url:
        items = [
            {"id": f"t{i}", "text": f"review number {i}: works as described"}
            for i in range(N_ITEMS)
        ]
        info, _ = store.create_batch(
            principal(),
            BatchCreate(
                task="classification", items=items, guideline_version="v1", prompt_version="v1"
            ),
            idempotency_key=None,
            request_hash="h",
        )
        # Short leases so the test runs in seconds; the defaults give about two minutes.
        env = service_env(
            redis_url,
            base_url,
            tmp_path,
            labeling_lease_s=5,
            reap_interval_s=1,
            worker_concurrency=4,
        )
        victim = processes.worker(env, name="victim")

        def some_labeled_some_in_flight() -> dict[str, int] | None:
            counts = store.get_batch("acme", info.id).counts
            labeled = counts[ItemState.AUTO_ACCEPTED] + counts[ItemState.NEEDS_REVIEW]
            return counts if labeled >= 4 and counts[ItemState.LABELING] > 0 else None

        wait_until(
            some_labeled_some_in_flight,
            timeout_s=60,
            what="the first worker to be mid-batch",
            every_s=0.05,
        )
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        at_kill = {i.item_id: i for i in store.iter_results("acme", info.id)}
        held = {k for k, v in at_kill.items() if v.state == ItemState.LABELING}
        done_before = {
            k: v
            for k, v in at_kill.items()
            if v.state in (ItemState.AUTO_ACCEPTED, ItemState.NEEDS_REVIEW)
        }
        assert held and done_before

        processes.worker(env, name="rescuer")
        wait_until(
            lambda: store.get_batch("acme", info.id).labeled,
            timeout_s=60,
            what="the second worker to finish",
        )

    final = {i.item_id: i for i in store.iter_results("acme", info.id)}
    assert all(
        i.state in (ItemState.AUTO_ACCEPTED, ItemState.NEEDS_REVIEW) for i in final.values()
    ), processes.log("rescuer")
    assert store.check_counters("acme", info.id).ok
    # Labeled exactly once, including the items the dead worker was in the middle of.
    assert all(i.label_writes == 1 for i in final.values())
    assert all(final[k].attempts == 2 for k in held)
    assert all(final[k].attempts == 1 for k in final if k not in held)
    # What the dead worker finished was not touched again.
    assert all(
        final[k].updated_at == v.updated_at and final[k].label == v.label
        for k, v in done_before.items()
    )
    totals = store.state_totals()
    assert totals[ItemState.LABELING] == 0 and totals[ItemState.QUEUED] == 0
