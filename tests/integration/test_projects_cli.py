"""`llmlabel projects ...` against a real `llmlabel serve`: create, list, show, push, diff, activate,
rollback, review-order."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmlabel.store import Role, Store
from tests.conftest import REPO_ROOT
from tests.integration.conftest import Processes, service_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SPAM = """---
labels: [spam, ham, unsure]
---
Label each message spam, ham or unsure.
"""


def test_projects_cli_round_trip(
    redis_url: str, fake_provider: str, store: Store, processes: Processes, tmp_path: Path
) -> None:
    base = processes.api(service_env(redis_url, fake_provider, tmp_path / "var"),
                         cwd=tmp_path)
    key = store.create_api_key(team="cli", role=Role.OPERATOR, name="ci")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMLABEL_")}
    env |= {"LLMLABEL_SERVICE_URL": base, "LLMLABEL_SERVICE_KEY": key}
    work = tmp_path / "repo"
    work.mkdir()
    (work / "guideline.md").write_text(SPAM)
    (work / "prompt.yaml").write_text((REPO_ROOT / "prompts/classification/v1.yaml").read_text())

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from llmlabel.cli import main; main()", "projects", *args],
            cwd=work, env=env, capture_output=True, text=True, check=False, timeout=60,
        )

    created = run("create", "spam", "--task", "classification", "--guideline", "guideline.md",
                  "--prompt", "prompt.yaml")
    assert created.returncode == 0, created.stderr
    assert "spam (classification): guideline v1, prompt v1" in created.stdout
    assert "spam" in run("list").stdout

    (work / "guideline.md").write_text(SPAM.replace("Label each", "Be strict. Label each"))
    pushed = run("push", "spam", "--guideline", "guideline.md")
    assert (pushed.returncode, pushed.stdout.strip()) == (0, "guideline v2 created"), pushed.stderr
    again = run("push", "spam", "--guideline", "guideline.md", "--activate")
    assert again.returncode == 0
    assert "guideline v2 unchanged (already stored)" in again.stdout
    assert "active: spam (classification): guideline v2" in again.stdout

    diff = run("diff", "spam", "--from", "v1", "--to", "v2")
    assert "+Be strict. Label each message" in diff.stdout
    shown = json.loads(run("show", "spam", "--json").stdout)
    assert [v["version"] for v in shown["guidelines"]] == ["v1", "v2"]
    assert shown["history"][0]["action"] == "version.activate"
    back = run("rollback", "spam")
    assert "guideline v1" in back.stdout

    (work / "guideline.md").write_text(SPAM.replace("[spam, ham, unsure]", "[spam, ham"))
    broken = run("push", "spam", "--guideline", "guideline.md")
    assert broken.returncode == 1
    assert re.search(r"guideline.md:\d+: ", broken.stderr) and "not valid YAML" in broken.stderr
    no_key = subprocess.run(
        [sys.executable, "-c", "from llmlabel.cli import main; main()", "projects", "list"],
        cwd=work, env={k: v for k, v in env.items() if k != "LLMLABEL_SERVICE_KEY"},
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert no_key.returncode == 2 and "LLMLABEL_SERVICE_KEY" in no_key.stderr
    assert run("activate", "spam", "--guideline-version", "v9").returncode == 1
    ordered = run("review-order", "spam", "value")
    assert ordered.returncode == 0 and "[reviews by value]" in ordered.stdout, ordered.stderr
    wrong = run("review-order", "spam", "newest")
    assert wrong.returncode == 1 and "review_order" in wrong.stderr
