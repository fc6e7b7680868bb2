"""The worker side of the store: labeling leases, the one atomic label write, and the reaper."""

from __future__ import annotations

import json
import secrets
from collections import defaultdict

import redis

from llmlabel.domain import ItemState, LabelRecord, PartialLabel, Route
from llmlabel.store import keys
from llmlabel.store.base import StoreBase, batch_info
from llmlabel.store.models import BatchInfo, ReapReport, WorkItem, latency_bucket

__all__ = ["LabelingMixin"]

_REAP_LIMIT = 1000
_MAX_ERROR_CHARS = 2000


class LabelingMixin(StoreBase):
    """Begin, renew, save and fail labeling; reap what dead workers left behind."""

    def begin_labeling(self, team: str, item_ids: list[str]) -> list[WorkItem]:
        """Move queued items to labeling under one fresh lease; items in any other state are skipped.

        This is what makes jobs idempotent: a second run of the same job (or a
        duplicate job) finds the items labeling, labeled or in review and skips them.
        """
        if not item_ids:
            return []
        token = secrets.token_hex(12)
        now = self._now()
        claimed: list[str] = self._run(
            "BEGIN",
            [keys.labeling_leases()],
            [
                keys.team_prefix(team),
                team,
                now,
                now + self.settings.labeling_lease_s,
                token,
                *item_ids,
            ],
        )
        batch_fields = ["batch", "id", "task", "input", "gv", "pv", "attempts", "partial"]
        with self.redis.pipeline(transaction=False) as pipe:
            for item_id in claimed:
                pipe.hmget(keys.item(team, item_id), batch_fields)
            rows = pipe.execute()
        return [
            WorkItem(
                item_id=item_id,
                team=team,
                batch_id=batch_id,
                id=client_id,
                task=task,
                input=json.loads(input_json),
                guideline_version=gv or None,
                prompt_version=pv or None,
                lease_token=token,
                attempts=int(attempts),
                partial=PartialLabel.model_validate_json(partial) if partial else None,
            )
            for item_id, (batch_id, client_id, task, input_json, gv, pv, attempts, partial) in zip(
                claimed, rows, strict=True
            )
        ]

    def renew_labeling(self, team: str, items: list[WorkItem]) -> int:
        """Extend the labeling leases still held by these items; returns how many were extended."""
        if not items:
            return 0
        token = items[0].lease_token
        until = self._now() + self.settings.labeling_lease_s
        return int(
            self._run(
                "RENEW_LABELING",
                [keys.labeling_leases()],
                [keys.team_prefix(team), team, until, token, *(w.item_id for w in items)],
            )
        )

    def save_label(self, work: WorkItem, record: LabelRecord) -> bool:
        """Write label, state, batch counters and usage in one step; False if the lease was lost.

        auto_accepted when the record's route is "accept", else needs_review (and
        into the team's review queues).
        """
        state = ItemState.AUTO_ACCEPTED if record.route == Route.ACCEPT else ItemState.NEEDS_REVIEW
        usage = record.usage
        done = self._run(
            "SAVE",
            [keys.labeling_leases()],
            [
                keys.team_prefix(work.team),
                work.team,
                work.item_id,
                work.lease_token,
                self._now(),
                state.value,
                record.model_dump_json(),
                json.dumps(record.label, separators=(",", ":"), ensure_ascii=False),
                usage.calls,
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_tokens,
                repr(usage.cost_usd),
                repr(record.duration_s),
                latency_bucket(record.duration_s),
            ],
        )
        return bool(done)

    def fail_item(self, work: WorkItem, error: str) -> bool:
        """Mark an item failed with its error; False if the lease was lost."""
        done = self._run(
            "FAIL",
            [keys.labeling_leases()],
            [
                keys.team_prefix(work.team),
                work.team,
                work.item_id,
                work.lease_token,
                self._now(),
                error[:_MAX_ERROR_CHARS],
            ],
        )
        return bool(done)

    def reap(self) -> ReapReport:
        """Housekeeping, safe to run from every worker at once.

        Re-queues (and enqueues again) items whose labeling lease expired, fails
        items that lost their worker `settings.max_label_attempts` times, dispatches
        batches whose jobs were never confirmed enqueued, and returns expired
        review leases to needs_review.
        """
        report = ReapReport()
        while True:
            now = self._now()
            failed, members = self._run(
                "REAP_LABELING",
                [keys.labeling_leases()],
                [
                    keys.ROOT,
                    now,
                    now + self.settings.labeling_lease_s,
                    self.settings.max_label_attempts,
                    _REAP_LIMIT,
                ],
            )
            report.failed += int(failed)
            by_team: dict[str, list[str]] = defaultdict(list)
            for member in members:
                team, _, item_id = member.partition("|")
                by_team[team].append(item_id)
            for team, ids in by_team.items():
                report.requeued += len(ids)
                report.jobs_enqueued += self._enqueue(team, ids)
            if len(members) + int(failed) < _REAP_LIMIT:
                break
        report.jobs_enqueued += self._dispatch_stalled()
        report.reservations_reaped = self.reap_spend()  # type: ignore[attr-defined]
        for team in self._strs(list(self.redis.smembers(keys.teams()))):
            report.review_released += int(
                self._run("RELEASE_REVIEWS", [], [keys.team_prefix(team), self._now()])
            )
        return report

    def pop_callbacks(self, *, limit: int = 100) -> list[tuple[BatchInfo, str]]:
        """Take batches whose labeling finished and that asked for a callback: (info, url).

        Each finish is handed out once (at most once: a worker that dies while
        posting loses that callback).
        """
        out: list[tuple[BatchInfo, str]] = []
        for _ in range(limit):
            member = self._text(self.redis.lpop(keys.callbacks()))
            if member is None:
                break
            team, _, batch_id = member.partition("|")
            fields = self._hash(keys.batch(team, batch_id))
            if "task" not in fields:
                continue  # deleted since
            info = batch_info(team, batch_id, fields)
            if info.callback_url:
                out.append((info, info.callback_url))
        return out

    def _dispatch_stalled(self) -> int:
        """Enqueue the queued items of batches whose submitter died before enqueueing them."""
        jobs = 0
        for member in self._strs(self.redis.zrangebyscore(keys.dispatch(), "-inf", self._now())):
            # ZREM decides which reaper dispatches it, when several run at once.
            if not self.redis.zrem(keys.dispatch(), member):
                continue
            team, _, batch_id = member.partition("|")
            queued = keys.batch_state(team, batch_id, ItemState.QUEUED.value)
            ids = self._strs(self.redis.zrange(queued, 0, -1))
            try:
                jobs += self._enqueue(team, ids)
            except redis.RedisError:
                self.redis.zadd(keys.dispatch(), {member: self._now()})
                raise
        return jobs
