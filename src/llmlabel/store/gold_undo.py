"""Undo of a decision on a gold item, answered exactly like an item's undo.

A reviewer must not tell gold items from real ones: a gold decision leaves an
undo record (`keys.gold_undo`) and a history entry shaped like any decision's,
and its undo gives the gold item back under a new lease with the LLM label it
showed, takes the decision out of the reviewer's gold score, and audits it, in
one script (`GOLD_UNDO`).
"""

from __future__ import annotations

import json
import secrets

from llmlabel.domain import ItemState
from llmlabel.errors import ConflictError, NotFoundError
from llmlabel.store import keys
from llmlabel.store.base import AUDIT_MAX, HISTORY_MAX
from llmlabel.store.gold_models import GoldLease
from llmlabel.store.gold_review import GoldReviewMixin
from llmlabel.store.models import AuditEvent, ItemView, Principal
from llmlabel.store.review_models import UndoResult

__all__ = ["GoldUndoMixin"]


class GoldUndoMixin(GoldReviewMixin):
    """Undo gold decisions; what the reviewer's history shows of gold items."""

    def undo_gold(self, principal: Principal, item_id: str) -> UndoResult:
        """Take back the caller's last decision on a gold item (see the module docstring)."""
        team = principal.team
        record_key = keys.gold_undo(team, principal.key_id, item_id)
        text = self._text(self.redis.get(record_key))
        fields = self._hash(keys.gold(team, item_id))
        if text is None or not fields:
            raise ConflictError(
                f"item {item_id} has no decision of yours to undo: only the last decision on "
                "an item, made with this key, can be undone"
            )
        record = json.loads(text)
        old = GoldLease.model_validate(record["lease"])
        now = self._now()
        lease = old.model_copy(update={"token": secrets.token_urlsafe(16),
                                       "until": now + self.settings.review_lease_s})
        shown = self._record_for(team, lease)
        if shown is None:
            raise NotFoundError(f"item {item_id} not found")
        before = {"state": record["state"], "label": record["label"]}
        after = {"state": ItemState.IN_REVIEW.value, "label": lease.label}
        actor = principal.name or principal.key_id
        audit = AuditEvent(at=now, actor=actor, action="gold.review.undo", item_id=item_id,
                           before=before, after=after).model_dump_json()
        history = AuditEvent(at=now, actor=actor, action="review.undo", item_id=item_id,
                             before=before, after=after).model_dump_json()
        code = self._run(
            "GOLD_UNDO",
            [record_key, keys.gold_scores(team), keys.gold_lease(team, lease.token),
             keys.team_audit(team), keys.review_history(team, principal.key_id)],
            [f"{lease.task}\t{lease.reviewer}\tn", f"{lease.task}\t{lease.reviewer}\tok", now,
             self.settings.undo_window_s, lease.model_dump_json(), self._lease_ttl_ms(), audit,
             history, AUDIT_MAX, HISTORY_MAX],
        )
        if code == "expired":
            raise ConflictError(
                f"the decision on {item_id} is older than the undo window "
                f"({self.settings.undo_window_s} s)"
            )
        if code != "ok":
            raise ConflictError(f"item {item_id} has no decision of yours to undo")
        claim = self._gold_claim(lease, fields, shown)
        item = ItemView(
            item_id=item_id, id=claim.id, batch_id=claim.batch_id, task=claim.task,
            state=ItemState.IN_REVIEW, input=claim.input, label=claim.label, source="llm",
            confidence=claim.confidence, route_reason=claim.reason, samples=claim.samples,
            detail=claim.detail, guideline_version=claim.guideline_version,
            prompt_version=claim.prompt_version, attempts=1, label_writes=1, reviewer=actor,
            updated_at=now,
        )
        return UndoResult(item=item, claim=claim)

    def gold_history_fields(
        self, team: str, key_id: str, item_ids: list[str]
    ) -> dict[str, tuple[str | None, str | None, float | None]]:
        """(task, client id, decided_at of the undoable decision) of the gold ids among `item_ids`."""
        out: dict[str, tuple[str | None, str | None, float | None]] = {}
        for item_id in item_ids:
            fields = self._strs(self.redis.hmget(keys.gold(team, item_id), ["task", "id"]))
            if fields[0] is None:
                continue
            text = self._text(self.redis.get(keys.gold_undo(team, key_id, item_id)))
            out[item_id] = (fields[0], fields[1], float(json.loads(text)["at"]) if text else None)
        return out
