"""Evaluation leases in the store against a real Redis, with an injected clock: re-run, fail, races."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from llmlabel.settings import Settings
from llmlabel.store import Role, Store, keys
from llmlabel.store.gold_models import GoldCreate
from llmlabel.store.jobs import queue_for
from tests.integration.conftest import principal
from tests.integration.test_store_labeling import FakeClock

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

LEASE_S = 60


def lstore(make_settings: Callable[..., Settings], clock: FakeClock, attempts: int = 3) -> Store:
    settings = make_settings(labeling_lease_s=LEASE_S, max_label_attempts=attempts)
    return Store(redis.Redis.from_url(settings.redis_url or "", decode_responses=True),
                 settings=settings, clock=clock)


def queued_evaluation(store: Store) -> str:
    gold = [GoldCreate(id="g0", input={"text": "hello"}, label={"label": "positive"})]
    store.add_gold(principal("acme", Role.OPERATOR), "classification", gold,
                   guideline_version="v1", prompt_version="v1", actor="test")
    return store.create_evaluation("acme", "classification", guideline_version="v1",
                                   prompt_version="v1", actor="test").id


def gold_jobs(store: Store) -> int:
    return sum(1 for job in queue_for(store.rq_redis).get_jobs() if job.args and job.args[-1])


def test_a_lost_run_is_queued_again_then_failed_when_its_runs_are_used_up(
    make_settings: Callable[..., Settings],
) -> None:
    clock = FakeClock()
    store = lstore(make_settings, clock, attempts=2)
    evaluation_id = queued_evaluation(store)
    assert gold_jobs(store) == 1
    started = store.start_evaluation("acme", evaluation_id)
    assert started is not None and (started.state, started.attempts) == ("running", 1)
    clock.advance(LEASE_S - 1)
    assert store.reap().evaluations_requeued == 0, "the lease has not run out"
    clock.advance(2)
    report = store.reap()
    assert (report.evaluations_requeued, report.evaluations_failed) == (1, 0)
    assert store.get_evaluation("acme", evaluation_id).state == "queued"
    assert gold_jobs(store) == 2, "the evaluation's job is enqueued again"
    assert store.start_evaluation("acme", evaluation_id) is not None  # the second run
    clock.advance(LEASE_S + 1)
    report = store.reap()
    assert (report.evaluations_requeued, report.evaluations_failed) == (0, 1)
    failed = store.get_evaluation("acme", evaluation_id)
    assert failed.state == "failed" and failed.attempts == 2
    assert failed.error and "lost 2 time(s)" in failed.error and failed.finished_at
    assert store.redis.zcard(keys.evaluation_leases()) == 0
    assert gold_jobs(store) == 2, "no third run"
    assert store.start_evaluation("acme", evaluation_id) is None, "a failed evaluation stays failed"


def test_a_renewed_lease_is_not_reaped_and_a_finished_run_leaves_no_lease(
    make_settings: Callable[..., Settings],
) -> None:
    clock = FakeClock()
    store = lstore(make_settings, clock)
    evaluation_id = queued_evaluation(store)
    evaluation = store.start_evaluation("acme", evaluation_id)
    assert evaluation is not None
    for _ in range(3):
        clock.advance(LEASE_S / 2)
        assert store.renew_evaluation("acme", evaluation_id)
        assert store.reap().evaluations_requeued == 0
    evaluation.state = "done"
    store.finish_evaluation("acme", evaluation)
    assert store.redis.zcard(keys.evaluation_leases()) == 0
    assert not store.renew_evaluation("acme", evaluation_id)
    clock.advance(10 * LEASE_S)
    assert store.get_evaluation("acme", evaluation_id).state == "done"


def test_a_slow_run_reaped_as_lost_still_writes_its_outcome_and_the_rerun_does_nothing(
    make_settings: Callable[..., Settings],
) -> None:
    clock = FakeClock()
    store = lstore(make_settings, clock)
    evaluation_id = queued_evaluation(store)
    slow = store.start_evaluation("acme", evaluation_id)
    assert slow is not None
    clock.advance(LEASE_S + 1)
    assert store.reap().evaluations_requeued == 1
    assert not store.renew_evaluation("acme", evaluation_id), "the slow run learns it was reaped"
    slow.state = "done"
    store.finish_evaluation("acme", slow)
    assert store.start_evaluation("acme", evaluation_id) is None
    assert store.get_evaluation("acme", evaluation_id).state == "done"


def test_two_reapers_at_once_act_once(make_settings: Callable[..., Settings]) -> None:
    clock = FakeClock()
    first, second = lstore(make_settings, clock), lstore(make_settings, clock)
    evaluation_id = queued_evaluation(first)
    assert first.start_evaluation("acme", evaluation_id) is not None
    clock.advance(LEASE_S + 1)
    # Both see the expired lease; only the one that claims it re-queues.
    member = f"acme|{evaluation_id}"
    assert first._claim(member) and not second._claim(member)
    assert second.reap().evaluations_requeued == 0
    assert first._requeue_or_fail("acme", evaluation_id, member) == "queued"
    assert gold_jobs(first) == 2
