"""Offline batches: labeling rounds as provider batches (OpenAI Batch API, Anthropic Message Batches).

Items of a batch submitted with `"mode": "offline"` are claimed like any other,
then handed here instead of being labeled on the spot: the slot frees at once.
After `offline_flush_s` the gathered items go out as one provider batch per
backend: every call their next sampling round needs is one line, reserved
against the caps (half price) like a synchronous call, and their labeling
leases are held until the provider's 24 h window has passed. The loop polls due
provider batches every `offline_poll_s`; on collection each line settles its
reservation with the provider's usage, failed lines are retried in the next
provider batch (up to `max_retries`), and each item either is done (label
saved, exactly once through its lease) or needs another round: a second round
is a second provider batch. What an item drew so far travels with it (its
`partial`), so a worker that dies between rounds loses nothing paid for.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from llmlabel.backends.batch_api import BatchApi, BatchLine, LineResult, batch_api_for
from llmlabel.backends.sampling import effective_pricing, quote_call
from llmlabel.calibration_jobs import routing_for
from llmlabel.domain import PartialLabel, Sample, Usage
from llmlabel.errors import BudgetExceededError, LlmlabelError
from llmlabel.estimate import OFFLINE_DISCOUNT
from llmlabel.labeler import Labeler
from llmlabel.settings import Settings
from llmlabel.spend import Attribution, CallOutcome
from llmlabel.store import Store
from llmlabel.store.models import WorkItem
from llmlabel.store.offline import OfflineJob, OfflineLine
from llmlabel.worker.labelers import LabelerPool

__all__ = ["OfflineRunner"]

logger = logging.getLogger(__name__)

# The providers' completion window, plus slack: leases and reservations outlive it.
_WINDOW_S = 24 * 3600 + 3600
Offload = Callable[..., Awaitable[Any]]


class OfflineRunner:
    """Gathers offline items, submits their rounds as provider batches, collects the results."""

    def __init__(self, settings: Settings, store: Store, pool: LabelerPool, offload: Offload):
        self.settings = settings
        self.store = store
        self.pool = pool
        self.offload = offload
        self.pending: dict[str, WorkItem] = {}
        self._modes: dict[tuple[str, str], str] = {}
        self._apis: dict[int, BatchApi] = {}

    def _api(self, backend: Any) -> BatchApi:
        """One batch-API client per backend (labelers are long-lived in the pool)."""
        api = self._apis.get(id(backend))
        if api is None:
            api = self._apis[id(backend)] = batch_api_for(backend)
        return api

    async def is_offline(self, work: WorkItem) -> bool:
        """Whether the item's batch was submitted with mode offline (remembered per batch)."""
        key = (work.team, work.batch_id)
        if key not in self._modes:
            modes = await self.offload(self.store.batch_modes, work.team, [work.batch_id])
            self._modes[key] = modes.get(work.batch_id, "sync")
        return self._modes[key] == "offline"

    def add(self, work: WorkItem) -> None:
        """Take an item for the next provider batch (its lease is renewed with the loop's)."""
        self.pending[work.item_id] = work

    async def flush(self) -> None:
        """Submit what was gathered: one provider batch per task and versions."""
        works, self.pending = list(self.pending.values()), {}
        groups: dict[tuple[str, str | None, str | None], list[WorkItem]] = defaultdict(list)
        for work in works:
            groups[(work.task, work.guideline_version, work.prompt_version)].append(work)
        for group in groups.values():
            plans: list[tuple[WorkItem, PartialLabel, list[OfflineLine]]] = [
                (work, work.partial or PartialLabel(), []) for work in group
            ]
            await self._submit(plans, round_no=1)

    async def _submit(
        self, plans: list[tuple[WorkItem, PartialLabel, list[OfflineLine]]], *, round_no: int
    ) -> None:
        """Reserve and send every line these items need next; finish the items that need none.

        `plans`: each item, what it drew so far, and failed lines to send again.
        """
        lines: list[BatchLine] = []
        records: list[OfflineLine] = []
        carried: list[WorkItem] = []
        labeler: Labeler | None = None
        for work, partial, retries in plans:
            try:
                labeler = self.pool.labeler_for(work)
                view = labeler.task.validate_input(work.input)
                calls = [(line.variant, line.indices, line.attempts + 1) for line in retries]
                if not calls:
                    planned, partial.round_end = labeler.plan_next(view, partial.samples, partial.round_end)
                    calls = [(variant, indices, 1) for variant, indices in planned]
                if not calls:
                    await self._save(labeler, work, view, partial)
                    continue
                meter = self._meter(labeler, work)
                reserved: list[OfflineLine] = []
                try:
                    for variant, indices, attempts in calls:
                        messages = labeler.messages_for(view, variant)
                        policy = labeler.guideline.sampling
                        custom_id = f"l{len(records) + len(reserved)}"
                        quote = quote_call(
                            labeler.backend, messages, labeler.schema, n=len(indices),
                            max_tokens=policy.max_tokens, discount=OFFLINE_DISCOUNT,
                        )
                        reservation = await meter.reserve(quote)
                        reserved.append(OfflineLine(
                            custom_id=custom_id, item_id=work.item_id, variant=variant,
                            indices=indices, reservation=reservation, attempts=attempts,
                        ))
                        lines.append(BatchLine(custom_id, messages, labeler.schema, len(indices),
                                               policy.temperature, policy.max_tokens))
                except BudgetExceededError as exc:
                    for line in reserved:
                        await self.offload(self.store.release_call, line.reservation)
                    del lines[len(lines) - len(reserved):]
                    await self.offload(self.store.pause_item, work, f"budget: {exc}", partial)
                    continue
                records.extend(reserved)
                carried.append(work.model_copy(update={"partial": partial}))
            except LlmlabelError as exc:
                await self.offload(self.store.fail_item, work, f"{type(exc).__name__}: {exc}")
        if not lines or labeler is None:
            return
        try:
            provider_batch = await self._api(labeler.backend).submit(lines)
        except LlmlabelError as exc:
            # Nothing was sent: give the reservations back; the items' leases run out and
            # the reaper queues them again.
            logger.warning("offline.submit_failed error=%s", exc)
            for line in records:
                await self.offload(self.store.release_call, line.reservation)
            return
        now = time.time()
        job = OfflineJob(
            id="ob_" + secrets.token_hex(8), team=carried[0].team, batch_id=carried[0].batch_id,
            provider_batch=provider_batch, round=round_no, created_at=now, lines=records,
            work=carried,
        )
        await self.offload(self.store.hold_labeling, carried, now + _WINDOW_S)
        await self.offload(
            lambda: self.store.save_offline_job(job, poll_at=now + self.settings.offline_poll_s)
        )
        logger.info("offline.submitted job=%s lines=%d items=%d", job.id, len(records), len(carried))

    def _meter(self, labeler: Labeler, work: WorkItem) -> Any:
        who = Attribution(
            team=work.team,
            scope=f"batch:{work.batch_id}",
            project=work.task,
            version=f"{labeler.guideline.version}/{labeler.prompt.version}",
        )
        return self.store.spend_meter(who, hold_s=_WINDOW_S, offload=self.offload)

    async def poll(self) -> None:
        """Collect every provider batch that is due and has ended."""
        due = await self.offload(
            lambda: self.store.take_due_offline_jobs(every_s=self.settings.offline_poll_s)
        )
        for job_id in due:
            job = await self.offload(self.store.get_offline_job, job_id)
            if job is not None and job.work:
                try:
                    await self._collect(job)
                except LlmlabelError as exc:
                    logger.warning("offline.collect_failed job=%s error=%s", job_id, exc)

    async def _collect(self, job: OfflineJob) -> None:
        labeler = self.pool.labeler_for(job.work[0])
        api = self._api(labeler.backend)
        state, status = await api.state(job.provider_batch)
        if state == "running":
            return
        ids = [line.custom_id for line in job.lines]
        if state == "failed":
            results = [LineResult(custom_id=c, error=f"provider batch {status}") for c in ids]
        else:
            results = await api.results(job.provider_batch, ids)
        by_id = {line.custom_id: line for line in job.lines}
        works = {work.item_id: work for work in job.work}
        drawn: dict[str, tuple[list[Sample], Usage]] = defaultdict(lambda: ([], Usage()))
        retry: dict[str, list[OfflineLine]] = defaultdict(list)
        failed: dict[str, str] = {}
        pricing = effective_pricing(labeler.backend.profile)
        for result in results:
            line = by_id[result.custom_id]
            work = works[line.item_id]
            item_labeler = self.pool.labeler_for(work)
            if result.completion is not None:
                usage = result.completion.usage
                cost = pricing.cost(usage) * OFFLINE_DISCOUNT
                await self._settle(line, CallOutcome(usage=usage, cost_usd=cost))
                view = item_labeler.task.validate_input(work.input)
                samples = item_labeler.samples_of(view, line.variant, line.indices, result.completion)
                got, used = drawn[line.item_id]
                drawn[line.item_id] = (got + samples, used + usage.model_copy(update={"cost_usd": cost}))
            else:
                await self._settle(line, CallOutcome(usage=Usage(calls=1), cost_usd=0.0, failed=True))
                if line.attempts <= labeler.backend.profile.max_retries:
                    retry[line.item_id].append(line)
                else:
                    failed[line.item_id] = result.error or "provider batch line failed"
        plans = []
        for item_id, work in works.items():
            if item_id in failed:
                await self.offload(self.store.fail_item, work, f"offline: {failed[item_id]}")
                continue
            partial = work.partial or PartialLabel()
            samples, usage = drawn[item_id]
            # Merged by index, so collecting one provider batch twice adds nothing twice.
            merged = {s.index: s for s in partial.samples} | {s.index: s for s in samples}
            partial = PartialLabel(
                samples=sorted(merged.values(), key=lambda s: s.index),
                usage=partial.usage + usage,
                round_end=partial.round_end,
            )
            await self.offload(self.store.keep_partial, work, partial.model_dump_json())
            plans.append((work, partial, retry.get(item_id, [])))
        await self._submit(plans, round_no=job.round + 1)
        await self.offload(self.store.finish_offline_job, job.id)

    async def _settle(self, line: OfflineLine, outcome: CallOutcome) -> None:
        await self.offload(self.store.settle_call, line.reservation, outcome)

    async def _save(self, labeler: Labeler, work: WorkItem, view: Any, partial: PartialLabel) -> None:
        # Routed like an online label: the team's calibration fit, the blind audit, pilots.
        routing = await self.offload(
            routing_for, self.store, work.team, work.project or work.task, labeler.guideline
        )
        record = labeler.record(
            work.item_id, view, partial.samples, partial.usage,
            calibration=routing.fit, audit=routing.audit, pilot=work.pilot,
        )
        await self.offload(self.store.save_label, work, record, ())
