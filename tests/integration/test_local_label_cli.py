"""`llmlabel label` end to end with the local model on 3 items of each shared dataset.

Real llama.cpp, real prompts and guidelines, adaptive sampling; the assertions are
about the contract of every output line, not about the tiny model's quality (the
issue notes give `llmlabel eval` figures for that).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmlabel.guidelines import VersionRegistry
from llmlabel.tasks import build_task
from tests.conftest import REPO_ROOT, load_dev_items

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# The CI-sized model: the smallest one that labels at all (see the README's model table).
CI_MODEL = os.environ.get("LLMLABEL_TEST_LOCAL_MODEL", "qwen2.5-0.5b")
REQUIRED = {"id", "label", "confidence", "route", "reason", "samples_used", "guideline_version",
            "prompt_version", "guideline_hash", "prompt_hash", "backend", "model", "usage", "samples"}


@pytest.mark.parametrize("task", ["ner", "safety", "preference", "instruction"])
def test_label_command_with_local_model(task: str, tmp_path: Path) -> None:
    # The 3 shortest items: the point is the whole path on real data, not the tiny model's
    # quality, and CPU time on 2 cores grows with items and prompt length (10 items of each
    # task took 2-9 minutes per task: most of the suite's time).
    items = sorted(load_dev_items(task), key=lambda item: len(json.dumps(item)))[:3]
    source = tmp_path / "items.jsonl"
    source.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    out = tmp_path / "labels.jsonl"
    env = {
        **os.environ,
        "LLMLABEL_BACKEND": "local",
        "LLMLABEL_MODEL": CI_MODEL,
        # assembled model parts are cached in the repo's ./var so CI assembles them once
        "LLMLABEL_DATA_DIR": str(REPO_ROOT / "var"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "llmlabel", "label", "--task", task, "--in", str(source),
         "--out", str(out), "--concurrency", "2"],
        check=False, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=840,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(item["id"] for item in items)

    registry = VersionRegistry(REPO_ROOT)
    guideline = registry.guideline(task)
    task_obj = build_task(guideline)
    by_id = {item["id"]: item for item in items}
    for line in lines:
        assert REQUIRED <= line.keys(), REQUIRED - line.keys()
        assert line["route"] in ("accept", "review")
        assert line["backend"] == "local" and line["model"] == CI_MODEL
        assert line["guideline_version"] == guideline.version
        assert line["guideline_hash"] == guideline.content_hash
        assert 1 <= line["samples_used"] <= guideline.sampling.max
        assert len(line["samples"]) == line["samples_used"]
        assert 0.0 <= line["confidence"] <= 1.0
        assert line["usage"]["prompt_tokens"] > 0 and line["usage"]["completion_tokens"] > 0
        if line["label"] is None:
            assert line["route"] == "review"
        else:
            # the consensus is a valid label of the task (what a reviewer's fix must be too)
            view = task_obj.validate_input(by_id[line["id"]])
            task_obj.validate_label(view, line["label"])
        if line["route"] == "accept":
            assert line["confidence"] >= guideline.routing.threshold
    # the samples are real model output: at least some parse into labels
    assert any(s["label"] is not None for line in lines for s in line["samples"])
