"""The demo: how many workers it starts, and that it stops when its children died."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmlabel.cli import service
from llmlabel.errors import ConfigError


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


def _process(code: int | None) -> subprocess.Popen[bytes]:
    """A real child: exited with `code` (negative: killed by that signal), or running (None)."""
    if code is None:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    script = f"import os; os.kill(os.getpid(), {-code})" if code < 0 else f"raise SystemExit({code})"
    process = subprocess.Popen([sys.executable, "-c", script])
    process.wait()
    return process


def test_the_demo_stops_naming_the_log_when_every_worker_exited(tmp_path: Path) -> None:
    # -4: SIGILL, how a llama.cpp build for another CPU ends a worker
    api, alive, dead, dead_too = _process(None), _process(None), _process(-4), _process(1)
    try:
        service.check_children({"the API": (api, tmp_path / "api.log"),
                                "worker 1": (dead, tmp_path / "worker.log"),
                                "worker 2": (alive, tmp_path / "worker-1.log")})
        with pytest.raises(ConfigError, match=r"every worker exited \(worker 1: code -4\).*worker\.log"):
            service.check_children({"the API": (api, tmp_path / "api.log"),
                                    "worker 1": (dead, tmp_path / "worker.log"),
                                    "worker 2": (dead_too, tmp_path / "worker-1.log")})
        api.kill()
        api.wait()
        with pytest.raises(ConfigError, match=r"the API exited .*api\.log"):
            service.check_children({"the API": (api, tmp_path / "api.log"),
                                    "worker 1": (alive, tmp_path / "worker.log")})
    finally:
        for process in (api, alive):
            process.kill()
            process.wait()
