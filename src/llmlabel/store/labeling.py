"""The worker side of the store: fair claims under labeling leases, the one atomic label
write (with the result cache), and the reaper."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence

import redis

from llmlabel.domain import Completion, ItemState, LabelRecord, PartialLabel, Route
from llmlabel.review_priority import review_value
from llmlabel.store import keys
from llmlabel.store.base import StoreBase
from llmlabel.store.models import ReapReport, WorkItem, latency_bucket
from llmlabel.store.spend import Settle, settle_step

__all__ = ["LabelingMixin"]

_REAP_LIMIT = 1000
_MAX_ERROR_CHARS = 2000
_CLAIM_FIELDS = 16


class LabelingMixin(StoreBase):
    """Claim, renew, release, save and fail labeling; reap what dead workers left behind."""

    def claim_labeling(self, limit: int, *, owner: str = "") -> list[WorkItem]:
        """Move up to `limit` queued items (of any teams) to labeling under one fresh lease.

        Teams take turns, and batches within a team by priority weight (see
        `lua_labeling.py`); a worker asks for as many items as it has free slots,
        so what it holds is what it is working on. The lease token starts with
        `owner` (the worker's name), so an operator can tell who holds an item.
        """
        if limit < 1:
            return []
        token = f"{owner}/{secrets.token_hex(12)}" if owner else secrets.token_hex(12)
        now = self._now()
        flat: list[str] = self._run(
            "CLAIM_LABELING",
            [keys.labeling_leases()],
            [keys.ROOT, now, now + self.settings.labeling_lease_s, token, limit],
        )
        out: list[WorkItem] = []
        for i in range(0, len(flat), _CLAIM_FIELDS):
            team, item_id, batch_id, client_id, task, input_json, gv, pv, attempts, partial = flat[
                i : i + 10
            ]
            cache, project, gh, ph, mp, pilot = flat[i + 10 : i + _CLAIM_FIELDS]
            out.append(
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
                    attempts=int(attempts or 0),
                    cache=cache != "0",
                    partial=PartialLabel.model_validate_json(partial) if partial else None,
                    project=project or None,
                    guideline_hash=gh or None,
                    prompt_hash=ph or None,
                    model_profile=mp or None,
                    pilot=pilot == "1",
                )
            )
        return out

    @staticmethod
    def _triples(items: Sequence[WorkItem]) -> list[str]:
        return [x for w in items for x in (w.team, w.item_id, w.lease_token)]

    def renew_labeling(self, items: Sequence[WorkItem]) -> int:
        """Extend the labeling leases these items still hold; returns how many were extended."""
        if not items:
            return 0
        until = self._now() + self.settings.labeling_lease_s
        return int(
            self._run(
                "RENEW_LABELING",
                [keys.labeling_leases()],
                [keys.ROOT, until, *self._triples(items)],
            )
        )

    def release_labeling(self, items: Sequence[WorkItem]) -> int:
        """Hand back items this worker holds but will not finish (it is stopping)."""
        if not items:
            return 0
        return int(
            self._run(
                "RELEASE_LABELING",
                [keys.labeling_leases()],
                [keys.ROOT, self._now(), *self._triples(items)],
            )
        )

    def save_label(
        self,
        work: WorkItem,
        record: LabelRecord,
        cache_writes: Sequence[tuple[str, Completion]] = (),
        settles: Sequence[Settle] = (),
    ) -> bool:
        """Write label, state, batch counters and usage in one step; False if the lease was lost.

        auto_accepted when the record's route is "accept", else needs_review (and
        into the team's review queues; a pilot's labels are all routed to review). `cache_writes` (call digest, completion)
        enter the team's result cache in the same step, so only calls whose label
        was stored are ever reused. The version's calibration counters (labeled,
        accepted by the threshold: audited and pilot labels were) count the label in the same
        step too: once per saved label, never for a refused save. `settles` (the
        spend meter's deferred ones) go first in the same round trip, whatever
        becomes of the save: the calls were made either way.
        """
        state = ItemState.AUTO_ACCEPTED if record.route == Route.ACCEPT else ItemState.NEEDS_REVIEW
        usage = record.usage
        cached = [
            x
            for digest, completion in cache_writes
            for x in (keys.call_cache(work.team, digest), completion.model_dump_json())
        ]
        save = (
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
                usage.cache_hits,
                max(1, int(self.settings.call_cache_ttl_s)),
                keys.calibration_counts(work.team, work.project or work.task,
                                        record.guideline_version),
                int(record.route == Route.ACCEPT or record.audited or record.pilot),
                *self._review_value(work, record, state),
                *cached,
            ],
        )
        if not settles:
            return bool(self._run(*save))
        steps = [*map(settle_step, settles), save]
        return bool(self._run_many(steps)[-1])

    def _review_value(self, work: WorkItem, record: LabelRecord, state: ItemState) -> list[str]:
        """The item's value head start and near-duplicate bucket, for a project in `value` order.

        Computed for every item going to review (the save does not know the project's
        order; the script applies the head start only when it is `value`).
        """
        if state != ItemState.NEEDS_REVIEW:
            return ["0", ""]
        value = review_value(record, work.input)
        return [repr(value.boost_s(self.settings.review_value_horizon_s)), value.bucket]

    def cached_call(self, team: str, digest: str) -> Completion | None:
        """An answered call of this team's result cache, None if absent or expired."""
        raw = self._text(self.redis.get(keys.call_cache(team, digest)))
        return Completion.model_validate_json(raw) if raw else None

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

    def ready_count(self) -> int:
        """Items waiting on the ready lists of all teams (an upper bound: stale entries count)."""
        total = 0
        for team in self._strs(self.redis.zrange(keys.schedule(), 0, -1)):
            batches = self._strs(self.redis.zrange(keys.team_schedule(team), 0, -1))
            with self.redis.pipeline(transaction=False) as pipe:
                for batch_id in batches:
                    pipe.llen(keys.ready(team, batch_id))
                total += sum(int(n) for n in pipe.execute())
        return total

    def reap(self) -> ReapReport:
        """Housekeeping, safe to run from every worker at once.

        Re-queues items whose labeling lease expired (each back onto its batch's
        ready list, to be claimed one free slot at a time), fails items that lost
        their worker `settings.max_label_attempts` times, makes ready the items of
        batches whose submitter died before doing so, and returns expired review
        leases to needs_review.
        """
        report = ReapReport()
        while True:
            failed, requeued, seen = self._run(
                "REAP_LABELING",
                [keys.labeling_leases()],
                [keys.ROOT, self._now(), self.settings.max_label_attempts, _REAP_LIMIT],
            )
            report.failed += int(failed)
            report.requeued += int(requeued)
            if int(seen) < _REAP_LIMIT:
                break
        report.dispatched += self._dispatch_stalled()
        report.reservations_reaped = self.reap_spend()  # type: ignore[attr-defined]
        for team in self._strs(list(self.redis.smembers(keys.teams()))):
            report.review_released += int(
                self._run("RELEASE_REVIEWS", [], [keys.team_prefix(team), self._now()])
            )
        return report

    def _dispatch_stalled(self) -> int:
        """Make ready the queued items of batches whose submitter died before doing so."""
        items = 0
        for member in self._strs(self.redis.zrangebyscore(keys.dispatch(), "-inf", self._now())):
            # ZREM decides which reaper dispatches it, when several run at once.
            if not self.redis.zrem(keys.dispatch(), member):
                continue
            team, _, batch_id = member.partition("|")
            queued = keys.batch_state(team, batch_id, ItemState.QUEUED.value)
            ids = self._strs(self.redis.zrange(queued, 0, -1))
            try:
                items += self._enqueue(team, ids)
            except redis.RedisError:
                self.redis.zadd(keys.dispatch(), {member: self._now()})
                raise
        return items
