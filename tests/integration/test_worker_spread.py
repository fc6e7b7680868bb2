"""Work spreads across workers: a one-at-a-time backend, two workers, one SIGKILL.

The fake provider answers slowly and each worker's backend declares it can run
one call at a time (LLMLABEL_PROVIDER_CONCURRENCY=1, as the local model does),
so each worker holds one item at most. Both must label a share of one batch,
and what a killed worker held must be picked up by the other once its lease
runs out (lease + one reap interval), not stay stuck behind it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from llmlabel.domain import ItemState
from llmlabel.settings import Settings
from llmlabel.store import Store, keys
from tests.integration.conftest import Processes, provider, service_env, wait_until
from tests.support.fault_checks import check_settled, is_settled, submit_classification

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

LEASE_S = 4
REAP_S = 1.0


def _labeled_by(processes: Processes, name: str) -> int:
    """What a stopped worker says it labeled (its `labeling.stop` log line)."""
    found = re.findall(r"labeling\.stop owner=\S+ (.*)", processes.log(name))
    assert found, processes.log(name)
    counts = dict(pair.split("=") for pair in found[-1].split())
    return int(counts.get("labeled", 0))


def _started(processes: Processes, name: str) -> bool:
    return "labeling.start" in processes.log(name)


def _held_by(store: Store, batch_id: str, owner: str) -> list[str]:
    """Items of the batch now labeling under a lease taken by `owner`."""
    held = []
    for item in store.iter_results("acme", batch_id):
        if item.state == ItemState.LABELING:
            lease = store.redis.hget(keys.item("acme", item.item_id), "lease") or ""
            if str(lease).startswith(f"{owner}/"):
                held.append(item.item_id)
    return held


def test_two_one_slot_workers_share_a_batch_and_recover_a_killed_ones_item(
    make_settings: Callable[..., Settings], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    store = Store.from_settings(make_settings())
    with provider(latency_ms=200, latency_jitter_ms=20) as base_url:
        env = service_env(
            redis_url,
            base_url,
            tmp_path,
            worker_concurrency=16,
            provider_concurrency=1,
            labeling_lease_s=LEASE_S,
            reap_interval_s=REAP_S,
        )

        def start(name: str) -> subprocess.Popen[bytes]:
            worker = processes.worker(env, name=name)
            wait_until(lambda: _started(processes, name), timeout_s=60, what=f"{name} to start")
            return worker

        # 1. Shares: both workers idle and polling, then one 40-item batch.
        first = [start("a"), start("b")]
        items = [{"id": f"s{i}", "text": f"Parcel {i} arrived."} for i in range(40)]
        shared = submit_classification(store, items, request_hash="spread")
        wait_until(lambda: is_settled(store, "acme", shared), timeout_s=90, what="the batch")
        for worker in first:
            worker.terminate()
            worker.wait(timeout=30)
        a, b = _labeled_by(processes, "a"), _labeled_by(processes, "b")
        print(f"shares: a={a} b={b}")
        assert a + b == 40
        assert abs(a - b) <= 0.2 * max(a, b), (a, b)
        check_settled(store, "acme", shared, [i["id"] for i in items], allow_failed=False)

        # 2. A SIGKILL: the victim's item is picked up by the survivor.
        victim, survivor = start("victim"), start("survivor")
        more = [{"id": f"k{i}", "text": f"Ticket {i} is solved."} for i in range(12)]
        batch = submit_classification(store, more, request_hash="kill")
        held: list[str] = wait_until(
            lambda: _held_by(store, batch, "victim"), timeout_s=60, what="the victim to hold an item"
        )
        assert len(held) == 1  # one slot: it holds what it works on, nothing more
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = time.monotonic()
        # Timeout for a hang: the lease, one reap interval, and slack for a busy machine.
        wait_until(
            lambda: store.get_item("acme", held[0]).attempts == 2,
            timeout_s=LEASE_S + REAP_S + 20,
            what="the survivor to pick up the dead worker's item",
            every_s=0.05,
        )
        print(f"picked up {time.monotonic() - killed_at:.1f}s after the kill")
        wait_until(lambda: is_settled(store, "acme", batch), timeout_s=60, what="the 2nd batch")
        assert survivor.poll() is None

    settled = check_settled(store, "acme", batch, [i["id"] for i in more], allow_failed=False)
    assert settled.items["k" + held[0].rsplit(":", 1)[1]].attempts == 2
    # Only the held item was relabeled: nothing else was stuck behind the victim.
    assert settled.relabeled == 1
