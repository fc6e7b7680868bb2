"""Calibration end to end: gold and reviews feed a fit, the threshold moves, later items follow it.

Real redis-server, `llmlabel serve`, burst `llmlabel worker` processes and the
fake provider, which answers 70 % of items with a random label per sample (so
those items get low consistency and go to review) and the rest consistently.
The reviewer approves every item sent to review: the evidence says the
low-confidence labels were right, so the fit accepts labels far below the
configured 0.8 on consistency, and a second batch is routed by the fit: more of
it is accepted, each label records the fit and threshold that routed it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmlabel.domain import Route
from llmlabel.store import Role, Store
from tests.integration.conftest import Processes, provider, service_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

REPORT = "/v1/tasks/classification/versions/v2/calibration"
Headers = dict[str, str]


def _headers(store: Store, role: Role) -> Headers:
    return {"Authorization": f"Bearer {store.create_api_key(team='acme', role=role, name=role.value)}"}


def _submit(client: httpx.Client, headers: Headers, prefix: str, n: int) -> str:
    items = [{"id": f"{prefix}{i}", "text": f"{prefix} message {i}: the parcel came today"} for i in range(n)]
    body = {"task": "classification", "items": items, "guideline_version": "v2", "prompt_version": "v2"}
    response = client.post("/v1/batches", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _approve_everything(client: httpx.Client, reviewer: Headers) -> int:
    """Claim and approve until the queue is empty; returns how many items were approved."""
    approved = 0
    while True:
        response = client.post("/v1/review/claim", headers=reviewer)
        if response.status_code == 204:
            return approved
        assert response.status_code == 200, response.text
        claim: dict[str, Any] = response.json()
        assert "threshold" not in (claim["reason"] or ""), "reviewers never see the threshold"
        decided = client.post(f"/v1/review/items/{claim['item_id']}/decision",
                              json={"lease_token": claim["lease_token"], "action": "approve"},
                              headers=reviewer)
        assert decided.status_code == 200, decided.text
        approved += 1


def _records(store: Store, batch_id: str) -> list[Any]:
    return [store.label_record("acme", i.item_id) for i in store.iter_results("acme", batch_id)]


@dataclass(frozen=True)
class Stack:
    """The API (with the fake provider behind its workers), a client and the team's keys."""

    client: httpx.Client
    env: dict[str, str]
    operator: Headers
    submitter: Headers
    reviewer: Headers


@pytest.fixture
def stack(store: Store, redis_url: str, processes: Processes, tmp_path: Path) -> Iterator[Stack]:
    with provider(latency_ms=1, disagree_rate=0.7) as url:
        env = service_env(redis_url, url, tmp_path)
        with httpx.Client(base_url=processes.api(env), timeout=30) as client:
            yield Stack(client, env, _headers(store, Role.OPERATOR),
                        _headers(store, Role.SUBMITTER), _headers(store, Role.REVIEWER))


def test_reviews_move_the_threshold_and_later_items_follow_it(
    store: Store, stack: Stack, processes: Processes
) -> None:
    client, env = stack.client, stack.env
    operator, submitter, reviewer = stack.operator, stack.submitter, stack.reviewer
    before = client.get(REPORT, headers=operator).json()
    assert (before["threshold"], before["threshold_source"]) == (0.8, "configured")
    assert before["target_precision"] == 0.9 and before["target_source"] == "guideline"
    assert client.get(REPORT, headers=reviewer).status_code == 403
    assert client.put(REPORT, json={"target_precision": 1.5}, headers=operator).status_code == 422
    changed = client.put(REPORT, json={"target_precision": 0.75}, headers=operator)
    assert changed.status_code == 200, changed.text
    assert changed.json()["target_source"] == "api"
    assert changed.json()["status"] == "uncalibrated"  # no evidence yet

    # Gold, labeled by the version in the worker, is evidence too.
    gold = [{"id": f"g{i}", "input": {"text": f"gold text {i}"}, "label": {"label": "neutral"}}
            for i in range(3)]
    assert client.post("/v1/gold", json={"task": "classification", "items": gold},
                       headers=operator).status_code == 201
    first = _submit(client, submitter, "a", 120)
    processes.run_burst(env, name="w-first")
    routed_first = _records(store, first)
    assert len(routed_first) == 120
    assert all(r.threshold == 0.8 and r.fit_id is None for r in routed_first)
    reviewed_first = sum(r.route == Route.REVIEW for r in routed_first)
    assert reviewed_first >= 40, f"only {reviewed_first} of 120 went to review"

    approved = _approve_everything(client, reviewer)
    assert approved >= reviewed_first  # gold stand-ins may be claimed too
    fitted = client.post(REPORT.removesuffix("calibration") + "calibrate", headers=operator)
    assert fitted.status_code == 200, fitted.text + processes.log("api")
    report = fitted.json()
    assert report["status"] == "calibrated", report["reason"]
    assert report["threshold_source"] == "calibrated"
    # When gold (all "neutral") adds wrong labels, both outcomes occur and the combined
    # score is fitted (the threshold is on its scale); else consistency routes.
    assert report["score_signal"] in ("fitted", "consistency")
    if report["score_signal"] == "consistency":
        assert report["threshold"] < 0.8, "right low-confidence labels lower the threshold"
    audited = sum(r.audited for r in routed_first)  # blind audits of accepted labels
    assert report["evidence_by_source"]["review"] == reviewed_first - audited
    assert report["evidence_by_source"].get("audit", 0) == audited
    assert report["evidence_by_source"].get("gold") == 3
    assert report["evidence_n"] == reviewed_first + 3
    assert report["accepted_precision"]["low"] >= 0.75
    [chosen] = [row for row in report["curve"] if row["chosen"]]
    assert chosen["threshold"] == report["threshold"]
    assert len(report["reliability"]) == 10 and report["ece"] is not None

    second = _submit(client, submitter, "b", 60)
    processes.run_burst(env, name="w-second")
    routed = _records(store, second)
    assert len(routed) == 60
    assert all(r.fit_id == report["fit_id"] for r in routed), "each label records its fit"
    assert all(r.threshold == report["threshold"] for r in routed)
    for record in routed:
        score = record.signals[report["score_signal"]]
        if record.route == Route.ACCEPT:
            assert score is not None and score >= report["threshold"]
        elif not record.audited:
            assert score is None or score < report["threshold"] or "sample" in record.reason
    reviewed_second = sum(r.route == Route.REVIEW and not r.audited for r in routed)
    if report["score_signal"] == "consistency":
        assert reviewed_second / 60 < reviewed_first / 120, "the lower threshold accepts more"

    after = client.get(REPORT, headers=operator).json()
    assert after["fit_id"] == report["fit_id"] and after["labeled_n"] == 180
    assert after["review_rate"] is not None and after["history"][0]["fit_id"] == report["fit_id"]


def test_each_project_calibrates_its_own_versions(
    store: Store, stack: Stack, processes: Processes
) -> None:
    """Two projects of one task both have a `v1`: targets, counts, evidence and fits stay apart."""
    client, env = stack.client, stack.env
    operator, submitter, reviewer = stack.operator, stack.submitter, stack.reviewer
    texts = {kind: client.get(f"/v1/projects/classification/versions/{kind}/v2",
                              headers=operator).json()["text"]
             for kind in ("guideline", "prompt")}
    created = client.post("/v1/projects", headers=operator, json={
        "name": "tickets", "task": "classification", **texts})
    assert created.status_code == 201, created.text
    assert created.json()["guideline_version"] == "v1"
    mine = "/v1/projects/tickets/versions/guideline/v1/calibration"
    default = "/v1/tasks/classification/versions/v1/calibration"
    assert client.get(mine, headers=reviewer).status_code == 403
    assert client.get("/v1/projects/nope/versions/guideline/v1/calibration",
                      headers=operator).status_code == 404
    set_ = client.put(mine, json={"target_precision": 0.75}, headers=operator)
    assert set_.status_code == 200, set_.text
    assert (set_.json()["project"], set_.json()["target_source"]) == ("tickets", "api")
    assert client.get(default, headers=operator).json()["target_source"] == "guideline"

    items = [{"id": f"t{i}", "text": f"ticket {i}: the parcel came today"}
             for i in range(40)]
    batch = client.post("/v1/batches", headers=submitter,
                        json={"project": "tickets", "items": items})
    assert batch.status_code == 201, batch.text
    processes.run_burst(env, name="w-tickets")
    approved = _approve_everything(client, reviewer)
    assert approved > 0
    fitted = client.post(mine.removesuffix("calibration") + "calibrate", headers=operator)
    assert fitted.status_code == 200, fitted.text
    assert fitted.json()["labeled_n"] == 40
    assert fitted.json()["evidence_n"] == approved
    # The default project's v1 saw none of it.
    other = client.get(default, headers=operator).json()
    assert (other["labeled_n"], other["evidence_n"]) == (0, 0)
    records = _records(store, batch.json()["id"])
    assert len(records) == 40 and all(r.threshold == 0.8 for r in records)
