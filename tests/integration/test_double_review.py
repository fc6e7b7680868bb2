"""Second reviews end to end, and reviewer-vs-reviewer Krippendorff's alpha on /v1/agreement.

The API runs with LLMLABEL_DOUBLE_REVIEW_SHARE=1: every first decision sends
the item once to a second reviewer. Alice fixes four items to chosen labels and
rejects a fifth; Bob, the second reviewer, fixes the four to other chosen
labels and approves the fifth. Alpha is then worked out by hand below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from llmlabel.domain import ItemState
from llmlabel.errors import LeaseError
from llmlabel.settings import Settings
from llmlabel.store import Decision, Role, Store
from tests.integration.conftest import Processes, principal, service_env
from tests.integration.test_store_labeling import FakeClock
from tests.integration.test_store_review import labeled_batch

pytestmark = pytest.mark.integration

CATEGORIES = ["sexual", "hate", "violence", "harassment", "self-harm", "sexual/minors",
              "hate/threatening", "violence/graphic"]
Headers = dict[str, str]

# hate:     alice T T F F, bob T F F F -> coincidences o_TT=2, o_TF=o_FT=1, o_FF=4;
#           n_T=3, n_F=5, n=8: alpha = 1 - (n-1) * 2 / (2 * 3 * 5) = 1 - 14/30 = 8/15.
# violence: alice F F F T, bob F F F T -> no disagreement: alpha = 1.
# the other six categories are never raised: alpha undefined (None).
# The task's equality (every flag the same) holds for items 0, 2, 3: agreement 3/4.
ALICE = [("hate",), ("hate",), (), ("violence",)]
BOB = [("hate",), (), (), ("violence",)]


def flags(*raised: str) -> dict[str, Any]:
    return {"flags": {c: c in raised for c in CATEGORIES}, "rationale": None}


@pytest.fixture(scope="module")
def env(redis_server: str, fake_provider: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return service_env(redis_server, fake_provider, tmp_path_factory.mktemp("var"),
                       double_review_share=1.0, gold_share=0.0)


@pytest.fixture(scope="module")
def client(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    procs = Processes(Path(tmp_path_factory.mktemp("logs")))
    try:
        with httpx.Client(base_url=procs.api(env), timeout=30) as http:
            yield http
    finally:
        procs.stop_all()


@pytest.fixture
def key(store: Store) -> Callable[..., Headers]:
    def make(role: Role, name: str) -> Headers:
        return {"Authorization": f"Bearer {store.create_api_key(team='d1', role=role, name=name)}"}

    return make


def claim(client: httpx.Client, headers: Headers) -> dict[str, Any]:
    response = client.post("/v1/review/claim", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def decide(client: httpx.Client, headers: Headers, claimed: dict[str, Any], action: str,
           label: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"lease_token": claimed["lease_token"], "action": action}
    if label is not None:
        body["label"] = label
    response = client.post(f"/v1/review/items/{claimed['item_id']}/decision", json=body,
                           headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_second_reviews_keep_the_first_decision_and_give_reviewer_alpha(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes, env: dict[str, str]
) -> None:
    alice, bob, carol = key(Role.REVIEWER, "alice"), key(Role.REVIEWER, "bob"), key(Role.REVIEWER, "carol")
    items = [{"id": f"m{i}", "text": f"message {i} about the weather and trains"} for i in range(60)]
    submitter = key(Role.SUBMITTER, "sub")
    created = client.post("/v1/batches", json={"task": "safety", "items": items},
                          headers=submitter)
    batch_id = created.json()["id"]
    processes.run_burst(env, name="w-double")
    depth = client.get("/v1/review/queue", headers=alice).json()["depth"]
    assert depth >= 7, f"the fake provider sent only {depth} items to review"

    firsts = [claim(client, alice) for _ in range(5)]
    for claimed, raised in zip(firsts, ALICE, strict=False):
        decide(client, alice, claimed, "fix", flags(*raised))
    decide(client, alice, firsts[4], "reject")
    alice_ids = {c["item_id"] for c in firsts}
    # Alice's own items wait for a second reviewer; she gets first reviews only.
    again = claim(client, alice)
    assert again["item_id"] not in alice_ids
    decide(client, alice, again, "skip")

    seconds = {}
    for _ in range(5):
        claimed = claim(client, bob)
        assert claimed["item_id"] in alice_ids, "second reviews come first, to another reviewer"
        seconds[claimed["item_id"]] = claimed
    for first in firsts:
        # Bob sees the LLM's label (what Alice was shown), not Alice's decision.
        assert seconds[first["item_id"]]["label"] == first["label"]
        assert set(seconds[first["item_id"]]) == set(first)
    first_id = firsts[0]["item_id"]
    decide(client, bob, seconds[first_id], "skip")
    seconds[first_id] = claim(client, bob)
    assert seconds[first_id]["item_id"] == first_id, "a skipped second review comes back"
    for first, raised in zip(firsts, BOB, strict=False):
        decide(client, bob, seconds[first["item_id"]], "fix", flags(*raised))
    decide(client, bob, seconds[firsts[4]["item_id"]], "approve")

    views = {i["item_id"]: i for i in client.get(
        f"/v1/batches/{batch_id}/items", params={"limit": 100}, headers=submitter).json()["items"]}
    for first, mine, theirs in zip(firsts, ALICE, BOB, strict=False):
        view = views[first["item_id"]]
        assert (view["state"], view["label"], view["reviewer"]) == ("fixed", flags(*mine), "alice")
        second = view["second_review"]
        assert (second["state"], second["reviewer"], second["decision"]) == ("done", "bob", "fix")
        assert second["label"] == flags(*theirs)
    rejected = views[firsts[4]["item_id"]]
    assert rejected["state"] == "rejected"
    assert rejected["second_review"]["label"] == firsts[4]["label"], "approve = the LLM label"
    counts = client.get(f"/v1/batches/{batch_id}", headers=submitter).json()["counts"]
    assert (counts["fixed"], counts["rejected"], counts["approved"]) == (4, 1, 0)
    # Reviewed twice: they never come back. Carol gets first reviews only.
    assert claim(client, carol)["item_id"] not in alice_ids

    report = client.get("/v1/agreement", params={"task": "safety"}, headers=bob).json()
    [group] = report["groups"]
    assert (group["reviewed"], group["fixed"], group["rejected"]) == (5, 4, 1)
    reviewers = group["reviewers"]
    assert (reviewers["n_items"], reviewers["n_pairs"], reviewers["n_skipped"]) == (5, 4, 1)
    assert reviewers["agreement"] == pytest.approx(3 / 4)
    alpha = reviewers["alpha"]
    assert alpha["alpha/hate"] == pytest.approx(8 / 15)
    assert alpha["alpha/violence"] == pytest.approx(1.0)
    assert alpha["alpha/sexual"] is None


# -- store level, with an injected clock (lease expiry without sleeping) -------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dstore(make_settings: Callable[..., Settings], clock: FakeClock) -> Store:
    settings = make_settings(review_lease_s=60, double_review_share=1.0, gold_share=0.0)
    return Store(redis.Redis.from_url(settings.redis_url or "", decode_responses=True),
                 settings=settings, clock=clock)


def test_an_expired_second_review_lease_returns_the_item_to_the_second_queue(
    dstore: Store, clock: FakeClock
) -> None:
    alice, bob, carol = (principal(role=Role.REVIEWER, name=n) for n in ("alice", "bob", "carol"))
    [item_id] = labeled_batch(dstore, clock, 1)
    first = dstore.claim_review(alice)
    assert first is not None
    dstore.decide(alice, item_id, lease_token=first.lease_token, decision=Decision.FIX,
                  label={"label": "negative"})
    assert dstore.claim_review(alice) is None, "never the first reviewer's own item"
    held = dstore.claim_review(bob)
    assert held is not None and held.item_id == item_id
    assert held.label == {"label": "positive"}, "the LLM's label, not alice's fix"
    renewed = dstore.renew_lease(bob, item_id, held.lease_token)
    assert renewed.lease_token == held.lease_token
    clock.advance(61)
    with pytest.raises(LeaseError):
        dstore.decide(bob, item_id, lease_token=held.lease_token, decision=Decision.APPROVE)
    again = dstore.claim_review(carol)
    assert again is not None and again.item_id == item_id and again.lease_token != held.lease_token
    view = dstore.decide(carol, item_id, lease_token=again.lease_token, decision=Decision.APPROVE)
    assert (view.state, view.label, view.reviewer) == (ItemState.FIXED, {"label": "negative"}, "alice")
    assert view.second_review is not None
    assert (view.second_review.reviewer, view.second_review.label) == ("carol", {"label": "positive"})
    with pytest.raises(LeaseError):
        dstore.decide(carol, item_id, lease_token=again.lease_token, decision=Decision.REJECT)
    assert dstore.claim_review(bob) is None, "reviewed twice: it does not come back"
    actions = [e.action for e in dstore.audit_events("acme")]
    assert actions[0] == "review.second.approve" and "review.fix" in actions


def test_a_pilot_batch_share_wins_over_the_setting(dstore: Store, clock: FakeClock) -> None:
    from llmlabel.domain import Route
    from llmlabel.store.models import BatchCreate
    from tests.integration.test_store_labeling import record

    alice = principal(role=Role.REVIEWER, name="alice")
    items = [{"id": f"p{i}", "text": f"p{i}"} for i in range(4)]
    info, _ = dstore.create_batch(principal(), BatchCreate(
        task="classification", items=items, guideline_version="v1", prompt_version="v1",
        pilot=True, double_review_share=0.0), idempotency_key=None, request_hash="pilot")
    assert (info.pilot, info.double_review_share) == (True, 0.0)
    works = dstore.claim_labeling(4)
    assert [w.pilot for w in works] == [True] * 4, "workers learn the batch is a pilot"
    for work in works:
        assert dstore.save_label(work, record(work.item_id, Route.REVIEW))
    for _ in items:
        held = dstore.claim_review(alice, batch_id=info.id)
        assert held is not None
        view = dstore.decide(alice, held.item_id, lease_token=held.lease_token,
                             decision=Decision.APPROVE)
        assert view.second_review is None, "the pilot's share 0, not the setting's 1"
    assert dstore.claim_review(principal(role=Role.REVIEWER, name="bob")) is None
