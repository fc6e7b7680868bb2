"""Undo, bulk approve, claim-by-id, history and the queue table against a real Redis."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable

import pytest
import redis

from llmlabel.domain import ItemState
from llmlabel.errors import ConflictError, NotFoundError
from llmlabel.review_queue import QueueFilter, QueueSort, list_queue
from llmlabel.settings import Settings
from llmlabel.store import Decision, Principal, Role, Store
from llmlabel.store import keys as store_keys
from tests.integration.test_store_labeling import FakeClock
from tests.integration.test_store_review import labeled_batch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

# Distinct key ids: undo and history belong to the key that decided.
ALICE = Principal(key_id="k-alice", team="acme", role=Role.REVIEWER, name="alice")
BOB = Principal(key_id="k-bob", team="acme", role=Role.REVIEWER, name="bob")
TEAM = "acme"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tstore(make_settings: Callable[..., Settings], clock: FakeClock) -> Store:
    settings = make_settings(review_lease_s=60, undo_window_s=120)
    return Store(
        redis.Redis.from_url(settings.redis_url or "", decode_responses=True),
        settings=settings,
        clock=clock,
    )


def audit(store: Store) -> list[dict]:  # type: ignore[type-arg]
    """The team's audit events, oldest first."""
    return [json.loads(e) for e in reversed(store.redis.lrange(store_keys.team_audit(TEAM), 0, -1))]


def decide(store: Store, who: object, action: Decision, label: dict | None = None) -> str:  # type: ignore[type-arg]
    claim = store.claim_review(who)  # type: ignore[arg-type]
    assert claim is not None
    store.decide(who, claim.item_id, lease_token=claim.lease_token, decision=action,  # type: ignore[arg-type]
                 label=label)
    return claim.item_id


def test_undo_brings_back_state_label_and_lease(tstore: Store, clock: FakeClock) -> None:
    ids = labeled_batch(tstore, clock, 3)
    fixed = decide(tstore, ALICE, Decision.FIX, {"label": "negative"})
    assert tstore.get_item(TEAM, fixed).source == "human"
    undone = tstore.undo_decision(ALICE, fixed)
    assert undone.item.state is ItemState.IN_REVIEW
    assert (undone.item.label, undone.item.source) == ({"label": "positive"}, "llm")
    assert undone.claim is not None and undone.claim.item_id == fixed
    # The fresh lease works: decide again, differently.
    tstore.decide(ALICE, fixed, lease_token=undone.claim.lease_token, decision=Decision.REJECT)
    assert tstore.get_item(TEAM, fixed).state is ItemState.REJECTED
    actions = [(e["action"], e["before"]["state"], e["after"]["state"]) for e in audit(tstore)]
    assert actions == [("review.fix", "in_review", "fixed"), ("review.undo", "fixed", "in_review"),
                       ("review.reject", "in_review", "rejected")]
    assert audit(tstore)[1]["after"]["label"] == {"label": "positive"}
    assert tstore.check_counters(TEAM, ids[0].split(":")[0]).ok
    history = tstore.review_history(ALICE)
    assert [(h.action, h.undoable) for h in history] == [
        ("review.reject", True), ("review.undo", False), ("review.fix", False)]


def test_undo_refusals(tstore: Store, clock: FakeClock) -> None:
    labeled_batch(tstore, clock, 4)
    approved = decide(tstore, ALICE, Decision.APPROVE)
    with pytest.raises(ConflictError, match="no decision of yours"):
        tstore.undo_decision(BOB, approved)
    skipped = decide(tstore, ALICE, Decision.SKIP)
    with pytest.raises(ConflictError, match="no decision of yours"):
        tstore.undo_decision(ALICE, skipped)
    clock.advance(121)
    with pytest.raises(ConflictError, match="undo window"):
        tstore.undo_decision(ALICE, approved)
    with pytest.raises(NotFoundError):
        tstore.undo_decision(ALICE, "b_0000000000000000:0")
    assert tstore.get_item(TEAM, approved).state is ItemState.APPROVED
    assert [h.undoable for h in tstore.review_history(ALICE)] == [False]


def test_undo_takes_back_an_untaken_second_review_but_not_a_taken_one(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    settings = make_settings(undo_window_s=120, double_review_share=1.0)
    store = Store(redis.Redis.from_url(settings.redis_url or "", decode_responses=True),
                  settings=settings, clock=clock)
    labeled_batch(store, clock, 2)
    first = decide(store, ALICE, Decision.APPROVE)
    assert store.redis.zcard(store_keys.review2_queue(TEAM)) == 1
    undone = store.undo_decision(ALICE, first)
    assert store.redis.zcard(store_keys.review2_queue(TEAM)) == 0
    assert "r2state" not in store.redis.hgetall(store_keys.item(TEAM, first))
    assert undone.claim is not None
    store.decide(ALICE, first, lease_token=undone.claim.lease_token, decision=Decision.APPROVE)
    second = store.claim_review(BOB)
    assert second is not None and second.item_id == first
    with pytest.raises(ConflictError, match="second reviewer"):
        store.undo_decision(ALICE, first)


def test_bulk_approve_approves_only_waiting_labeled_items(tstore: Store, clock: FakeClock) -> None:
    ids = labeled_batch(tstore, clock, 5)
    held = tstore.claim_review(BOB)
    assert held is not None and held.item_id == ids[0]
    tstore.redis.hdel(store_keys.item(TEAM, ids[4]), "label")  # as if the LLM gave no label
    result = tstore.bulk_approve(ALICE, [*ids, "nonsense", ids[1]], comment="looked fine")
    assert (result.requested, result.approved, result.approved_ids) == (6, 3, ids[1:4])
    assert {s.item_id: s.reason for s in result.skipped} == {
        ids[0]: "state", ids[4]: "nolabel", "nonsense": "missing"}
    events = audit(tstore)
    assert [(e["action"], e["item_id"], e["after"]["bulk"]) for e in events] == [
        ("review.approve", i, True) for i in ids[1:4]]
    assert all(e["comment"] == "looked fine" for e in events)
    batch_id = ids[0].split(":")[0]
    assert tstore.check_counters(TEAM, batch_id).ok
    assert tstore.review_queue_depth(TEAM) == 1
    # Undoing a bulk-approved item puts it back in the queue at its old place.
    undone = tstore.undo_decision(ALICE, ids[2])
    assert (undone.item.state, undone.claim) == (ItemState.NEEDS_REVIEW, None)
    rows, _ = tstore.review_queue_rows(TEAM)
    assert [r.item_id for r in rows if r.state is ItemState.NEEDS_REVIEW] == [ids[2], ids[4]]


def test_claim_item_leases_only_a_waiting_item(tstore: Store, clock: FakeClock) -> None:
    ids = labeled_batch(tstore, clock, 3)
    claim = tstore.claim_item(ALICE, ids[2])
    assert claim is not None and claim.item_id == ids[2]
    assert tstore.claim_item(BOB, ids[2]) is None
    assert tstore.claim_review(BOB).item_id == ids[0]  # type: ignore[union-attr]
    assert tstore.check_counters(TEAM, ids[0].split(":")[0]).ok


def test_queue_filters_and_sort(tstore: Store, clock: FakeClock) -> None:
    ids = labeled_batch(tstore, clock, 4)
    other = labeled_batch(tstore, clock, 2, task="safety")
    tstore.redis.hset(store_keys.item(TEAM, ids[1]), "label", json.dumps({"label": "negative"}))
    page = list_queue(tstore, TEAM, QueueFilter(task="classification"))
    assert [r.item_id for r in page.items] == ids
    assert page.tasks == ["classification", "safety"] and page.total == 4
    assert "negative" in page.labels and "positive" in page.labels
    newest = list_queue(tstore, TEAM, QueueFilter(), sort=QueueSort.AGE, descending=True)
    assert [r.item_id for r in newest.items][:2] == other[::-1]
    negative = list_queue(tstore, TEAM, QueueFilter(label="negative"))
    assert [r.item_id for r in negative.items] == [ids[1]]
    assert list_queue(tstore, TEAM, QueueFilter(min_confidence=0.5)).total == 0
    assert list_queue(tstore, TEAM, QueueFilter(min_confidence=0.4, max_confidence=0.4)).total == 6


def test_counters_and_audit_stay_exact_after_50_mixed_decisions_undos_and_a_bulk_approve(
    tstore: Store, clock: FakeClock
) -> None:
    ids = labeled_batch(tstore, clock, 80)
    batch_id = ids[0].split(":")[0]
    rng = random.Random(14)
    expected_events: Counter[str] = Counter()
    decided: list[tuple[object, str]] = []
    for n in range(50):
        who = ALICE if n % 2 else BOB
        action = rng.choice([Decision.APPROVE, Decision.FIX, Decision.REJECT, Decision.SKIP])
        item_id = decide(tstore, who, action, {"label": "negative"} if action is Decision.FIX else None)
        expected_events[f"review.{action.value}"] += 1  # skips are audited too
        if action is not Decision.SKIP:
            decided.append((who, item_id))
        if decided and rng.random() < 0.3:
            undo_who, undo_id = decided.pop(rng.randrange(len(decided)))
            undone = tstore.undo_decision(undo_who, undo_id)  # type: ignore[arg-type]
            expected_events["review.undo"] += 1
            assert undone.claim is not None
            # Half the undone items are decided again, half released back to the queue by skip.
            again = Decision.APPROVE if rng.random() < 0.5 else Decision.SKIP
            tstore.decide(undo_who, undo_id, lease_token=undone.claim.lease_token, decision=again)  # type: ignore[arg-type]
            expected_events[f"review.{again.value}"] += 1
        clock.advance(1)
    waiting = [r.item_id for r in tstore.review_queue_rows(TEAM)[0]
               if r.state is ItemState.NEEDS_REVIEW]
    result = tstore.bulk_approve(ALICE, waiting[:20])
    assert result.approved == 20
    expected_events["review.approve"] += 20

    check = tstore.check_counters(TEAM, batch_id)
    assert check.ok, check
    states = Counter(tstore.get_item(TEAM, i).state.value for i in ids)
    assert {k: v for k, v in check.counters.items() if v} == dict(states)
    assert tstore.review_queue_depth(TEAM) == states["needs_review"]
    totals = tstore.redis.hgetall(store_keys.state_totals())
    assert {s: int(totals.get(s, 0)) for s in states} == dict(states)
    assert Counter(e["action"] for e in audit(tstore)) == expected_events
    # Every final state is explained by the item's last audit event.
    last: dict[str, dict] = {}  # type: ignore[type-arg]
    for event in audit(tstore):
        last[event["item_id"]] = event
    for item_id in ids:
        state = tstore.get_item(TEAM, item_id).state.value
        if state in ("approved", "fixed", "rejected"):
            assert last[item_id]["after"]["state"] == state
    mine = tstore.review_history(ALICE, limit=500)
    # Her history holds her decisions and undos (a skip changes nothing and is left out).
    assert len(mine) == sum(1 for e in audit(tstore)
                            if e["actor"] == "alice" and e["action"] != "review.skip")
