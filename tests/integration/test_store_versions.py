"""Versions, pins, API keys and totals against a real Redis."""

from __future__ import annotations

import pytest

from llmlabel.errors import ConflictError, VersionConflictError
from llmlabel.store import Role, Store

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def test_activate_rollback_and_history(store: Store) -> None:
    assert store.active_versions("ner") == (None, None)
    with pytest.raises(ConflictError):
        store.rollback("ner", actor="op")
    store.activate("ner", guideline_version="v1", prompt_version="v1", actor="op")
    store.activate("ner", guideline_version="v2", prompt_version="v1", actor="op")
    store.activate("ner", guideline_version="v2", prompt_version="v3", actor="op2")
    assert store.active_versions("ner") == ("v2", "v3")
    assert store.rollback("ner", actor="op") == ("v2", "v1")
    assert store.active_versions("ner") == ("v2", "v1")
    assert store.rollback("ner", actor="op") == ("v1", "v1")
    with pytest.raises(ConflictError):
        store.rollback("ner", actor="op")
    assert store.active_versions("ner") == ("v1", "v1")
    history = store.version_history("ner")
    assert [e.action for e in history] == ["version.rollback", "version.rollback"] + [
        "version.activate"
    ] * 3
    assert history[0].before == {"task": "ner", "guideline_version": "v2", "prompt_version": "v1"}
    assert history[0].after == {"task": "ner", "guideline_version": "v1", "prompt_version": "v1"}
    assert history[2].actor == "op2"
    assert store.active_versions("safety") == (None, None)


def test_pin_hash_records_first_use_and_refuses_changes(store: Store) -> None:
    store.pin_hash("guideline", "ner", "v1", "aaa")
    store.pin_hash("guideline", "ner", "v1", "aaa")
    store.pin_hash("prompt", "ner", "v1", "bbb")
    with pytest.raises(VersionConflictError, match="ner/v1"):
        store.pin_hash("guideline", "ner", "v1", "changed")


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
