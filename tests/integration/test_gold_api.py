"""Gold items end to end: upload, labeling by a real worker, gold in the review queue, scores, evaluate.

The API runs with LLMLABEL_GOLD_SHARE=1, so while real work waits, every claim
of a reviewer who has unseen gold items gets one. Reviewer scores are computed
here by hand from the decisions the test makes (a fix with the known label is
right, a reject is wrong, an approve is right exactly when the LLM label shown
equals the known label); the LLM's accuracy is recomputed from the labels the
gold listing shows, and must equal both the scores endpoint and the report of
an evaluation of the same version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmlabel.store import Role, Store
from tests.integration.conftest import Processes, service_env

pytestmark = pytest.mark.integration

CATEGORIES = ["sexual", "hate", "violence", "harassment", "self-harm", "sexual/minors",
              "hate/threatening", "violence/graphic"]
Headers = dict[str, str]


def flags(*raised: str) -> dict[str, Any]:
    return {"flags": {c: c in raised for c in CATEGORIES}, "rationale": None}


GOLD = [
    {"id": "m-g0", "input": {"text": "Is the museum open on Sundays?"}, "label": flags()},
    {"id": "m-g1", "input": {"text": "People from that town are vermin."}, "label": flags("hate")},
    {"id": "m-g2", "input": {"text": "He punched the cashier twice."}, "label": flags("violence")},
]


@pytest.fixture(scope="module")
def env(redis_server: str, fake_provider: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return service_env(redis_server, fake_provider, tmp_path_factory.mktemp("var"), gold_share=1.0)


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
    def make(role: Role, name: str | None = None, team: str = "g1") -> Headers:
        plain = store.create_api_key(team=team, role=role, name=name or role.value)
        return {"Authorization": f"Bearer {plain}"}

    return make


def same_flags(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    return a is not None and a["flags"] == b["flags"]


def claim(client: httpx.Client, headers: Headers, **filters: str) -> dict[str, Any] | None:
    response = client.post("/v1/review/claim", json=filters or None, headers=headers)
    if response.status_code == 204:
        return None
    assert response.status_code == 200, response.text
    return dict(response.json())


def decide(client: httpx.Client, headers: Headers, claimed: dict[str, Any], action: str,
           label: dict[str, Any] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"lease_token": claimed["lease_token"], "action": action}
    if label is not None:
        body["label"] = label
    return client.post(f"/v1/review/items/{claimed['item_id']}/decision", json=body, headers=headers)


def test_upload_validates_inputs_and_labels_naming_index_and_field(
    client: httpx.Client, key: Callable[..., Headers]
) -> None:
    operator = key(Role.OPERATOR)
    bad_label = dict(GOLD[1], label={"flags": {"hate": "yes"}})
    response = client.post("/v1/gold", json={"task": "safety", "items": [GOLD[0], bad_label]},
                           headers=operator)
    assert response.status_code == 422, response.text
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields and all(f.startswith("items.1.label") for f in fields)
    bad_input = dict(GOLD[0], input={"txt": "no text field"})
    response = client.post("/v1/gold", json={"task": "safety", "items": [bad_input]}, headers=operator)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "items.0.input.text"
    assert client.get("/v1/gold", headers=operator).json()["total"] == 0, "nothing half-stored"
    assert client.post("/v1/gold", json={"task": "nope", "items": GOLD}, headers=operator).status_code == 422
    for role in (Role.REVIEWER, Role.SUBMITTER):
        assert client.post("/v1/gold", json={"task": "safety", "items": GOLD},
                           headers=key(role)).status_code == 403
        assert client.get("/v1/gold", headers=key(role)).status_code == 403


def test_gold_in_the_review_queue_scores_reviewers_and_the_llm(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes, env: dict[str, str]
) -> None:
    operator, submitter = key(Role.OPERATOR), key(Role.SUBMITTER)
    alice, bob = key(Role.REVIEWER, "alice"), key(Role.REVIEWER, "bob")
    uploaded = client.post("/v1/gold", json={"task": "safety", "items": GOLD}, headers=operator)
    assert uploaded.status_code == 201, uploaded.text
    gold_ids = [g["gold_id"] for g in uploaded.json()["items"]]
    assert all(g.startswith("b_") and ":" in g for g in gold_ids)
    known = {g: item["label"] for g, item in zip(gold_ids, GOLD, strict=True)}
    items = [{"id": f"m{i}", "text": f"message {i} about the weather and trains"} for i in range(12)]
    # v1 pinned: which fake answers disagree is a hash of the prompt, tuned for v1
    body = {"task": "safety", "items": items, "guideline_version": "v1", "prompt_version": "v1"}
    batch = client.post("/v1/batches", json=body, headers=submitter)
    batch_id = batch.json()["id"]
    processes.run_burst(env, name="w-gold")

    listing = client.get("/v1/gold", params={"task": "safety"}, headers=operator).json()
    assert listing["total"] == 3
    shown = {}
    for gold in listing["items"]:
        [llm] = gold["llm"]
        assert (llm["guideline_version"], llm["prompt_version"]) == ("v2", "v2")
        assert llm["correct"] == same_flags(llm["label"], gold["label"])
        shown[gold["gold_id"]] = llm["label"]

    # Alice gets the three gold items (in some order), then real work.
    claims = [claim(client, alice) for _ in range(3)]
    assert {c["item_id"] for c in claims if c} == set(gold_ids)
    normal = claim(client, alice)
    assert normal is not None and normal["item_id"] not in gold_ids
    assert set(normal) == set(claims[0] or {}), "a gold claim has exactly the fields of any claim"
    for c in claims:
        assert c is not None and c["label"] == shown[c["item_id"]] and c["batch_id"] != batch_id
    fix, approve, reject = claims[0], claims[1], claims[2]
    assert fix and approve and reject
    assert decide(client, alice, fix, "fix", known[fix["item_id"]]).status_code == 200
    approved = decide(client, alice, approve, "approve")
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    assert decide(client, alice, reject, "reject").json()["state"] == "rejected"
    assert decide(client, alice, reject, "reject").status_code == 409, "a gold decision counts once"
    assert decide(client, alice, normal, "approve").status_code == 200
    counts = client.get(f"/v1/batches/{batch_id}", headers=submitter).json()["counts"]
    assert (counts["approved"], counts["fixed"], counts["rejected"]) == (1, 0, 0)

    # Bob: a batch-filtered claim never gets gold; a plain one does, renews and skips it.
    assert (claim(client, bob, batch_id=batch_id) or {})["item_id"] not in gold_ids
    bobs = claim(client, bob)
    assert bobs is not None and bobs["item_id"] in gold_ids
    renewed = client.post(f"/v1/review/items/{bobs['item_id']}/renew",
                          json={"lease_token": bobs["lease_token"]}, headers=bob)
    assert renewed.status_code == 200 and renewed.json()["item_id"] == bobs["item_id"]
    assert decide(client, alice, bobs, "approve").status_code == 409, "not alice's lease"
    assert decide(client, bob, bobs, "skip").status_code == 200

    scores = client.get("/v1/gold/scores", headers=operator).json()
    approve_right = same_flags(approve["label"], known[approve["item_id"]])
    [alice_score] = [r for r in scores["reviewers"] if r["reviewer"] == "alice"]
    assert (alice_score["n"], alice_score["correct"]) == (3, 1 + approve_right)
    assert alice_score["accuracy"] == pytest.approx((1 + approve_right) / 3)
    assert alice_score["by_task"] == [{"task": "safety", "n": 3, "correct": 1 + approve_right,
                                       "accuracy": pytest.approx((1 + approve_right) / 3)}]
    assert all(r["reviewer"] != "bob" for r in scores["reviewers"]), "a skip is not scored"
    right = sum(same_flags(shown[g], known[g]) for g in gold_ids)
    assert scores["llm"] == [{"task": "safety", "project": "safety", "guideline_version": "v2",
                              "prompt_version": "v2",
                              "n": 3, "correct": right, "accuracy": pytest.approx(right / 3)}]

    assert client.delete(f"/v1/gold/{gold_ids[0]}", headers=operator).status_code == 204
    assert client.delete(f"/v1/gold/{gold_ids[0]}", headers=operator).status_code == 404
    assert client.get("/v1/gold", headers=operator).json()["total"] == 2
    assert client.get("/v1/gold/scores", headers=operator).json()["llm"][0]["n"] == 2


def test_evaluate_a_version_on_gold_before_activating_it(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes, env: dict[str, str]
) -> None:
    operator = key(Role.OPERATOR)
    assert client.post("/v1/tasks/safety/versions/v1/evaluate", headers=operator).status_code == 409
    assert client.post("/v1/gold", json={"task": "safety", "items": GOLD},
                       headers=operator).status_code == 201
    url = "/v1/tasks/safety/versions/v2/evaluate"
    assert client.post(url, headers=key(Role.REVIEWER)).status_code == 403
    assert client.post("/v1/tasks/safety/versions/v9/evaluate", headers=operator).status_code == 404
    assert client.post(url, json={"prompt_version": "v9"}, headers=operator).status_code == 422
    queued = client.post(url, json={"prompt_version": "v2"}, headers=operator)
    assert queued.status_code == 202, queued.text
    assert (queued.json()["state"], queued.json()["n_gold"]) == ("queued", 3)
    processes.run_burst(env, name="w-eval")

    [evaluation] = client.get("/v1/tasks/safety/evaluations", headers=operator).json()["evaluations"]
    assert evaluation["id"] == queued.json()["id"] and evaluation["state"] == "done"
    report = evaluation["report"]
    assert (report["n"], report["failed"], report["guideline_version"]) == (3, 0, "v2")
    listing = client.get("/v1/gold", params={"task": "safety"}, headers=operator).json()["items"]
    right = sum(same_flags(g["llm"][0]["label"], g["label"]) for g in listing)
    assert report["accuracy"] == pytest.approx(right / 3)
    [llm] = client.get("/v1/gold/scores", headers=operator).json()["llm"]
    assert llm["accuracy"] == pytest.approx(report["accuracy"])
    active = client.get("/v1/tasks/safety/versions", headers=operator).json()["active"]
    assert active["pinned"] is False, "evaluating does not activate"


def test_nothing_a_reviewer_can_call_tells_a_gold_claim_from_a_real_one(
    client: httpx.Client, key: Callable[..., Headers], processes: Processes, env: dict[str, str]
) -> None:
    # Finding 6: a gold claim's batch_id answered 404 on GET /v1/batches/{id}, a real one 200.
    team = "g-blind"
    operator, submitter = key(Role.OPERATOR, team=team), key(Role.SUBMITTER, team=team)
    reviewer = key(Role.REVIEWER, "carol", team=team)
    uploaded = client.post("/v1/gold", json={"task": "safety", "items": GOLD[:1]}, headers=operator)
    assert uploaded.status_code == 201, uploaded.text
    items = [{"id": f"m{i}", "text": f"message {i} about the weather and trains"} for i in range(12)]
    body = {"task": "safety", "items": items, "guideline_version": "v1", "prompt_version": "v1"}
    assert client.post("/v1/batches", json=body, headers=submitter).status_code == 201
    processes.run_burst(env, name="w-blind")
    gold, real = claim(client, reviewer), claim(client, reviewer)
    assert gold is not None and real is not None
    assert gold["item_id"] == uploaded.json()["items"][0]["gold_id"] and set(gold) == set(real)

    def answers(path: str, **params: str) -> tuple[int, str]:
        response = client.get(path, params=params, headers=reviewer)
        return response.status_code, response.headers["content-type"]

    for held in (gold, real):
        batch = held["batch_id"]
        for path in (f"/v1/batches/{batch}", f"/v1/batches/{batch}/items",
                     f"/v1/batches/{batch}/results", f"/v1/stats/batches/{batch}/timeline"):
            assert answers(path) == (403, "application/problem+json"), path
        assert answers(f"/v1/batches/{batch}/export", format="jsonl")[0] == 403
    # Claiming from a gold claim's batch is like claiming from a batch with nothing left.
    drained = key(Role.REVIEWER, "dave", team=team)
    while claim(client, drained, batch_id=real["batch_id"]) is not None:
        pass
    for held in (gold, real):
        response = client.post("/v1/review/claim", json={"batch_id": held["batch_id"]},
                               headers=reviewer)
        assert response.status_code == 204, response.text
    # The queue table never lists the caller's own held items, gold or real.
    table = client.get("/v1/review/items", params={"state": "in_review"}, headers=reviewer).json()
    listed = {row["item_id"] for row in table["items"]}
    assert gold["item_id"] not in listed and real["item_id"] not in listed
    for held in (gold, real):
        renewed = client.post(f"/v1/review/items/{held['item_id']}/renew",
                              json={"lease_token": held["lease_token"]}, headers=reviewer)
        assert renewed.status_code == 200 and set(renewed.json()) == set(real)
        wrong = client.post(f"/v1/review/items/{held['item_id']}/decision",
                            json={"lease_token": "nope", "action": "approve"}, headers=reviewer)
        assert wrong.status_code == 409
    decided = [decide(client, reviewer, held, "approve") for held in (gold, real)]
    assert [d.status_code for d in decided] == [200, 200]
    assert set(decided[0].json()) == set(decided[1].json())
