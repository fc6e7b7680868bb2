"""Review leases: atomic claim from per-team queues, renew, decide (audited), expiry."""

from __future__ import annotations

import json
import secrets

from llmlabel.domain import ItemState
from llmlabel.errors import LabelValidationError, LeaseError, NotFoundError
from llmlabel.review_priority import RECENT_CLAIMS
from llmlabel.routing import reviewer_reason
from llmlabel.store import keys
from llmlabel.store.base import AUDIT_MAX, HISTORY_MAX, item_view, split_item_id
from llmlabel.store.models import Decision, ItemView, Principal, ReviewClaim
from llmlabel.store.second_review import SecondReviewMixin, iso_time

__all__ = ["ReviewMixin"]

# A reviewer's recent buckets only matter while they keep claiming.
_RECENT_TTL_S = 86400


class ReviewMixin(SecondReviewMixin):
    """Claim, renew and decide review items (first and second reviews)."""

    def claim_review(
        self, principal: Principal, *, task: str | None = None, batch_id: str | None = None
    ) -> ReviewClaim | None:
        """Lease the first needs_review item of the team (optionally of a task or batch); None if none.

        First is the oldest, or in a project of `value` review order the lowest
        waiting time less value head start and diversity penalty
        (`review_priority.py`). The pick, the state move and the lease are one
        script, so two reviewers never get the same item; expired leases of the
        team are released first. Items waiting for a second review (see
        `second_review.py`) come first.
        """
        team = principal.team
        if batch_id is not None and not keys.is_batch_id(batch_id):
            return None
        # A batch holds one task: asking for another one matches nothing.
        if (
            batch_id is not None
            and task is not None
            and self._text(self.redis.hget(keys.batch(team, batch_id), "task")) != task
        ):
            return None
        second = self._claim_second(principal, task=task, batch_id=batch_id)
        if second is not None:
            return second
        if batch_id is not None:
            queue = keys.review_queue_batch(team, batch_id)
        elif task is not None:
            queue = keys.review_queue_task(team, task)
        else:
            queue = keys.review_queue(team)
        now = self._now()
        until = now + self.settings.review_lease_s
        token = secrets.token_urlsafe(16)
        reviewer = principal.name or principal.key_id
        item_id = self._run(
            "CLAIM",
            [queue, keys.review_recent(team, reviewer)],
            [
                keys.team_prefix(team),
                now,
                until,
                token,
                reviewer,
                self.settings.review_diversity_penalty_s,
                RECENT_CLAIMS,
                _RECENT_TTL_S,
            ],
        )
        if item_id is None:
            return None
        return self._claim_view(team, item_id)

    def _claim_view(self, team: str, item_id: str) -> ReviewClaim:
        fields = self._hash(keys.item(team, item_id))
        if not fields:
            raise NotFoundError(f"item {item_id} not found")
        view = item_view(item_id, fields)
        if view.state != ItemState.IN_REVIEW or not fields.get("rtoken"):
            raise LeaseError(f"item {item_id} is not held for review")
        return ReviewClaim(
            item_id=item_id,
            batch_id=view.batch_id,
            task=view.task,
            id=view.id,
            input=view.input,
            label=view.label,
            samples=view.samples,
            detail=view.detail,
            confidence=view.confidence,
            reason=reviewer_reason(view.route_reason),
            guideline_version=view.guideline_version,
            prompt_version=view.prompt_version,
            lease_token=fields["rtoken"],
            lease_expires_at=iso_time(float(fields["runtil"])),
        )

    def renew_lease(self, principal: Principal, item_id: str, lease_token: str) -> ReviewClaim:
        """Extend a held lease by settings.review_lease_s from now; LeaseError if expired or foreign."""
        team = principal.team
        self._require_item(team, item_id)
        second = self._is_second(team, item_id, lease_token)
        now = self._now()
        ok = self._run(
            "RENEW_SECOND" if second else "RENEW_REVIEW",
            [],
            [keys.team_prefix(team), item_id, lease_token, now, now + self.settings.review_lease_s],
        )
        if not ok:
            raise LeaseError(f"the review lease on {item_id} is expired or not yours; claim again")
        return (self._second_claim_view if second else self._claim_view)(team, item_id)

    def decide(
        self,
        principal: Principal,
        item_id: str,
        *,
        lease_token: str,
        decision: Decision,
        label: dict | None = None,  # type: ignore[type-arg]
        comment: str | None = None,
    ) -> ItemView:
        """Apply a review decision under a valid lease; audited in the same step.

        approve -> approved (LLM label kept), fix -> fixed (label replaced, source
        "human"), reject -> rejected, skip -> needs_review (lease released, back of
        the queue). LeaseError if the token is wrong or expired. The API validates
        a FIX label with the task first. A second review's lease records the
        decision as the item's second review instead (the first decision stays).
        """
        team = principal.team
        self._require_item(team, item_id)
        if decision == Decision.FIX and label is None:
            raise LabelValidationError("a fix needs the corrected label")
        if self._is_second(team, item_id, lease_token):
            return self._decide_second(
                principal,
                item_id,
                lease_token=lease_token,
                decision=decision,
                label=label,
                comment=comment,
            )
        result = self._run(
            "DECIDE",
            [],
            [
                keys.team_prefix(team),
                item_id,
                lease_token,
                self._now(),
                decision.value,
                json.dumps(label, separators=(",", ":"), ensure_ascii=False)
                if label is not None
                else "",
                comment or "",
                principal.name or principal.key_id,
                AUDIT_MAX,
                "1" if decision != Decision.SKIP and self._draw_second_review(team, item_id) else "0",
                principal.key_id,
                HISTORY_MAX,
            ],
        )
        if result == "missing":
            raise NotFoundError(f"item {item_id} not found")
        if result == "lease":
            raise LeaseError(f"the review lease on {item_id} is expired or not yours; claim again")
        return item_view(item_id, self._hash(keys.item(team, item_id)))

    def _require_item(self, team: str, item_id: str) -> None:
        if not split_item_id(item_id) or not self.redis.exists(keys.item(team, item_id)):
            raise NotFoundError(f"item {item_id} not found")

    def review_queue_depth(self, team: str | None = None) -> int:
        """Items waiting for review (needs_review), for one team or all."""
        if team is not None:
            return int(self.redis.zcard(keys.review_queue(team)))
        return int(
            self._text(self.redis.hget(keys.state_totals(), ItemState.NEEDS_REVIEW.value)) or 0
        )
