"""Review tools of the store: undo a decision, bulk approve, claim a chosen item, history, queue rows."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Any

from llmlabel.domain import ItemState
from llmlabel.errors import ConflictError, NotFoundError
from llmlabel.label_values import label_values
from llmlabel.routing import reviewer_reason
from llmlabel.store import keys
from llmlabel.store.base import AUDIT_MAX, HISTORY_MAX, item_view, split_item_id
from llmlabel.store.gold_undo import GoldUndoMixin
from llmlabel.store.models import AuditEvent, Principal, ReviewClaim
from llmlabel.store.review import ReviewMixin
from llmlabel.store.review_models import (
    BulkApproveResult,
    BulkSkipped,
    HistoryEntry,
    QueueRow,
    UndoResult,
)

__all__ = ["BULK_MAX", "QUEUE_SCAN_MAX", "ReviewToolsMixin"]

BULK_MAX = 1000
"""Items one bulk approve may name."""

QUEUE_SCAN_MAX = 5000
"""Waiting items the list view reads (oldest first); the answer says when there were more."""

_BULK_CHUNK = 200  # items per script call: keeps each atomic step short for other clients
_DECIDED = {ItemState.APPROVED.value, ItemState.FIXED.value, ItemState.REJECTED.value}
_ROW_FIELDS = ["id", "batch", "task", "state", "label", "record", "rsince", "reviewer"]


class ReviewToolsMixin(ReviewMixin, GoldUndoMixin):
    """Undo, bulk approve, claim-by-id, the reviewer's history and the queue as rows."""

    def _actor(self, principal: Principal) -> str:
        return principal.name or principal.key_id

    def undo_decision(self, principal: Principal, item_id: str) -> UndoResult:
        """Take back the caller's own last decision on an item, within `undo_window_s`.

        The item returns to the state it had before (in_review under a fresh lease
        for the caller, or needs_review at its old queue place for a bulk approve),
        with its previous label and source; the audit log gets a `review.undo` event
        next to the decision's. ConflictError when there is nothing of the caller's
        to undo, the window passed, or a second reviewer took the item meanwhile.
        """
        team = principal.team
        if not split_item_id(item_id) or not self.redis.exists(keys.item(team, item_id)):
            if split_item_id(item_id) and self.is_gold_id(team, item_id):
                return self.undo_gold(principal, item_id)
            raise NotFoundError(f"item {item_id} not found")
        now = self._now()
        token = secrets.token_urlsafe(16)
        code, state = self._strs(
            self._run(
                "UNDO",
                [],
                [
                    keys.team_prefix(team),
                    item_id,
                    principal.key_id,
                    now,
                    self.settings.undo_window_s,
                    now + self.settings.review_lease_s,
                    token,
                    self._actor(principal),
                    AUDIT_MAX,
                    HISTORY_MAX,
                ],
            )
        )
        if code == "missing":
            raise NotFoundError(f"item {item_id} not found")
        if code == "none":
            raise ConflictError(
                f"item {item_id} ({state}) has no decision of yours to undo: only the last "
                "decision on an item, made with this key, can be undone"
            )
        if code == "expired":
            raise ConflictError(
                f"the decision on {item_id} is older than the undo window "
                f"({self.settings.undo_window_s} s)"
            )
        if code == "second":
            raise ConflictError(f"a second reviewer has taken {item_id}; it can no longer be undone")
        view = item_view(item_id, self._hash(keys.item(team, item_id)))
        claim = self._claim_view(team, item_id) if state == ItemState.IN_REVIEW.value else None
        return UndoResult(item=view, claim=claim)

    def bulk_approve(
        self, principal: Principal, item_ids: Sequence[str], *, comment: str | None = None
    ) -> BulkApproveResult:
        """Approve each named item still waiting for review, each audited as its own decision."""
        team = principal.team
        wanted = list(dict.fromkeys(item_ids))
        if len(wanted) > BULK_MAX:
            raise ConflictError(f"at most {BULK_MAX} items per bulk approve, not {len(wanted)}")
        codes: dict[str, str] = {i: "missing" for i in wanted if not split_item_id(i)}
        valid = [i for i in wanted if i not in codes]
        for start in range(0, len(valid), _BULK_CHUNK):
            chunk = valid[start : start + _BULK_CHUNK]
            out = self._strs(
                self._run(
                    "BULK_APPROVE",
                    [],
                    [
                        keys.team_prefix(team),
                        self._now(),
                        principal.key_id,
                        self._actor(principal),
                        comment or "",
                        AUDIT_MAX,
                        HISTORY_MAX,
                        *chunk,
                    ],
                )
            )
            codes.update(zip(chunk, out, strict=True))
        approved = [i for i in wanted if codes[i] == "ok"]
        return BulkApproveResult(
            requested=len(wanted),
            approved=len(approved),
            approved_ids=approved,
            skipped=[
                BulkSkipped(item_id=i, reason=codes[i])  # type: ignore[arg-type]
                for i in wanted
                if codes[i] != "ok"
            ],
        )

    def claim_item(self, principal: Principal, item_id: str) -> ReviewClaim | None:
        """Lease one chosen item if it waits for review; None if it does not (any more)."""
        team = principal.team
        if not split_item_id(item_id) or not self.redis.exists(keys.item(team, item_id)):
            raise NotFoundError(f"item {item_id} not found")
        now = self._now()
        claimed = self._run(
            "CLAIM_ITEM",
            [],
            [
                keys.team_prefix(team),
                item_id,
                now,
                now + self.settings.review_lease_s,
                secrets.token_urlsafe(16),
                self._actor(principal),
            ],
        )
        return None if claimed is None else self._claim_view(team, item_id)

    def review_history(self, principal: Principal, *, limit: int = 50) -> list[HistoryEntry]:
        """The caller's own recent decisions and undos, newest first, each marked undoable or not."""
        team = principal.team
        raw = self._strs(
            self.redis.lrange(keys.review_history(team, principal.key_id), 0, max(limit, 1) - 1)
        )
        events = [AuditEvent.model_validate_json(e) for e in raw]
        ids = list(dict.fromkeys(e.item_id for e in events if e.item_id))
        with self.redis.pipeline(transaction=False) as pipe:
            for item_id in ids:
                pipe.hmget(keys.item(team, item_id), ["task", "batch", "id", "state", "dkey", "dat"])
            rows = dict(zip(ids, pipe.execute(), strict=True))
        # Gold items read the same as items here (reviewers must not tell them apart).
        missing = [i for i in ids if rows[i][0] is None]
        for gold_id, (task, client_id, at) in self.gold_history_fields(
            team, principal.key_id, missing
        ).items():
            rows[gold_id] = [task, gold_id.rpartition(":")[0], client_id,
                             "approved" if at is not None else None, principal.key_id, at]
        now = self._now()
        window = self.settings.undo_window_s
        newest: set[str] = set()
        entries = []
        for event in events:
            task, batch, client_id, state, dkey, dat = rows.get(event.item_id or "", [None] * 6)
            # Only the newest event of an item can be its undoable decision.
            first = event.item_id not in newest
            newest.add(event.item_id or "")
            live = (
                first
                and event.action != "review.undo"
                and dkey == principal.key_id
                and state in _DECIDED
                and dat is not None
                and abs(float(dat) - event.at) < 1e-3
            )
            until = event.at + window if live else None
            entries.append(
                HistoryEntry(
                    at=event.at,
                    action=event.action,
                    item_id=event.item_id or "",
                    task=task,
                    batch_id=batch,
                    id=client_id,
                    before=event.before,
                    after=event.after,
                    comment=event.comment,
                    bulk=bool(event.after and event.after.get("bulk")),
                    undoable=until is not None and now <= until,
                    undo_until=until,
                )
            )
        return entries

    def review_queue_rows(
        self, team: str, *, batch_id: str | None = None, task: str | None = None
    ) -> tuple[list[QueueRow], int]:
        """Items waiting for review or held by a reviewer, oldest first; and how many there are."""
        if batch_id is not None and not keys.is_batch_id(batch_id):
            return [], 0
        if batch_id is not None:
            queue = keys.review_queue_batch(team, batch_id)
        elif task is not None:
            queue = keys.review_queue_task(team, task)
        else:
            queue = keys.review_queue(team)
        waiting = self._strs(self.redis.zrange(queue, 0, QUEUE_SCAN_MAX - 1))
        held = self._strs(self.redis.zrange(keys.review_leases(team), 0, QUEUE_SCAN_MAX - 1))
        total = int(self.redis.zcard(queue)) + len(held)
        ids = list(dict.fromkeys([*waiting, *held]))
        with self.redis.pipeline(transaction=False) as pipe:
            for item_id in ids:
                pipe.hmget(keys.item(team, item_id), _ROW_FIELDS)
            fetched = pipe.execute()
        rows = []
        for item_id, values in zip(ids, fetched, strict=True):
            row = _queue_row(item_id, dict(zip(_ROW_FIELDS, values, strict=True)))
            if row is None or (task is not None and row.task != task):
                continue
            if batch_id is not None and row.batch_id != batch_id:
                continue
            rows.append(row)
        rows.sort(key=lambda r: r.waiting_since)
        return rows, max(total, len(rows))


def _queue_row(item_id: str, f: dict[str, Any]) -> QueueRow | None:
    """A row from the item's fields; None for a stale queue entry."""
    if f["state"] not in (ItemState.NEEDS_REVIEW.value, ItemState.IN_REVIEW.value):
        return None
    # The record holds every sample: only its two small fields are read, without a model.
    record = json.loads(f["record"]) if f.get("record") else {}
    label = json.loads(f["label"]) if f.get("label") else None
    return QueueRow(
        item_id=item_id,
        id=f["id"],
        batch_id=f["batch"],
        task=f["task"],
        state=ItemState(f["state"]),
        reason=reviewer_reason(record.get("reason")),
        confidence=record.get("confidence"),
        label=label,
        label_values=label_values(label),
        waiting_since=float(f.get("rsince") or 0.0),
        reviewer=f.get("reviewer") if f["state"] == ItemState.IN_REVIEW.value else None,
    )
