"""Integration fixtures: a real redis-server, the fake provider, worker and API subprocesses.

Everything here is real: redis-server on a free port (append-only file in a temp
dir), RQ workers started with the `llmlabel worker` command, uvicorn started
with `llmlabel serve`, and the fake OpenAI-compatible provider process.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from llmlabel.settings import Settings
from llmlabel.store import Principal, Role, Store
from tests.support.fake_provider import start_fake_provider

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from llmlabel.cli import main; main()"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any], *, timeout_s: float, what: str, every_s: float = 0.1
) -> Any:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(every_s)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the session; its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: apt-get install -y redis-server")
    port = free_port()
    data = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--dir",
            str(data),
            "--logfile",
            str(data / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)

    def up() -> bool:
        if process.poll() is not None:
            pytest.fail(f"redis-server exited: {(data / 'redis.log').read_text()[-1000:]}")
        with suppress(redis.ConnectionError):
            return bool(client.ping())
        return False

    wait_until(up, timeout_s=10, what="redis-server to answer", every_s=0.05)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session server, emptied for this test (as rq's own tests do)."""
    redis.Redis.from_url(redis_server).flushdb()
    return redis_server


@pytest.fixture
def make_settings(redis_url: str, tmp_path: Path) -> Callable[..., Settings]:
    """Build Settings on the test Redis, ignoring any .env file; keyword overrides win."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"redis_url": redis_url, "data_dir": tmp_path / "var"}
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest.fixture
def store(make_settings: Callable[..., Settings]) -> Store:
    """A Store on the emptied test Redis with default settings."""
    return Store.from_settings(make_settings())


def principal(team: str = "acme", role: Role = Role.ADMIN, name: str | None = None) -> Principal:
    """A principal without an API key (store-level tests call the store directly)."""
    return Principal(
        key_id=f"k-{team}-{role.value}", team=team, role=role, name=name or f"{team}-{role.value}"
    )


@pytest.fixture(scope="session")
def fake_provider() -> Iterator[str]:
    """The fake OpenAI-compatible provider: fast, with 30% of items answered inconsistently."""
    with start_fake_provider(latency_ms=10, latency_jitter_ms=5, disagree_rate=0.3) as (
        base_url,
        _process,
    ):
        yield base_url


def service_env(redis_url: str, provider_url: str, data_dir: Path, **extra: Any) -> dict[str, str]:
    """Environment for worker/API subprocesses: the test Redis and the fake provider."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMLABEL_")}
    env.update(
        LLMLABEL_REDIS_URL=redis_url,
        LLMLABEL_BACKEND="openai",
        LLMLABEL_BASE_URL=provider_url,
        LLMLABEL_API_KEY="test",
        LLMLABEL_MODEL="fake-model",
        LLMLABEL_DATA_DIR=str(data_dir),
        LLMLABEL_MAX_RETRIES="2",
        PYTHONUNBUFFERED="1",
    )
    env.update({f"LLMLABEL_{k.upper()}": str(v) for k, v in extra.items()})
    return env


class Processes:
    """Starts `llmlabel` subprocesses and stops whatever is left at teardown."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self, args: list[str], env: dict[str, str], name: str, *, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [*CLI, *args],
            env=env,
            cwd=cwd or REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.started.append(process)
        return process

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.is_file() else ""

    def worker(
        self, env: dict[str, str], *, name: str, burst: bool = False, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """`llmlabel worker` (with --burst: exits once the queue is empty)."""
        args = ["worker", "--name", name, *(["--burst"] if burst else [])]
        return self.start(args, env, name, cwd=cwd)

    def run_burst(
        self, env: dict[str, str], *, name: str, timeout_s: float = 60, cwd: Path | None = None
    ) -> None:
        """Run a burst worker to completion; fail with its log if it fails or hangs."""
        process = self.worker(env, name=name, burst=True, cwd=cwd)
        try:
            code = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"burst worker {name} still running after {timeout_s}s:\n{self.log(name)}")
        if code != 0:
            pytest.fail(f"burst worker {name} exited {code}:\n{self.log(name)}")

    def api(self, env: dict[str, str], *, name: str = "api", cwd: Path | None = None) -> str:
        """`llmlabel serve` on a free port; its base URL once /healthz answers."""
        port = free_port()
        process = self.start(
            ["serve", "--host", "127.0.0.1", "--port", str(port)], env, name, cwd=cwd
        )
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if process.poll() is not None:
                pytest.fail(f"API exited:\n{self.log(name)}")
            with suppress(httpx.HTTPError):
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            return False

        wait_until(healthy, timeout_s=30, what="the API to answer /healthz", every_s=0.2)
        return base

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Subprocess launcher; everything it started is stopped after the test."""
    with tempfile.TemporaryDirectory(prefix="llmlabel-logs-") as logs:
        procs = Processes(Path(logs))
        try:
            yield procs
        finally:
            procs.stop_all()


@contextmanager
def provider(**options: Any) -> Iterator[str]:
    """A fake provider with its own options (for tests that need latency or errors)."""
    with start_fake_provider(**options) as (base_url, _process):
        yield base_url
