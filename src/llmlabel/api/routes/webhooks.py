"""The team's webhook signing secret (operators): read it to verify deliveries, rotate it.

Every delivery to a batch's `callback_url` carries `Llmlabel-Timestamp` and
`Llmlabel-Signature: v1=<hex>`, the HMAC-SHA256 of `"{timestamp}." + body` under
this secret (README, "Webhooks"). Rotating takes effect on the next attempt.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import Operator, StoreDep, actor_of
from llmlabel.store.webhooks import WebhookSecret
from llmlabel.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER

__all__ = ["router"]

router = api_router(prefix="/v1/webhooks", tags=["webhooks"])


class WebhookSecretPublic(BaseModel):
    """The secret that signs the team's webhook deliveries, and how it is applied."""

    secret: str
    created_at: float
    algorithm: str = Field(default="HMAC-SHA256", description='Over "{timestamp}." + the raw body')
    signature_header: str = SIGNATURE_HEADER
    timestamp_header: str = TIMESTAMP_HEADER

    @classmethod
    def of(cls, secret: WebhookSecret) -> WebhookSecretPublic:
        return cls(secret=secret.secret, created_at=secret.created_at)


@router.get("/secret", response_model=WebhookSecretPublic, summary="The webhook signing secret")
def get_secret(principal: Operator, store: StoreDep) -> WebhookSecretPublic:
    """The team's signing secret (made on first use), for receivers to verify deliveries."""
    return WebhookSecretPublic.of(store.webhook_secret(principal.team))


@router.post(
    "/secret/rotate", response_model=WebhookSecretPublic, summary="Replace the signing secret"
)
def rotate_secret(principal: Operator, store: StoreDep) -> WebhookSecretPublic:
    """A new signing secret; deliveries from now on are signed with it (audited)."""
    return WebhookSecretPublic.of(
        store.rotate_webhook_secret(principal.team, actor=actor_of(principal))
    )
