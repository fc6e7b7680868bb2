"""The review API end to end: claim, decide, renew, lease expiry, concurrency, isolation.

Items reach review for real: a safety batch is labeled by a burst worker against
the fake provider, whose scattered flags and disagreeing samples send most
items to needs_review. The API runs with the shortest review lease (5 s) so
the expiry test waits only a few seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmlabel.domain import LabelRecord
from llmlabel.review_priority import review_value
from llmlabel.store import Role, Store
from tests.integration.conftest import Processes, provider, service_env, wait_until

pytestmark = pytest.mark.integration

LEASE_S = 5
CATEGORIES = ["sexual", "hate", "violence", "harassment", "self-harm", "sexual/minors",
              "hate/threatening", "violence/graphic"]

Headers = dict[str, str]


@pytest.fixture(scope="module")
def api_env(
    redis_server: str, fake_provider: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return service_env(redis_server, fake_provider, tmp_path_factory.mktemp("var"),
                       review_lease_s=LEASE_S)


@pytest.fixture(scope="module")
def client(api_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    procs = Processes(Path(tmp_path_factory.mktemp("logs")))
    try:
        with httpx.Client(base_url=procs.api(api_env), timeout=30) as http:
            yield http
    finally:
        procs.stop_all()


@pytest.fixture
def key(store: Store) -> Callable[..., Headers]:
    """Authorization headers of a new key (team, role, name)."""

    def make(team: str = "t1", role: Role = Role.REVIEWER, name: str | None = None) -> Headers:
        plain = store.create_api_key(team=team, role=role, name=name or role.value)
        return {"Authorization": f"Bearer {plain}"}

    return make


@pytest.fixture
def batch(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes, api_env: dict[str, str]
) -> dict[str, Any]:
    """A labeled safety batch of team t1 with several items waiting for review."""
    items = [{"id": f"m{i}", "text": f"message number {i} about the weather"} for i in range(12)]
    # v1 pinned: which fake answers disagree is a hash of the prompt, tuned for v1
    body = {"task": "safety", "items": items, "guideline_version": "v1", "prompt_version": "v1"}
    response = client.post("/v1/batches", json=body,
                           headers=key(role=Role.SUBMITTER))
    assert response.status_code == 201, response.text
    processes.run_burst(api_env, name="w-review")
    depth = client.get("/v1/review/queue", headers=key()).json()["depth"]
    assert depth >= 4, f"the fake provider sent only {depth} items to review"
    return {"id": response.json()["id"], "depth": depth}


def claim(client: httpx.Client, headers: Headers, **filters: str) -> dict[str, Any] | None:
    response = client.post("/v1/review/claim", json=filters or None, headers=headers)
    if response.status_code == 204:
        assert response.content == b""
        return None
    assert response.status_code == 200, response.text
    claimed: dict[str, Any] = response.json()
    return claimed


def decide(client: httpx.Client, headers: Headers, claimed: dict[str, Any], action: str,
           **extra: Any) -> httpx.Response:
    body = {"lease_token": claimed["lease_token"], "action": action} | extra
    return client.post(f"/v1/review/items/{claimed['item_id']}/decision", json=body,
                       headers=headers)


def results(client: httpx.Client, headers: Headers, batch_id: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/v1/batches/{batch_id}/results", headers=headers)
    return {line["item_id"]: line for line in map(json.loads, response.text.splitlines())}


def test_claim_then_approve_fix_reject_skip(
    client: httpx.Client, key: Callable[..., Headers], batch: dict[str, Any]
) -> None:
    reviewer = key()
    claims: list[dict[str, Any]] = []
    for _ in range(4):
        claimed = claim(client, reviewer, batch_id=batch["id"])
        assert claimed is not None
        claims.append(claimed)
    assert len({c["item_id"] for c in claims}) == 4
    first = claims[0]
    assert (first["batch_id"], first["task"], first["guideline_version"]) == (batch["id"], "safety", "v1")
    assert first["input"]["text"].startswith("message number")
    assert isinstance(first["samples"], list) and first["samples"]
    assert isinstance(first["detail"], dict) and "label" in first
    assert datetime.fromisoformat(first["lease_expires_at"]).timestamp() > time.time()

    fixed_label = {"flags": {c: c == "hate" for c in CATEGORIES}, "rationale": "slur"}
    approved, fixed, rejected, skipped = claims
    assert decide(client, reviewer, approved, "approve").json()["state"] == "approved"
    fix = decide(client, reviewer, fixed, "fix", label=fixed_label, comment="hate speech")
    assert fix.status_code == 200, fix.text
    assert (fix.json()["state"], fix.json()["label"]) == ("fixed", fixed_label)
    assert decide(client, reviewer, rejected, "reject").json()["state"] == "rejected"
    assert decide(client, reviewer, skipped, "skip").json()["state"] == "needs_review"

    lines = results(client, key(role=Role.SUBMITTER), batch["id"])
    assert (lines[approved["item_id"]]["state"], lines[approved["item_id"]]["source"]) == (
        "approved", "llm")
    assert (lines[fixed["item_id"]]["source"], lines[fixed["item_id"]]["label"]) == (
        "human", fixed_label)
    assert lines[rejected["item_id"]]["state"] == "rejected"
    assert lines[skipped["item_id"]]["state"] == "needs_review"
    depth = client.get("/v1/review/queue", headers=reviewer).json()["depth"]
    assert depth == batch["depth"] - 3
    # A decided item's lease is gone: deciding again conflicts.
    assert decide(client, reviewer, approved, "reject").status_code == 409


def test_fix_validation_lists_fields_and_keeps_the_lease(
    client: httpx.Client, key: Callable[..., Headers], batch: dict[str, Any]
) -> None:
    reviewer = key()
    claimed = claim(client, reviewer)
    assert claimed is not None
    bad = decide(client, reviewer, claimed, "fix",
                 label={"flags": {c: "maybe" for c in CATEGORIES[:2]}, "extra": 1})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"extra"} <= fields and any(f.startswith("flags") for f in fields)
    missing = decide(client, reviewer, claimed, "fix")
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "label"
    good = decide(client, reviewer, claimed, "fix", label={"flags": {c: False for c in CATEGORIES}})
    assert good.status_code == 200 and good.json()["state"] == "fixed"


def test_two_reviewers_never_hold_the_same_item(
    client: httpx.Client, key: Callable[..., Headers], batch: dict[str, Any]
) -> None:
    reviewers = [key(name=f"r{i}") for i in range(3)]

    def drain(headers: Headers) -> list[str]:
        held: list[str] = []
        with httpx.Client(base_url=client.base_url, timeout=30) as own:
            while (claimed := claim(own, headers)) is not None:
                held.append(claimed["item_id"])
        return held

    with ThreadPoolExecutor(len(reviewers)) as pool:
        held = [ids for ids in pool.map(drain, reviewers)]
    claimed = [item for ids in held for item in ids]
    assert len(claimed) == len(set(claimed)) == batch["depth"]
    assert client.get("/v1/review/queue", headers=reviewers[0]).json()["depth"] == 0


def test_lease_expiry_renewal_and_reclaim(
    client: httpx.Client, key: Callable[..., Headers], batch: dict[str, Any]
) -> None:
    alice, bob = key(name="alice"), key(name="bob")
    held = claim(client, alice)
    assert held is not None
    renewed = client.post(f"/v1/review/items/{held['item_id']}/renew",
                          json={"lease_token": held["lease_token"]}, headers=alice)
    assert renewed.status_code == 200
    assert renewed.json()["lease_expires_at"] >= held["lease_expires_at"]
    wrong = client.post(f"/v1/review/items/{held['item_id']}/renew",
                        json={"lease_token": "not-the-token"}, headers=bob)
    assert wrong.status_code == 409
    assert decide(client, bob, held | {"lease_token": "not-the-token"}, "approve").status_code == 409

    # Bob drains what is free, then waits for Alice's lease to lapse and gets her item.
    while claim(client, bob) is not None:
        pass
    retaken = wait_until(lambda: claim(client, bob), timeout_s=LEASE_S + 10,
                         what="the expired lease to be claimable", every_s=0.5)
    assert retaken["item_id"] == held["item_id"]
    assert retaken["lease_token"] != held["lease_token"]
    late = decide(client, alice, held, "approve")
    assert late.status_code == 409 and "claim again" in late.json()["detail"]
    assert decide(client, bob, retaken, "approve").json()["state"] == "approved"


def test_review_roles_and_team_isolation(
    client: httpx.Client, key: Callable[..., Headers], batch: dict[str, Any]
) -> None:
    submitter = key(role=Role.SUBMITTER)
    assert client.post("/v1/review/claim", headers=submitter).status_code == 403
    admin = key(role=Role.ADMIN)
    claimed = claim(client, admin)
    assert claimed is not None
    denied = decide(client, submitter, claimed, "approve")
    assert denied.status_code == 403 and "reviewer" in denied.json()["detail"]

    outsider = key(team="t2")
    assert claim(client, outsider) is None
    assert client.get("/v1/review/queue", headers=outsider).json() == {"team": "t2", "depth": 0}
    assert client.post("/v1/review/claim", json={"batch_id": batch["id"]},
                       headers=outsider).status_code == 404
    assert decide(client, outsider, claimed, "approve").status_code == 404
    assert client.post(f"/v1/review/items/{claimed['item_id']}/renew",
                       json={"lease_token": claimed["lease_token"]},
                       headers=outsider).status_code == 404
    # The owner's lease survived the outsider's attempts.
    assert decide(client, admin, claimed, "approve").status_code == 200


def test_ner_fix_with_token_indices_out_of_range_is_refused(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes,
    api_env: dict[str, str],
) -> None:
    # Finding 13: out-of-range token_start/token_end were accepted (200) and silently dropped.
    tokens = ["Mike", "flew", "to", "Paris", "on", "Monday"]
    items = [{"id": f"n{i}", "text": " ".join([*tokens, str(i)]), "tokens": [*tokens, str(i)]}
             for i in range(12)]
    submitted = client.post("/v1/batches", json={"task": "ner", "items": items},
                            headers=key(team="t-ner", role=Role.SUBMITTER))
    assert submitted.status_code == 201, submitted.text
    # Every answer is unusable, so the items go to review.
    with provider(latency_ms=5, latency_jitter_ms=0, malformed_rate=1.0) as url:
        processes.run_burst(api_env | {"LLMLABEL_BASE_URL": url}, name="w-ner")
    reviewer = key(team="t-ner")
    claimed = claim(client, reviewer)
    assert claimed is not None, "no NER item reached review"
    span = {"start": 13, "end": 18, "label": "location"}
    for bad, field in [({"token_start": 3, "token_end": 40}, "entities.0.token_end"),
                       ({"token_start": 9, "token_end": 10}, "entities.0.token_start"),
                       ({"token_start": 2, "token_end": 4}, "entities.0.token_start")]:
        refused = decide(client, reviewer, claimed, "fix", label={"entities": [span | bad]})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in refused.json()["errors"]}, refused.json()
    fixed = decide(client, reviewer, claimed, "fix",
                   label={"entities": [span | {"token_start": 3, "token_end": 4}]})
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["label"]["entities"] == [
        span | {"text": "Paris", "token_start": 3, "token_end": 4}
    ]


def test_operators_set_the_review_order_and_claims_follow_it(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes,
    api_env: dict[str, str], store: Store,
) -> None:
    team = "t-order"
    operator, reviewer = key(team, Role.OPERATOR), key(team, Role.REVIEWER, "rita")
    assert client.get("/v1/projects/safety", headers=operator).json()["review_order"] == "age"
    bad = client.patch("/v1/projects/safety", json={"review_order": "random"}, headers=operator)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem")
    assert [e["field"] for e in bad.json()["errors"]] == ["review_order"]
    extra = client.patch("/v1/projects/safety", json={"review_order": "value", "x": 1},
                         headers=operator)
    assert extra.status_code == 422 and "x" in extra.text
    assert client.patch("/v1/projects/safety", json={"review_order": "value"},
                        headers=reviewer).status_code == 403
    assert client.patch("/v1/projects/nope", json={"review_order": "value"},
                        headers=operator).status_code == 404
    done = client.patch("/v1/projects/safety", json={"review_order": "value"}, headers=operator)
    assert done.status_code == 200 and done.json()["review_order"] == "value"
    history = client.get("/v1/projects/safety/history", headers=operator).json()["history"]
    assert history[0]["action"] == "project.review_order"

    topics = ["weather", "a parcel that never came", "the football final", "a noisy neighbour",
              "my landlord", "a job interview", "the train strike", "a broken phone screen",
              "a birthday party", "the dentist", "tax forms", "a lost cat"]
    items = [{"id": f"o{i}", "text": f"message number {i} about {t}"} for i, t in enumerate(topics)]
    body = {"task": "safety", "items": items, "guideline_version": "v1", "prompt_version": "v1"}
    response = client.post("/v1/batches", json=body, headers=key(team, Role.SUBMITTER))
    assert response.status_code == 201, response.text
    # A provider of its own: the session one's answers depend on how many calls it served.
    with provider(latency_ms=5, latency_jitter_ms=0, disagree_rate=0.6) as url:
        processes.run_burst(api_env | {"LLMLABEL_BASE_URL": url}, name="w-order")
    waiting = store.redis.zrange(f"ll:t:{team}:rq", 0, -1)
    assert len(waiting) >= 4, f"the fake provider sent only {len(waiting)} items to review"
    values: dict[str, float] = {}
    for item_id in waiting:
        fields = store.redis.hgetall(f"ll:t:{team}:i:{item_id}")
        assert fields["rorder"] == "value"
        record = LabelRecord.model_validate_json(fields["record"])
        values[item_id] = review_value(record, json.loads(fields["input"])).value
    first = claim(client, reviewer)
    assert first is not None
    # The most valuable item first (age breaks near-ties: the burst took seconds, 0.01 is 36 s).
    assert values[first["item_id"]] >= max(values.values()) - 0.01
    assert client.get("/v1/review/queue", headers=reviewer).json()["depth"] == len(waiting) - 1
