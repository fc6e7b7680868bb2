"""Active guideline/prompt versions per task (with history and rollback), content pins, audit."""

from __future__ import annotations

import json

from llmlabel.domain import ItemState
from llmlabel.errors import ConflictError
from llmlabel.guidelines import check_pinned
from llmlabel.store import keys
from llmlabel.store.base import StoreBase
from llmlabel.store.models import AuditEvent, LlmTotals

__all__ = ["VersionsMixin"]

_HISTORY_MAX = 1000

# Pop the current pair and re-activate the one below it, in one step.
_ROLLBACK = """
if redis.call('LLEN', KEYS[2]) < 2 then return false end
redis.call('LPOP', KEYS[2])
local pair = redis.call('LINDEX', KEYS[2], 0)
local tab = string.find(pair, '\\t', 1, true)
redis.call('HSET', KEYS[1], 'gv', string.sub(pair, 1, tab - 1), 'pv', string.sub(pair, tab + 1))
return pair
"""


class VersionsMixin(StoreBase):
    """Activate, roll back and pin guideline/prompt versions; read audit logs and totals."""

    def activate(
        self, task: str, *, guideline_version: str, prompt_version: str, actor: str
    ) -> None:
        """Make a version pair active for a task (audited, kept in history)."""
        before_gv, before_pv = self.active_versions(task)
        event = AuditEvent(
            at=self._now(),
            actor=actor,
            action="version.activate",
            before={"task": task, "guideline_version": before_gv, "prompt_version": before_pv},
            after={
                "task": task,
                "guideline_version": guideline_version,
                "prompt_version": prompt_version,
            },
        )
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.version_active(task), mapping={"gv": guideline_version, "pv": prompt_version}
            )
            pipe.lpush(keys.version_stack(task), f"{guideline_version}\t{prompt_version}")
            pipe.ltrim(keys.version_stack(task), 0, _HISTORY_MAX - 1)
            pipe.lpush(keys.version_history(task), event.model_dump_json())
            pipe.ltrim(keys.version_history(task), 0, _HISTORY_MAX - 1)
            pipe.execute()

    def rollback(self, task: str, *, actor: str) -> tuple[str, str]:
        """Re-activate the previous pair; ConflictError if there is none. Returns the pair now active."""
        before_gv, before_pv = self.active_versions(task)
        script = self.redis.register_script(_ROLLBACK)
        pair = script(keys=[keys.version_active(task), keys.version_stack(task)])
        if pair is None:
            raise ConflictError(f"task {task!r} has no earlier activated version to roll back to")
        gv, _, pv = pair.partition("\t")
        event = AuditEvent(
            at=self._now(),
            actor=actor,
            action="version.rollback",
            before={"task": task, "guideline_version": before_gv, "prompt_version": before_pv},
            after={"task": task, "guideline_version": gv, "prompt_version": pv},
        )
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(keys.version_history(task), event.model_dump_json())
            pipe.ltrim(keys.version_history(task), 0, _HISTORY_MAX - 1)
            pipe.execute()
        return gv, pv

    def version_history(self, task: str) -> list[AuditEvent]:
        """Activations and rollbacks of a task, newest first."""
        rows = self.redis.lrange(keys.version_history(task), 0, -1)
        return [AuditEvent.model_validate_json(row) for row in rows]

    def pin_hash(self, kind: str, task: str, version: str, content_hash: str) -> None:
        """Record a version's content hash on first use; VersionConflictError if it changed since."""
        field = f"{kind}:{task}:{version}"
        if self.redis.hsetnx(keys.pins(), field, content_hash):
            return
        check_pinned(
            kind, task, version, content_hash, self._text(self.redis.hget(keys.pins(), field))
        )

    def audit_events(self, team: str, *, limit: int = 100) -> list[AuditEvent]:
        """The team's audit events, newest first."""
        rows = self.redis.lrange(keys.team_audit(team), 0, max(limit, 1) - 1)
        return [AuditEvent.model_validate(json.loads(row)) for row in rows]

    def state_totals(self) -> dict[str, int]:
        """Items per state over all teams (every ItemState present), for /metrics."""
        raw = self._hash(keys.state_totals())
        return {s.value: int(raw.get(s.value, 0)) for s in ItemState}

    def llm_totals(self) -> LlmTotals:
        """LLM calls, tokens, cost (the spend ledger) and labeling-time histogram, for /metrics."""
        raw = self._hash(keys.state_totals())
        ledger = self._hash(keys.spend_total())
        return LlmTotals(
            calls=int(ledger.get("requests", 0)),
            failed_calls=int(ledger.get("failed", 0)),
            cache_hits=int(ledger.get("cache_hits", 0)),
            prompt_tokens=int(ledger.get("prompt_tokens", 0)),
            completion_tokens=int(ledger.get("completion_tokens", 0)),
            cached_tokens=int(ledger.get("cached_tokens", 0)),
            cost_usd=round(float(ledger.get("cost_usd", 0.0)), 9),
            latency_sum_s=float(raw.get("lat:sum", 0.0)),
            latency_buckets={
                field.removeprefix("lat:le:"): int(value)
                for field, value in raw.items()
                if field.startswith("lat:le:")
            },
        )
