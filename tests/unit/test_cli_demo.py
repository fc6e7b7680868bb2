"""How many workers the demo starts: two one-thread workers for the local model on 2+ cores."""

from __future__ import annotations

import pytest

from llmlabel.cli import service


@pytest.mark.parametrize(
    ("backend", "cores", "env", "expected"),
    [
        ("local", 2, {}, ["1", "1"]),
        ("local", 8, {}, ["1", "1"]),
        ("local", 1, {}, [None]),
        ("local", 2, {"LLMLABEL_LOCAL_THREADS": "2"}, ["2"]),
        ("openai", 2, {}, [None]),
    ],
)
def test_demo_workers(
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    cores: int,
    env: dict[str, str],
    expected: list[str | None],
) -> None:
    monkeypatch.setattr(service.os, "cpu_count", lambda: cores)
    envs = service._demo_workers(backend, {"LLMLABEL_REDIS_URL": "redis://x", **env})
    assert [e.get("LLMLABEL_LOCAL_THREADS") for e in envs] == expected
    assert all(e["LLMLABEL_REDIS_URL"] == "redis://x" for e in envs)
