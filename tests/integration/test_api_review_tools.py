"""The review list view's routes and the chart routes over HTTP (real API, worker, fake provider)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from llmlabel.store import Role, Store
from tests.integration.conftest import Processes, service_env

pytestmark = pytest.mark.integration


def test_queue_bulk_undo_history_and_stats_routes(
    redis_url: str, fake_provider: str, tmp_path: Path, processes: Processes, store: Store
) -> None:
    env = service_env(redis_url, fake_provider, tmp_path / "var", undo_window_s=60)
    base = processes.api(env)
    auth = {name: {"Authorization": f"Bearer {store.create_api_key(team='rt', role=role, name=name)}"}
            for name, role in [("sub", Role.SUBMITTER), ("rev", Role.REVIEWER), ("op", Role.OPERATOR)]}
    other = {"Authorization": f"Bearer {store.create_api_key(team='other', role=Role.REVIEWER)}"}
    with httpx.Client(base_url=base, timeout=30) as client:
        items = [{"id": f"m{i}", "text": f"message {i} about trains"} for i in range(12)]
        # A pilot (without second reviews): every item waits for review, whatever the
        # fake provider's samples say.
        batch = client.post("/v1/batches", json={"task": "safety", "items": items, "pilot": True,
                                                 "double_review_share": 0},
                            headers=auth["sub"]).json()["id"]
        processes.run_burst(env, name="w-tools")
        waiting = client.get("/v1/review/queue", headers=auth["rev"]).json()["depth"]
        assert waiting == 12

        page = client.get("/v1/review/items", params={"batch_id": batch, "sort": "confidence",
                                                      "order": "desc"}, headers=auth["rev"]).json()
        assert page["total"] == waiting and page["tasks"] == ["safety"]
        confidences = [r["confidence"] for r in page["items"]]
        assert confidences == sorted(confidences, reverse=True)
        assert client.get("/v1/review/items", headers=other).json()["total"] == 0

        bad = client.get("/v1/review/items", params={"min_confidence": 2}, headers=auth["rev"])
        assert bad.status_code == 422 and "min_confidence" in bad.text
        empty = client.get("/v1/review/items", params={"min_confidence": 0.9, "max_confidence": 0.1},
                           headers=auth["rev"])
        assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "min_confidence"
        bad = client.post("/v1/review/bulk-approve", json={"item_ids": []}, headers=auth["rev"])
        assert bad.status_code == 422 and "item_ids" in bad.text
        assert client.post("/v1/review/bulk-approve", json={"item_ids": ["x"]},
                           headers=auth["sub"]).status_code == 403

        chosen = [r["item_id"] for r in page["items"][:2]]
        done = client.post("/v1/review/bulk-approve", json={"item_ids": chosen},
                           headers=auth["rev"]).json()
        assert (done["approved"], done["skipped"]) == (2, [])
        foreign = client.post("/v1/review/bulk-approve", json={"item_ids": [page["items"][2]["item_id"]]},
                              headers=other).json()
        assert foreign["approved"] == 0  # another team's id names nothing
        counts = client.get(f"/v1/batches/{batch}", headers=auth["op"]).json()["counts"]
        assert (counts["approved"], counts["needs_review"]) == (2, waiting - 2)

        history = client.get("/v1/review/history", headers=auth["rev"]).json()
        assert [(e["item_id"], e["bulk"], e["undoable"]) for e in history["entries"]] == [
            (chosen[1], True, True), (chosen[0], True, True)]
        undone = client.post(f"/v1/review/items/{chosen[0]}/undo", headers=auth["rev"])
        assert undone.status_code == 200 and undone.json()["item"]["state"] == "needs_review"
        again = client.post(f"/v1/review/items/{chosen[0]}/undo", headers=auth["rev"])
        assert again.status_code == 409
        opened = client.post("/v1/review/claim", json={"item_id": chosen[0]}, headers=auth["rev"])
        assert opened.status_code == 200 and opened.json()["item_id"] == chosen[0]

        timeline = client.get(f"/v1/stats/batches/{batch}/timeline", params={"buckets": 5},
                              headers=auth["op"]).json()
        assert len(timeline["points"]) == 5
        last = timeline["points"][-1]
        assert (last["labeled"], last["review"], last["failed"]) == (12, waiting, 0)
        agreement = client.get("/v1/stats/agreement", headers=auth["op"]).json()
        assert [(s["task"], sum(p["approved"] for p in s["points"])) for s in agreement["series"]] == [
            ("safety", 1)]
        queue = client.get("/v1/stats/queue", headers=auth["op"]).json()
        assert (queue["depth"], queue["in_review"]) == (waiting - 2, 1)
        assert queue["tasks"][0]["task"] == "safety" and queue["oldest_waiting_s"] >= 0


def test_undo_of_a_gold_decision_looks_like_any_undo(
    redis_url: str, fake_provider: str, tmp_path: Path, processes: Processes, store: Store
) -> None:
    env = service_env(redis_url, fake_provider, tmp_path / "var", gold_share=1.0)
    base = processes.api(env)
    auth = {name: {"Authorization": f"Bearer {store.create_api_key(team='gt', role=role, name=name)}"}
            for name, role in [("sub", Role.SUBMITTER), ("rev", Role.REVIEWER), ("op", Role.OPERATOR)]}
    flags = dict.fromkeys(["sexual", "hate", "violence", "harassment", "self-harm", "sexual/minors",
                           "hate/threatening", "violence/graphic"], False)
    known = {"flags": flags, "rationale": None}
    with httpx.Client(base_url=base, timeout=30) as client:
        client.post("/v1/gold", json={"task": "safety", "items": [
            {"input": {"text": "Where is the station?"}, "label": known}]}, headers=auth["op"])
        items = [{"id": f"m{i}", "text": f"message {i} about trains"} for i in range(6)]
        client.post("/v1/batches", json={"task": "safety", "items": items}, headers=auth["sub"])
        processes.run_burst(env, name="w-gold-undo")
        gold = client.post("/v1/review/claim", headers=auth["rev"]).json()
        decided = client.post(f"/v1/review/items/{gold['item_id']}/decision", headers=auth["rev"],
                              json={"lease_token": gold["lease_token"], "action": "fix", "label": known})
        assert decided.status_code == 200
        scores = client.get("/v1/gold/scores", headers=auth["op"]).json()["reviewers"]
        assert [(s["reviewer"], s["n"]) for s in scores] == [("rev", 1)]
        entry = client.get("/v1/review/history", headers=auth["rev"]).json()["entries"][0]
        assert (entry["action"], entry["task"], entry["undoable"], entry["item_id"]) == (
            "review.fix", "safety", True, gold["item_id"])
        assert entry["after"]["state"] == "fixed"

        undone = client.post(f"/v1/review/items/{gold['item_id']}/undo", headers=auth["rev"])
        assert undone.status_code == 200, undone.text
        claim = undone.json()["claim"]
        assert (undone.json()["item"]["state"], claim["label"]) == ("in_review", gold["label"])
        scores = client.get("/v1/gold/scores", headers=auth["op"]).json()["reviewers"]
        assert all(s["n"] == 0 for s in scores)
        again = client.post(f"/v1/review/items/{gold['item_id']}/undo", headers=auth["rev"])
        assert again.status_code == 409 and "no decision of yours" in again.json()["detail"]
        client.post(f"/v1/review/items/{gold['item_id']}/decision", headers=auth["rev"],
                    json={"lease_token": claim["lease_token"], "action": "reject"})
        scores = client.get("/v1/gold/scores", headers=auth["op"]).json()["reviewers"]
        assert [(s["reviewer"], s["n"], s["accuracy"]) for s in scores] == [("rev", 1, 0.0)]
        history = client.get("/v1/review/history", headers=auth["rev"]).json()["entries"]
        assert [e["action"] for e in history] == ["review.reject", "review.undo", "review.fix"]
