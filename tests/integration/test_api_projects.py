"""Projects over HTTP end to end: a team's own labels, versions, diff, evaluate, relabel, isolation.

`llmlabel serve` and burst `llmlabel worker`s run from empty folders of their
own, so every version they label with comes from Redis. Team A defines a spam
project (spam/ham/unsure), labels a batch with it, pushes a stricter guideline,
diffs, evaluates both on gold, relabels the batch and reads the comparison.
Team B gets 404 on every one of those routes, and A's activations never change
what B's batches are labeled with.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from llmlabel.settings import Settings
from llmlabel.store import Role, Store
from tests.conftest import REPO_ROOT
from tests.integration.conftest import Processes, service_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

Headers = dict[str, str]
SPAM = """---
description: Is a message spam?
labels: [spam, ham, unsure]
label_descriptions:
  spam: unsolicited bulk or scam messages
  ham: a real message from someone the reader knows or deals with
  unsure: cannot tell
few_shot:
  - input: {text: "WIN A FREE CRUISE!!! reply YES now"}
    output: {label: spam, confidence: 0.9}
---
Label each message spam, ham or unsure.
"""
STRICT = SPAM.replace("Label each message", "Be strict. Label each message")
PROMPT = (REPO_ROOT / "prompts/classification/v1.yaml").read_text()
SPAM_LABELS = {"spam", "ham", "unsure"}
SENTIMENT = {"positive", "negative", "neutral"}


@dataclass
class Stack:
    base: str
    env: dict[str, str]
    procs: Processes
    worker_dir: Path

    def drain(self, name: str) -> None:
        self.procs.run_burst(self.env, name=name, cwd=self.worker_dir, timeout_s=90)


@pytest.fixture(scope="module")
def stack(
    store_module: Store, redis_server: str, fake_provider: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    procs = Processes(tmp_path_factory.mktemp("logs"))
    env = service_env(redis_server, fake_provider, tmp_path_factory.mktemp("var"))
    try:
        base = procs.api(env, cwd=tmp_path_factory.mktemp("api-cwd"))
        yield Stack(base, env, procs, tmp_path_factory.mktemp("worker-cwd"))
    finally:
        procs.stop_all()


@pytest.fixture(scope="module")
def store_module(redis_server: str) -> Store:
    """One store for the module: its tests share the server's data (each uses its own teams)."""
    redis.Redis.from_url(redis_server).flushdb()
    return Store.from_settings(Settings(_env_file=None, redis_url=redis_server))  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def keys(store_module: Store) -> Callable[[str, Role], Headers]:
    def make(team: str, role: Role) -> Headers:
        plain = store_module.create_api_key(team=team, role=role, name=f"{team}-{role.value}")
        return {"Authorization": f"Bearer {plain}"}

    return make


def items(n: int, prefix: str = "m") -> list[dict[str, str]]:
    texts = ["WIN cash now, click the link", "Lunch at noon tomorrow?", "Your parcel is held",
             "Meeting moved to 3pm", "Claim your prize today"]
    return [{"id": f"{prefix}{i}", "text": texts[i % len(texts)] + f" #{i}"} for i in range(n)]


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def results(client: httpx.Client, headers: Headers, batch_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/batches/{batch_id}/results", headers=headers)
    return [json.loads(line) for line in response.text.splitlines()]


def test_a_project_labels_with_its_own_labels_and_rotates_versions(
    stack: Stack, keys: Callable[[str, Role], Headers]
) -> None:
    op, sub = keys("a", Role.OPERATOR), keys("a", Role.SUBMITTER)
    with httpx.Client(base_url=stack.base, timeout=30) as client:
        created = ok(client.post("/v1/projects", headers=op, json={
            "name": "alpha-spam", "task": "classification", "guideline": SPAM, "prompt": PROMPT,
        }), 201)
        assert (created["name"], created["task"], created["guideline_version"],
                created["prompt_version"]) == ("alpha-spam", "classification", "v1", "v1")
        again = client.post("/v1/projects", headers=op, json={
            "name": "alpha-spam", "task": "classification", "guideline": SPAM, "prompt": PROMPT})
        assert again.status_code == 409
        assert [p["name"] for p in ok(client.get("/v1/projects", headers=sub))["projects"]] \
            == ["alpha-spam"]

        batch = ok(client.post("/v1/batches", headers=sub, json={
            "project": "alpha-spam", "items": items(6)}), 201)
        assert (batch["project"], batch["task"], batch["guideline_version"]) == (
            "alpha-spam", "classification", "v1")
        gold = ok(client.post("/v1/gold", headers=op, json={"project": "alpha-spam", "items": [
            {"input": {"text": "FREE money, reply now"}, "label": {"label": "spam"}},
            {"input": {"text": "See you at the station at 6"}, "label": {"label": "ham"}},
        ]}), 201)
        assert gold["project"] == "alpha-spam"
        stack.drain("w-first")
        labels = {r["label"]["label"] for r in results(client, sub, batch["id"]) if r["label"]}
        assert labels and labels <= SPAM_LABELS

        pushed = ok(client.post("/v1/projects/alpha-spam/versions", headers=op,
                                json={"guideline": STRICT}), 201)
        assert (pushed["guideline_version"], pushed["prompt_version"]) == ("v2", None)
        same = ok(client.post("/v1/projects/alpha-spam/versions", headers=op,
                              json={"guideline": STRICT}), 200)
        assert same["guideline_version"] == "v2" and same["created"] == {"guideline": False}
        v2 = ok(client.get("/v1/projects/alpha-spam/versions/guideline/v2", headers=sub))
        assert (v2["text"], v2["sha256"], v2["active"]) == (STRICT, pushed["guideline_hash"], False)
        diff = ok(client.get("/v1/projects/alpha-spam/versions/guideline/diff",
                             params={"from": "v1", "to": "v2"}, headers=sub))
        assert "+Be strict. Label each message" in diff["diff"]
        assert (diff["from"], diff["to"]) == ("v1", "v2")
        alias = ok(client.get("/v1/projects/alpha-spam/diff", params={"to": "v2"}, headers=sub))
        assert alias["diff"] == diff["diff"], "from defaults to the active version"

        evaluation = ok(client.post("/v1/projects/alpha-spam/evaluate", headers=op,
                                    json={"guideline_version": "v2"}), 202)
        assert (evaluation["project"], evaluation["guideline_version"], evaluation["n_gold"]) == (
            "alpha-spam", "v2", 2)

        relabeled = ok(client.post(f"/v1/batches/{batch['id']}/relabel", headers=op,
                                   json={"guideline_version": "v2"}), 201)
        new_id = relabeled["batch"]["id"]
        assert relabeled["relabel"]["from"]["guideline_version"] == "v1"
        assert relabeled["relabel"]["to"]["guideline_version"] == "v2"
        assert set(relabeled["relabel"]["evaluations"]) == {"from", "to"}
        replay = client.post(f"/v1/batches/{batch['id']}/relabel", headers=op,
                             json={"guideline_version": "v2"})
        assert (replay.status_code, replay.json()["batch"]["id"]) == (200, new_id)
        stack.drain("w-relabel")
        report = ok(client.get(relabeled["comparison"], headers=sub))
        assert (report["state"], report["items"], report["compared"]) == ("done", 6, 6)
        assert report["changed"] + report["unchanged"] == 6
        assert report["agreement"] == pytest.approx(report["unchanged"] / 6)
        assert report["metrics"]["accuracy"] == pytest.approx(report["agreement"])
        for side in ("from", "to"):
            assert report["gold"][side]["state"] == "done", report["gold"]
            assert report["gold"][side]["n"] == 2
            assert 0.0 <= report["gold"][side]["accuracy"] <= 1.0
        new_items = results(client, sub, new_id)
        assert [r["id"] for r in new_items] == [f"m{i}" for i in range(6)]
        assert {r["guideline_version"] for r in new_items} == {"v2"}
        assert client.get(f"/v1/batches/{batch['id']}/comparison", headers=sub).status_code == 404

        active = ok(client.post("/v1/projects/alpha-spam/activate", headers=op,
                                json={"guideline_version": "v2"}))
        assert (active["guideline_version"], active["pinned"]) == ("v2", True)
        back = ok(client.post("/v1/projects/alpha-spam/rollback", headers=op))
        assert back["guideline_version"] == "v1"
        history = ok(client.get("/v1/projects/alpha-spam/history", headers=sub))["history"]
        assert [e["action"] for e in history] == [
            "version.rollback", "version.activate", "version.create", "project.create"]
        assert {e["actor"] for e in history} == {"a/a-operator"}
        evaluations = ok(client.get("/v1/projects/alpha-spam/evaluations", headers=op))
        assert len(evaluations["evaluations"]) == 3


A_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/projects/alpha-iso", None),
    ("GET", "/v1/projects/alpha-iso/versions", None),
    ("GET", "/v1/projects/alpha-iso/versions/guideline/v1", None),
    ("GET", "/v1/projects/alpha-iso/versions/prompt/v1", None),
    ("GET", "/v1/projects/alpha-iso/versions/guideline/diff?to=v1", None),
    ("GET", "/v1/projects/alpha-iso/diff?to=v1", None),
    ("POST", "/v1/projects/alpha-iso/versions", {"guideline": STRICT}),
    ("POST", "/v1/projects/alpha-iso/activate", {"guideline_version": "v1"}),
    ("POST", "/v1/projects/alpha-iso/rollback", None),
    ("GET", "/v1/projects/alpha-iso/history", None),
    ("POST", "/v1/projects/alpha-iso/evaluate", None),
    ("GET", "/v1/projects/alpha-iso/evaluations", None),
    ("GET", "/v1/tasks/classification/guidelines/v1?project=alpha-iso", None),
    ("POST", "/v1/batches/{batch}/relabel", None),
    ("GET", "/v1/batches/{relabel}/comparison", None),
]


@pytest.fixture(scope="module")
def team_a_project(stack: Stack, store_module: Store) -> dict[str, str]:
    """Team A's project, a labeled batch of it and a relabel of that batch."""
    op = {"Authorization": "Bearer " + store_module.create_api_key(team="a2", role=Role.ADMIN)}
    with httpx.Client(base_url=stack.base, timeout=30) as client:
        ok(client.post("/v1/projects", headers=op, json={
            "name": "alpha-iso", "task": "classification", "guideline": SPAM, "prompt": PROMPT}), 201)
        batch = ok(client.post("/v1/batches", headers=op, json={
            "project": "alpha-iso", "items": items(2, "i")}), 201)
        ok(client.post("/v1/gold", headers=op, json={"project": "alpha-iso", "items": [
            {"input": {"text": "FREE money"}, "label": {"label": "spam"}}]}), 201)
        relabel = ok(client.post(f"/v1/batches/{batch['id']}/relabel", headers=op), 201)
    return {"batch": batch["id"], "relabel": relabel["batch"]["id"]}


@pytest.mark.parametrize(("method", "path", "body"), A_ROUTES, ids=[f"{m} {p}" for m, p, _ in A_ROUTES])
def test_team_b_gets_404_on_every_route_of_team_a(
    stack: Stack, team_a_project: dict[str, str], store_module: Store,
    method: str, path: str, body: dict[str, Any] | None,
) -> None:
    b_admin = {"Authorization": "Bearer " + store_module.create_api_key(team="b2", role=Role.ADMIN)}
    url = path.format(**team_a_project)
    response = httpx.request(method, stack.base + url, json=body, headers=b_admin, timeout=30)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    # Nothing of team A's leaked into team B.
    assert httpx.get(stack.base + "/v1/projects", headers=b_admin).json()["projects"] == []


def test_team_a_activation_never_changes_team_b_labels(
    stack: Stack, keys: Callable[[str, Role], Headers]
) -> None:
    a_op, a_sub = keys("a3", Role.OPERATOR), keys("a3", Role.SUBMITTER)
    b_sub = keys("b3", Role.SUBMITTER)
    with httpx.Client(base_url=stack.base, timeout=30) as client:
        # Team A turns its default classification project into a spam classifier.
        pushed = ok(client.post("/v1/projects/classification/versions", headers=a_op,
                                json={"guideline": SPAM}), 201)
        ok(client.post("/v1/tasks/classification/versions/"
                       f"{pushed['guideline_version']}/activate", headers=a_op))
        a_batch = ok(client.post("/v1/batches", headers=a_sub, json={
            "task": "classification", "items": items(4, "a")}), 201)
        b_batch = ok(client.post("/v1/batches", headers=b_sub, json={
            "task": "classification", "items": items(4, "b")}), 201)
        assert a_batch["guideline_version"] == pushed["guideline_version"]
        assert b_batch["project"] == a_batch["project"] == "classification"
        stack.drain("w-iso")
        a_labels = {r["label"]["label"] for r in results(client, a_sub, a_batch["id"]) if r["label"]}
        b_labels = {r["label"]["label"] for r in results(client, b_sub, b_batch["id"]) if r["label"]}
        assert a_labels and a_labels <= SPAM_LABELS
        assert b_labels and b_labels <= SENTIMENT
        b_tasks = ok(client.get("/v1/tasks", headers=b_sub))["tasks"]
        b_classification = next(t for t in b_tasks if t["task"] == "classification")
        assert b_classification["active"]["pinned"] is False
        assert pushed["guideline_version"] not in b_classification["guideline_versions"]


def test_invalid_versions_are_422_naming_part_field_and_line_and_store_nothing(
    stack: Stack, keys: Callable[[str, Role], Headers], store_module: Store
) -> None:
    store = store_module
    op = keys("a4", Role.OPERATOR)
    bad_guideline = SPAM.replace("labels: [spam, ham, unsure]", "labels: spam, ham")
    bad_prompt = PROMPT.replace("{{ text }}", "{{ message }}")
    with httpx.Client(base_url=stack.base, timeout=30) as client:
        before = store.redis.dbsize()
        response = client.post("/v1/projects", headers=op, json={
            "name": "broken", "task": "classification", "guideline": bad_guideline,
            "prompt": PROMPT})
        assert response.status_code == 422
        [problem] = response.json()["errors"]
        assert (problem["part"], problem["field"], problem["line"]) == ("guideline", "labels", 3)
        response = client.post("/v1/projects", headers=op, json={
            "name": "broken", "task": "classification", "guideline": SPAM, "prompt": bad_prompt})
        assert response.status_code == 422
        [problem] = response.json()["errors"]
        assert (problem["part"], problem["field"]) == ("prompt", "user")
        assert problem["line"] == PROMPT.splitlines().index("  Text: {{ text }}") + 1
        assert "message" in response.json()["detail"]
        assert store.redis.dbsize() == before
        assert client.get("/v1/projects/broken", headers=op).status_code == 404
