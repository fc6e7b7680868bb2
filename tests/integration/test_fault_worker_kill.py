"""Workers SIGKILLed again and again during a 2,000-item batch: nothing lost, nothing twice.

Three `llmlabel worker` processes label against the fake provider (small
latency, 30% of items inconsistent so some go to review after more samples).
Every ~2 s one of them is SIGKILLed (its whole process group) and a replacement
is started, as a supervisor would. Short labeling leases make recovery quick.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from llmlabel.domain import ItemState
from llmlabel.settings import Settings
from llmlabel.store import BatchCreate, Principal, Role, Store
from tests.integration.conftest import Processes, provider, service_env, wait_until
from tests.support.fault_checks import check_settled, is_settled, submit_classification

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

N_ITEMS = 2000
WORKERS = 3
KILL_EVERY_S = 2.0
MIN_KILLS = 4
MAX_KILL_PHASE_S = 30.0  # then the survivors finish: bounds the test on a loaded machine


def test_repeated_worker_kills_lose_nothing_and_label_nothing_twice(
    make_settings: Callable[..., Settings], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    store = Store.from_settings(make_settings())
    items = [
        {"id": f"k{i}", "text": f"Order {i}: {'fine' if i % 2 else 'broken'}."}
        for i in range(N_ITEMS)
    ]
    batch_id = submit_classification(store, items, request_hash="kill")
    rng = random.Random(7)
    with provider(latency_ms=40, latency_jitter_ms=20, disagree_rate=0.3) as base_url:
        env = service_env(
            redis_url,
            base_url,
            tmp_path,
            labeling_lease_s=3,
            reap_interval_s=0.5,
            worker_concurrency=16,
            # Items whose worker dies several times must still be labeled, not failed.
            max_label_attempts=50,
        )
        live: list[subprocess.Popen[bytes]] = [
            processes.worker(env, name=f"w{i}") for i in range(WORKERS)
        ]
        kills, in_flight_at_kill = 0, 0
        started = time.monotonic()
        next_name = WORKERS
        while time.monotonic() - started < MAX_KILL_PHASE_S:
            time.sleep(KILL_EVERY_S)
            counts = store.get_batch("acme", batch_id).counts
            if kills >= MIN_KILLS and counts["queued"] + counts["labeling"] == 0:
                break
            victim = live.pop(rng.randrange(len(live)))
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            kills += 1
            in_flight_at_kill += counts["labeling"]
            live.append(processes.worker(env, name=f"w{next_name}"))
            next_name += 1

        wait_until(
            lambda: is_settled(store, "acme", batch_id),
            timeout_s=120,
            # The counts tell a stuck queued item (its job lost before it was claimed)
            # from one stuck labeling (a lease never reaped).
            what=f"the batch to settle after {kills} kills "
            f"(counts when the wait began: {dict(store.get_batch('acme', batch_id).counts)})",
            every_s=0.25,
        )
        served = httpx.get(base_url.removesuffix("/v1") + "/stats", timeout=5).json()["ok"]

    settled = check_settled(store, "acme", batch_id, [i["id"] for i in items], allow_failed=False)
    print(
        f"kills={kills} items labeling at kills={in_flight_at_kill} relabeled={settled.relabeled} "
        f"states={dict(settled.states)} provider_calls={served}"
    )
    assert kills >= MIN_KILLS
    # The kills hit work in progress, and that work was redone (not lost, not doubled).
    assert in_flight_at_kill > 0
    assert settled.relabeled > 0, "no kill interrupted an item: the test proved nothing"
    # Every call an item was charged for was really served by the provider.
    assert sum(i.usage.calls for i in settled.items.values()) <= served
    totals = store.state_totals()
    assert totals["queued"] == 0 and totals["labeling"] == 0


def test_kill_while_the_loop_holds_items_of_two_batches(
    make_settings: Callable[..., Settings], redis_url: str, processes: Processes, tmp_path: Path
) -> None:
    """One event loop holds items of two batches (two teams) at once; SIGKILL it mid-flight."""
    store = Store.from_settings(make_settings())
    first = [{"id": f"a{i}", "text": f"Order {i} is late."} for i in range(60)]
    second = [{"id": f"b{i}", "text": f"Invoice {i} is paid."} for i in range(60)]
    batch_a = submit_classification(store, first, request_hash="two-a")
    info, _ = store.create_batch(
        Principal(key_id="fault-2", team="globex", role=Role.ADMIN, name="fault-test"),
        BatchCreate(task="classification", items=second, guideline_version="v1",
                    prompt_version="v1"),
        idempotency_key=None,
        request_hash="two-b",
    )
    batch_b = info.id
    with provider(latency_ms=600, latency_jitter_ms=50, disagree_rate=0.3) as base_url:
        env = service_env(
            redis_url, base_url, tmp_path, labeling_lease_s=3, reap_interval_s=0.5,
            worker_concurrency=8,
        )
        victim = processes.worker(env, name="victim")

        def holds_both() -> bool:
            a = store.get_batch("acme", batch_a).counts[ItemState.LABELING]
            b = store.get_batch("globex", batch_b).counts[ItemState.LABELING]
            return a > 0 and b > 0 and a + b == 8

        wait_until(holds_both, timeout_s=60, what="the loop to hold items of both batches",
                   every_s=0.02)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        held = {
            team: [i.id for i in store.iter_results(team, batch) if i.state == ItemState.LABELING]
            for team, batch in (("acme", batch_a), ("globex", batch_b))
        }
        processes.worker(env, name="rescuer")
        for team, batch in (("acme", batch_a), ("globex", batch_b)):
            wait_until(lambda t=team, b=batch: is_settled(store, t, b), timeout_s=90,
                       what=f"batch {batch} of {team} to settle")

    for team, batch, items in (("acme", batch_a, first), ("globex", batch_b, second)):
        settled = check_settled(store, team, batch, [i["id"] for i in items], allow_failed=False)
        assert held[team], team
        # Each item the dead loop held was labeled once more, by the rescuer, and only those.
        assert all(settled.items[i].attempts == 2 for i in held[team])
        assert settled.relabeled == len(held[team])
