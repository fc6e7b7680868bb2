"""Second reviews: a share of decided items goes once to another reviewer, for reviewer agreement.

After a first decision (approve, fix or reject; not skip), `decide` draws with
probability `settings.double_review_share` (a pilot batch: its own share) whether the item also goes to the
second-review queues (`rq2`). The item keeps its final state, label and batch
counters: the first decision wins, and the second one is only recorded next to
it (`ItemView.second_review`), for `GET /v1/agreement`. A claim looks at the
second-review queue first and never hands an item to the reviewer who made its
first decision; the second reviewer sees the LLM's label, not the first
reviewer's, so the two judgments are independent.
"""

from __future__ import annotations

import json
import random
import secrets
from datetime import UTC, datetime
from typing import Any

from llmlabel.domain import LabelRecord
from llmlabel.errors import LeaseError, NotFoundError
from llmlabel.routing import reviewer_reason
from llmlabel.store import keys
from llmlabel.store.base import AUDIT_MAX, StoreBase, item_view, split_item_id
from llmlabel.store.models import Decision, ItemView, Principal, ReviewClaim

__all__ = ["SecondReviewMixin", "iso_time"]


def iso_time(ts: float) -> str:
    """An epoch time as ISO 8601 (UTC), as leases are shown to clients."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def llm_label(fields: dict[str, str]) -> dict[str, Any] | None:
    """The LLM's consensus label of an item (its record), whatever a reviewer did since."""
    record = fields.get("record")
    return LabelRecord.model_validate_json(record).label if record else None


class SecondReviewMixin(StoreBase):
    """Queue, claim, renew and decide second reviews."""

    def _draw_second_review(self, team: str, item_id: str) -> bool:
        """Whether the item just decided also goes to a second reviewer.

        A pilot batch's own share (`r2share`, set at submit) wins over the setting.
        """
        share = self.settings.double_review_share
        split = split_item_id(item_id)
        if split is not None:
            pilot, own = self.redis.hmget(keys.batch(team, split[0]), ["pilot", "r2share"])
            if self._text(pilot) == "1" and own is not None:
                share = float(self._text(own) or 0.0)
        return share > 0 and random.random() < share

    def _claim_second(
        self, principal: Principal, *, task: str | None, batch_id: str | None
    ) -> ReviewClaim | None:
        """Lease the oldest item waiting for a second review that this reviewer did not decide."""
        team = principal.team
        if batch_id is not None:
            queue = keys.review2_queue_batch(team, batch_id)
        elif task is not None:
            queue = keys.review2_queue_task(team, task)
        else:
            queue = keys.review2_queue(team)
        now = self._now()
        token = secrets.token_urlsafe(16)
        item_id = self._run(
            "CLAIM_SECOND",
            [queue],
            [
                keys.team_prefix(team),
                now,
                now + self.settings.review_lease_s,
                token,
                principal.name or principal.key_id,
            ],
        )
        if item_id is None:
            return None
        return self._second_claim_view(team, item_id)

    def _second_claim_view(self, team: str, item_id: str) -> ReviewClaim:
        fields = self._hash(keys.item(team, item_id))
        if fields.get("r2state") != "in_review" or not fields.get("r2token"):
            raise LeaseError(f"item {item_id} is not held for review")
        view = item_view(item_id, fields)
        return ReviewClaim(
            item_id=item_id,
            batch_id=view.batch_id,
            task=view.task,
            id=view.id,
            input=view.input,
            label=llm_label(fields),
            samples=view.samples,
            detail=view.detail,
            confidence=view.confidence,
            reason=reviewer_reason(view.route_reason),
            guideline_version=view.guideline_version,
            prompt_version=view.prompt_version,
            lease_token=fields["r2token"],
            lease_expires_at=iso_time(float(fields["r2until"])),
        )

    def _is_second(self, team: str, item_id: str, lease_token: str) -> bool:
        """True when `lease_token` is the item's second-review lease (not its first review)."""
        token = self._text(self.redis.hget(keys.item(team, item_id), "r2token"))
        return token is not None and token == lease_token

    def _decide_second(
        self,
        principal: Principal,
        item_id: str,
        *,
        lease_token: str,
        decision: Decision,
        label: dict[str, Any] | None,
        comment: str | None,
    ) -> ItemView:
        """Record a second decision; the item's final state and label do not change."""
        team = principal.team
        fields = self._hash(keys.item(team, item_id))
        if decision == Decision.APPROVE:
            label = llm_label(fields)
        elif decision != Decision.FIX:
            label = None
        result = self._run(
            "DECIDE_SECOND",
            [],
            [
                keys.team_prefix(team),
                item_id,
                lease_token,
                self._now(),
                decision.value,
                _dumps(label),
                comment or "",
                principal.name or principal.key_id,
                AUDIT_MAX,
            ],
        )
        if result == "missing":
            raise NotFoundError(f"item {item_id} not found")
        if result == "lease":
            raise LeaseError(f"the review lease on {item_id} is expired or not yours; claim again")
        return item_view(item_id, self._hash(keys.item(team, item_id)))
