"""Shared plumbing of the benchmarks: real processes on 127.0.0.1, CPU and memory of them.

Every benchmark starts its own redis-server (free port, temp dir), the scripted
fake provider (tests/support/fake_provider.py), `llmlabel worker` and
`llmlabel serve` subprocesses, and stops all of them on exit. Nothing here talks
to anything but loopback.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import redis

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    # `python bench/x.py` puts bench/ on the path, not the repo root (tests.support).
    sys.path.insert(0, str(ROOT))

from llmlabel.settings import Settings
from llmlabel.store import BatchCreate, Principal, Role, Store
from tests.support.fake_provider import start_fake_provider

CLI = [sys.executable, "-c", "from llmlabel.cli import main; main()"]

__all__ = [
    "BENCH_PRINCIPAL",
    "CLI",
    "ROOT",
    "Cluster",
    "classification_items",
    "cluster",
    "cpu_seconds",
    "free_port",
    "machine_info",
    "make_store",
    "percentile",
    "submit",
    "wait_labeled",
    "wait_until",
]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any], *, timeout_s: float, what: str, every_s: float = 0.1
) -> Any:
    """Poll until `predicate()` is truthy; RuntimeError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(every_s)


def machine_info() -> str:
    """nproc, CPU model, Python and Redis versions: the header of every result."""
    model = "unknown"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()[2:3]
    return (
        f"nproc={os.cpu_count()} cpu={model!r} python={platform.python_version()} "
        f"redis={''.join(redis_version)}"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        with suppress(psutil.NoSuchProcess):
            times = p.cpu_times()
            total += times.user + times.system
    return total


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


class Cluster:
    """redis-server + fake provider + llmlabel workers/API, all stopped by `close()`."""

    def __init__(self, stack: ExitStack, workdir: Path) -> None:
        self.stack = stack
        self.workdir = workdir
        self.redis_url = ""
        self.redis_proc: subprocess.Popen[bytes] | None = None
        self.provider_url = ""
        self.started: list[subprocess.Popen[bytes]] = []

    # -- processes -------------------------------------------------------------
    def start_redis(self, *, appendonly: bool = False) -> str:
        """A private redis-server (no persistence unless asked); its URL."""
        port = free_port()
        data = self.workdir / "redis"
        data.mkdir(exist_ok=True)
        args = [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if appendonly else "no",
            "--dir",
            str(data),
            "--logfile",
            str(data / "redis.log"),
        ]
        self.redis_proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.stack.callback(_stop, self.redis_proc)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(self.redis_url)

        def up() -> bool:
            with suppress(redis.ConnectionError):
                return bool(client.ping())
            return False

        wait_until(up, timeout_s=10, what="redis-server", every_s=0.05)
        return self.redis_url

    def start_provider(self, **options: Any) -> str:
        """The fake provider with these options; its base URL (ending in /v1)."""
        url, process = self.stack.enter_context(start_fake_provider(**options))
        self.provider_url = url
        self.provider_pid = process.pid
        return url

    def env(self, **extra: Any) -> dict[str, str]:
        """Environment of llmlabel subprocesses: this Redis and this provider."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLMLABEL_")}
        env.update(
            LLMLABEL_REDIS_URL=self.redis_url,
            LLMLABEL_BACKEND="openai",
            LLMLABEL_BASE_URL=self.provider_url,
            LLMLABEL_API_KEY="bench",
            LLMLABEL_MODEL="fake-model",
            LLMLABEL_DATA_DIR=str(self.workdir / "var"),
            PYTHONUNBUFFERED="1",
        )
        env.update({f"LLMLABEL_{k.upper()}": str(v) for k, v in extra.items()})
        return env

    def spawn(self, args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        """A subprocess in its own process group, logging to workdir/<name>.log."""
        with (self.workdir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                args,
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        self.stack.callback(_stop, process)
        return process

    def worker(self, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        """`llmlabel worker` (long-running)."""
        return self.spawn([*CLI, "worker", "--name", name], env, name)

    def api(
        self, env: dict[str, str], name: str = "api", workers: int = 1
    ) -> tuple[str, subprocess.Popen[bytes]]:
        """`llmlabel serve` on a free port; (base URL, process) once /healthz answers."""
        port = free_port()
        process = self.spawn(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env,
            name,
        )
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"API exited: {self.log(name)}")
            with suppress(httpx.HTTPError):
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            return False

        wait_until(healthy, timeout_s=60, what="the API", every_s=0.2)
        return base, process

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.is_file() else ""

    # -- provider control ------------------------------------------------------
    def provider_call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """GET /stats, POST /reset or POST /config on the fake provider."""
        base = self.provider_url.removesuffix("/v1")
        response = httpx.request(method, f"{base}{path}", json=body, timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def make_store(redis_url: str, **overrides: Any) -> Store:
    """An in-process Store on the benchmark's Redis (settings from arguments, no .env)."""
    settings = Settings(_env_file=None, redis_url=redis_url, **overrides)  # type: ignore[call-arg]
    return Store.from_settings(settings)


BENCH_PRINCIPAL = Principal(key_id="k-bench", team="bench", role=Role.ADMIN, name="bench")


def classification_items(n: int, prefix: str = "i", tag: str = "") -> list[dict[str, Any]]:
    """n distinct short texts for the classification task (one call each at disagree_rate 0).

    `tag` goes into every text: runs with different tags never share a result-cache entry.
    """
    moods = ["loved it", "hated it", "it arrived on Tuesday", "works as described"]
    return [
        {"id": f"{prefix}{i}", "text": f"Order {i}{tag}: {moods[i % 4]}."} for i in range(n)
    ]


def submit(store: Store, items: list[dict[str, Any]], task: str = "classification") -> str:
    """Store a batch directly (no API) pinned to v1; its id."""
    info, _ = store.create_batch(
        BENCH_PRINCIPAL,
        BatchCreate(task=task, items=items, guideline_version="v1", prompt_version="v1"),
        idempotency_key=None,
        request_hash=f"bench-{time.time_ns()}",
    )
    return info.id


def wait_labeled(store: Store, batch_id: str, *, timeout_s: float) -> float:
    """Block until no item of the batch is queued or labeling; returns the monotonic time."""
    wait_until(
        lambda: store.get_batch(BENCH_PRINCIPAL.team, batch_id).labeled,
        timeout_s=timeout_s,
        what=f"batch {batch_id} to be labeled",
        every_s=0.05,
    )
    return time.monotonic()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM) if _own_group(process) else process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL) if _own_group(process) else process.kill()
        process.wait()


def _own_group(process: subprocess.Popen[bytes]) -> bool:
    with suppress(ProcessLookupError):
        return os.getpgid(process.pid) == process.pid
    return False


@contextmanager
def cluster() -> Iterator[Cluster]:
    """A Cluster in a fresh temp dir; every process it started is stopped on exit."""
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed: apt-get install -y redis-server")
    with tempfile.TemporaryDirectory(prefix="llmlabel-bench-") as tmp, ExitStack() as stack:
        yield Cluster(stack, Path(tmp))
