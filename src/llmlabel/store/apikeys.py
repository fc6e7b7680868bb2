"""API keys: created once in plain text, stored and looked up by sha256 only; listed,
revoked, rotated and expired.

A key's record lives under its hash (`keys.apikey`); `key_id` (the hash's first
12 hex digits) is how people name it, mapped back by `keys.apikey_ids`.
Revoking marks the record, so every later request with the key is refused
(authentication reads Redis on each request: no cache to wait out); the record
stays for listings and audits. `last_used_at` is written at most once a minute
per key, so authentication stays one read on the hot path.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, Literal, cast

from pydantic import BaseModel, Field

from llmlabel.errors import ConflictError, NotFoundError
from llmlabel.store import keys
from llmlabel.store.base import StoreBase
from llmlabel.store.models import AuditEvent, Principal, Role
from llmlabel.store.paging import zset_page

__all__ = ["KEY_PREFIX", "ApiKey", "ApiKeysMixin"]

KEY_PREFIX = "llk_"
# last_used_at is refreshed when older than this (one write per key per minute at most).
_LAST_USED_EVERY_S = 60.0


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _number(value: str | None) -> float | None:
    return float(value) if value else None


class ApiKey(BaseModel):
    """What is known about a key (never the key itself)."""

    key_id: str
    team: str
    role: Role
    name: str | None = None
    created_at: float
    created_by: str | None = None
    expires_at: float | None = Field(None, description="Refused from then on (None: never)")
    last_used_at: float | None = Field(None, description="Last request, to the minute")
    revoked_at: float | None = None
    revoked_by: str | None = None
    replaced_by: str | None = Field(None, description="key_id of the key a rotation made")
    state: Literal["active", "expired", "revoked"]


def _api_key(fields: dict[str, str], now: float) -> ApiKey:
    expires_at = _number(fields.get("expires_at"))
    revoked_at = _number(fields.get("revoked_at"))
    state: Literal["active", "expired", "revoked"] = "active"
    if revoked_at is not None and revoked_at <= now:
        state = "revoked"
    elif expires_at is not None and expires_at <= now:
        state = "expired"
    return ApiKey(
        key_id=fields["key_id"],
        team=fields["team"],
        role=Role(fields["role"]),
        name=fields.get("name") or None,
        created_at=float(fields.get("created_at") or 0.0),
        created_by=fields.get("created_by") or None,
        expires_at=expires_at,
        last_used_at=_number(fields.get("last_used_at")),
        revoked_at=revoked_at,
        revoked_by=fields.get("revoked_by") or None,
        replaced_by=fields.get("replaced_by") or None,
        state=state,
    )


class ApiKeysMixin(StoreBase):
    """Create, authenticate, list, revoke and rotate API keys."""

    def create_api_key(
        self,
        *,
        team: str,
        role: Role,
        name: str | None = None,
        expires_at: float | None = None,
        created_by: str | None = None,
    ) -> str:
        """Create a key for `team` with `role`; returns the plain key once (only its sha256 is kept)."""
        return self.create_key(team=team, role=role, name=name, expires_at=expires_at,
                               created_by=created_by)[0]

    def create_key(
        self,
        *,
        team: str,
        role: Role,
        name: str | None = None,
        expires_at: float | None = None,
        created_by: str | None = None,
    ) -> tuple[str, ApiKey]:
        """Create a key; (the plain key, shown only now, and its record). Audited."""
        keys.check_team(team)
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        digest = _hash(plain)
        now = self._now()
        fields: dict[str, str] = {
            "key_id": digest[:12],
            "team": team,
            "role": Role(role).value,
            "name": name or "",
            "created_at": repr(now),
            "created_by": created_by or "",
            "expires_at": "" if expires_at is None else repr(expires_at),
        }
        event = AuditEvent(at=now, actor=created_by or "cli", action="key.create",
                           after={"key_id": digest[:12], "role": fields["role"],
                                  "name": name, "expires_at": expires_at})
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.apikey(digest), mapping=cast("dict[Any, Any]", fields))
            pipe.zadd(keys.team_apikeys(team), {digest: now})
            pipe.zadd(keys.apikeys(), {digest: now})
            pipe.hset(keys.apikey_ids(), digest[:12], digest)
            pipe.sadd(keys.teams(), team)
            pipe.execute()
        self._audit(team, event.model_dump_json())
        return plain, _api_key(fields, now)

    def authenticate(self, key: str) -> Principal | None:
        """The principal of a plain API key; None if unknown, revoked or expired."""
        if not key.startswith(KEY_PREFIX):
            return None
        digest = _hash(key)
        fields = self._hash(keys.apikey(digest))
        if not fields:
            return None
        now = self._now()
        if _api_key(fields, now).state != "active":
            return None
        last = _number(fields.get("last_used_at"))
        if last is None or now - last >= _LAST_USED_EVERY_S:
            self.redis.hset(keys.apikey(digest), "last_used_at", repr(now))
        return Principal(
            key_id=fields["key_id"],
            team=fields["team"],
            role=Role(fields["role"]),
            name=fields["name"] or None,
        )

    def _index_old_keys(self) -> None:
        """Index keys made before keys were indexed (once; later keys index themselves)."""
        marker = f"{keys.apikeys()}:indexed"
        if self.redis.exists(marker):
            return
        for key in self.redis.scan_iter(match=keys.apikey("*"), count=500):
            digest = str(key).rpartition(":")[2]
            fields = self._hash(str(key))
            if not fields.get("key_id") or not fields.get("team"):
                continue
            created = float(fields.get("created_at") or 0.0)
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(keys.team_apikeys(fields["team"]), {digest: created}, nx=True)
                pipe.zadd(keys.apikeys(), {digest: created}, nx=True)
                pipe.hsetnx(keys.apikey_ids(), fields["key_id"], digest)
                pipe.execute()
        self.redis.set(marker, "1")

    def list_keys(
        self,
        team: str | None,
        *,
        cursor: str | None = None,
        limit: int = 50,
        include_revoked: bool = False,
    ) -> tuple[list[ApiKey], str | None]:
        """A page of keys, newest first: one team's, or every team's (None; the CLI)."""
        self._index_old_keys()
        index = keys.team_apikeys(team) if team is not None else keys.apikeys()
        now = self._now()
        out: list[ApiKey] = []
        next_cursor = cursor
        while len(out) < limit:
            page, next_cursor = zset_page(self.redis, index, cursor=next_cursor,
                                          limit=limit - len(out))
            with self.redis.pipeline(transaction=False) as pipe:
                for digest, _ in page:
                    pipe.hgetall(keys.apikey(digest))
                rows = pipe.execute()
            out.extend(key for key in (_api_key(f, now) for f in rows if f)
                       if include_revoked or key.state != "revoked")
            if next_cursor is None:
                break
        return out, next_cursor

    def _key_fields(self, team: str | None, key_id: str) -> tuple[str, dict[str, str]]:
        self._index_old_keys()
        digest = self._text(self.redis.hget(keys.apikey_ids(), key_id))
        fields = self._hash(keys.apikey(digest)) if digest else {}
        if not fields or (team is not None and fields.get("team") != team):
            raise NotFoundError(f"API key {key_id} not found")
        assert digest is not None
        return digest, fields

    def get_key(self, team: str | None, key_id: str) -> ApiKey:
        """One key of `team` (any team: None); NotFoundError otherwise."""
        return _api_key(self._key_fields(team, key_id)[1], self._now())

    def revoke_key(self, team: str | None, key_id: str, *, actor: str,
                   at: float | None = None) -> ApiKey:
        """Refuse the key from the next request on (or from `at`); audited. Idempotent."""
        digest, fields = self._key_fields(team, key_id)
        now = self._now()
        when = now if at is None else at
        if not fields.get("revoked_at") or float(fields["revoked_at"]) > when:
            self.redis.hset(keys.apikey(digest),
                            mapping={"revoked_at": repr(when), "revoked_by": actor})
            event = AuditEvent(at=now, actor=actor, action="key.revoke",
                               after={"key_id": key_id, "effective_at": when})
            self._audit(fields["team"], event.model_dump_json())
        return self.get_key(team, key_id)

    def rotate_key(
        self,
        team: str | None,
        key_id: str,
        *,
        actor: str,
        grace_s: float = 0.0,
        expires_at: float | None = None,
    ) -> tuple[str, ApiKey]:
        """A new key with the old one's team, role and name; the old one stops after `grace_s`."""
        digest, fields = self._key_fields(team, key_id)
        old = _api_key(fields, self._now())
        if old.state != "active":
            raise ConflictError(f"API key {key_id} is {old.state}; create a new key instead")
        plain, new = self.create_key(team=old.team, role=old.role, name=old.name,
                                     expires_at=expires_at, created_by=actor)
        self.redis.hset(keys.apikey(digest), "replaced_by", new.key_id)
        self.revoke_key(team, key_id, actor=actor, at=self._now() + max(grace_s, 0.0))
        return plain, new
