"""The labeling loop: keeps a worker's slots full, one claimed item per free slot.

One long-lived asyncio loop per worker process. It holds at most `slots` items
(see `LabelerPool.slots`): whenever slots are free it claims that many items
from the store (fairly across teams and batches), starts each at once, and
claims again as each one finishes. It never holds an item it is not working
on, so other workers can take everything it has not started, and an item a
dead worker held goes back onto its batch's ready list one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import redis

from llmlabel.calibration_jobs import cached_routing, routing_for
from llmlabel.domain import Completion
from llmlabel.errors import (
    BackendError,
    BudgetExceededError,
    ConfigError,
    GuidelineError,
    InputError,
    LlmlabelError,
    StoreError,
)
from llmlabel.settings import Settings
from llmlabel.spend import Attribution
from llmlabel.store import Store
from llmlabel.store.models import WorkItem
from llmlabel.store.spend import Offload, StoreMeter
from llmlabel.worker.labelers import LabelerPool
from llmlabel.worker.offline import OfflineRunner

__all__ = ["ItemCallCache", "LabelingLoop"]

logger = logging.getLogger(__name__)

# Errors that mean "this item cannot be labeled now"; the item fails with the message
# and an operator can retry it (after fixing the cause).
_ITEM_ERRORS = (InputError, BackendError, GuidelineError, ConfigError)
# Redis trouble: the item keeps its lease and the reaper re-queues it once that runs out.
_STORE_ERRORS = (redis.RedisError, StoreError)
# Waits between claims while nothing is ready (doubling up to the last one).
_IDLE_WAITS_S = (0.02, 0.05, 0.1, 0.2)
# How long a stopping worker lets started items finish before handing them back.
_STOP_GRACE_S = 5.0
# Threads for the store's sync Redis calls (each holds one connection while it waits).
_IO_THREADS = 4

T = TypeVar("T")


class ItemCallCache:
    """The result cache as one item sees it: reads from the store, writes kept for the save.

    Answers are written with the label (`Store.save_label`), so a worker that dies
    or loses its lease leaves nothing behind. A cache Redis cannot read is a miss.
    """

    def __init__(self, store: Store, team: str, offload: Offload) -> None:
        self.store = store
        self.team = team
        self.offload = offload
        self.writes: list[tuple[str, Completion]] = []

    async def get(self, digest: str) -> Completion | None:
        """The stored answer, None if absent (or the store cannot be read)."""
        try:
            stored: Completion | None = await self.offload(
                self.store.cached_call, self.team, digest
            )
            return stored
        except _STORE_ERRORS as exc:
            logger.warning("cache.read_failed team=%s error=%s", self.team, exc)
            return None

    def put(self, digest: str, completion: Completion) -> None:
        """Keep an answer to write with the label."""
        self.writes.append((digest, completion))


class LabelingLoop:
    """Claims items as slots free up and labels them; see the module docstring."""

    def __init__(
        self, settings: Settings, store: Store, pool: LabelerPool, *, owner: str = ""
    ) -> None:
        self.settings = settings
        self.owner = owner
        self.store = store
        self.pool = pool
        self.slots = pool.slots()
        self.held: dict[str, WorkItem] = {}
        self.counts: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._stop = asyncio.Event()
        # The store is sync (redis-py): its calls run in these threads, so the loop
        # never stops every item in flight while one Redis reply is on its way.
        self._io = ThreadPoolExecutor(max_workers=_IO_THREADS, thread_name_prefix="llmlabel-io")
        self.offline = OfflineRunner(settings, store, pool, self.offload)

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one sync store call in an I/O thread."""
        return await asyncio.get_running_loop().run_in_executor(self._io, partial(fn, *args))

    def stop(self) -> None:
        """Stop claiming; started items get a short grace, the rest is handed back."""
        self._stop.set()
        self._slot_freed.set()

    async def run(self, *, burst: bool = False) -> Counter[str]:
        """Label until stopped (with burst: until nothing is ready and nothing is held)."""
        heartbeat = asyncio.create_task(self._renew_leases(self.settings.labeling_lease_s / 3))
        offline = asyncio.create_task(self._run_offline())
        idle = 0
        try:
            while not self._stop.is_set():
                free = self.slots - len(self.held)
                if free <= 0:
                    await self._wait_for_slot()
                    continue
                try:
                    claimed = await self.offload(
                        partial(self.store.claim_labeling, free, owner=self.owner)
                    )
                except _STORE_ERRORS as exc:
                    logger.warning("claim.failed error=%s", exc)
                    claimed = []
                    idle = len(_IDLE_WAITS_S) - 1
                for work in claimed:
                    self._start(work)
                if len(claimed) == free:
                    idle = 0
                    continue
                if burst and not claimed and not self.held:
                    break
                # Nothing (more) ready: poll again soon, sooner if a slot frees.
                await self._wait_for_slot(_IDLE_WAITS_S[min(idle, len(_IDLE_WAITS_S) - 1)])
                idle += 1
        finally:
            await self._drain()
            offline.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await offline
            if self.offline.pending:
                with contextlib.suppress(LlmlabelError, *_STORE_ERRORS):
                    await self.offline.flush()
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self._io.shutdown(wait=False)
        return self.counts

    async def _wait_for_slot(self, timeout: float | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._slot_freed.wait(), timeout)
        self._slot_freed.clear()
        # Let other items finishing in the same tick free their slots too: one claim for all.
        await asyncio.sleep(0)

    def _start(self, work: WorkItem) -> None:
        self.held[work.item_id] = work
        task = asyncio.create_task(self._label(work), name=f"label {work.item_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _label(self, work: WorkItem) -> None:
        try:
            outcome = await self._label_one(work)
            self.counts[outcome] += 1
        finally:
            self.held.pop(work.item_id, None)
            self._slot_freed.set()

    async def _label_one(self, work: WorkItem) -> str:
        """Label one item and write the outcome; returns which counter to bump."""
        try:
            if await self.offline.is_offline(work):
                # Labeled through the provider's batch API; the slot frees at once.
                self.offline.add(work)
                return "offline"
        except _STORE_ERRORS as exc:
            logger.warning("label.mode_failed item_id=%s error=%s", work.item_id, exc)
            return "lost"
        cache = None
        if work.cache and self.settings.call_cache_ttl_s > 0:
            cache = ItemCallCache(self.store, work.team, self.offload)
        meter: StoreMeter | None = None
        try:
            try:
                labeler = self.pool.labeler_for(work)
                # Answered attempts settle with the item's next Redis step (the next
                # reservation or the label write): one round trip fewer per call.
                meter = self.store.spend_meter(
                    Attribution(
                        team=work.team,
                        scope=f"batch:{work.batch_id}",
                        project=work.project or work.task,
                        version=f"{labeler.guideline.version}/{labeler.prompt.version}",
                    ),
                    offload=self.offload,
                    defer_settles=True,
                )
                # The team's calibration fit for the version (cached briefly) routes the
                # label; while the version has a target precision, accepted labels are
                # drawn for audit. Only a stale cache entry costs a store call.
                project = work.project or work.task
                routing = cached_routing(work.team, project, labeler.guideline)
                if routing is None:
                    routing = await self.offload(
                        routing_for, self.store, work.team, project, labeler.guideline
                    )
                pool = await self.pool.pool_for(work, labeler, self.offload)
                record = await labeler.label(
                    work.item_id, work.input, meter=meter, resume=work.partial, cache=cache,
                    calibration=routing.fit, audit=routing.audit, pilot=work.pilot, pool=pool,
                )
            except BudgetExceededError as exc:
                # Not labeled and not failed: it waits, with what it drew, for a raised cap
                # or a resume.
                try:
                    paused = await self.offload(
                        self.store.pause_item, work, f"budget: {exc}", exc.partial
                    )
                except _STORE_ERRORS as store_exc:
                    logger.warning(
                        "label.pause_failed item_id=%s error=%s", work.item_id, store_exc
                    )
                    return "lost"
                return "paused" if paused else "lost"
            except _ITEM_ERRORS as exc:
                return await self._fail(work, f"{type(exc).__name__}: {exc}")
            except _STORE_ERRORS as exc:
                logger.warning("label.store_failed item_id=%s error=%s", work.item_id, exc)
                return "lost"
            except Exception as exc:  # loop edge: a bug must fail the item, not strand it
                logger.exception("label.crashed item_id=%s", work.item_id)
                return await self._fail(work, f"internal error: {type(exc).__name__}: {exc}")
            settles = meter.take_unsettled()
            try:
                saved = await self.offload(
                    self.store.save_label, work, record, cache.writes if cache else (), settles
                )
            except _STORE_ERRORS as exc:
                meter.unsettled[:0] = settles  # a repeated settle counts once
                logger.warning("label.save_failed item_id=%s error=%s", work.item_id, exc)
                return "lost"
            return "labeled" if saved else "lost"
        finally:
            if meter is not None and meter.unsettled:
                await asyncio.shield(self._flush_settles(meter))

    async def _flush_settles(self, meter: StoreMeter) -> None:
        """Send settles the item's last step did not carry (it failed, paused or was cut short)."""
        try:
            await meter.flush()
        except _STORE_ERRORS as exc:
            # The reaper counts those reservations at their worst case.
            logger.warning("spend.settle_failed reservations=%d error=%s", len(meter.unsettled), exc)

    async def _fail(self, work: WorkItem, error: str) -> str:
        try:
            return "failed" if await self.offload(self.store.fail_item, work, error) else "lost"
        except _STORE_ERRORS as exc:
            logger.warning("label.fail_failed item_id=%s error=%s", work.item_id, exc)
            return "lost"

    async def _renew_leases(self, every_s: float) -> None:
        """Keep the leases of every held item alive: one script call for all of them."""
        while True:
            await asyncio.sleep(every_s)
            held = [*self.held.values(), *self.offline.pending.values()]
            if not held:
                continue
            try:
                await self.offload(self.store.renew_labeling, held)
            except (LlmlabelError, redis.RedisError) as exc:
                # Keep trying: a lease lost meanwhile only means another worker relabels.
                logger.warning("lease.renew_failed error=%s", exc)

    async def _run_offline(self) -> None:
        """Submit gathered offline items every `offline_flush_s`, poll provider batches when due."""
        every = min(self.settings.offline_flush_s, self.settings.offline_poll_s)
        while True:
            await asyncio.sleep(every)
            try:
                if self.offline.pending:
                    await self.offline.flush()
                await self.offline.poll()
            except (LlmlabelError, *_STORE_ERRORS) as exc:
                logger.warning("offline.step_failed error=%s", exc)
            except Exception:  # loop edge: keep polling whatever one round did
                logger.exception("offline.crashed")

    async def _drain(self) -> None:
        """Let started items finish for a moment, then hand back what is left."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=_STOP_GRACE_S)
        unfinished = list(self.held.values())
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=_STOP_GRACE_S)
        if unfinished:
            try:
                released = await self.offload(self.store.release_labeling, unfinished)
            except _STORE_ERRORS as exc:
                logger.warning("release.failed items=%d error=%s", len(unfinished), exc)
            else:
                logger.info("release.done items=%d", released)
