"""The built wheel, installed without extras into a fresh virtualenv, works from any folder.

The last test is the projects issue's "done when": from an empty folder the
installed `llmlabel label` labels with the built-in definitions shipped in the
wheel; then `llmlabel serve` and two `llmlabel worker`s, each started in an
empty folder of its own, label a batch of a project created over the API with
its own labels (spam/ham/unsure): every version they use comes from Redis.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from llmlabel.guidelines import VersionRegistry
from llmlabel.settings import Settings
from llmlabel.store import Role, Store
from tests.integration.conftest import free_port, service_env, wait_until
from tests.support.wheel_env import WheelEnv, build_wheel, install_wheel, wheel_files

pytestmark = pytest.mark.integration

# Imports every module of the installed package (but __main__); a module that needs a package the
# base install lacks raises ModuleNotFoundError here.
IMPORT_ALL = """
import importlib, pkgutil, llmlabel
names = [m.name for m in pkgutil.walk_packages(llmlabel.__path__, "llmlabel.")
         if not m.name.endswith(".__main__")]  # __main__ runs the CLI
for name in names:
    importlib.import_module(name)
print(len(names), llmlabel.__file__)
"""


@pytest.fixture(scope="session")
def base_wheel_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WheelEnv]:
    """The wheel and its base dependencies only (no `local`, no `test` extra)."""
    root = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(root / "dist")
    yield install_wheel(wheel, root / "venv")


def test_every_module_imports_with_base_dependencies_only(
    base_wheel_env: WheelEnv, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(base_wheel_env.python), "-c", IMPORT_ALL],
        check=False, cwd=tmp_path, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    count, location = result.stdout.split()
    assert int(count) > 50
    assert str(base_wheel_env.root) in location  # the installed copy, not the source tree


def test_cli_starts_from_an_empty_folder(base_wheel_env: WheelEnv, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(base_wheel_env.llmlabel), "--help"],
        check=False, cwd=tmp_path, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    for command in ("label", "eval", "serve", "worker"):
        assert command in result.stdout


def test_wheel_ships_every_builtin_definition(base_wheel_env: WheelEnv) -> None:
    assert base_wheel_env.wheel is not None
    files = set(wheel_files(base_wheel_env.wheel))
    registry = VersionRegistry()
    for task in registry.tasks():
        for version in registry.guideline_versions(task):
            assert f"llmlabel/shipped/guidelines/{task}/{version}.md" in files
        for version in registry.prompt_versions(task):
            assert f"llmlabel/shipped/prompts/{task}/{version}.yaml" in files


SPAM = """---
description: Is a message spam?
labels: [spam, ham, unsure]
few_shot:
  - input: {text: "WIN A FREE CRUISE!!! reply YES now"}
    output: {label: spam, confidence: 0.9}
---
Label each message spam, ham or unsure.
"""
PROMPT = """system: |
  {{ guideline }}
  Answer with ONLY a JSON object that follows this JSON schema:
  {{ schema }}
user: |
  Message: {{ text }}
"""
TEXTS = ["WIN cash now", "Lunch at noon?", "Your parcel is held, pay here", "Meeting at 3pm"]


def _start(env_bin: Path, args: list[str], env: dict[str, str], cwd: Path,
           log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([str(env_bin), *args], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def test_installed_wheel_labels_from_any_folder_and_serves_projects(
    base_wheel_env: WheelEnv, tmp_path: Path, redis_url: str, fake_provider: str
) -> None:
    folders = {name: tmp_path / name for name in ("cli", "api", "worker-1", "worker-2", "logs")}
    for folder in folders.values():
        folder.mkdir()
    env = service_env(redis_url, fake_provider, tmp_path / "var", chunk_size=3)
    env["PATH"] = f"{base_wheel_env.root / 'bin'}:{env.get('PATH', '')}"

    # 1. In-process labeling with the shipped built-ins, from an empty folder.
    items = folders["cli"] / "items.jsonl"
    items.write_text("".join(json.dumps({"id": f"c{i}", "text": t}) + "\n"
                             for i, t in enumerate(TEXTS)))
    labeled = subprocess.run(
        [str(base_wheel_env.llmlabel), "label", "--task", "classification", "--in", "items.jsonl",
         "--out", "out.jsonl"],
        cwd=folders["cli"], env=env, capture_output=True, text=True, check=False, timeout=120,
    )
    assert labeled.returncode == 0, labeled.stderr
    records = [json.loads(line) for line in (folders["cli"] / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in sorted(records, key=lambda r: r["id"])] == ["c0", "c1", "c2", "c3"]
    assert {r["label"]["label"] for r in records} <= {"positive", "negative", "neutral"}

    # 2. The service and two workers, each in an empty folder of its own.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = [
        _start(base_wheel_env.llmlabel, ["serve", "--host", "127.0.0.1", "--port", str(port)],
               env, folders["api"], folders["logs"] / "api.log"),
        *(_start(base_wheel_env.llmlabel, ["worker", "--name", name], env, folders[name],
                 folders["logs"] / f"{name}.log") for name in ("worker-1", "worker-2")),
    ]
    try:
        def healthy() -> bool:
            with suppress(httpx.HTTPError):
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            return False

        wait_until(healthy, timeout_s=60, what="the installed llmlabel serve", every_s=0.3)
        store = Store.from_settings(Settings(_env_file=None, redis_url=redis_url))  # type: ignore[call-arg]
        auth = {"Authorization": "Bearer " + store.create_api_key(team="wheel", role=Role.ADMIN)}
        with httpx.Client(base_url=base, timeout=30, headers=auth) as client:
            created = client.post("/v1/projects", json={
                "name": "spam", "task": "classification", "guideline": SPAM, "prompt": PROMPT})
            assert created.status_code == 201, created.text
            batch = client.post("/v1/batches", json={"project": "spam", "items": [
                {"id": f"m{i}", "text": f"{TEXTS[i % 4]} #{i}"} for i in range(12)]})
            assert batch.status_code == 201, batch.text
            batch_id = batch.json()["id"]
            wait_until(lambda: client.get(f"/v1/batches/{batch_id}").json()["labeled"],
                       timeout_s=90, what="the workers to label the batch", every_s=0.3)
            lines = client.get(f"/v1/batches/{batch_id}/results").text.splitlines()
        results = [json.loads(line) for line in lines]
        assert len(results) == 12 and all(r["error"] is None for r in results), results
        assert {r["label"]["label"] for r in results} <= {"spam", "ham", "unsure"}
        assert {r["guideline_version"] for r in results} == {"v1"}
        for name in ("api", "worker-1", "worker-2"):
            assert not any(folders[name].iterdir()), f"{name} wrote into its working folder"
    finally:
        for process in started:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
