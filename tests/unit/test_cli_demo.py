"""How many workers the demo starts: one as before, or N one-thread workers for the local model."""

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
    monkeypatch.setattr(service, "_LOCAL_DEMO_WORKERS", 2)
    envs = service._demo_workers(backend, {"LLMLABEL_REDIS_URL": "redis://x", **env})
    assert [e.get("LLMLABEL_LOCAL_THREADS") for e in envs] == expected
    assert all(e["LLMLABEL_REDIS_URL"] == "redis://x" for e in envs)


def test_the_default_demo_is_one_worker_with_every_core() -> None:
    assert service._demo_workers("local", {}) == [{}]
