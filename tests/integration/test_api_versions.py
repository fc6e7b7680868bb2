"""Version API end to end: list, activate, roll back, and what new batches then use.

The API runs as `uvicorn llmlabel.api.app:create_app --factory` in a copy of
the guidelines/ and prompts/ folders with an extra v2 of the ner task, so
activation has something to switch between (the repository ships only v1).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmlabel.store import Role, Store
from tests.integration.conftest import REPO_ROOT, free_port, service_env, wait_until

pytestmark = pytest.mark.integration

Headers = dict[str, str]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """guidelines/ and prompts/ with ner v1 and v2."""
    base = tmp_path_factory.mktemp("versions")
    for folder in ("guidelines", "prompts"):
        shutil.copytree(REPO_ROOT / folder, base / folder)
    v1 = (base / "guidelines/ner/v1.md").read_text()
    (base / "guidelines/ner/v2.md").write_text(v1.replace("description:", "description: (v2)", 1))
    prompt = (base / "prompts/ner/v1.yaml").read_text()
    (base / "prompts/ner/v2.yaml").write_text("# v2: same template, new version\n" + prompt)
    return base


@pytest.fixture(scope="module")
def client(
    root: Path, redis_server: str, fake_provider: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    port = free_port()
    env = service_env(redis_server, fake_provider, tmp_path_factory.mktemp("var"))
    log_path = tmp_path_factory.mktemp("logs") / "uvicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "llmlabel.api.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited:\n{log_path.read_text()[-3000:]}")
        with suppress(httpx.HTTPError):
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        return False

    try:
        wait_until(healthy, timeout_s=30, what="uvicorn to answer /healthz", every_s=0.2)
        with httpx.Client(base_url=base, timeout=30) as http:
            yield http
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


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


def active(client: httpx.Client, headers: Headers) -> dict[str, Any]:
    tasks = client.get("/v1/tasks", headers=headers).json()["tasks"]
    entry: dict[str, Any] = next(t for t in tasks if t["task"] == "ner")
    return entry


def test_tasks_list_versions_and_hashes(
    client: httpx.Client, key: Callable[..., Headers], root: Path
) -> None:
    reader = key(Role.REVIEWER)
    ner = active(client, reader)
    assert (ner["guideline_versions"], ner["prompt_versions"]) == (["v1", "v2"], ["v1", "v2"])
    assert ner["active"] == {"task": "ner", "guideline_version": "v2", "prompt_version": "v2",
                             "pinned": False}
    detail = client.get("/v1/tasks/ner/versions", headers=reader).json()
    hashes = {g["version"]: g["content_hash"] for g in detail["guidelines"]}
    assert hashes["v2"] == hashlib.sha256((root / "guidelines/ner/v2.md").read_bytes()).hexdigest()
    assert [p["version"] for p in detail["prompts"]] == ["v1", "v2"]
    assert detail["history"] == []
    assert client.get("/v1/tasks/poem/versions", headers=reader).status_code == 404
    assert client.get("/v1/tasks").status_code == 401


def test_activate_and_rollback_change_what_new_batches_use(
    client: httpx.Client, key: Callable[..., Headers]
) -> None:
    submitter, operator = key(Role.SUBMITTER), key(Role.OPERATOR)
    assert versions_of_new_batch(client, submitter) == ("v2", "v2")

    denied = client.post("/v1/tasks/ner/versions/v1/activate", headers=key(Role.REVIEWER))
    assert denied.status_code == 403 and "operator" in denied.json()["detail"]
    assert client.post("/v1/tasks/ner/rollback", headers=submitter).status_code == 403

    first = client.post("/v1/tasks/ner/versions/v1/activate", json={"prompt_version": "v1"},
                        headers=operator)
    assert first.status_code == 200, first.text
    assert first.json() == {"task": "ner", "guideline_version": "v1", "prompt_version": "v1",
                            "pinned": True}
    assert versions_of_new_batch(client, submitter) == ("v1", "v1")
    assert versions_of_new_batch(client, submitter, guideline_version="v2") == ("v2", "v1")

    # Without a prompt version the active one is kept.
    second = client.post("/v1/tasks/ner/versions/v2/activate", headers=key(Role.ADMIN))
    assert second.json()["guideline_version"] == "v2" and second.json()["prompt_version"] == "v1"
    assert versions_of_new_batch(client, submitter) == ("v2", "v1")

    back = client.post("/v1/tasks/ner/rollback", headers=operator)
    assert back.status_code == 200
    assert (back.json()["guideline_version"], back.json()["prompt_version"]) == ("v1", "v1")
    assert versions_of_new_batch(client, submitter) == ("v1", "v1")
    nothing_left = client.post("/v1/tasks/ner/rollback", headers=operator)
    assert nothing_left.status_code == 409

    history = client.get("/v1/tasks/ner/versions", headers=submitter).json()["history"]
    assert [event["action"] for event in history] == [
        "version.rollback", "version.activate", "version.activate"]
    assert history[-1]["actor"] == "t1/t1-operator"
    assert history[0]["after"]["guideline_version"] == "v1"


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v1/tasks/ner/versions/v9/activate", None, 404, "known: v1, v2"),
        ("/v1/tasks/ner/versions/v1/activate", {"prompt_version": "v9"}, 422, "prompt version"),
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
    assert store.active_versions("ner") == (None, None)


def test_changed_version_file_is_refused(
    client: httpx.Client, key: Callable[..., Headers], root: Path
) -> None:
    submitter = key(Role.SUBMITTER)
    assert versions_of_new_batch(client, submitter, guideline_version="v2") == ("v2", "v2")
    path = root / "guidelines/ner/v2.md"
    original = path.read_text()
    path.write_text(original.replace("(v2)", "(v2, edited in place)"))
    try:
        response = client.post("/v1/batches", headers=submitter, json={
            "task": "ner", "guideline_version": "v2", "items": [{"id": "b", "text": "Oslo"}]})
        assert response.status_code == 409
        assert "changed after labels used it" in response.json()["detail"]
        assert client.get("/v1/batches", headers=submitter).json()["count"] == 1
    finally:
        path.write_text(original)
