"""Webhook deliveries and signing secrets: the queue the delivery threads work from.

When a batch's labeling finishes, the item transition scripts push
"team|batch" on `keys.callbacks()`. `promote_callbacks` turns each into a
delivery record due now; a delivery thread `claim_deliveries` (a lease: if the
thread dies, the delivery is due again when the lease runs out), sends, and
`finish_delivery` records the attempt: delivered, failed for good, or pending
with the time of the next try. Every worker process runs a delivery thread;
they share the queue. See `llmlabel.delivery` for the sending side.
"""

from __future__ import annotations

import json

from pydantic import BaseModel

from llmlabel.errors import NotFoundError
from llmlabel.store import keys
from llmlabel.store.base import AUDIT_MAX, StoreBase
from llmlabel.store.models import AuditEvent
from llmlabel.webhooks import new_secret

__all__ = ["Delivery", "WebhookSecret", "WebhooksMixin"]

# Delivered or failed records stay this long for inspection; the batch keeps the outcome.
_KEEP_FINISHED_S = 30 * 24 * 3600


class WebhookSecret(BaseModel):
    """A team's webhook signing secret."""

    secret: str
    created_at: float


class Delivery(BaseModel):
    """One webhook delivery a thread holds: where to, for which batch, attempts so far."""

    team: str
    id: str
    batch_id: str
    url: str
    event: str
    attempts: int
    created_at: float
    body: str | None = None


class WebhooksMixin(StoreBase):
    """Team signing secrets and the delivery queue."""

    def webhook_secret(self, team: str) -> WebhookSecret:
        """The team's signing secret, made on first use."""
        key = keys.webhook_secret(keys.check_team(team))
        # HSETNX: two first uses at once agree on one secret.
        self.redis.hsetnx(key, "secret", new_secret())
        self.redis.hsetnx(key, "created_at", repr(self._now()))
        fields = self._hash(key)
        return WebhookSecret(secret=fields["secret"], created_at=float(fields["created_at"]))

    def rotate_webhook_secret(self, team: str, *, actor: str) -> WebhookSecret:
        """Replace the team's signing secret (deliveries from now on use the new one); audited."""
        now = self._now()
        secret = WebhookSecret(secret=new_secret(), created_at=now)
        event = AuditEvent(at=now, actor=actor, action="webhook.secret.rotate")
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.webhook_secret(keys.check_team(team)),
                      mapping={"secret": secret.secret, "created_at": repr(now)})
            pipe.lpush(keys.team_audit(team), event.model_dump_json())
            pipe.ltrim(keys.team_audit(team), 0, AUDIT_MAX - 1)
            pipe.execute()
        return secret

    def promote_callbacks(self, *, limit: int = 100) -> int:
        """Turn batches whose labeling just finished into deliveries due now; returns how many."""
        return int(self._run(
            "WEBHOOK_PROMOTE",
            [keys.callbacks(), keys.webhooks_due(), keys.webhook_seq()],
            [keys.ROOT, self._now(), limit],
        ))

    def claim_deliveries(self, *, limit: int, lease_s: float) -> list[Delivery]:
        """Lease up to `limit` due deliveries to the caller for `lease_s` seconds."""
        if limit <= 0:
            return []
        now = self._now()
        members = self._strs(self._run(
            "WEBHOOK_CLAIM", [keys.webhooks_due()], [keys.ROOT, now, now + lease_s, limit]
        ))
        out: list[Delivery] = []
        for member in members:
            team, _, delivery_id = member.partition("|")
            fields = self._hash(keys.webhook_delivery(team, delivery_id))
            if not fields:
                continue
            out.append(Delivery(
                team=team, id=delivery_id, batch_id=fields["batch"], url=fields["url"],
                event=fields.get("event", "batch.labeled"), attempts=int(fields["attempts"]),
                created_at=float(fields["created_at"]), body=fields.get("body"),
            ))
        return out

    def delivery_body(self, delivery: Delivery, body: str) -> str:
        """Keep the first attempt's body, so every retry sends (and signs) the same bytes."""
        key = keys.webhook_delivery(delivery.team, delivery.id)
        self.redis.hsetnx(key, "body", body)
        stored = self._text(self.redis.hget(key, "body"))
        if stored is None:
            raise NotFoundError(f"delivery {delivery.id} is gone")
        return stored

    def finish_delivery(
        self,
        delivery: Delivery,
        *,
        state: str,
        attempts: int,
        status: int | None,
        error: str | None,
        next_at: float | None = None,
    ) -> None:
        """Record one attempt: state "delivered", "failed" (for good) or "pending" (retry at next_at)."""
        self._run(
            "WEBHOOK_FINISH",
            [keys.webhooks_due()],
            [
                keys.ROOT, delivery.team, delivery.id, state, attempts,
                "" if status is None else status, (error or "")[:500], self._now(),
                "" if next_at is None else repr(next_at), _KEEP_FINISHED_S,
            ],
        )

    def delivery_record(self, team: str, delivery_id: str) -> dict[str, object]:
        """A delivery's stored fields (tests and support), the body parsed."""
        fields: dict[str, object] = dict(self._hash(keys.webhook_delivery(team, delivery_id)))
        if not fields:
            raise NotFoundError(f"delivery {delivery_id} not found")
        if isinstance(fields.get("body"), str):
            fields["body"] = json.loads(str(fields["body"]))
        return fields
