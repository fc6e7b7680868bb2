"""Reading a team's audit log: newest first, filtered, in cursor pages.

The log is a Redis list with the newest event at the head (`keys.team_audit`).
A cursor counts positions from the tail, which new events (pushed at the head)
do not move, so pages stay stable while the team works; only trimming at
`AUDIT_MAX` can make a page skip the oldest events. Filters are applied while
scanning, at most `_SCAN` events per request: a page can come back short (or
empty) with a `next_cursor`, and the client keeps going.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from llmlabel.store import keys
from llmlabel.store.base import StoreBase
from llmlabel.store.models import AuditEvent
from llmlabel.store.paging import decode_cursor, encode_cursor

__all__ = ["AuditFilter", "AuditMixin"]

_SCAN = 5000
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events a query keeps (None: any)."""

    actor: str | None = None
    action: str | None = None
    """An action ("review.approve") or a prefix ending in "." ("review.")."""
    batch_id: str | None = None
    since: float | None = None
    until: float | None = None

    def keeps(self, event: AuditEvent) -> bool:
        if self.actor is not None and event.actor != self.actor:
            return False
        if self.action is not None and not (
            event.action == self.action
            or (self.action.endswith(".") and event.action.startswith(self.action))
        ):
            return False
        if self.since is not None and event.at < self.since:
            return False
        if self.until is not None and event.at > self.until:
            return False
        return self.batch_id is None or self.batch_id in _batches_of(event)


def _batches_of(event: AuditEvent) -> set[str]:
    found = {event.batch_id} if event.batch_id else set()
    if event.item_id and ":" in event.item_id:
        found.add(event.item_id.rpartition(":")[0])
    for side in (event.before, event.after):
        if side and isinstance(side.get("batch_id"), str):
            found.add(side["batch_id"])
    return found


class AuditMixin(StoreBase):
    """Query the team's audit log."""

    def audit_page(
        self, team: str, where: AuditFilter, *, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[AuditEvent], str | None]:
        """Up to `limit` matching events, newest first, and the cursor to continue (None: end)."""
        key = keys.team_audit(team)
        length = int(self.redis.llen(key))
        position = decode_cursor(cursor, keys=("p",), types={"p": int})
        start = 0 if position is None else max(length - int(position["p"]), 0)
        events: list[AuditEvent] = []
        index, older = start, False
        while index < length and index - start < _SCAN and len(events) < limit and not older:
            rows = self._strs(self.redis.lrange(key, index, index + _CHUNK - 1))
            if not rows:
                break
            for row in rows:
                event = _parse(row)
                if event is not None and where.since is not None and event.at < where.since:
                    older = True  # newest first: nothing further down is recent enough
                    break
                index += 1
                if event is not None and where.keeps(event):
                    events.append(event)
                    if len(events) >= limit:
                        break
        more = index < length and not older
        return events, encode_cursor({"p": length - index}) if more else None


def _parse(row: str) -> AuditEvent | None:
    try:
        return AuditEvent.model_validate(json.loads(row))
    except (ValueError, ValidationError):
        return None  # a malformed entry is skipped, never a failed read
