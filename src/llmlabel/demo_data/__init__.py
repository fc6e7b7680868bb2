"""A tiny bundled sample (3 neutral items per task) for `llmlabel demo` when the shared datasets are absent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["DEMO_TASKS", "load_demo_items"]

DEMO_TASKS = ("ner", "safety", "preference", "instruction")
_HERE = Path(__file__).resolve().parent


def _read(path: Path, n: int) -> list[dict[str, Any]]:
    """The `n` shortest items of a JSONL file, in file order.

    Shortest: the demo waits for a local model on a small machine, where prompt
    length sets the time per call; a dev set's first items can be its longest.
    """
    with path.open(encoding="utf-8") as fh:
        lines = [line for line in fh if line.strip()]
    chosen = sorted(sorted(range(len(lines)), key=lambda i: (len(lines[i]), i))[:n])
    return [json.loads(lines[i]) for i in chosen]


def load_demo_items(
    task: str, *, data_dir: Path | None, n: int = 3
) -> tuple[list[dict[str, Any]], str]:
    """The `n` shortest items of `data_dir/<task>/dev.jsonl`, else of the bundled sample; and where they came from."""
    if data_dir is not None:
        path = data_dir / task / "dev.jsonl"
        if path.is_file():
            return _read(path, n), str(path)
    path = _HERE / f"{task}.jsonl"
    return _read(path, n), f"bundled sample ({path.name})"
