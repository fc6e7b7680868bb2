"""API keys, audit and totals against a real Redis (projects and versions: test_store_projects)."""

from __future__ import annotations

import pytest

from llmlabel.store import Role, Store

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def test_api_keys_are_stored_hashed(store: Store) -> None:
    key = store.create_api_key(team="acme", role=Role.REVIEWER, name="alice")
    who = store.authenticate(key)
    assert (
        who is not None and who.team == "acme" and who.role == Role.REVIEWER and who.name == "alice"
    )
    assert store.authenticate(key + "x") is None
    assert store.authenticate("nonsense") is None
    # The plain key is nowhere in Redis.
    for k in store.redis.scan_iter("*"):
        assert key not in k
        if store.redis.type(k) == "hash":
            assert key not in store.redis.hgetall(k).values()
    nameless = store.authenticate(store.create_api_key(team="acme", role=Role.ADMIN))
    assert nameless is not None and nameless.name is None and nameless.key_id != who.key_id


def test_bad_team_names_are_refused(store: Store) -> None:
    from llmlabel.errors import InputError

    with pytest.raises(InputError):
        store.create_api_key(team="a|b", role=Role.ADMIN)
    with pytest.raises(InputError):
        store.create_api_key(team="", role=Role.ADMIN)


def test_ping_and_empty_totals(store: Store) -> None:
    assert store.ping()
    assert set(store.state_totals().values()) == {0}
    assert store.audit_events("acme") == []
