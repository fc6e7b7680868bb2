"""A worker SIGKILLed in the middle of a gold evaluation: the evaluation finishes or fails, never hangs.

The fake provider answers slowly (0.8 s a call), so the kill lands while the
evaluation job is labeling. A second worker's reaper finds the lease of the
dead run expired and runs the evaluation again. (Failing it once the runs
allowed are used up, two reapers at once and a slow run that finishes after
all are in test_store_evaluation_leases.py, on the store with a fake clock.)
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from llmlabel.settings import Settings
from llmlabel.store import Role, Store, keys
from llmlabel.store.gold_models import GoldCreate, GoldEvaluation
from tests.integration.conftest import Processes, principal, provider, service_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CATEGORIES = ["sexual", "hate", "violence", "harassment", "self-harm", "sexual/minors",
              "hate/threatening", "violence/graphic"]
TEXTS = ["Is the museum open on Sundays?", "People from that town are vermin.",
         "He punched the cashier twice."]


def start_evaluation(store: Store) -> str:
    """Three safety gold items (their upload labeling runs first) and one queued evaluation."""
    gold = [GoldCreate(id=f"g{i}", input={"text": text},
                       label={"flags": {c: False for c in CATEGORIES}, "rationale": None})
            for i, text in enumerate(TEXTS)]
    store.add_gold(principal("acme", Role.OPERATOR), "safety", gold, guideline_version="v1",
                   prompt_version="v1", actor="test")
    evaluation = store.create_evaluation("acme", "safety", guideline_version="v1",
                                         prompt_version="v1", actor="test")
    return evaluation.id


def kill_mid_evaluation(store: Store, processes: Processes, env: dict[str, str],
                        evaluation_id: str) -> None:
    """Start a worker, SIGKILL it as soon as it runs the evaluation."""
    victim = processes.worker(env, name="victim")
    wait_until(lambda: store.get_evaluation("acme", evaluation_id).state == "running",
               timeout_s=60, what="the evaluation to start running", every_s=0.05)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    assert store.get_evaluation("acme", evaluation_id).state == "running"


def settled(store: Store, evaluation_id: str) -> GoldEvaluation | None:
    evaluation = store.get_evaluation("acme", evaluation_id)
    return evaluation if evaluation.state in ("done", "failed") else None


def test_an_evaluation_whose_worker_is_killed_is_run_again_and_finishes(
    make_settings: Callable[..., Settings], redis_url: str, processes: Processes, tmp_path: Path,
) -> None:
    store = Store.from_settings(make_settings())
    evaluation_id = start_evaluation(store)
    with provider(latency_ms=800, latency_jitter_ms=0, disagree_rate=0.0) as base_url:
        env = service_env(redis_url, base_url, tmp_path, labeling_lease_s=2, reap_interval_s=0.3)
        kill_mid_evaluation(store, processes, env, evaluation_id)
        processes.worker(env, name="survivor")
        evaluation = wait_until(lambda: settled(store, evaluation_id), timeout_s=60,
                                what="the evaluation to finish or fail after the kill")
    assert evaluation.state == "done", evaluation
    assert evaluation.attempts == 2  # the killed run, then the reaper's
    assert evaluation.report is not None and evaluation.report.n == len(TEXTS)
    # The lease went with the outcome: nothing is left for a reaper to find.
    assert store.redis.zcard(keys.evaluation_leases()) == 0
