"""Review leases against a real Redis: claim order, exclusivity, expiry, renew, decisions, audit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

import pytest
import redis

from llmlabel.domain import ItemState, Route
from llmlabel.errors import LabelValidationError, LeaseError, NotFoundError
from llmlabel.settings import Settings
from llmlabel.store import BatchCreate, Decision, Role, Store
from tests.integration.conftest import principal
from tests.integration.test_store_labeling import FakeClock, record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ALICE = principal(role=Role.REVIEWER, name="alice")
BOB = principal(role=Role.REVIEWER, name="bob")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cstore(make_settings: Callable[..., Settings], clock: FakeClock) -> Store:
    settings = make_settings(review_lease_s=60)
    return Store(
        redis.Redis.from_url(settings.redis_url or "", decode_responses=True),
        settings=settings,
        clock=clock,
    )


def labeled_batch(
    store: Store, clock: FakeClock, n: int, *, team: str = "acme", task: str = "classification"
) -> list[str]:
    """A batch whose items all went to needs_review, one second apart; their ids."""
    items = [{"id": f"t{i}", "text": f"t{i}"} for i in range(n)]
    info, _ = store.create_batch(
        principal(team),
        BatchCreate(task=task, items=items, guideline_version="v1", prompt_version="v1"),
        idempotency_key=None,
        request_hash="h",
    )
    ids = [f"{info.id}:{i}" for i in range(n)]
    for work in store.claim_labeling(len(ids)):
        clock.advance(1)
        assert store.save_label(work, record(work.item_id, Route.REVIEW))
    return ids


def test_claims_come_oldest_first_and_never_twice(cstore: Store, clock: FakeClock) -> None:
    ids = labeled_batch(cstore, clock, 3)
    first = cstore.claim_review(ALICE)
    second = cstore.claim_review(BOB)
    assert first is not None and second is not None
    assert [first.item_id, second.item_id] == ids[:2]
    assert (
        first.label == {"label": "positive"} and first.confidence == 0.4 and first.reason == "test"
    )
    assert first.guideline_version == "v1" and first.id == "t0"
    assert datetime.fromisoformat(first.lease_expires_at).timestamp() == pytest.approx(
        clock.now + 60
    )
    assert cstore.get_item("acme", ids[0]).state == ItemState.IN_REVIEW
    assert cstore.get_item("acme", ids[0]).reviewer == "alice"
    assert cstore.review_queue_depth("acme") == 1
    assert cstore.claim_review(ALICE) is not None
    assert cstore.claim_review(ALICE) is None


def test_concurrent_claimers_never_share_an_item(
    make_settings: Callable[..., Settings], cstore: Store, clock: FakeClock
) -> None:
    ids = labeled_batch(cstore, clock, 60)
    claimed: list[str] = []
    lock = threading.Lock()

    def reviewer(n: int) -> None:
        store = Store.from_settings(make_settings())
        who = principal(role=Role.REVIEWER, name=f"r{n}")
        while (claim := store.claim_review(who)) is not None:
            with lock:
                claimed.append(claim.item_id)

    threads = [threading.Thread(target=reviewer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)
    assert len(claimed) == len(set(claimed))
    assert cstore.get_batch("acme", ids[0].rsplit(":", 1)[0]).counts[ItemState.IN_REVIEW] == 60


def test_expired_lease_returns_the_item_to_the_front(cstore: Store, clock: FakeClock) -> None:
    ids = labeled_batch(cstore, clock, 2)
    claim = cstore.claim_review(ALICE)
    assert claim is not None and claim.item_id == ids[0]
    clock.advance(61)
    again = cstore.claim_review(BOB)
    assert again is not None and again.item_id == ids[0]
    assert again.lease_token != claim.lease_token
    with pytest.raises(LeaseError):
        cstore.decide(ALICE, ids[0], lease_token=claim.lease_token, decision=Decision.APPROVE)
    with pytest.raises(LeaseError):
        cstore.renew_lease(ALICE, ids[0], claim.lease_token)
    done = cstore.decide(BOB, ids[0], lease_token=again.lease_token, decision=Decision.APPROVE)
    assert done.state == ItemState.APPROVED and done.reviewer == "bob"


def test_reaper_releases_expired_review_leases(cstore: Store, clock: FakeClock) -> None:
    ids = labeled_batch(cstore, clock, 1)
    assert cstore.claim_review(ALICE) is not None
    clock.advance(61)
    assert cstore.reap().review_released == 1
    assert cstore.get_item("acme", ids[0]).state == ItemState.NEEDS_REVIEW
    assert cstore.get_item("acme", ids[0]).reviewer is None
    assert cstore.review_queue_depth("acme") == 1


def test_renew_extends_the_lease(cstore: Store, clock: FakeClock) -> None:
    labeled_batch(cstore, clock, 1)
    claim = cstore.claim_review(ALICE)
    assert claim is not None
    clock.advance(50)
    renewed = cstore.renew_lease(ALICE, claim.item_id, claim.lease_token)
    assert datetime.fromisoformat(renewed.lease_expires_at).timestamp() == pytest.approx(
        clock.now + 60
    )
    clock.advance(50)  # past the first expiry, within the renewed one
    assert cstore.claim_review(BOB) is None
    with pytest.raises(LeaseError):
        cstore.renew_lease(ALICE, claim.item_id, "wrong-token")
    assert (
        cstore.decide(
            ALICE, claim.item_id, lease_token=claim.lease_token, decision=Decision.REJECT
        ).state
        == ItemState.REJECTED
    )


def test_decisions_set_state_label_source_and_audit(cstore: Store, clock: FakeClock) -> None:
    ids = labeled_batch(cstore, clock, 4)
    claims = [cstore.claim_review(ALICE) for _ in ids]
    assert all(claims)
    tokens = {c.item_id: c.lease_token for c in claims if c}
    approved = cstore.decide(
        ALICE, ids[0], lease_token=tokens[ids[0]], decision=Decision.APPROVE, comment="looks right"
    )
    assert (
        approved.state == ItemState.APPROVED
        and approved.label == {"label": "positive"}
        and approved.source == "llm"
    )
    assert approved.review_comment == "looks right"
    fixed = cstore.decide(
        ALICE,
        ids[1],
        lease_token=tokens[ids[1]],
        decision=Decision.FIX,
        label={"label": "negative", "spans": []},
    )
    assert (
        fixed.state == ItemState.FIXED
        and fixed.label == {"label": "negative", "spans": []}
        and fixed.source == "human"
    )
    rejected = cstore.decide(ALICE, ids[2], lease_token=tokens[ids[2]], decision=Decision.REJECT)
    assert rejected.state == ItemState.REJECTED
    skipped = cstore.decide(ALICE, ids[3], lease_token=tokens[ids[3]], decision=Decision.SKIP)
    assert skipped.state == ItemState.NEEDS_REVIEW and skipped.reviewer is None
    with pytest.raises(LeaseError):
        cstore.decide(
            ALICE,
            ids[0],
            lease_token=tokens[ids[0]],
            decision=Decision.FIX,
            label={"label": "neutral"},
        )
    with pytest.raises(LabelValidationError):
        cstore.decide(ALICE, ids[3], lease_token="t", decision=Decision.FIX, label=None)
    events = cstore.audit_events("acme")
    assert [e.action for e in events] == [
        "review.skip",
        "review.reject",
        "review.fix",
        "review.approve",
    ]
    fix_event = events[2]
    assert fix_event.actor == "alice" and fix_event.item_id == ids[1]
    # Empty lists survive the audit record as lists.
    assert fix_event.before == {"state": "in_review", "label": {"label": "positive"}}
    assert fix_event.after == {"state": "fixed", "label": {"label": "negative", "spans": []}}
    assert events[3].comment == "looks right" and events[2].comment is None
    info = cstore.get_batch("acme", ids[0].rsplit(":", 1)[0])
    assert info.done == 3 and info.state == "running" and info.labeled
    assert cstore.check_counters("acme", info.id).ok


def test_skipped_item_goes_behind_the_others(cstore: Store, clock: FakeClock) -> None:
    ids = labeled_batch(cstore, clock, 2)
    claim = cstore.claim_review(ALICE)
    assert claim is not None and claim.item_id == ids[0]
    clock.advance(5)
    cstore.decide(ALICE, ids[0], lease_token=claim.lease_token, decision=Decision.SKIP)
    nxt = cstore.claim_review(ALICE)
    assert nxt is not None and nxt.item_id == ids[1]


def test_claim_filters_by_task_and_batch_and_team(cstore: Store, clock: FakeClock) -> None:
    ner_ids = labeled_batch(cstore, clock, 1, task="ner")
    cls_ids = labeled_batch(cstore, clock, 1)
    other = labeled_batch(cstore, clock, 1, team="globex")
    cls_batch = cls_ids[0].rsplit(":", 1)[0]
    assert cstore.claim_review(ALICE, task="ner", batch_id=cls_batch) is None
    by_batch = cstore.claim_review(ALICE, batch_id=cls_batch)
    assert by_batch is not None and by_batch.item_id == cls_ids[0]
    assert cstore.claim_review(ALICE, task="classification") is None
    by_task = cstore.claim_review(ALICE, task="ner")
    assert by_task is not None and by_task.item_id == ner_ids[0]
    assert cstore.claim_review(ALICE) is None
    with pytest.raises(NotFoundError):
        cstore.decide(ALICE, other[0], lease_token="x", decision=Decision.APPROVE)
    with pytest.raises(NotFoundError):
        cstore.renew_lease(ALICE, other[0], "x")
    assert cstore.review_queue_depth("globex") == 1
    assert cstore.review_queue_depth() == 1
