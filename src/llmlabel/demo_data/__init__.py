"""A tiny bundled sample (3 neutral items per task) for `llmlabel demo` when the shared datasets are absent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["DEMO_TASKS", "load_demo_items"]

DEMO_TASKS = ("ner", "safety", "preference", "instruction")
_HERE = Path(__file__).resolve().parent


def _read(path: Path, n: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                items.append(json.loads(line))
            if len(items) == n:
                break
    return items


def load_demo_items(
    task: str, *, data_dir: Path | None, n: int = 3
) -> tuple[list[dict[str, Any]], str]:
    """The first `n` items of `data_dir/<task>/dev.jsonl`, else of the bundled sample; and where they came from."""
    if data_dir is not None:
        path = data_dir / task / "dev.jsonl"
        if path.is_file():
            return _read(path, n), str(path)
    path = _HERE / f"{task}.jsonl"
    return _read(path, n), f"bundled sample ({path.name})"
