"""The example pool against a real Redis: decisions enter it in their step, undo takes them out."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis

from llmlabel.domain import Route
from llmlabel.fewshot import PoolExample
from llmlabel.settings import Settings
from llmlabel.store import BatchCreate, Decision, Role, Store, keys
from tests.integration.conftest import principal
from tests.integration.test_store_labeling import FakeClock, record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ALICE = principal(role=Role.REVIEWER, name="alice")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cstore(make_settings: Callable[..., Settings], clock: FakeClock) -> Store:
    settings = make_settings(review_lease_s=60, double_review_share=0.0)
    return Store(
        redis.Redis.from_url(settings.redis_url or "", decode_responses=True),
        settings=settings, clock=clock,
    )


def reviewable(store: Store, clock: FakeClock, n: int, *, team: str = "acme") -> list[str]:
    items = [{"id": f"t{i}", "text": f"text {i}"} for i in range(n)]
    info, _ = store.create_batch(
        principal(team),
        BatchCreate(task="classification", items=items, guideline_version="v1",
                    prompt_version="v1", project="classification"),
        idempotency_key=None, request_hash="h",
    )
    for work in store.claim_labeling(n):
        clock.advance(1)
        assert store.save_label(work, record(work.item_id, Route.REVIEW))
    return [f"{info.id}:{i}" for i in range(n)]


def decide(store: Store, decision: Decision, label: dict[str, str] | None = None,
           who: object = ALICE) -> str:
    claim = store.claim_review(who)  # type: ignore[arg-type]
    assert claim is not None
    store.decide(who, claim.item_id, lease_token=claim.lease_token,  # type: ignore[arg-type]
                 decision=decision, label=label)
    return claim.item_id


def test_fixes_and_approvals_enter_the_pool_rejects_and_skips_do_not(
    cstore: Store, clock: FakeClock
) -> None:
    ids = reviewable(cstore, clock, 4)
    assert cstore.pool_rev("acme", "classification") == 0
    fixed = decide(cstore, Decision.FIX, {"label": "negative"})
    approved = decide(cstore, Decision.APPROVE)
    decide(cstore, Decision.REJECT)
    decide(cstore, Decision.SKIP)
    rev, examples = cstore.pool_examples("acme", "classification")
    by_id = {e.id: e for e in examples}
    assert set(by_id) == {fixed, approved} and rev == 2
    assert by_id[fixed].label == {"label": "negative"} and by_id[fixed].source == "fix"
    assert by_id[fixed].input == {"id": "t0", "text": "text 0"}
    assert by_id[approved].label == {"label": "positive"} and by_id[approved].source == "approve"
    assert ids[0] == fixed
    # Team isolation: the same project name in another team has an empty pool.
    assert cstore.pool_examples("other", "classification") == (0, [])


def test_undo_takes_the_example_out_and_bulk_approve_adds(cstore: Store, clock: FakeClock) -> None:
    ids = reviewable(cstore, clock, 3)
    fixed = decide(cstore, Decision.FIX, {"label": "neutral"})
    assert [e.id for e in cstore.pool_examples("acme", "classification")[1]] == [fixed]
    cstore.undo_decision(ALICE, fixed)
    assert cstore.pool_examples("acme", "classification")[1] == []
    result = cstore.bulk_approve(principal(role=Role.OPERATOR, name="op"), ids[1:])
    assert result is not None
    assert {e.id for e in cstore.pool_examples("acme", "classification")[1]} == set(ids[1:])


def test_flags_and_edits_survive_and_move_the_revision(cstore: Store, clock: FakeClock) -> None:
    reviewable(cstore, clock, 2)
    a = decide(cstore, Decision.APPROVE)
    b = decide(cstore, Decision.FIX, {"label": "negative"})
    rev = cstore.pool_rev("acme", "classification")
    cstore.set_pool_flag("acme", "op", "classification", a, "pinned")
    cstore.set_pool_flag("acme", "op", "classification", b, "excluded")
    assert cstore.pool_rev("acme", "classification") == rev + 2
    got = {e.id: e for e in cstore.pool_examples("acme", "classification")[1]}
    assert got[a].pinned and not got[a].excluded and got[b].excluded
    edited = got[b].model_copy(update={"edited": True, "label": {"label": "neutral"}})
    cstore.put_pool_examples("acme", "op", "classification", [edited], action="test.edit")
    page, cursor = cstore.pool_page("acme", "classification", limit=1)
    assert len(page) == 1 and cursor is not None
    rest, end = cstore.pool_page("acme", "classification", cursor=cursor, limit=5)
    assert end is None and {page[0].id, rest[0].id} == {a, b}
    stored = cstore.pool_example("acme", "classification", b)
    assert stored.edited and stored.label == {"label": "neutral"} and stored.excluded
    assert isinstance(stored, PoolExample)
    history = cstore.redis.lrange(keys.project_history("acme", "classification"), 0, -1)
    assert {json.loads(e)["action"] for e in history} == {"project.example.flag", "test.edit"}


def test_deleting_a_batch_takes_its_examples_out_of_the_pool(cstore: Store, clock: FakeClock) -> None:
    ids = reviewable(cstore, clock, 2)
    decide(cstore, Decision.FIX, {"label": "negative"})
    decide(cstore, Decision.APPROVE)
    rev = cstore.pool_rev("acme", "classification")
    cstore.delete_batch("acme", ids[0].split(":")[0], actor="op")
    assert cstore.pool_examples("acme", "classification") == (rev + 1, [])
    assert cstore.pool_page("acme", "classification") == ([], None)
