"""API keys: created once in plain text, stored and looked up by sha256 only."""

from __future__ import annotations

import hashlib
import secrets

from llmlabel.store import keys
from llmlabel.store.base import StoreBase
from llmlabel.store.models import Principal, Role

__all__ = ["ApiKeysMixin"]

KEY_PREFIX = "llk_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeysMixin(StoreBase):
    """Create and authenticate API keys."""

    def create_api_key(self, *, team: str, role: Role, name: str | None = None) -> str:
        """Create a key for `team` with `role`; returns the plain key once (only its sha256 is kept)."""
        keys.check_team(team)
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        digest = _hash(plain)
        self.redis.hset(
            keys.apikey(digest),
            mapping={
                "key_id": digest[:12],
                "team": team,
                "role": Role(role).value,
                "name": name or "",
                "created_at": repr(self._now()),
            },
        )
        self.redis.sadd(keys.teams(), team)
        return plain

    def authenticate(self, key: str) -> Principal | None:
        """The principal of a plain API key, or None if unknown."""
        if not key.startswith(KEY_PREFIX):
            return None
        fields = self._hash(keys.apikey(_hash(key)))
        if not fields:
            return None
        return Principal(
            key_id=fields["key_id"],
            team=fields["team"],
            role=Role(fields["role"]),
            name=fields["name"] or None,
        )
