"""One `llmlabel worker` process: the labeling loop, RQ for the other jobs, housekeeping.

Three threads:
- the labeling thread runs one long-lived event loop (`LabelingLoop`) with its
  own store client, labelers and backend, built once;
- the main thread runs an rq `SimpleWorker` for the jobs that are not per-item
  labeling (gold labeling, evaluations: `llmlabel.gold_jobs`), and owns the
  signals: SIGTERM stops RQ, then the labeling loop, which hands back what it
  has not finished;
- the housekeeping thread reaps dead workers' items;
- the webhook thread delivers batch callbacks (`llmlabel.delivery`): a slow or dead
  receiver never holds up the reaper;
- the upkeep thread expires batches past their team's retention (`llmlabel.upkeep`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections import Counter

import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from llmlabel.delivery import WebhookThread
from llmlabel.settings import Settings, get_settings
from llmlabel.store import Store
from llmlabel.store.jobs import queue_for
from llmlabel.upkeep import UpkeepThread
from llmlabel.worker.housekeeping import Housekeeper
from llmlabel.worker.labelers import LabelerPool
from llmlabel.worker.loop import LabelingLoop

__all__ = ["LabelingThread", "job_context", "run_labeling", "run_worker"]

logger = logging.getLogger(__name__)

# The store (and its connection pool) outlives RQ jobs: SimpleWorker runs them all here.
_STORES: dict[str, Store] = {}
# Set by run_worker (the CLI resolves the embedded Redis URL and --concurrency into it).
_SETTINGS: list[Settings] = []
# After an unexpected crash of the labeling loop (a bug), start it again after this long.
_LOOP_RESTART_S = 1.0


def _store(settings: Settings) -> Store:
    url = settings.redis_url or ""
    store = _STORES.get(url)
    if store is None:
        store = _STORES[url] = Store.from_settings(settings)
    return store


def job_context() -> tuple[Settings, Store]:
    """The settings and store an RQ job runs with in this worker process."""
    settings = _SETTINGS[-1] if _SETTINGS else get_settings()
    return settings, _store(settings)


async def run_labeling(
    settings: Settings,
    *,
    burst: bool = False,
    owner: str = "",
    holder: list[LabelingLoop] | None = None,
) -> Counter[str]:
    """Run the labeling loop in the current event loop; returns its outcome counts."""
    store = Store.from_settings(settings)
    pool = LabelerPool(settings, store)
    loop = LabelingLoop(settings, store, pool, owner=owner)
    if holder is not None:
        holder.append(loop)
    logger.info("labeling.start owner=%s slots=%d", owner, loop.slots)
    try:
        return await loop.run(burst=burst)
    finally:
        await pool.aclose()
        counts = " ".join(f"{k}={v}" for k, v in sorted(loop.counts.items()))
        logger.info("labeling.stop owner=%s %s", owner, counts or "labeled=0")


class LabelingThread(threading.Thread):
    """The labeling loop in a thread of its own (the main thread keeps the signals for RQ)."""

    def __init__(self, settings: Settings, owner: str) -> None:
        super().__init__(name="llmlabel-labeling", daemon=True)
        self.settings = settings
        self.owner = owner
        self._stopped = threading.Event()
        self._aio: asyncio.AbstractEventLoop | None = None
        self._loops: list[LabelingLoop] = []

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                asyncio.run(self._main())
            except Exception:  # a bug in the loop must not leave a worker that labels nothing
                logger.exception("labeling.crashed")
                self._stopped.wait(_LOOP_RESTART_S)

    async def _main(self) -> None:
        self._aio = asyncio.get_running_loop()
        self._loops.clear()
        if self._stopped.is_set():
            return
        await run_labeling(self.settings, owner=self.owner, holder=self._loops)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop claiming, let the loop hand back unfinished items, wait for the thread."""
        self._stopped.set()
        aio = self._aio
        if aio is not None and self._loops:
            aio.call_soon_threadsafe(self._loops[-1].stop)
        self.join(timeout)


def _run_rq(settings: Settings, *, burst: bool, name: str | None) -> bool:
    """RQ's loop on the job queue; started again (under a new name) when Redis goes away."""
    store = _store(settings)
    delay, restarts = 1.0, 0
    while True:
        # A restarted RQ worker needs a new name: the old one stays registered until its TTL.
        run_name = f"{name}-r{restarts}" if name and restarts else name
        worker = SimpleWorker(
            [queue_for(store.rq_redis)],
            connection=store.rq_redis,
            serializer=JSONSerializer,
            name=run_name,
            # A short TTL and maintenance interval let RQ clean up a dead worker's entries sooner.
            worker_ttl=60,
            maintenance_interval=60,
        )
        try:
            return bool(worker.work(burst=burst, logging_level="WARNING", with_scheduler=False))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            if burst:
                raise
            # Redis restarting: nothing is lost (items hold leases; the reaper re-queues
            # them), so wait and start over instead of leaving it to a supervisor.
            logger.warning("rq.lost_redis error=%s retry_in_s=%.0f", exc, delay)
            time.sleep(delay)
            delay, restarts = min(delay * 2, 30.0), restarts + 1


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None) -> bool:
    """Run one worker until stopped (with burst: until nothing is queued); True if it did work."""
    _SETTINGS.append(settings)
    owner = name or f"{socket.gethostname()}.{os.getpid()}"
    housekeeper = Housekeeper(settings)
    # Re-queue what dead workers left before taking new work.
    housekeeper.reap_once()
    housekeeper.start()
    webhooks = WebhookThread(settings)
    webhooks.start()
    upkeep = UpkeepThread(settings)
    upkeep.start()
    try:
        if burst:
            labeled = asyncio.run(run_labeling(settings, burst=True, owner=owner))
            jobs = _run_rq(settings, burst=True, name=name)
            # Gold jobs make no labeling work, but a reap during the RQ pass may have.
            labeled += asyncio.run(run_labeling(settings, burst=True, owner=owner))
            return bool(sum(labeled.values()) or jobs)
        labeling = LabelingThread(settings, owner)
        labeling.start()
        try:
            return _run_rq(settings, burst=False, name=name)
        finally:
            labeling.stop()
    finally:
        housekeeper.stop()
        housekeeper.reap_once()
        upkeep.stop()
        webhooks.stop()
