"""Review order per project against a real Redis: age by default, value when set, no starvation,
near-duplicates spread over a reviewer's claims, and claims still exclusive."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import redis

from llmlabel.domain import LabelRecord, Route, Sample
from llmlabel.review_priority import ReviewOrder
from llmlabel.settings import Settings
from llmlabel.store import BatchCreate, Decision, Role, Store
from tests.integration.conftest import principal
from tests.integration.test_store_labeling import FakeClock

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ALICE = principal(role=Role.REVIEWER, name="alice")
BOB = principal(role=Role.REVIEWER, name="bob")
HORIZON_S = 600.0
A, B = {"label": "positive"}, {"label": "negative"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_store(make_settings: Callable[..., Settings], clock: FakeClock, **overrides: float) -> Store:
    settings = make_settings(review_lease_s=600, review_value_horizon_s=HORIZON_S, **overrides)
    return Store(
        redis.Redis.from_url(settings.redis_url or "", decode_responses=True),
        settings=settings, clock=clock,
    )


@pytest.fixture
def ostore(make_settings: Callable[..., Settings], clock: FakeClock) -> Store:
    return make_store(make_settings, clock)


def project(store: Store, order: ReviewOrder | None, name: str = "reviews") -> str:
    store.create_project(
        "acme", name, task="classification",
        versions=[("guideline", "v1", "g" * 64, "g"), ("prompt", "v1", "p" * 64, "p")],
        active=("v1", "v1"), actor="op",
    )
    if order is not None:
        store.set_review_order("acme", name, order, actor="op")
    return name


def rec(confidence: float) -> LabelRecord:
    """A record whose samples split when confidence < 1 (value grows as confidence falls)."""
    labels = [A, A, A] if confidence >= 1.0 else [A, B, A]
    return LabelRecord(
        id="x", task="classification", label=A, confidence=confidence, route=Route.REVIEW,
        reason="test", samples=[Sample(index=i, raw="", label=lab) for i, lab in enumerate(labels)],
        samples_used=3, guideline_version="v1", guideline_hash="g", prompt_version="v1",
        prompt_hash="p", backend="openai", model="fake",
    )


def to_review(
    store: Store, clock: FakeClock, name: str, confidences: list[float],
    texts: list[str] | None = None,
) -> list[str]:
    """One batch of the project whose items reach review one second apart; their ids."""
    texts = texts or [f"item {i} {'word ' * i}" for i in range(len(confidences))]
    info, _ = store.create_batch(
        principal(),
        BatchCreate(task="classification", project=name, guideline_version="v1",
                    prompt_version="v1", items=[{"text": t} for t in texts]),
        idempotency_key=None, request_hash="h",
    )
    ids = [f"{info.id}:{i}" for i in range(len(confidences))]
    works = {w.item_id: w for w in store.claim_labeling(len(ids))}
    for item_id, confidence in zip(ids, confidences, strict=True):
        clock.advance(1)
        assert store.save_label(works[item_id], rec(confidence))
    return ids


def claim_all(store: Store, who: object = ALICE) -> list[str]:
    out = []
    while (claim := store.claim_review(who)) is not None:  # type: ignore[arg-type]
        out.append(claim.item_id)
    return out


def test_age_is_the_default_and_ignores_confidence(ostore: Store, clock: FakeClock) -> None:
    name = project(ostore, None)
    assert ostore.get_project("acme", name).review_order == ReviewOrder.AGE
    ids = to_review(ostore, clock, name, [0.9, 0.1, 0.5])
    assert claim_all(ostore) == ids


def test_value_order_takes_low_confidence_first_then_age(ostore: Store, clock: FakeClock) -> None:
    name = project(ostore, ReviewOrder.VALUE)
    ids = to_review(ostore, clock, name, [0.9, 0.1, 0.5, 0.1, 1.0])
    assert claim_all(ostore) == [ids[1], ids[3], ids[2], ids[0], ids[4]]
    # The queue table still lists what waits and what is held, with its waiting time.
    rows, total = ostore.review_queue_rows("acme")
    assert total == 5 and {r.item_id for r in rows} == set(ids)


def test_the_setting_applies_to_items_queued_after_it(ostore: Store, clock: FakeClock) -> None:
    name = project(ostore, None)
    before = to_review(ostore, clock, name, [0.9, 0.1])
    info = ostore.set_review_order("acme", name, ReviewOrder.VALUE, actor="op")
    assert info.review_order == ReviewOrder.VALUE
    assert ostore.project_history("acme", name)[0].action == "project.review_order"
    after = to_review(ostore, clock, name, [1.0, 0.1])
    # Queued earlier in age order, they keep their place; the new low-confidence item jumps.
    assert claim_all(ostore) == [after[1], *before, after[0]]
    assert ostore.review_queue_depth("acme") == 0


def test_an_old_low_value_item_is_claimed_within_the_aging_bound(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    store = make_store(make_settings, clock, review_diversity_penalty_s=0.0)
    name = project(store, ReviewOrder.VALUE)
    (old,) = to_review(store, clock, name, [1.0])  # value 0: no head start
    step_s, arrivals = 60.0, 2
    claimed: list[str] = []
    while old not in claimed:
        clock.advance(step_s)
        to_review(store, clock, name, [0.0] * arrivals)  # value 0.8: a 480 s head start
        claim = store.claim_review(ALICE)
        assert claim is not None
        store.decide(ALICE, claim.item_id, lease_token=claim.lease_token, decision=Decision.APPROVE)
        claimed.append(claim.item_id)
        assert len(claimed) < 100, "the old item starved"
    # Overtaken only by items that joined within the horizon after it (two per step), while
    # more high-value items keep arriving than are claimed: the queue is not empty.
    bound = arrivals * int(HORIZON_S / step_s)
    assert 0 < claimed.index(old) <= bound
    assert store.review_queue_depth("acme") > 0


def test_near_duplicates_are_spread_over_a_reviewers_claims(ostore: Store, clock: FakeClock) -> None:
    name = project(ostore, ReviewOrder.VALUE)
    dup = "my order 4411 never arrived and support does not answer my emails at all"
    distinct = ["the film was far too long", "great coffee but rude staff at the counter",
                "cannot log in on the mobile app since the update"]
    # The three near-duplicates are the least confident, so they would come first.
    ids = to_review(ostore, clock, name, [0.1, 0.1, 0.1, 0.3, 0.3, 0.3],
                    texts=[dup, dup.upper(), dup + "!", *distinct])
    first = ostore.claim_review(ALICE)
    assert first is not None and first.item_id == ids[0]
    # Bob has claimed nothing alike: he gets the next near-duplicate.
    other = ostore.claim_review(BOB)
    assert other is not None and other.item_id == ids[1]
    # Alice gets the distinct items before the last near-duplicate.
    assert claim_all(ostore) == [*ids[3:], ids[2]]


def test_concurrent_claimers_never_share_an_item_in_value_order(
    make_settings: Callable[..., Settings], ostore: Store, clock: FakeClock
) -> None:
    name = project(ostore, ReviewOrder.VALUE)
    ids = to_review(ostore, clock, name, [i / 40 for i in range(40)],
                    texts=["same text for every item"] * 20 + [f"text {i}" for i in range(20)])
    claimed: list[str] = []
    lock = threading.Lock()

    def reviewer(n: int) -> None:
        store = Store.from_settings(make_settings())
        who = principal(role=Role.REVIEWER, name=f"r{n}")
        while (claim := store.claim_review(who)) is not None:
            with lock:
                claimed.append(claim.item_id)

    threads = [threading.Thread(target=reviewer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids) and len(claimed) == len(set(claimed))
