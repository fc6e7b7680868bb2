"""Gold in the store against a real Redis, with an injected clock: claims, leases, scores, records."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from llmlabel.domain import Route
from llmlabel.errors import LeaseError, NotFoundError
from llmlabel.settings import Settings
from llmlabel.store import Decision, Role, Store
from llmlabel.store.gold_models import GoldCreate
from tests.integration.conftest import principal
from tests.integration.test_store_labeling import FakeClock, record
from tests.integration.test_store_review import labeled_batch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ALICE = principal(role=Role.REVIEWER, name="alice")
BOB = principal(role=Role.REVIEWER, name="bob\twith a tab")
OPERATOR = principal(role=Role.OPERATOR, name="op")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def gstore(make_settings: Callable[..., Settings], clock: FakeClock, share: float) -> Store:
    settings = make_settings(review_lease_s=60, gold_share=share)
    return Store(redis.Redis.from_url(settings.redis_url or "", decode_responses=True),
                 settings=settings, clock=clock)


def add_gold(store: Store, n: int) -> list[str]:
    """n classification gold items, each labeled "positive" by the (pretend) LLM."""
    items = [GoldCreate(id=f"g{i}", input={"text": f"gold {i}"}, label={"label": "negative"})
             for i in range(n)]
    stored = store.add_gold(OPERATOR, "classification", items, guideline_version="v1",
                            prompt_version="v1", actor="acme/op")
    for gold in stored:
        assert store.save_gold_record("acme", gold.gold_id, record(gold.gold_id, Route.REVIEW))
    return [g.gold_id for g in stored]


def test_gold_stands_in_once_per_reviewer_only_while_real_work_waits(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    store = gstore(make_settings, clock, 1.0)
    gold_ids = add_gold(store, 2)
    assert store.claim_gold(ALICE, task="classification") is None, "no real work: no gold"
    [real] = labeled_batch(store, clock, 1)
    claims = [store.claim_gold(ALICE), store.claim_gold(ALICE, task="classification")]
    assert {c.item_id for c in claims if c} == set(gold_ids)
    assert claims[0] is not None and claims[0].label == {"label": "positive"}
    assert store.claim_gold(ALICE) is None, "every gold item seen"
    assert store.claim_gold(BOB, batch_id=real.rpartition(":")[0]) is None
    assert store.claim_gold(BOB, task="ner") is None, "no gold of that task"
    off = gstore(make_settings, clock, 0.0)
    assert off.claim_gold(BOB) is None


def test_leases_expire_on_the_store_clock_and_decisions_count_once(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    store = gstore(make_settings, clock, 1.0)
    add_gold(store, 2)
    labeled_batch(store, clock, 1)
    first = store.claim_gold(ALICE)
    assert first is not None
    with pytest.raises(LeaseError):
        store.gold_lease(BOB, first.item_id, first.lease_token)
    clock.advance(50)
    store.renew_gold(ALICE, first.item_id, first.lease_token)
    clock.advance(50)
    lease = store.gold_lease(ALICE, first.item_id, first.lease_token)
    view = store.decide_gold(ALICE, lease, decision=Decision.APPROVE,
                             reviewer_label=lease.label, correct=False)
    assert (view.state.value, view.label, view.reviewer) == ("approved", {"label": "positive"}, "alice")
    with pytest.raises(LeaseError):
        store.decide_gold(ALICE, lease, decision=Decision.APPROVE, reviewer_label=None, correct=True)
    second = store.claim_gold(ALICE)
    assert second is not None
    clock.advance(61)
    with pytest.raises(LeaseError):
        store.gold_lease(ALICE, second.item_id, second.lease_token)
    bobs = store.claim_gold(BOB)
    assert bobs is not None
    bob_lease = store.gold_lease(BOB, bobs.item_id, bobs.lease_token)
    store.decide_gold(BOB, bob_lease, decision=Decision.FIX, reviewer_label={"label": "negative"},
                      correct=True)
    scores = {(s.reviewer, s.task): (s.n, s.correct) for s in store.gold_scores("acme")}
    assert scores == {("alice", "classification"): (1, 0), ("bob\twith a tab", "classification"): (1, 1)}


def test_records_per_version_and_deletes(make_settings: Callable[..., Settings], clock: FakeClock) -> None:
    store = gstore(make_settings, clock, 1.0)
    gold_ids = add_gold(store, 3)
    assert store.gold_ids("acme", "classification") == gold_ids, "upload order"
    assert [g.id for g in store.list_gold("acme", "classification", offset=1, limit=1)] == ["g1"]
    records = store.gold_records("acme", gold_ids)
    # Keyed by project too: two projects of one task may both have a v1.
    assert all(set(r) == {("classification", "v1", "v1")} for r in records.values())
    store.delete_gold("acme", gold_ids[0], actor="acme/op")
    assert not store.save_gold_record("acme", gold_ids[0], record(gold_ids[0], Route.ACCEPT))
    assert store.gold_count("acme", "classification") == 2
    assert store.is_gold_id("acme", gold_ids[0]), "still recognised, so its decisions are not 404s"
    with pytest.raises(NotFoundError):
        store.delete_gold("acme", gold_ids[0], actor="acme/op")
    with pytest.raises(NotFoundError):
        store.get_gold("other", gold_ids[1])
