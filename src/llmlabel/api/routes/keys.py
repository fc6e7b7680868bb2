"""API keys of the caller's team: list, create, revoke, rotate (operators and admins).

An operator manages the team's submitter, reviewer and operator keys; only an
admin key can create, revoke or rotate admin keys (nobody gains a role they do
not hold). Plain keys are shown once, in the response that creates them.
Revocation takes effect on the next request. The CLI (`llmlabel keys ...`)
does the same for every team, with direct access to Redis.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import Operator, StoreDep, actor_of
from llmlabel.api.problems import Problem
from llmlabel.store.apikeys import ApiKey
from llmlabel.store.models import Principal, Role

__all__ = ["router"]

router = api_router(prefix="/v1/keys", tags=["keys"])

_DAY_S = 86_400.0


class KeyCreate(BaseModel):
    """A key to create for the caller's team."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    name: str | None = Field(None, max_length=200, description="Who or what uses it (audit logs)")
    expires_at: datetime | None = Field(None, description="Refused from then on")
    expires_in_days: float | None = Field(None, gt=0, le=3650, description="Or: days from now")

    @model_validator(mode="after")
    def _one_expiry(self) -> KeyCreate:
        if self.expires_at is not None and self.expires_in_days is not None:
            raise ValueError("give expires_at or expires_in_days, not both")
        return self

    def expiry(self, now: float) -> float | None:
        if self.expires_in_days is not None:
            return now + self.expires_in_days * _DAY_S
        return self.expires_at.timestamp() if self.expires_at is not None else None


class KeyRotate(BaseModel):
    """How the old key ends and when the new one expires."""

    model_config = ConfigDict(extra="forbid")

    grace_s: float = Field(default=0.0, ge=0, le=30 * _DAY_S,
                           description="The old key keeps working this long (default: stops now)")
    expires_in_days: float | None = Field(default=None, gt=0, le=3650,
                                          description="The new key's lifetime (default: none)")


class KeyCreated(ApiKey):
    """A new key: the plain `key`, shown only in this response, and its record."""

    key: str = Field(description="The key itself; store it now, it cannot be shown again")
    replaces: str | None = Field(None, description="key_id of the key a rotation replaces")


class KeyList(BaseModel):
    """A page of the team's keys, newest first."""

    keys: list[ApiKey]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


def _may_manage(principal: Principal, role: Role) -> None:
    if role is Role.ADMIN and principal.role is not Role.ADMIN:
        raise Problem(
            403, "only an admin key can create, revoke or rotate admin keys",
            slug="forbidden", extra={"required_role": "admin", "role": principal.role.value},
        )


@router.get("", response_model=KeyList, summary="List the team's API keys")
def list_keys(
    principal: Operator,
    store: StoreDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    include_revoked: Annotated[bool, Query(description="Also revoked keys")] = False,
) -> KeyList:
    """Keys of the caller's team (never the keys themselves), with last use and expiry."""
    found, next_cursor = store.list_keys(principal.team, cursor=cursor, limit=limit,
                                         include_revoked=include_revoked)
    return KeyList(keys=found, next_cursor=next_cursor)


@router.post("", status_code=201, response_model=KeyCreated, summary="Create an API key")
def create_key(principal: Operator, store: StoreDep, body: KeyCreate) -> KeyCreated:
    """A new key of the caller's team; the response is the only time the key is shown."""
    _may_manage(principal, body.role)
    plain, record = store.create_key(
        team=principal.team, role=body.role, name=body.name,
        expires_at=body.expiry(store.now()), created_by=actor_of(principal),
    )
    return KeyCreated(**record.model_dump(), key=plain)


@router.delete("/{key_id}", response_model=ApiKey, summary="Revoke an API key")
def revoke_key(principal: Operator, store: StoreDep, key_id: str) -> ApiKey:
    """Refuse the key from the next request on (its record stays, state revoked)."""
    _may_manage(principal, store.get_key(principal.team, key_id).role)
    return store.revoke_key(principal.team, key_id, actor=actor_of(principal))


@router.post(
    "/{key_id}/rotate", status_code=201, response_model=KeyCreated, summary="Rotate an API key",
    responses={409: {"description": "The key is already revoked or expired"}},
)
def rotate_key(
    principal: Operator, store: StoreDep, key_id: str, response: Response,
    body: KeyRotate | None = None,
) -> KeyCreated:
    """A new key with the same role and name; the old one stops now or after `grace_s`."""
    options = body or KeyRotate()
    _may_manage(principal, store.get_key(principal.team, key_id).role)
    now = store.now()
    plain, record = store.rotate_key(
        principal.team, key_id, actor=actor_of(principal), grace_s=options.grace_s,
        expires_at=now + options.expires_in_days * _DAY_S if options.expires_in_days else None,
    )
    response.headers["Location"] = f"{router.prefix}/{record.key_id}"
    return KeyCreated(**record.model_dump(), key=plain, replaces=key_id)
