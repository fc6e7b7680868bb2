"""Task version routes end to end: each team's default project of a task, seen per task.

`llmlabel serve` runs from an empty folder (built-ins come from the package).
A second version of the ner task is pushed over the API, as an operator would,
so activation has something to switch between; what a team activates changes
only that team's new batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from llmlabel.guidelines import VersionRegistry, latest_version
from llmlabel.store import Role, Store
from tests.integration.conftest import REPO_ROOT, Processes, service_env

pytestmark = pytest.mark.integration

Headers = dict[str, str]
BUILTIN_G = VersionRegistry().guideline_versions("ner")
BUILTIN_P = VersionRegistry().prompt_versions("ner")
LATEST_G, LATEST_P = latest_version(BUILTIN_G), latest_version(BUILTIN_P)


@pytest.fixture(scope="module")
def client(
    redis_server: str, fake_provider: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    procs = Processes(tmp_path_factory.mktemp("logs"))
    procs_cwd = tmp_path_factory.mktemp("empty")
    procs_env = service_env(redis_server, fake_provider, tmp_path_factory.mktemp("var"))
    try:
        base = procs.api(procs_env, cwd=procs_cwd)
        with httpx.Client(base_url=base, timeout=30) as http:
            yield http
    finally:
        procs.stop_all()


@pytest.fixture
def key(store: Store) -> Callable[..., Headers]:
    def make(role: Role, team: str = "t1") -> Headers:
        plain = store.create_api_key(team=team, role=role, name=f"{team}-{role.value}")
        return {"Authorization": f"Bearer {plain}"}

    return make


def versions_of_new_batch(client: httpx.Client, headers: Headers, **pins: str) -> tuple[str, str]:
    body: dict[str, Any] = {"task": "ner", "items": [{"id": "a", "text": "Lima at night"}]} | pins
    response = client.post("/v1/batches", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["guideline_version"], response.json()["prompt_version"]


def ner(client: httpx.Client, headers: Headers) -> dict[str, Any]:
    tasks = client.get("/v1/tasks", headers=headers).json()["tasks"]
    entry: dict[str, Any] = next(t for t in tasks if t["task"] == "ner")
    return entry


def push_second_pair(client: httpx.Client, operator: Headers) -> tuple[str, str]:
    """A new ner guideline and prompt version, pushed as an operator would."""
    guideline = (REPO_ROOT / f"guidelines/ner/{LATEST_G}.md").read_text()
    prompt = (REPO_ROOT / f"prompts/ner/{LATEST_P}.yaml").read_text()
    response = client.post("/v1/projects/ner/versions", headers=operator, json={
        "guideline": guideline.replace("description:", "description: (pushed)", 1),
        "prompt": "# pushed: same template, new version\n" + prompt,
    })
    assert response.status_code == 201, response.text
    return response.json()["guideline_version"], response.json()["prompt_version"]


def test_tasks_list_builtin_versions_and_hashes(
    client: httpx.Client, key: Callable[..., Headers]
) -> None:
    reader = key(Role.REVIEWER)
    entry = ner(client, reader)
    assert (entry["guideline_versions"], entry["prompt_versions"]) == (BUILTIN_G, BUILTIN_P)
    assert entry["active"] == {"task": "ner", "guideline_version": LATEST_G,
                               "prompt_version": LATEST_P, "pinned": False}
    detail = client.get("/v1/tasks/ner/versions", headers=reader).json()
    hashes = {g["version"]: g["content_hash"] for g in detail["guidelines"]}
    for version in BUILTIN_G:
        path = REPO_ROOT / f"guidelines/ner/{version}.md"
        assert hashes[version] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert detail["history"] == []
    assert client.get("/v1/tasks/poem/versions", headers=reader).status_code == 404
    assert client.get("/v1/tasks").status_code == 401


def test_activate_and_rollback_change_only_this_teams_new_batches(
    client: httpx.Client, key: Callable[..., Headers]
) -> None:
    submitter, operator = key(Role.SUBMITTER), key(Role.OPERATOR)
    other_team = key(Role.SUBMITTER, team="t2")
    assert versions_of_new_batch(client, submitter) == (LATEST_G, LATEST_P)
    gv, pv = push_second_pair(client, operator)
    # Pushing a version does not activate it.
    assert versions_of_new_batch(client, submitter) == (LATEST_G, LATEST_P)

    denied = client.post(f"/v1/tasks/ner/versions/{gv}/activate", headers=key(Role.REVIEWER))
    assert denied.status_code == 403 and "operator" in denied.json()["detail"]
    assert client.post("/v1/tasks/ner/rollback", headers=submitter).status_code == 403

    first = client.post(f"/v1/tasks/ner/versions/{gv}/activate", json={"prompt_version": pv},
                        headers=operator)
    assert first.status_code == 200, first.text
    assert first.json() == {"task": "ner", "guideline_version": gv, "prompt_version": pv,
                            "pinned": True}
    assert versions_of_new_batch(client, submitter) == (gv, pv)
    assert versions_of_new_batch(client, submitter, guideline_version=LATEST_G) == (LATEST_G, pv)
    # Team t2 never activated anything: its batches still use the built-ins.
    assert versions_of_new_batch(client, other_team) == (LATEST_G, LATEST_P)

    # Without a prompt version the active one is kept.
    second = client.post(f"/v1/tasks/ner/versions/{LATEST_G}/activate", headers=key(Role.ADMIN))
    assert (second.json()["guideline_version"], second.json()["prompt_version"]) == (LATEST_G, pv)

    back = client.post("/v1/tasks/ner/rollback", headers=operator)
    assert back.status_code == 200
    assert (back.json()["guideline_version"], back.json()["prompt_version"]) == (gv, pv)
    assert versions_of_new_batch(client, submitter) == (gv, pv)
    # Below the first activation lies the pair the default project was made with.
    assert client.post("/v1/tasks/ner/rollback", headers=operator).json()["guideline_version"] \
        == LATEST_G
    assert client.post("/v1/tasks/ner/rollback", headers=operator).status_code == 409

    history = client.get("/v1/tasks/ner/versions", headers=submitter).json()["history"]
    assert [event["action"] for event in history] == [
        "version.rollback", "version.rollback", "version.activate", "version.activate"]
    assert history[-1]["actor"] == "t1/t1-operator"
    assert client.get("/v1/tasks/ner/versions", headers=other_team).json()["history"] == []


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v1/tasks/ner/versions/v99/activate", None, 404, f"known: {', '.join(BUILTIN_G)}"),
        ("/v1/tasks/ner/versions/v1/activate", {"prompt_version": "v99"}, 422, "prompt version"),
        ("/v1/tasks/poem/versions/v1/activate", None, 404, "known tasks"),
        ("/v1/tasks/ner/versions/v1/activate", {"prompt": "v1"}, 422, "prompt"),
        ("/v1/tasks/poem/rollback", None, 404, "unknown task"),
    ],
)
def test_activate_errors(
    client: httpx.Client, key: Callable[..., Headers], store: Store,
    path: str, body: dict[str, str] | None, status: int, fragment: str,
) -> None:
    response = client.post(path, json=body, headers=key(Role.OPERATOR))
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert store.active_pair("t1", "ner") in ((None, None), (LATEST_G, LATEST_P))


def test_a_version_name_never_changes_its_content(
    client: httpx.Client, key: Callable[..., Headers]
) -> None:
    operator = key(Role.OPERATOR)
    gv, _ = push_second_pair(client, operator)
    first = client.get(f"/v1/projects/ner/versions/guideline/{gv}", headers=operator).json()
    edited = client.post("/v1/projects/ner/versions", headers=operator, json={
        "guideline": first["text"] + "\nOne more rule.\n", "guideline_version": gv})
    assert edited.status_code == 409 and "immutable" in edited.json()["detail"]
    same = client.post("/v1/projects/ner/versions", headers=operator,
                       json={"guideline": first["text"]})
    assert (same.status_code, same.json()["guideline_version"]) == (200, gv)
    again = client.get(f"/v1/projects/ner/versions/guideline/{gv}", headers=operator).json()
    assert again["sha256"] == first["sha256"] == hashlib.sha256(first["text"].encode()).hexdigest()
    assert str(REPO_ROOT) not in edited.text + same.text + str(again)
