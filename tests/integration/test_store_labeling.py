"""Store labeling transitions against a real Redis: leases, idempotent saves, failures, the reaper."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from llmlabel.domain import ItemState, LabelRecord, Route, Usage
from llmlabel.settings import Settings
from llmlabel.spend import Attribution, CallOutcome, CallQuote
from llmlabel.store import BatchCreate, Store
from tests.integration.conftest import principal

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class FakeClock:
    """A clock tests move by hand, so lease expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cstore(make_settings: Callable[..., Settings], clock: FakeClock) -> Store:
    settings = make_settings(labeling_lease_s=30, max_label_attempts=2)
    return Store(
        redis.Redis.from_url(settings.redis_url or "", decode_responses=True),
        settings=settings,
        clock=clock,
    )


def record(item_id: str, route: Route, cost: float = 0.001) -> LabelRecord:
    return LabelRecord(
        id=item_id,
        task="classification",
        label={"label": "positive"},
        confidence=0.9 if route == Route.ACCEPT else 0.4,
        route=route,
        reason="test",
        samples_used=3,
        guideline_version="v1",
        guideline_hash="g",
        prompt_version="v1",
        prompt_hash="p",
        backend="openai",
        model="fake",
        usage=Usage(calls=1, prompt_tokens=100, completion_tokens=20, cost_usd=cost),
    )


def submit(store: Store, n: int, *, team: str = "acme", priority: str = "normal") -> str:
    items = [{"id": f"t{i}", "text": f"t{i}"} for i in range(n)]
    info, _ = store.create_batch(
        principal(team),
        BatchCreate(
            task="classification",
            items=items,
            guideline_version="v1",
            prompt_version="v1",
            priority=priority,  # type: ignore[arg-type]
        ),
        idempotency_key=None,
        request_hash="h",
    )
    return info.id


def test_save_counts_the_label_for_calibration_and_settles_in_one_step(cstore: Store) -> None:
    batch = submit(cstore, 3)
    work = cstore.claim_labeling(3)
    quote = CallQuote(
        model="m", prompt_tokens=1, prompt_tokens_max=2, completion_tokens_max=3, cost_usd_max=0.01
    )
    who = Attribution(team="acme", scope=f"batch:{batch}", project="classification", version="v1")
    rid = "r-save-1"
    assert cstore.reserve_call(rid, who, quote, 60) == ["ok"]
    outcome = CallOutcome(usage=Usage(calls=1, prompt_tokens=5), cost_usd=0.001)
    assert cstore.save_label(work[0], record(work[0].item_id, Route.ACCEPT), (), [(rid, outcome)])
    audited = record(work[1].item_id, Route.REVIEW).model_copy(update={"audited": True})
    assert cstore.save_label(work[1], audited)
    assert cstore.save_label(work[2], record(work[2].item_id, Route.REVIEW))
    # A refused save (work done twice) counts nothing, but its settle still counts once.
    again = record(work[0].item_id, Route.ACCEPT)
    assert not cstore.save_label(work[0], again, (), [(rid, outcome)])
    # labeled 3; accepted by the threshold: the accepted one and the audited one.
    assert cstore.labeled_counts("acme", "classification", "v1") == (3, 2)
    spend = cstore.scope_spend("acme", who.scope)
    assert (spend.requests, spend.prompt_tokens, spend.reserved_usd) == (1, 5, 0)


def test_claim_is_exclusive_takes_only_what_is_asked_and_save_counts_once(cstore: Store) -> None:
    batch = submit(cstore, 4)
    ids = [f"{batch}:{i}" for i in range(4)]
    work = cstore.claim_labeling(3)
    assert [w.item_id for w in work] == ids[:3]
    assert work[0].input == {"id": "t0", "text": "t0"} and work[0].attempts == 1
    assert work[0].guideline_version == "v1" and work[0].team == "acme" and work[0].cache
    # The item not asked for stays queued for any worker.
    assert cstore.get_batch("acme", batch).counts[ItemState.LABELING] == 3
    (last,) = cstore.claim_labeling(5)
    assert last.item_id == ids[3]
    assert cstore.claim_labeling(5) == []
    assert cstore.save_label(work[0], record(ids[0], Route.ACCEPT))
    assert cstore.save_label(work[1], record(ids[1], Route.REVIEW))
    # Saving again (work done twice) changes nothing.
    assert not cstore.save_label(work[0], record(ids[0], Route.ACCEPT))
    assert not cstore.save_label(work[1], record(ids[1], Route.ACCEPT))
    info = cstore.get_batch("acme", batch)
    assert info.counts[ItemState.AUTO_ACCEPTED] == 1
    assert info.counts[ItemState.NEEDS_REVIEW] == 1
    assert info.usage.calls == 2 and info.usage.prompt_tokens == 200
    assert info.usage.cost_usd == pytest.approx(0.002)
    item = cstore.get_item("acme", ids[0])
    assert item.label == {"label": "positive"} and item.source == "llm" and item.label_writes == 1
    assert item.confidence == 0.9 and item.model == "fake"
    assert cstore.review_queue_depth("acme") == 1
    assert cstore.check_counters("acme", batch).ok


def test_claims_take_turns_between_teams_and_weigh_priorities_within_one(cstore: Store) -> None:
    big = submit(cstore, 200, team="bigco")
    small = submit(cstore, 5, team="acme")
    first = cstore.claim_labeling(10)
    by_team = [w.team for w in first]
    # The 5 small-team items are served within the first 10 claims: turns, not arrival order.
    assert by_team.count("acme") == 5 and by_team.count("bigco") == 5
    assert {w.batch_id for w in first} == {big, small}
    # Within one team, a high batch gets 16 items to a low one's 1 (weights 16 and 1).
    low = submit(cstore, 100, team="third", priority="low")
    high = submit(cstore, 100, team="third", priority="high")
    claimed = [w for w in cstore.claim_labeling(120) if w.team == "third"]
    from_high = sum(1 for w in claimed if w.batch_id == high)
    from_low = sum(1 for w in claimed if w.batch_id == low)
    assert from_high + from_low == 60
    assert from_high >= 13 * from_low, (from_high, from_low)


def test_fail_then_retry_failed(cstore: Store) -> None:
    batch = submit(cstore, 3)
    work = cstore.claim_labeling(3)
    assert cstore.fail_item(work[0], "PermanentBackendError: 400 bad request")
    assert not cstore.fail_item(work[0], "again")
    assert cstore.save_label(work[1], record(work[1].item_id, Route.ACCEPT))
    failed = cstore.get_item("acme", work[0].item_id)
    assert (
        failed.state == ItemState.FAILED
        and failed.error == "PermanentBackendError: 400 bad request"
    )
    assert failed.attempts == 1
    assert cstore.claim_labeling(5) == []
    assert cstore.retry_failed("acme", batch, actor="op") == 1
    assert cstore.retry_failed("acme", batch, actor="op") == 0
    retried = cstore.get_item("acme", work[0].item_id)
    assert retried.state == ItemState.QUEUED and retried.error is not None
    again = cstore.claim_labeling(5)
    assert [w.item_id for w in again] == [work[0].item_id] and again[0].attempts == 2
    assert cstore.save_label(again[0], record(work[0].item_id, Route.ACCEPT))
    done = cstore.get_item("acme", work[0].item_id)
    assert done.error is None and done.label_writes == 1
    assert cstore.audit_events("acme")[0].action == "batch.retry_failed"
    assert cstore.check_counters("acme", batch).ok


def test_reaper_requeues_expired_leases_and_fails_after_max_attempts(
    cstore: Store, clock: FakeClock
) -> None:
    batch = submit(cstore, 2)
    ids = [f"{batch}:0", f"{batch}:1"]
    work = cstore.claim_labeling(2)
    clock.advance(10)
    assert cstore.renew_labeling(work[:1]) == 1
    clock.advance(25)
    # Item 0 was renewed (lease until t+40), item 1 expired at t+30.
    report = cstore.reap()
    assert report.requeued == 1
    assert cstore.get_item("acme", ids[1]).state == ItemState.QUEUED
    # The dead worker's late save is refused: the item is no longer its to write.
    assert not cstore.save_label(work[1], record(ids[1], Route.ACCEPT))
    assert cstore.save_label(work[0], record(ids[0], Route.ACCEPT))
    # Second attempt dies too: max_label_attempts=2 -> failed.
    second = cstore.claim_labeling(5)
    assert [w.item_id for w in second] == [ids[1]] and second[0].attempts == 2
    clock.advance(31)
    report = cstore.reap()
    assert report.failed == 1 and report.requeued == 0
    lost = cstore.get_item("acme", ids[1])
    assert lost.state == ItemState.FAILED and "2 attempts" in (lost.error or "")
    assert cstore.check_counters("acme", batch).ok
    # Nothing left to reap.
    clock.advance(100)
    assert cstore.reap().model_dump() == {
        "requeued": 0,
        "failed": 0,
        "review_released": 0,
        "dispatched": 0,
        "reservations_reaped": 0,
        "evaluations_requeued": 0,
        "evaluations_failed": 0,
    }


def test_reaped_items_go_back_one_by_one_ahead_of_the_rest(
    cstore: Store, clock: FakeClock
) -> None:
    batch = submit(cstore, 6)
    held = cstore.claim_labeling(4)  # a worker holds 4 items, then dies
    clock.advance(31)
    assert cstore.reap().requeued == 4
    # Two workers with one free slot each split them: nothing is handed out as a block.
    a, b = cstore.claim_labeling(1), cstore.claim_labeling(1)
    assert len(a) == len(b) == 1
    assert {a[0].item_id, b[0].item_id} <= {w.item_id for w in held}
    rest = cstore.claim_labeling(10)
    assert len(rest) == 4 and cstore.claim_labeling(1) == []
    assert cstore.get_batch("acme", batch).counts[ItemState.LABELING] == 6


def test_release_hands_items_back_without_spending_an_attempt(cstore: Store) -> None:
    submit(cstore, 2)
    work = cstore.claim_labeling(2)
    assert cstore.release_labeling(work) == 2
    assert cstore.release_labeling(work) == 0
    again = cstore.claim_labeling(2)
    assert [w.attempts for w in again] == [1, 1]
    assert not cstore.save_label(work[0], record(work[0].item_id, Route.ACCEPT))


def test_reaper_dispatches_a_batch_whose_items_were_never_made_ready(
    cstore: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API process dies between publishing the batch and making its items ready.
    monkeypatch.setattr(cstore, "_enqueue", lambda team, ids: (_ for _ in ()).throw(SystemExit))
    with pytest.raises(SystemExit):
        submit(cstore, 5)
    monkeypatch.undo()
    assert cstore.claim_labeling(10) == []
    assert cstore.reap().dispatched == 0  # not due yet
    clock.advance(61)
    assert cstore.reap().dispatched == 5
    batch = cstore.list_batches("acme")[0].id
    assert sorted(w.item_id for w in cstore.claim_labeling(10)) == sorted(
        f"{batch}:{i}" for i in range(5)
    )
    assert cstore.reap().dispatched == 0


def test_items_of_a_rolled_back_batch_are_never_counted(cstore: Store) -> None:
    batch = submit(cstore, 2)
    work = cstore.claim_labeling(1)
    cstore._rollback("acme", batch, 2, "", "")
    assert not cstore.save_label(work[0], record(work[0].item_id, Route.ACCEPT))
    assert all(v == 0 for v in cstore.state_totals().values())


def test_callback_is_due_once_when_the_last_item_leaves_labeling(cstore: Store) -> None:
    items = [{"id": f"t{i}", "text": "x"} for i in range(3)]
    info, _ = cstore.create_batch(
        principal(),
        BatchCreate(
            task="classification",
            items=items,
            guideline_version="v1",
            prompt_version="v1",
            callback_url="http://receiver/done",
        ),
        idempotency_key=None,
        request_hash="h",
    )
    silent = submit(cstore, 1)  # no callback_url: never due
    claimed = cstore.claim_labeling(4)
    work = [w for w in claimed if w.batch_id == info.id]
    assert len(work) == 3 and {w.batch_id for w in claimed} == {info.id, silent}
    assert cstore.save_label(work[0], record(work[0].item_id, Route.ACCEPT))
    assert cstore.fail_item(work[1], "boom")
    assert cstore.promote_callbacks() == 0
    assert cstore.save_label(work[2], record(work[2].item_id, Route.REVIEW))
    assert cstore.promote_callbacks() == 1
    (due,) = cstore.claim_deliveries(limit=10, lease_s=30)
    assert (due.url, due.batch_id, due.attempts) == ("http://receiver/done", info.id, 0)
    shown = cstore.get_batch("acme", info.id)
    assert shown.labeled and shown.counts[ItemState.FAILED] == 1
    assert shown.callback is not None and shown.callback.state == "delivering"
    # Leased: no second thread gets it while the first one sends.
    assert cstore.promote_callbacks() == 0 and cstore.claim_deliveries(limit=10, lease_s=30) == []
    cstore.finish_delivery(due, state="delivered", attempts=1, status=204, error=None)
    delivered = cstore.get_batch("acme", info.id).callback
    assert delivered is not None and (delivered.state, delivered.last_status) == ("delivered", 204)
    # Retrying the failure and finishing again makes a new delivery due.
    assert cstore.retry_failed("acme", info.id, actor="op") == 1
    (again,) = cstore.claim_labeling(5)
    assert cstore.save_label(again, record(again.item_id, Route.ACCEPT))
    assert cstore.promote_callbacks() == 1
    assert [d.batch_id for d in cstore.claim_deliveries(limit=10, lease_s=30)] == [info.id]
