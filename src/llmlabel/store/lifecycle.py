"""The data lifecycle: deleting a batch with everything made for it, and retention periods.

`delete_batch` first unpublishes the batch in one script (`BATCH_DELETE`): from
then on no route shows it and no worker or reviewer can change it, since every
transition checks the batch record. Its items (inputs, labels, samples, review
fields), state sets, review and second-review queue entries, labeling leases
and ready list are removed next, in chunks, as are the review decisions about
its items in the team's audit log and reviewers' histories; the audit log keeps
one tombstone (`batch.delete`: who, when, task, how many items), written by the
unpublishing script itself. A deleter that
dies half-way leaves the batch in `keys.purges()`, where `finish_purges` (run by
every worker, `llmlabel.upkeep`) completes it.

A team's retention period expires batches that are done (every item final)
and were submitted longer ago than the period; unfinished batches wait.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from llmlabel.domain import ItemState
from llmlabel.errors import InputError, NotFoundError
from llmlabel.store import keys
from llmlabel.store.base import AUDIT_MAX, StoreBase, batch_info
from llmlabel.store.models import AuditEvent

__all__ = ["DeletedBatch", "LifecycleMixin", "Retention"]

_CHUNK = 1000
# A purge older than this is taken over by any worker (its deleter is presumably gone).
_PURGE_TAKEOVER_S = 120.0
# Batches looked at per team in one retention pass (oldest first).
_RETENTION_SCAN = 200


class DeletedBatch(BaseModel):
    """What a deletion removed."""

    batch_id: str
    task: str
    items: int
    deleted_at: float
    deleted_by: str


class Retention(BaseModel):
    """A team's retention period (None: batches are kept until deleted)."""

    team: str
    days: float | None
    set_at: float | None = None
    set_by: str | None = None


class LifecycleMixin(StoreBase):
    """Delete batches, finish interrupted deletions, keep and apply retention periods."""

    def delete_batch(self, team: str, batch_id: str, *, actor: str) -> DeletedBatch:
        """Remove a batch and everything made for it; NotFoundError if there is none."""
        if not keys.is_batch_id(batch_id):
            raise NotFoundError(f"batch {batch_id} not found")
        now = self._now()
        found = self._run(
            "BATCH_DELETE",
            [keys.batch(team, batch_id), keys.batches(team), keys.dispatch(), keys.purges(),
             keys.state_totals(), keys.team_audit(team)],
            [keys.team_prefix(team), team, batch_id, now, actor, AUDIT_MAX],
        )
        if not found:
            raise NotFoundError(f"batch {batch_id} not found")
        task, total, version = str(found[0]), int(found[1]), str(found[2])
        self._purge(team, batch_id, total, task, version)
        return DeletedBatch(batch_id=batch_id, task=task, items=total, deleted_at=now,
                            deleted_by=actor)

    def _purge(self, team: str, batch_id: str, total: int, task: str, version: str) -> None:
        """Remove what an unpublished batch left: queue entries, items, decisions about them."""
        member = f"{team}|{batch_id}|{total}|{task}|{version}"
        prefix = f"{batch_id}:"
        # Every item of a batch shares its project (items stored before projects: the task's).
        project = self._text(self.redis.hget(keys.item(team, f"{batch_id}:0"), "proj")) or task
        leases = keys.labeling_leases()
        for state in (ItemState.NEEDS_REVIEW, ItemState.IN_REVIEW, ItemState.LABELING):
            ids = self._strs(self.redis.zrange(keys.batch_state(team, batch_id, state.value),
                                               0, -1))
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                with self.redis.pipeline(transaction=False) as pipe:
                    if state is ItemState.NEEDS_REVIEW:
                        pipe.zrem(keys.review_queue(team), *chunk)
                        pipe.zrem(keys.review_queue_task(team, task), *chunk)
                    elif state is ItemState.IN_REVIEW:
                        pipe.zrem(keys.review_leases(team), *chunk)
                    else:
                        pipe.zrem(leases, *(f"{team}|{i}" for i in chunk))
                    pipe.execute()
        second = self._strs(self.redis.zrange(keys.review2_queue_batch(team, batch_id), 0, -1))
        held = [m for m in self._strs(self.redis.zrange(keys.review2_leases(team), 0, -1))
                if m.startswith(prefix)]
        with self.redis.pipeline(transaction=False) as pipe:
            if second:
                pipe.zrem(keys.review2_queue(team), *second)
                pipe.zrem(keys.review2_queue_task(team, task), *second)
            if held:
                pipe.zrem(keys.review2_leases(team), *held)
            pipe.delete(keys.review2_queue_batch(team, batch_id))
            pipe.execute()
        for start in range(0, total, _CHUNK):
            # The calibration index of the batch's guideline version lists its items too.
            ids = [f"{batch_id}:{i}" for i in range(start, min(start + _CHUNK, total))]
            self.redis.zrem(keys.calibration_items(team, project, version), *ids)
        self.redis.zrem(keys.team_spend_scopes(team), f"batch:{batch_id}")
        # A relabel batch's link to the batch it relabeled (its comparison).
        self.redis.delete(keys.relabel(team, batch_id))
        self._drop_pool_examples(team, batch_id, project, total)
        self._delete_items(team, batch_id, total)  # type: ignore[attr-defined]
        self._scrub_decisions(team, batch_id)
        self.redis.zrem(keys.purges(), member)

    def _drop_pool_examples(self, team: str, batch_id: str, project: str, total: int) -> None:
        """Take the batch's items out of its project's example pool, edited or not.

        A reviewed item enters the pool with its input (`pool_add`); a deletion
        request covers that copy too.
        """
        if total == 0:
            return
        removed = 0
        for start in range(0, total, _CHUNK):
            ids = [f"{batch_id}:{i}" for i in range(start, min(start + _CHUNK, total))]
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.zrem(keys.pool_ids(team, project), *ids)
                pipe.hdel(keys.pool(team, project), *ids)
                pipe.hdel(keys.pool_flags(team, project), *ids)
                removed += int(pipe.execute()[0])
        if removed:
            self.redis.incr(keys.pool_rev(team, project))  # workers reload the snapshot

    def _scrub_decisions(self, team: str, batch_id: str) -> None:
        """Drop audit and review-history entries about the batch's items (they hold labels)."""
        needle = f'"item_id":"{batch_id}:'
        lists = [keys.team_audit(team)]
        lists += [str(k) for k in self.redis.scan_iter(match=keys.review_history(team, "*"),
                                                       count=500)]
        for key in lists:
            self._run("AUDIT_SCRUB", [key], [needle])

    def finish_purges(self) -> int:
        """Complete deletions whose deleter stopped half-way; returns how many."""
        cutoff = self._now() - _PURGE_TAKEOVER_S
        done = 0
        for member in self._strs(self.redis.zrangebyscore(keys.purges(), "-inf", cutoff,
                                                          start=0, num=20)):
            team, batch_id, total, task, version = member.split("|", 4)
            # Taking it over: the score moves on, so two workers rarely purge it at once
            # (and if they do, every step is idempotent).
            self.redis.zadd(keys.purges(), {member: self._now()})
            self._purge(team, batch_id, int(total), task, version)
            done += 1
        return done

    # -- retention ---------------------------------------------------------------

    def set_retention(self, team: str, days: float | None, *, actor: str) -> Retention:
        """Expire the team's finished batches older than `days` (None: keep them); audited."""
        if days is not None and not 0 < days <= 36_500:
            raise InputError("days: must be more than 0 and at most 36500 (or null)",
                             field="days")
        now = self._now()
        with self.redis.pipeline(transaction=True) as pipe:
            if days is None:
                pipe.hdel(keys.retention(), team, f"{team}|meta")
            else:
                pipe.hset(keys.retention(), mapping={
                    team: repr(days * 86_400.0), f"{team}|meta": f"{now!r}|{actor}"})
            pipe.execute()
        event = AuditEvent(at=now, actor=actor, action="retention.set", after={"days": days})
        self._audit(team, event.model_dump_json())
        return self.retention(team)

    def retention(self, team: str) -> Retention:
        """The team's retention period."""
        seconds, meta = self._strs(self.redis.hmget(keys.retention(), [team, f"{team}|meta"]))
        if not seconds:
            return Retention(team=team, days=None)
        set_at, _, set_by = (meta or "|").partition("|")
        return Retention(team=team, days=float(seconds) / 86_400.0,
                         set_at=float(set_at) if set_at else None, set_by=set_by or None)

    def expire_batches(self, *, limit: int = 5) -> list[tuple[str, str]]:
        """Delete up to `limit` done batches past their team's retention; (team, batch_id)s."""
        periods = self._hash(keys.retention())
        expired: list[tuple[str, str]] = []
        for team, seconds in periods.items():
            if "|" in team:
                continue
            cutoff = self._now() - float(seconds)
            ids = self._strs(self.redis.zrangebyscore(keys.batches(team), "-inf", cutoff,
                                                      start=0, num=_RETENTION_SCAN))
            for batch_id in self._done(team, ids):
                if len(expired) >= limit:
                    return expired
                try:
                    self.delete_batch(team, batch_id, actor="retention")
                except NotFoundError:
                    continue  # another worker expired it first
                expired.append((team, batch_id))
        return expired

    def _done(self, team: str, batch_ids: Sequence[str]) -> list[str]:
        with self.redis.pipeline(transaction=False) as pipe:
            for batch_id in batch_ids:
                pipe.hgetall(keys.batch(team, batch_id))
            rows = pipe.execute()
        return [b for b, fields in zip(batch_ids, rows, strict=True)
                if "task" in fields and batch_info(team, b, fields).state == "done"]
