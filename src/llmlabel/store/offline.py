"""Provider batches in flight (offline mode): their records, the poll schedule, long labeling leases.

An offline job is one provider batch: its lines (custom id, item, sample
indices, reservation, attempts) and the items it carries (their labeling
leases, held until the provider answers). Polls are due by a sorted set; taking
a due job pushes its next poll forward in the same step, so concurrent
housekeepers never poll one job twice at once.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from llmlabel.store import keys
from llmlabel.store.base import StoreBase
from llmlabel.store.models import WorkItem

__all__ = ["OfflineJob", "OfflineLine", "OfflineMixin"]

_TAKE_DUE = """
-- KEYS: due set. ARGV: now, next poll, limit. Returns the job ids taken.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""


class OfflineLine(BaseModel):
    """One request of a provider batch: which samples of which item it draws."""

    custom_id: str
    item_id: str
    variant: int
    indices: list[int]
    reservation: str
    attempts: int = 1


class OfflineJob(BaseModel):
    """One provider batch in flight."""

    id: str
    team: str
    batch_id: str
    provider_batch: str
    round: int
    created_at: float
    lines: list[OfflineLine]
    work: list[WorkItem] = Field(default_factory=list)


class OfflineMixin(StoreBase):
    """Keep offline jobs, schedule their polls, hold their items' leases."""

    def save_offline_job(self, job: OfflineJob, *, poll_at: float) -> None:
        """Store a job and schedule its first poll."""
        with self.redis.pipeline() as pipe:
            pipe.set(keys.offline_job(job.id), job.model_dump_json())
            pipe.zadd(keys.offline_due(), {job.id: poll_at})
            pipe.execute()

    def get_offline_job(self, job_id: str) -> OfflineJob | None:
        """A job, or None once it was collected."""
        text = self._text(self.redis.get(keys.offline_job(job_id)))
        return OfflineJob.model_validate_json(text) if text else None

    def finish_offline_job(self, job_id: str) -> None:
        """Forget a collected job."""
        with self.redis.pipeline() as pipe:
            pipe.delete(keys.offline_job(job_id))
            pipe.zrem(keys.offline_due(), job_id)
            pipe.execute()

    def take_due_offline_jobs(self, *, every_s: float, limit: int = 100) -> list[str]:
        """Jobs due for a poll now; each is next due `every_s` later (if this poll is lost)."""
        now = self._now()
        script = self.redis.register_script(_TAKE_DUE)
        return self._strs(script(keys=[keys.offline_due()], args=[now, now + every_s, limit]))

    def hold_labeling(self, items: list[WorkItem], until: float) -> int:
        """Extend these items' labeling leases to `until` (a provider batch may take 24 h)."""
        if not items:
            return 0
        triples = [x for w in items for x in (w.team, w.item_id, w.lease_token)]
        return int(
            self._run("RENEW_LABELING", [keys.labeling_leases()], [keys.ROOT, until, *triples])
        )

    def batch_modes(self, team: str, batch_ids: list[str]) -> dict[str, str]:
        """"sync" or "offline" for each batch id."""
        unique = sorted(set(batch_ids))
        with self.redis.pipeline(transaction=False) as pipe:
            for batch_id in unique:
                pipe.hget(keys.batch(team, batch_id), "mode")
            rows = pipe.execute()
        return {b: (m or "sync") for b, m in zip(unique, rows, strict=True)}

    def keep_partial(self, work: WorkItem, partial_json: str) -> None:
        """Write what an item drew so far (between provider batches)."""
        self.redis.hset(keys.item(work.team, work.item_id), "partial", partial_json)
