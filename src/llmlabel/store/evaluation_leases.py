"""Leases on running gold evaluations, so a worker that dies mid-evaluation leaves nothing stuck.

An evaluation job holds a lease (the sorted set `keys.evaluation_leases()`,
"team|evaluation_id" by expiry) from the moment it marks the evaluation
running, renews it while it works and drops it when it writes the outcome.
The reaper (`Store.reap`, every worker's housekeeping thread) finds leases
that ran out: the evaluation is queued and enqueued again, or failed once its
workers were lost `settings.max_label_attempts` times. An expired lease is
claimed (its expiry pushed on, under WATCH) before anything else, so two
reapers never both act on one.

A job that was only slow, not dead, may still finish after its evaluation was
re-queued: the outcome it writes stands, and the second run finds the
evaluation finished and does nothing.
"""

from __future__ import annotations

import redis

from llmlabel.store import keys
from llmlabel.store.gold import GoldMixin
from llmlabel.store.gold_models import GoldEvaluation

__all__ = ["EvaluationLeasesMixin"]

_FINISHED = ("done", "failed")
# Expired leases taken per reap pass (a pass runs every few seconds).
_REAP_LIMIT = 100


def _member(team: str, evaluation_id: str) -> str:
    return f"{team}|{evaluation_id}"


class EvaluationLeasesMixin(GoldMixin):
    """Start, renew and finish an evaluation under a lease; reap the leases of dead workers."""

    def start_evaluation(self, team: str, evaluation_id: str) -> GoldEvaluation | None:
        """Mark the evaluation running under a new lease; None if it is finished (or gone)."""
        key = keys.gold_evaluation(team, evaluation_id)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    text = self._text(pipe.get(key))
                    if text is None:
                        return None
                    evaluation = GoldEvaluation.model_validate_json(text)
                    if evaluation.state in _FINISHED:
                        return None
                    now = self._now()
                    evaluation.state, evaluation.started_at = "running", now
                    evaluation.attempts += 1
                    pipe.multi()
                    pipe.set(key, evaluation.model_dump_json())
                    pipe.zadd(keys.evaluation_leases(),
                              {_member(team, evaluation_id): now + self.settings.labeling_lease_s})
                    pipe.execute()
                    return evaluation
                except redis.WatchError:
                    continue

    def renew_evaluation(self, team: str, evaluation_id: str) -> bool:
        """Push the lease's expiry on; False when the reaper already took it."""
        until = self._now() + self.settings.labeling_lease_s
        changed = self.redis.zadd(keys.evaluation_leases(),
                                  {_member(team, evaluation_id): until}, xx=True, ch=True)
        return bool(changed)

    def finish_evaluation(self, team: str, evaluation: GoldEvaluation) -> None:
        """Write the evaluation's outcome and drop its lease, in one step."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.gold_evaluation(team, evaluation.id), evaluation.model_dump_json())
            pipe.zrem(keys.evaluation_leases(), _member(team, evaluation.id))
            pipe.execute()

    def reap_evaluations(self) -> tuple[int, int]:
        """Re-queue (or fail) evaluations whose lease ran out; returns (re-queued, failed)."""
        requeued = failed = 0
        due = self._strs(self.redis.zrangebyscore(
            keys.evaluation_leases(), "-inf", self._now(), start=0, num=_REAP_LIMIT))
        for member in due:
            if not self._claim(member):
                continue
            team, _, evaluation_id = member.partition("|")
            outcome = self._requeue_or_fail(team, evaluation_id, member)
            requeued += outcome == "queued"
            failed += outcome == "failed"
        return requeued, failed

    def _claim(self, member: str) -> bool:
        """Take an expired lease by pushing its expiry on (only one reaper can; a reaper that
        dies after this leaves a lease that expires again, for the next one)."""
        leases = keys.evaluation_leases()
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(leases)
                    score = pipe.zscore(leases, member)
                    now = self._now()
                    if score is None or float(score) > now:
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.zadd(leases, {member: now + self.settings.labeling_lease_s})
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def _requeue_or_fail(self, team: str, evaluation_id: str, member: str) -> str:
        """Queue a lost running evaluation again (its job first), or fail it; its new state.

        The job is enqueued before the state changes, so a reaper dying in between
        leaves a running evaluation whose lease expires again, never a queued one
        without a job. A run that started meanwhile (attempts moved on) keeps its lease.
        """
        key = keys.gold_evaluation(team, evaluation_id)
        leases = keys.evaluation_leases()
        text = self._text(self.redis.get(key))
        evaluation = GoldEvaluation.model_validate_json(text) if text else None
        if evaluation is None or evaluation.state != "running":
            self.redis.zrem(leases, member)  # gone, or finished without dropping its lease
            return "gone" if evaluation is None else evaluation.state
        attempts = evaluation.attempts
        retry = attempts < self.settings.max_label_attempts
        if retry:
            self.enqueue_gold_labeling(
                team, evaluation.task, self.gold_ids(team, evaluation.task),
                guideline_version=evaluation.guideline_version,
                prompt_version=evaluation.prompt_version, evaluation_id=evaluation.id,
            )
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    text = self._text(pipe.get(key))
                    current = GoldEvaluation.model_validate_json(text) if text else None
                    if current is None or current.state != "running" or current.attempts != attempts:
                        pipe.unwatch()
                        return current.state if current is not None else "gone"
                    if retry:
                        current.state = "queued"
                    else:
                        current.state, current.finished_at = "failed", self._now()
                        current.error = (f"the worker running it was lost {attempts} time(s) "
                                         f"(killed, or out of memory)")
                    pipe.multi()
                    pipe.set(key, current.model_dump_json())
                    pipe.zrem(leases, member)
                    pipe.execute()
                    return current.state
                except redis.WatchError:
                    continue
