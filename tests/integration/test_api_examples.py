"""The example pool over HTTP end to end, and similar-example few-shot in real workers.

`llmlabel serve` and burst `llmlabel worker`s against the fake provider. A spam
project whose guideline asks for `similar_examples` sends every item to review
(min_valid_samples above the sample cap); reviewer fixes enter the pool; the
operator pins, excludes, edits and imports gold over the API; the next batch's
labels record the examples chosen and the pool snapshot. Another team sees none
of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from llmlabel.settings import Settings
from llmlabel.store import Role, Store
from tests.conftest import REPO_ROOT
from tests.integration.conftest import Processes, provider, service_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

Headers = dict[str, str]
SIMILAR = """---
description: Is a message spam?
labels: [spam, ham, unsure]
routing:
  min_valid_samples: 9
sampling: {initial: 3, max: 3, adaptive: false}
few_shot:
  - input: {text: "WIN A FREE CRUISE!!! reply YES now"}
    output: {label: spam, confidence: 0.9}
similar_examples: {k: 2}
---
Label each message spam, ham or unsure.
"""
PROMPT = (REPO_ROOT / "prompts/classification/v1.yaml").read_text()


@pytest.fixture
def env(redis_url: str, tmp_path_factory: pytest.TempPathFactory,
        processes: Processes) -> Iterator[tuple[str, dict[str, str]]]:
    # A provider of its own: the session one's answers depend on how many calls it served.
    with provider(latency_ms=5, latency_jitter_ms=0) as url:
        environment = service_env(redis_url, url, tmp_path_factory.mktemp("var"))
        yield processes.api(environment, cwd=tmp_path_factory.mktemp("api-cwd")), environment


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_fixes_feed_the_pool_and_the_next_labels_record_their_examples(
    env: tuple[str, dict[str, str]], redis_url: str, processes: Processes,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base, environment = env
    store = Store.from_settings(Settings(_env_file=None, redis_url=redis_url))  # type: ignore[call-arg]

    def key(team: str, role: Role) -> Headers:
        return {"Authorization": f"Bearer {store.create_api_key(team=team, role=role, name=role.value)}"}

    op, sub, rev = key("a", Role.OPERATOR), key("a", Role.SUBMITTER), key("a", Role.REVIEWER)
    other = key("b", Role.OPERATOR)
    worker_dir = tmp_path_factory.mktemp("worker-cwd")
    first = ["WIN cash now, click the link", "Claim your prize today, free money",
             "Lunch at noon tomorrow?", "Meeting moved to 3pm"]
    with httpx.Client(base_url=base, timeout=30) as client:
        ok(client.post("/v1/projects", headers=op, json={
            "name": "spam", "task": "classification", "guideline": SIMILAR, "prompt": PROMPT}), 201)
        batch = ok(client.post("/v1/batches", headers=sub, json={
            "project": "spam", "items": [{"id": f"f{i}", "text": t} for i, t in enumerate(first)]}),
            201)
        processes.run_burst(environment, name="w1", cwd=worker_dir, timeout_s=90)
        labeled = ok(client.get(f"/v1/batches/{batch['id']}/items", headers=sub))["items"]
        # The pool was empty: a snapshot is recorded, no example chosen.
        assert all(i["examples"] == [] and i["pool_snapshot"] for i in labeled)
        decided: dict[str, str] = {}
        for _ in first:
            claim = ok(client.post("/v1/review/claim", headers=rev, json={}))
            text = claim["input"]["text"]
            verdict = "spam" if ("WIN" in text or "prize" in text) else "ham"
            ok(client.post(f"/v1/review/items/{claim['item_id']}/decision", headers=rev, json={
                "lease_token": claim["lease_token"], "action": "fix", "label": {"label": verdict}}))
            decided[claim["item_id"]] = verdict

        page = ok(client.get("/v1/projects/spam/examples", headers=op, params={"limit": 3}))
        assert page["count"] == 3 and page["next_cursor"]
        rest = ok(client.get("/v1/projects/spam/examples", headers=op,
                             params={"cursor": page["next_cursor"]}))
        pool = {e["id"]: e for e in page["examples"] + rest["examples"]}
        assert {k: e["label"]["label"] for k, e in pool.items()} == decided
        assert {e["source"] for e in pool.values()} == {"fix"} and rest["next_cursor"] is None

        by_text = {e["input"]["text"]: e["id"] for e in pool.values()}
        meeting, lunch = by_text["Meeting moved to 3pm"], by_text["Lunch at noon tomorrow?"]
        prize = by_text["Claim your prize today, free money"]
        ok(client.patch(f"/v1/projects/spam/examples/{meeting}", headers=op, json={"pinned": True}))
        ok(client.patch(f"/v1/projects/spam/examples/{prize}", headers=op, json={"excluded": True}))
        edited = ok(client.patch(f"/v1/projects/spam/examples/{lunch}", headers=op,
                                 json={"label": {"label": "unsure"}}))
        assert edited["edited"] and edited["label"] == {"label": "unsure"}

        # Bad updates: problem+json naming the field; nothing stored changes.
        for body, field in [({"pinned": True, "excluded": True}, "excluded"),
                            ({"label": {"label": "eggs"}}, "label"),
                            ({"pinned": "yes"}, "pinned"), ({"colour": 1}, "colour")]:
            response = client.patch(f"/v1/projects/spam/examples/{lunch}", headers=op, json=body)
            assert response.status_code == 422, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert field in response.text
        nan = client.patch(f"/v1/projects/spam/examples/{lunch}", headers={
            **op, "Content-Type": "application/json"}, content=b'{"pinned": NaN}')
        assert nan.status_code in (400, 422)
        assert ok(client.get(f"/v1/projects/spam/examples/{lunch}", headers=op))["label"] == {
            "label": "unsure"}
        # Operators only; another team's keys find no such project.
        assert client.get("/v1/projects/spam/examples", headers=rev).status_code == 403
        assert client.get("/v1/projects/spam/examples", headers=other).status_code == 404
        assert client.patch(f"/v1/projects/spam/examples/{meeting}", headers=other,
                            json={"excluded": True}).status_code == 404
        assert client.get("/v1/projects/spam/examples/nope", headers=op).status_code == 404

        ok(client.post("/v1/gold", headers=op, json={"project": "spam", "items": [
            {"input": {"text": "FREE money, reply now to claim"}, "label": {"label": "spam"}}]}), 201)
        assert ok(client.post("/v1/projects/spam/examples/import-gold", headers=op))["imported"] == 1

        second = ok(client.post("/v1/batches", headers=sub, json={"project": "spam", "items": [
            {"id": "s0", "text": "Claim your free prize money now"},
            {"id": "s1", "text": "Claim your free prize money now"},
            {"id": "s2", "text": "Lunch tomorrow at noon?"}]}), 201)
        processes.run_burst(environment, name="w2", cwd=worker_dir, timeout_s=90)
        got = {i["id"]: i for i in ok(client.get(f"/v1/batches/{second['id']}/items",
                                                 headers=sub))["items"]}
        for item in got.values():
            assert item["examples"][0] == meeting, "the pinned example comes first"
            assert prize not in item["examples"], "an excluded example is never used"
            assert len(item["examples"]) == 2
        assert got["s0"]["examples"] == got["s1"]["examples"]
        assert got["s0"]["pool_snapshot"] == got["s1"]["pool_snapshot"] == got["s2"]["pool_snapshot"]
        assert got["s0"]["pool_snapshot"] != labeled[0]["pool_snapshot"]
        gold_id = next(e for e in ok(client.get("/v1/projects/spam/examples", headers=op))[
            "examples"] if e["source"] == "gold")["id"]
        assert got["s0"]["examples"][1] == gold_id
        assert got["s2"]["examples"][1] == lunch
        # Exports carry them too.
        line = client.get(f"/v1/batches/{second['id']}/results", headers=sub).text.splitlines()[0]
        assert '"pool_snapshot"' in line and meeting in line
    redis.Redis.from_url(redis_url).close()
