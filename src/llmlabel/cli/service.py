"""Service commands: `serve`, `worker`, `redis start|stop|status` and `demo` (keys: `cli/keys.py`)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from llmlabel.cli import app
from llmlabel.demo_data import DEMO_TASKS, load_demo_items
from llmlabel.domain import ItemState
from llmlabel.errors import ConfigError
from llmlabel.redis_server import ensure_redis, redact_redis_url, redis_status, stop_redis
from llmlabel.settings import Settings, get_settings
from llmlabel.store import Role, Store

__all__ = ["demo", "serve", "worker"]

# soft_wrap: URLs and keys printed for copy-paste must not be broken across lines.
_out = Console(soft_wrap=True)
_err = Console(stderr=True)

redis_app = typer.Typer(
    help="The embedded Redis server (data under LLMLABEL_DATA_DIR/redis).", no_args_is_help=True
)
app.add_typer(redis_app, name="redis")

# Demo workers for the local model, one llama.cpp thread each when more than one (see
# _demo_workers). 1 (one worker, all cores) until 2 x 1 thread is measured faster here.
_LOCAL_DEMO_WORKERS = 1
# How child processes of `demo` are started: the same interpreter, so the same venv.
_CLI = [sys.executable, "-c", "from llmlabel.cli import main; main()"]


def resolved_settings(**overrides: Any) -> Settings:
    """Settings with redis_url pointing at a real server (the embedded one when unset)."""
    settings = get_settings()
    url = ensure_redis(settings)
    # Code that calls get_settings() later (uvicorn's app factory, jobs) must see the same URL.
    os.environ["LLMLABEL_REDIS_URL"] = url
    get_settings.cache_clear()
    return settings.model_copy(update={"redis_url": url, **overrides})


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Exit once the queue is empty")] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1, help="Items labeled at once (default: LLMLABEL_WORKER_CONCURRENCY)"
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Worker name shown by RQ")] = None,
) -> None:
    """Run a worker: the labeling loop, RQ for gold jobs, housekeeping that recovers dead workers' items."""
    from llmlabel.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # One INFO line per provider request drowns the worker's own events.
    for noisy in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    overrides: dict[str, Any] = {"worker_concurrency": concurrency} if concurrency else {}
    settings = resolved_settings(**overrides)
    profile = settings.profile()
    _err.print(
        f"worker: redis {redact_redis_url(settings.redis_url)}, backend {profile.backend}/{profile.model}, "
        f"concurrency {settings.worker_concurrency}"
    )
    # The worker starts its RQ loop again by itself when Redis goes away (see process.py).
    run_worker(settings, burst=burst, name=name)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from llmlabel.api.serving import ProblemH11Protocol

    resolved_settings()
    uvicorn.run(
        "llmlabel.api.app:create_app",
        factory=True,
        # h11 with problem+json answers to requests that are not valid HTTP.
        http=ProblemH11Protocol,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=True,
    )


@redis_app.command("start")
def redis_start() -> None:
    """Start the embedded Redis (or find the running one) and print its URL."""
    print(ensure_redis(get_settings().model_copy(update={"redis_url": None})))


@redis_app.command("stop")
def redis_stop() -> None:
    """Stop the embedded Redis of this data dir."""
    stopped = stop_redis(get_settings())
    _err.print("stopped" if stopped else "not running")


@redis_app.command("status")
def redis_status_cmd() -> None:
    """Print whether the embedded Redis runs, and its URL."""
    status = redis_status(get_settings())
    print(status.model_dump_json(indent=2))
    if not status.running:
        raise typer.Exit(1)


def _demo_workers(backend: str, env: dict[str, str]) -> list[dict[str, str]]:
    """The environment of each demo worker.

    The local model runs one call at a time per process; with `_LOCAL_DEMO_WORKERS`
    above 1 the demo starts that many workers with 1 llama.cpp thread each (on 2+
    cores, unless LLMLABEL_LOCAL_THREADS is set); `bench/local_workers.py` measures
    which is faster.
    """
    workers = _LOCAL_DEMO_WORKERS
    if workers < 2 or backend != "local" or (os.cpu_count() or 1) < 2:
        return [env]
    if env.get("LLMLABEL_LOCAL_THREADS"):
        return [env]
    return [{**env, "LLMLABEL_LOCAL_THREADS": "1"} for _ in range(workers)]


@contextmanager
def _child(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process in its own process group, stopped (TERM, then KILL) on exit."""
    with log.open("ab") as fh:
        process = subprocess.Popen(
            args, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_http(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise ConfigError(f"the API exited early; see {log}")
        with suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise ConfigError(f"the API did not answer {url} within {timeout_s:.0f}s; see {log}")
        time.sleep(0.2)


def _default_data_dir() -> Path | None:
    for candidate in (
        Path.cwd().parent / "shared" / "datasets",
        Path.cwd() / "shared" / "datasets",
    ):
        if candidate.is_dir():
            return candidate
    return None


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Datasets folder with <task>/dev.jsonl (default: ../shared/datasets)"
        ),
    ] = None,
    exit_when_done: Annotated[
        bool, typer.Option(help="Stop everything once labeling is done")
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="Give up waiting for labels after this many seconds")
    ] = 1800,
) -> None:
    """Run the whole service locally: Redis, workers, the API, keys and a 12-item sample."""
    base_settings = get_settings()
    started_redis = base_settings.redis_url is None and not redis_status(base_settings).running
    settings = resolved_settings()
    logs = (settings.data_dir / "logs").resolve()
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LLMLABEL_REDIS_URL": settings.redis_url or ""}
    profile = settings.profile()
    _out.print(
        f"[bold]llmlabel demo[/]: redis {redact_redis_url(settings.redis_url)}, backend {profile.backend} ({profile.model})"
    )
    store = Store.from_settings(settings)
    keys = {
        role: store.create_api_key(team="demo", role=role, name=f"demo-{role.value}")
        for role in (Role.ADMIN, Role.SUBMITTER, Role.REVIEWER)
    }
    base = f"http://127.0.0.1:{port}"
    worker_envs = _demo_workers(profile.backend, env)
    if len(worker_envs) > 1:
        _out.print(f"[dim]{len(worker_envs)} workers, one llama.cpp thread each[/]")
    try:
        with ExitStack() as stack, _child(
            [*_CLI, "serve", "--host", "127.0.0.1", "--port", str(port)], env, logs / "api.log"
        ) as api:
            children = {"the API": (api, logs / "api.log")}
            for i, worker_env in enumerate(worker_envs):
                log = logs / ("worker.log" if i == 0 else f"worker-{i}.log")
                worker = stack.enter_context(_child([*_CLI, "worker"], worker_env, log))
                children[f"worker {i + 1}"] = (worker, log)
            _wait_http(f"{base}/healthz", api, logs / "api.log")
            batch_ids = _submit_sample(base, keys[Role.SUBMITTER], data_dir or _default_data_dir())
            _follow(base, keys[Role.SUBMITTER], batch_ids, timeout, children)
            _explain_failures(store, batch_ids)
            _print_next_steps(base, keys, batch_ids, logs)
            if not exit_when_done:
                _out.print(
                    "[dim]running; Ctrl-C stops the worker, the API and the Redis this demo started[/]"
                )
                with suppress(KeyboardInterrupt):
                    while api.poll() is None:
                        time.sleep(1)
    finally:
        if started_redis:
            stop_redis(settings)


def _submit_sample(base: str, key: str, data_dir: Path | None) -> list[str]:
    """Submit 3 items of each demo task (one batch per task: a batch holds one task)."""
    batch_ids = []
    for task in DEMO_TASKS:
        items, source = load_demo_items(task, data_dir=data_dir)
        response = httpx.post(
            f"{base}/v1/batches",
            json={"task": task, "items": items},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        if response.status_code >= 300:
            raise ConfigError(
                f"submitting the {task} sample failed: {response.status_code} {response.text}"
            )
        batch_ids.append(response.json()["id"])
        _out.print(f"submitted {len(items)} {task} items from {source}: batch {batch_ids[-1]}")
    return batch_ids


def _follow(
    base: str,
    key: str,
    batch_ids: list[str],
    timeout_s: float,
    children: dict[str, tuple[subprocess.Popen[bytes], Path]],
) -> None:
    """A progress bar over all demo batches until no item is queued or labeling.

    Stops with the log to read as soon as the API or every worker has exited
    (a worker that crashed would otherwise leave the demo waiting until the
    timeout). Output that is not a terminal gets a plain line per change instead
    of the bar, which rich draws only on terminals.
    """
    headers = {"Authorization": f"Bearer {key}"}
    last_line = ""
    deadline = time.monotonic() + timeout_s
    columns = (
        TextColumn("labeling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    # One client for the whole wait: a new one per poll built a TLS context each time
    # (a fifth of a core, taken from the local model the demo waits for).
    with Progress(*columns, console=_out) as progress, httpx.Client(
        base_url=base, headers=headers, timeout=10
    ) as http:
        bar = progress.add_task("", total=None)
        while True:
            infos = [http.get(f"/v1/batches/{b}").json() for b in batch_ids]
            total = sum(i["total"] for i in infos)
            pending = sum(i["counts"]["queued"] + i["counts"]["labeling"] for i in infos)
            review = sum(i["counts"]["needs_review"] for i in infos)
            failed = sum(i["counts"]["failed"] for i in infos)
            progress.update(
                bar,
                total=total,
                completed=total - pending,
                description=f"{review} for review, {failed} failed",
            )
            if pending == 0:
                return
            line = f"labeling: {total - pending}/{total} done, {review} for review, {failed} failed"
            if not _out.is_terminal and line != last_line:
                _out.print(line)
                last_line = line
            check_children(children)
            if time.monotonic() > deadline:
                raise ConfigError(f"labeling did not finish within {timeout_s:.0f}s")
            time.sleep(1.0)


def check_children(children: dict[str, tuple[subprocess.Popen[bytes], Path]]) -> None:
    """Raise, naming the log to read, when the API or every worker has exited."""
    api, api_log = children["the API"]
    if api.poll() is not None:
        raise ConfigError(f"the API exited (code {api.returncode}); see {api_log}")
    workers = [(name, p, log) for name, (p, log) in children.items() if name != "the API"]
    if workers and all(p.poll() is not None for _, p, _ in workers):
        name, process, log = workers[0]
        raise ConfigError(
            f"every worker exited ({name}: code {process.returncode}) with items still "
            f"waiting; see {log}"
        )


def _explain_failures(store: Store, batch_ids: list[str]) -> None:
    """Show why items failed (a missing model, a wrong key) instead of only a count."""
    for batch_id in batch_ids:
        failed = store.list_items("demo", batch_id, state=ItemState.FAILED, offset=0, limit=1)
        if failed:
            _out.print(f"[yellow]some items failed[/], e.g. {failed[0].id}: {failed[0].error}")
            _out.print("  fix the cause, then retry: POST /v1/batches/<id>/retry-failed (operator key)")
            return


def _print_next_steps(base: str, keys: dict[Role, str], batch_ids: list[str], logs: Path) -> None:
    submitter, reviewer = keys[Role.SUBMITTER], keys[Role.REVIEWER]
    _out.print("\n[bold green]labeling done.[/] Where to look:")
    for batch_id in batch_ids:
        _out.print(
            f"  batch   curl -H 'Authorization: Bearer {submitter}' {base}/v1/batches/{batch_id}"
        )
    _out.print(
        f"  results curl -H 'Authorization: Bearer {submitter}' {base}/v1/batches/{batch_ids[0]}/results"
    )
    _out.print(
        f"  review  curl -X POST -H 'Authorization: Bearer {reviewer}' {base}/v1/review/claim"
    )
    _out.print(f"  pages   {base}/ui/review (sign in with the reviewer key), {base}/ui/operator")
    _out.print(f"  docs    {base}/docs")
    _out.print(
        f"  keys    admin {keys[Role.ADMIN]}\n          submitter {submitter}\n          reviewer {reviewer}"
    )
    _out.print(f"  logs    {logs}")
