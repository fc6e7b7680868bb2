"""Gold items in the review queue: a share of claims gets a gold item, and its decision scores the reviewer.

When a reviewer claims and real work waits in the queue asked for, then with
probability `settings.gold_share` the claim returns one of the team's gold
items of that task instead (never the same gold item twice to one reviewer,
only gold items the LLM has labeled, never for a claim filtered by batch).
The claim looks like any other: the item id is batch-shaped and the label is
the LLM's label of it (the active versions' record if there is one, else the
latest). The decision changes no batch: it deletes the gold lease and counts
the reviewer's label right or wrong against the known label. Whether it is
right is judged by the API with the task (`Task.is_correct`); the store only
counts.
"""

from __future__ import annotations

import json
import random
import secrets
from typing import Any

from llmlabel.domain import ItemState, LabelRecord, Usage
from llmlabel.errors import LeaseError
from llmlabel.routing import reviewer_reason
from llmlabel.store import keys
from llmlabel.store.base import AUDIT_MAX, HISTORY_MAX, StoreBase
from llmlabel.store.gold import record_project, versions_field
from llmlabel.store.gold_models import GoldLease, GoldScore
from llmlabel.store.models import AuditEvent, Decision, ItemView, Principal, ReviewClaim
from llmlabel.store.second_review import iso_time

__all__ = ["GoldReviewMixin"]

_STATE_AFTER = {
    Decision.APPROVE: ItemState.APPROVED,
    Decision.FIX: ItemState.FIXED,
    Decision.REJECT: ItemState.REJECTED,
    Decision.SKIP: ItemState.NEEDS_REVIEW,
}


def _reviewer(principal: Principal) -> str:
    return principal.name or principal.key_id


class GoldReviewMixin(StoreBase):
    """Claim, renew and decide gold items standing in review queues; reviewer scores."""

    def claim_gold(
        self, principal: Principal, *, task: str | None = None, batch_id: str | None = None
    ) -> ReviewClaim | None:
        """A gold item for this claim (see the module docstring), or None for a normal claim."""
        share = self.settings.gold_share
        # The draw comes first: most claims then cost no extra Redis call.
        if batch_id is not None or random.random() >= share:
            return None
        team = principal.team
        # Gold only stands in for real work: the queue claimed from must hold some.
        queue = keys.review_queue_task(team, task) if task else keys.review_queue(team)
        head = self._strs(self.redis.zrange(queue, 0, 0))
        if not head:
            return None
        if task is None:
            task = self._text(self.redis.hget(keys.item(team, head[0]), "task"))
            if task is None:
                return None
        reviewer = _reviewer(principal)
        seen = keys.gold_seen(team, reviewer)
        candidates = self._strs(list(self.redis.sdiff([keys.gold_ready(team, task), seen])))
        random.shuffle(candidates)
        for gold_id in candidates:
            # SADD decides between two claims of one reviewer racing for the same gold item.
            if not self.redis.sadd(seen, gold_id):
                continue
            claim = self._lease_gold(team, task, gold_id, reviewer)
            if claim is not None:
                return claim
        return None

    def _shown_record(self, team: str, task: str, gold_id: str) -> LabelRecord | None:
        """The LLM record a reviewer sees: the active versions' one, else the latest one saved."""
        gv, pv = self.active_pair(team, task)
        records = keys.gold_records(team, gold_id)
        field = versions_field(task, gv, pv) if gv and pv else None
        text = self._text(self.redis.hget(records, field)) if field else None
        if text is None:
            shown = self._text(self.redis.hget(keys.gold(team, gold_id), "shown"))
            text = self._text(self.redis.hget(records, shown)) if shown else None
        return LabelRecord.model_validate_json(text) if text else None

    def _lease_gold(self, team: str, task: str, gold_id: str, reviewer: str) -> ReviewClaim | None:
        record = self._shown_record(team, task, gold_id)
        fields = self._hash(keys.gold(team, gold_id))
        if record is None or not fields:
            return None
        lease = GoldLease(
            token=secrets.token_urlsafe(16),
            item_id=gold_id,
            task=task,
            reviewer=reviewer,
            label=record.label,
            guideline_version=record.guideline_version,
            prompt_version=record.prompt_version,
            until=self._now() + self.settings.review_lease_s,
            project=record_project(record),
        )
        self.redis.set(
            keys.gold_lease(team, lease.token), lease.model_dump_json(), px=self._lease_ttl_ms()
        )
        return self._gold_claim(lease, fields, record)

    def _lease_ttl_ms(self) -> int:
        # Expiry is judged by `until` on the store's clock, as for other leases; the
        # Redis TTL (a minute longer) only collects leases nobody decided.
        return int((self.settings.review_lease_s + 60) * 1000)

    @staticmethod
    def _gold_claim(lease: GoldLease, fields: dict[str, str], record: LabelRecord) -> ReviewClaim:
        return ReviewClaim(
            item_id=lease.item_id,
            batch_id=lease.item_id.rpartition(":")[0],
            task=lease.task,
            id=fields["id"],
            input=json.loads(fields["input"]),
            label=record.label,
            samples=record.samples,
            detail=record.detail,
            confidence=record.confidence,
            reason=reviewer_reason(record.reason),
            guideline_version=record.guideline_version,
            prompt_version=record.prompt_version,
            lease_token=lease.token,
            lease_expires_at=iso_time(lease.until),
        )

    def is_gold_batch(self, team: str, batch_id: str) -> bool:
        """True if `batch_id` is the hidden batch id of one of the team's gold uploads."""
        # Every upload numbers its items from 0, and gold_known keeps deleted ones too.
        return bool(self.redis.sismember(keys.gold_known(team), f"{batch_id}:0"))

    def is_gold_id(self, team: str, item_id: str) -> bool:
        """True if `item_id` names one of the team's gold items (even one deleted since)."""
        return bool(self.redis.sismember(keys.gold_known(team), item_id))

    def gold_lease(self, principal: Principal, item_id: str, lease_token: str) -> GoldLease:
        """The caller's live lease on a gold item; LeaseError if expired, decided or not theirs."""
        text = self._text(self.redis.get(keys.gold_lease(principal.team, lease_token)))
        lease = GoldLease.model_validate_json(text) if text else None
        if (
            lease is None
            or lease.item_id != item_id
            or lease.reviewer != _reviewer(principal)
            or lease.until <= self._now()
        ):
            raise LeaseError(f"the review lease on {item_id} is expired or not yours; claim again")
        return lease

    def renew_gold(self, principal: Principal, item_id: str, lease_token: str) -> ReviewClaim:
        """Extend a gold lease by settings.review_lease_s from now."""
        team = principal.team
        lease = self.gold_lease(principal, item_id, lease_token)
        lease.until = self._now() + self.settings.review_lease_s
        renewed = self.redis.set(
            keys.gold_lease(team, lease.token),
            lease.model_dump_json(),
            px=self._lease_ttl_ms(),
            xx=True,
        )
        record = self._record_for(team, lease)
        fields = self._hash(keys.gold(team, item_id))
        if not renewed or record is None or not fields:
            raise LeaseError(f"the review lease on {item_id} is expired or not yours; claim again")
        return self._gold_claim(lease, fields, record)

    def _record_for(self, team: str, lease: GoldLease) -> LabelRecord | None:
        field = versions_field(
            lease.project or lease.task, lease.guideline_version or "", lease.prompt_version or ""
        )
        text = self._text(self.redis.hget(keys.gold_records(team, lease.item_id), field))
        return LabelRecord.model_validate_json(text) if text else None

    def decide_gold(
        self,
        principal: Principal,
        lease: GoldLease,
        *,
        decision: Decision,
        reviewer_label: dict[str, Any] | None,
        correct: bool | None,
        comment: str | None = None,
    ) -> ItemView:
        """End a gold lease: count the decision (unless skip or `correct` is None) once.

        Returns the item as a decision on a normal item would, so the reviewer's
        client sees nothing different. LeaseError if the lease is gone.
        """
        team = principal.team
        reviewer = _reviewer(principal)
        scored = "" if decision == Decision.SKIP or correct is None else ("1" if correct else "0")
        event = ""
        if decision != Decision.SKIP:
            event = AuditEvent(
                at=self._now(),
                actor=reviewer,
                action=f"gold.review.{decision.value}",
                item_id=lease.item_id,
                before={"label": lease.label},
                after={"label": reviewer_label, "correct": correct},
                comment=comment,
            ).model_dump_json()
        undo, history = self._gold_undo_record(principal, lease, decision, reviewer_label, scored,
                                               comment)
        done = self._run(
            "GOLD_DECIDE",
            [keys.gold_lease(team, lease.token), keys.gold_scores(team), keys.team_audit(team),
             keys.gold_undo(team, principal.key_id, lease.item_id),
             keys.review_history(team, principal.key_id)],
            [
                f"{lease.task}\t{reviewer}\tn",
                f"{lease.task}\t{reviewer}\tok",
                scored,
                event,
                AUDIT_MAX,
                undo,
                # Kept a day past the window: a late undo says "too late", as an item's does.
                int((self.settings.undo_window_s + 86400) * 1000),
                history,
                HISTORY_MAX,
            ],
        )
        if not done:
            raise LeaseError(
                f"the review lease on {lease.item_id} is expired or not yours; claim again"
            )
        fields = self._hash(keys.gold(team, lease.item_id))
        record = self._record_for(team, lease)
        return ItemView(
            item_id=lease.item_id,
            id=fields.get("id", ""),
            batch_id=lease.item_id.rpartition(":")[0],
            task=lease.task,
            state=_STATE_AFTER[decision],
            input=json.loads(fields["input"]) if fields else {},
            label=reviewer_label if decision == Decision.FIX else lease.label,
            source="human" if decision == Decision.FIX else "llm",
            confidence=record.confidence if record else None,
            route_reason=record.reason if record else None,
            samples=record.samples if record else [],
            detail=record.detail if record else {},
            guideline_version=lease.guideline_version,
            prompt_version=lease.prompt_version,
            model=record.model if record else None,
            backend=record.backend if record else None,
            usage=record.usage if record else Usage(),
            attempts=1,
            label_writes=1,
            reviewer=None if decision == Decision.SKIP else reviewer,
            review_comment=comment if decision != Decision.SKIP else None,
            updated_at=self._now(),
        )

    def _gold_undo_record(
        self,
        principal: Principal,
        lease: GoldLease,
        decision: Decision,
        reviewer_label: dict[str, Any] | None,
        scored: str,
        comment: str | None,
    ) -> tuple[str, str]:
        """(undo record, history event) of a gold decision; ('', '') for a skip."""
        if decision == Decision.SKIP:
            return "", ""
        now = self._now()
        shown = reviewer_label if decision == Decision.FIX else lease.label
        history = AuditEvent(
            at=now,
            actor=_reviewer(principal),
            action=f"review.{decision.value}",
            item_id=lease.item_id,
            before={"state": ItemState.IN_REVIEW.value, "label": lease.label},
            after={"state": _STATE_AFTER[decision].value, "label": shown},
            comment=comment or None,
        ).model_dump_json()
        record = json.dumps({"at": now, "scored": scored, "state": _STATE_AFTER[decision].value,
                             "label": shown, "lease": lease.model_dump(mode="json")})
        return record, history

    def gold_scores(self, team: str) -> list[GoldScore]:
        """Every reviewer's gold decisions per task, sorted by reviewer then task."""
        raw = self._hash(keys.gold_scores(team))
        counts: dict[tuple[str, str], dict[str, int]] = {}
        for field, value in raw.items():
            task, _, rest = field.partition("\t")
            reviewer, _, kind = rest.rpartition("\t")
            counts.setdefault((reviewer, task), {"n": 0, "ok": 0})[kind] = int(value)
        return [
            GoldScore(reviewer=reviewer, task=task, n=c["n"], correct=c["ok"])
            for (reviewer, task), c in sorted(counts.items())
        ]
