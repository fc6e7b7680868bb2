"""The RQ side: the chunk job that labels items, and the worker process that runs it.

Worker class: rq `SimpleWorker` (runs jobs in the worker process, no fork).
~2 ms of CPU per job instead of ~10 ms, and the process keeps what is expensive
to build: a loaded local model (llama.cpp) is shared by every later job. The
price of not forking is that a crashing job kills the worker; the labeling
leases below make that harmless, since any other worker's reaper re-queues the
items within `labeling_lease_s` (+ `reap_interval_s`).

RQ only notices a dead worker's job after job timeout + worker TTL, so recovery
does not rely on RQ: every item being labeled holds a lease that the job renews
while it works, and each worker runs a housekeeping thread (`Store.reap`) that
re-queues items whose lease ran out.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import httpx
import redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from llmlabel.errors import (
    BackendError,
    BudgetExceededError,
    ConfigError,
    GuidelineError,
    InputError,
    LlmlabelError,
)
from llmlabel.labeler import Labeler, build_labeler
from llmlabel.ratelimit import RateLimiter
from llmlabel.settings import Settings, get_settings
from llmlabel.spend import Attribution
from llmlabel.store import Store
from llmlabel.store.jobs import queue_for
from llmlabel.store.models import WorkItem
from llmlabel.store.ratelimit import build_rate_limiter

__all__ = ["Housekeeper", "job_context", "label_chunk", "run_worker"]

logger = logging.getLogger(__name__)

# The store (and its connection pool) outlives jobs: SimpleWorker runs them all in this process.
_STORES: dict[str, Store] = {}
# Set by run_worker (the CLI resolves the embedded Redis URL and --concurrency into it).
_SETTINGS: list[Settings] = []
# Batch-finished callbacks: tries per callback and the timeout of each POST.
_CALLBACK_TRIES = 3
_CALLBACK_TIMEOUT_S = 10.0
# Errors that mean "this item cannot be labeled now"; the item fails with the message
# and an operator can retry it (after fixing the cause).
_ITEM_ERRORS = (InputError, BackendError, GuidelineError, ConfigError)


def _store(settings: Settings) -> Store:
    url = settings.redis_url or ""
    store = _STORES.get(url)
    if store is None:
        store = _STORES[url] = Store.from_settings(settings)
    return store


def job_context() -> tuple[Settings, Store]:
    """The settings and store a job runs with in this worker process (for other job modules)."""
    settings = _SETTINGS[-1] if _SETTINGS else get_settings()
    return settings, _store(settings)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def label_chunk(item_ids: list[str], team: str) -> dict[str, int]:
    """RQ job: label a chunk of one team's items; returns counts (labeled, failed, skipped).

    Items not in `queued` (already labeled, in review, or held by a live worker)
    are skipped, so running a job twice never labels or counts an item twice.
    """
    settings = _SETTINGS[-1] if _SETTINGS else get_settings()
    store = _store(settings)
    work = store.begin_labeling(team, item_ids)
    counts = {"labeled": 0, "failed": 0, "paused": 0, "lost": 0, "skipped": len(item_ids) - len(work)}
    if not work:
        return counts
    limiter = build_rate_limiter(settings.redis_url, settings.profile())
    pending = {w.item_id: w for w in work}
    heartbeat = asyncio.create_task(
        _renew_leases(store, team, pending, settings.labeling_lease_s / 3)
    )
    labelers: dict[tuple[str, str | None, str | None], Labeler | BaseException] = {}
    semaphore = asyncio.Semaphore(settings.worker_concurrency)

    async def one(item: WorkItem) -> None:
        async with semaphore:
            result = await _label_one(store, settings, labelers, limiter, item)
            pending.pop(item.item_id, None)
            counts[result] += 1

    try:
        await asyncio.gather(*(one(w) for w in work))
    finally:
        heartbeat.cancel()
        for labeler in labelers.values():
            if isinstance(labeler, Labeler):
                await labeler.aclose()
        aclose = getattr(limiter, "aclose", None)
        if aclose is not None:
            await aclose()
    logger.info("chunk.done team=%s %s", team, counts)
    return counts


async def _label_one(
    store: Store,
    settings: Settings,
    labelers: dict[tuple[str, str | None, str | None], Labeler | BaseException],
    limiter: RateLimiter,
    item: WorkItem,
) -> str:
    """Label one item and write the outcome; returns which counter to bump."""
    try:
        labeler = _labeler_for(store, settings, labelers, limiter, item)
        meter = store.spend_meter(
            Attribution(
                team=item.team,
                scope=f"batch:{item.batch_id}",
                project=item.task,
                version=f"{labeler.guideline.version}/{labeler.prompt.version}",
            )
        )
        record = await labeler.label(item.item_id, item.input, meter=meter, resume=item.partial)
    except BudgetExceededError as exc:
        # Not labeled and not failed: it waits, with what it drew, for a raised cap or a resume.
        paused = store.pause_item(item, f"budget: {exc}", exc.partial)
        return "paused" if paused else "lost"
    except _ITEM_ERRORS as exc:
        return "failed" if store.fail_item(item, _describe(exc)) else "lost"
    except Exception as exc:  # job edge: a bug must fail the item, not strand it
        logger.exception("label.crashed item_id=%s", item.item_id)
        return "failed" if store.fail_item(item, f"internal error: {_describe(exc)}") else "lost"
    return "labeled" if store.save_label(item, record) else "lost"


def _labeler_for(
    store: Store,
    settings: Settings,
    labelers: dict[tuple[str, str | None, str | None], Labeler | BaseException],
    limiter: RateLimiter,
    item: WorkItem,
) -> Labeler:
    """One labeler per (task, versions) in a job; a version whose file changed is refused."""
    key = (item.task, item.guideline_version, item.prompt_version)
    if key not in labelers:
        try:
            labeler = build_labeler(
                settings, item.task, item.guideline_version, item.prompt_version, limiter=limiter
            )
            store.pin_hash(
                "guideline", item.task, labeler.guideline.version, labeler.guideline.content_hash
            )
            store.pin_hash("prompt", item.task, labeler.prompt.version, labeler.prompt.content_hash)
            labelers[key] = labeler
        except LlmlabelError as exc:
            labelers[key] = exc
    built = labelers[key]
    if isinstance(built, BaseException):
        raise built
    return built


async def _renew_leases(
    store: Store, team: str, pending: dict[str, WorkItem], every_s: float
) -> None:
    """Keep the leases of items still being labeled alive while the job runs."""
    while True:
        await asyncio.sleep(every_s)
        if not pending:
            continue
        try:
            store.renew_labeling(team, list(pending.values()))
        except (LlmlabelError, redis.RedisError) as exc:
            # Keep trying: a lease lost meanwhile only means another worker relabels.
            logger.warning("lease.renew_failed team=%s error=%s", team, exc)


def _post_callback(url: str, payload: dict[str, Any]) -> bool:
    """Best effort: a few tries with a short backoff; a receiver that stays down is logged."""
    for attempt in range(_CALLBACK_TRIES):
        try:
            response = httpx.post(url, json=payload, timeout=_CALLBACK_TIMEOUT_S)
        except httpx.HTTPError as exc:
            logger.warning("callback.failed url=%s attempt=%d error=%s", url, attempt + 1, exc)
        else:
            if response.status_code < 300:
                logger.info("callback.sent url=%s batch_id=%s", url, payload["id"])
                return True
            logger.warning("callback.refused url=%s status=%d", url, response.status_code)
        time.sleep(0.5 * 2**attempt)
    return False


class Housekeeper(threading.Thread):
    """A daemon thread that runs `Store.reap` every `settings.reap_interval_s`."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="llmlabel-housekeeper", daemon=True)
        # Its own client: redis-py connections are not shared across threads mid-command.
        self.store = Store.from_settings(settings)
        self.interval = settings.reap_interval_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.reap_once()
            self.stopped.wait(self.interval)

    def reap_once(self) -> None:
        """One reap pass; Redis hiccups are logged and retried next time."""
        try:
            report = self.store.reap()
        except LlmlabelError as exc:
            logger.warning("reap.failed error=%s", exc)
            return
        except Exception:  # a housekeeping thread must survive a Redis outage
            logger.exception("reap.crashed")
            return
        if report.requeued or report.failed or report.review_released or report.jobs_enqueued:
            logger.info("reap.done %s", report.model_dump())
        self.deliver_callbacks()

    def deliver_callbacks(self) -> None:
        """POST the BatchInfo of batches that finished labeling to their callback_url."""
        try:
            due = self.store.pop_callbacks()
        except LlmlabelError as exc:
            logger.warning("callback.pop_failed error=%s", exc)
            return
        for info, url in due:
            _post_callback(url, info.model_dump(mode="json"))

    def stop(self) -> None:
        self.stopped.set()


def run_worker(settings: Settings, *, burst: bool = False, name: str | None = None) -> bool:
    """Run one worker on the labeling queue until stopped (or the queue is empty, with burst).

    Returns whether any job was processed.
    """
    _SETTINGS.append(settings)
    store = _store(settings)
    housekeeper = Housekeeper(settings)
    # Re-queue what dead workers left before taking new work.
    housekeeper.reap_once()
    housekeeper.start()
    queue = queue_for(store.rq_redis)
    worker = SimpleWorker(
        [queue],
        connection=store.rq_redis,
        serializer=JSONSerializer,
        name=name,
        # A short TTL and maintenance interval let RQ itself clean up a dead
        # worker's registry entries sooner; item recovery is the reaper's job.
        worker_ttl=60,
        maintenance_interval=60,
    )
    try:
        return bool(worker.work(burst=burst, logging_level="WARNING", with_scheduler=False))
    finally:
        housekeeper.stop()
        housekeeper.reap_once()
