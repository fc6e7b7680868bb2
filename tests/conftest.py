"""Fixtures every test layer shares: where the repo and the shared datasets are."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_datasets_dir() -> Path:
    """The human-labeled dev sets: $LLMLABEL_SHARED_DIR/datasets, else ../shared/datasets."""
    base = Path(os.environ.get("LLMLABEL_SHARED_DIR", REPO_ROOT.parent / "shared"))
    return base / "datasets"


def load_dev_items(task: str, n: int | None = None) -> list[dict[str, Any]]:
    path = shared_datasets_dir() / task / "dev.jsonl"
    if not path.is_file():
        pytest.fail(f"shared dataset missing: {path} (set LLMLABEL_SHARED_DIR)")
    with path.open(encoding="utf-8") as fh:
        items = [json.loads(line) for line in fh if line.strip()]
    return items[:n] if n is not None else items


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder so nothing reads or writes the developer's ./var or .env."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
