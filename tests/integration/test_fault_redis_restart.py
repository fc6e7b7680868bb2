"""Redis SIGKILLed and restarted mid-batch, the API killed and restarted: nothing lost or doubled.

Redis runs with `appendonly yes` and `appendfsync always`: every write Redis
acknowledged is on disk before the reply, so a SIGKILL loses nothing a client
was told had happened (a batch answered 201, a label saved). With `everysec`
up to a second of acknowledged writes may vanish on a crash; the store would
stay consistent (each Lua transition is replicated to the AOF whole), but the
test could not assert "0 lost" for a batch the API had already confirmed.

`llmlabel worker` starts its RQ loop again when Redis goes away mid-job (rq
quits its work loop when a job's failure cannot be recorded); the test still
restarts any worker process that exits, as the Procfile's supervisor would, and
counts how often that was needed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import pytest
import redis

from llmlabel.settings import Settings
from llmlabel.store import BatchInfo, Role, Store
from tests.integration.conftest import Processes, free_port, provider, service_env, wait_until
from tests.support.fault_checks import check_settled, is_settled

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

N_ITEMS = 800
WORKERS = 2
OUTAGE_S = 2.0


class RedisProcess:
    """One redis-server on a fixed port and data dir, so it can be killed and started again."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.data),
                "--logfile",
                str(self.data / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)

        def up() -> bool:
            with suppress(redis.ConnectionError, redis.BusyLoadingError):
                return bool(client.ping())
            return False

        wait_until(up, timeout_s=20, what="redis-server to answer", every_s=0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.terminate()
            server.process.wait(timeout=10)


def test_redis_and_api_restart_mid_batch(
    own_redis: RedisProcess, processes: Processes, tmp_path: Path
) -> None:
    store = Store.from_settings(Settings(_env_file=None, redis_url=own_redis.url))  # type: ignore[call-arg]
    key = store.create_api_key(team="acme", role=Role.ADMIN, name="fault")
    auth = {"Authorization": f"Bearer {key}"}
    items = [
        {"id": f"r{i}", "text": f"Parcel {i} {'arrived' if i % 3 else 'was lost'}."}
        for i in range(N_ITEMS)
    ]
    with provider(latency_ms=100, latency_jitter_ms=30, disagree_rate=0.3) as base_url:
        env = service_env(
            own_redis.url,
            base_url,
            tmp_path,
            labeling_lease_s=4,
            reap_interval_s=0.5,
            worker_concurrency=8,
            max_label_attempts=20,
        )
        api = processes.api(env, name="api1")
        response = httpx.post(
            f"{api}/v1/batches",
            headers=auth,
            timeout=60,
            json={"task": "classification", "items": items},
        )
        assert response.status_code == 201, response.text
        batch_id = response.json()["id"]
        workers: list[subprocess.Popen[bytes]] = [
            processes.worker(env, name=f"w{i}") for i in range(WORKERS)
        ]

        def mid_batch() -> BatchInfo | None:
            info = store.get_batch("acme", batch_id)
            labeled = info.done + info.counts["needs_review"]
            # The outage must hit work in progress.
            return info if labeled >= N_ITEMS // 4 and info.counts["labeling"] > 0 else None

        before: BatchInfo = wait_until(
            mid_batch,
            timeout_s=90,
            every_s=0.05,
            what="a quarter of the batch labeled, more in progress",
        )

        own_redis.kill()
        # While Redis is down: the API says so (503 on /readyz, a problem on data routes).
        ready = httpx.get(f"{api}/readyz", timeout=10)
        assert ready.status_code == 503
        down = httpx.get(f"{api}/v1/batches/{batch_id}", headers=auth, timeout=10)
        assert down.status_code >= 500
        assert down.headers["content-type"].startswith("application/problem+json")
        # The API dies too (a host reboot), and comes back after Redis.
        api_proc = processes.started[0]
        os.killpg(api_proc.pid, signal.SIGKILL)
        api_proc.wait(timeout=10)
        time.sleep(OUTAGE_S)
        own_redis.start()
        api = processes.api(env, name="api2")

        after = store.get_batch("acme", batch_id)
        # appendfsync always: what was labeled before the crash is still labeled.
        assert (
            after.done + after.counts["needs_review"] >= before.done + before.counts["needs_review"]
        )
        restarts = 0

        def settled_with_supervisor() -> bool:
            nonlocal restarts
            for i, worker in enumerate(workers):
                if worker.poll() is not None:
                    workers[i] = processes.worker(env, name=f"w{i}-r{restarts}")
                    restarts += 1
            return is_settled(store, "acme", batch_id)

        wait_until(
            settled_with_supervisor,
            timeout_s=150,
            what="the batch to settle after the restart",
            every_s=0.25,
        )
        # The restarted API serves the batch and takes new work.
        got = httpx.get(f"{api}/v1/batches/{batch_id}", headers=auth, timeout=10)
        assert got.status_code == 200 and got.json()["total"] == N_ITEMS
        more = httpx.post(
            f"{api}/v1/batches",
            headers=auth,
            timeout=30,
            json={"task": "classification", "items": items[:20]},
        )
        assert more.status_code == 201, more.text
        wait_until(
            lambda: is_settled(store, "acme", more.json()["id"]),
            timeout_s=60,
            what="a batch submitted after the restart to settle",
        )

    settled = check_settled(store, "acme", batch_id, [i["id"] for i in items], allow_failed=False)
    check_settled(
        store, "acme", more.json()["id"], [i["id"] for i in items[:20]], allow_failed=False
    )
    print(f"worker restarts={restarts} relabeled={settled.relabeled} states={dict(settled.states)}")
    # The workers rode out the Redis restart by themselves.
    assert restarts == 0
    totals = store.state_totals()
    assert totals["queued"] == 0 and totals["labeling"] == 0
