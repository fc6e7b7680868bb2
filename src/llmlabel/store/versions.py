"""Audit logs and service-wide totals.

Versions used to be global here (an active pair per task, content pins); they are
per team and project now, in `store.projects`.
"""

from __future__ import annotations

import json

from llmlabel.domain import ItemState
from llmlabel.store import keys
from llmlabel.store.base import StoreBase
from llmlabel.store.models import AuditEvent, LlmTotals

__all__ = ["VersionsMixin"]


class VersionsMixin(StoreBase):
    """Read audit logs and totals (projects and their versions live in `store.projects`)."""

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
