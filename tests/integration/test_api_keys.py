"""Key lifecycle through the real server and CLI: list, create, revoke, rotate, expiry, last use.

Finding 7: keys could not be listed, revoked or expired. Revocation must take
effect on the very next request, with no cache to wait out.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmlabel.store import Role, Store
from tests.integration.conftest import CLI, REPO_ROOT, Processes, service_env, wait_until

pytestmark = pytest.mark.integration

Headers = dict[str, str]


def bearer(key: str) -> Headers:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(redis_url: str, fake_provider: str, tmp_path: Path,
           processes: Processes) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=processes.api(service_env(redis_url, fake_provider, tmp_path)),
                      timeout=30) as http:
        yield http


def works(client: httpx.Client, key: str) -> int:
    return client.get("/v1/whoami", headers=bearer(key)).status_code


def test_operators_list_create_and_revoke_their_teams_keys(client: httpx.Client,
                                                           store: Store) -> None:
    operator = store.create_api_key(team="k1", role=Role.OPERATOR, name="ops")
    store.create_api_key(team="k2", role=Role.SUBMITTER, name="other-team")
    created = client.post("/v1/keys", json={"role": "submitter", "name": "pipeline"},
                          headers=bearer(operator))
    assert created.status_code == 201, created.text
    new = created.json()
    assert new["key"].startswith("llk_") and new["state"] == "active"
    assert new["created_by"] == "k1/ops"
    assert works(client, new["key"]) == 200

    listed = client.get("/v1/keys", headers=bearer(operator)).json()
    assert {k["name"] for k in listed["keys"]} == {"ops", "pipeline"}, "another team's key shown"
    assert all("key" not in k and k["team"] == "k1" for k in listed["keys"])
    mine = next(k for k in listed["keys"] if k["name"] == "pipeline")
    assert mine["last_used_at"] is not None

    revoked = client.delete(f"/v1/keys/{new['key_id']}", headers=bearer(operator))
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    # The very next request is refused.
    refused = client.get("/v1/whoami", headers=bearer(new["key"]))
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "revoked" in refused.json()["detail"]
    assert new["key_id"] not in {k["key_id"] for k in
                                 client.get("/v1/keys", headers=bearer(operator)).json()["keys"]}
    everything = client.get("/v1/keys", params={"include_revoked": "true"},
                            headers=bearer(operator)).json()["keys"]
    assert next(k for k in everything if k["key_id"] == new["key_id"])["revoked_by"] == "k1/ops"


def test_who_may_manage_keys(client: httpx.Client, store: Store) -> None:
    operator = store.create_api_key(team="k1", role=Role.OPERATOR)
    admin = store.create_api_key(team="k1", role=Role.ADMIN)
    other_admin = store.create_api_key(team="k2", role=Role.ADMIN)
    for role in (Role.SUBMITTER, Role.REVIEWER):
        key = store.create_api_key(team="k1", role=role)
        assert client.get("/v1/keys", headers=bearer(key)).status_code == 403
    # No one gains a role they do not hold: admin keys are an admin's business.
    assert client.post("/v1/keys", json={"role": "admin"},
                       headers=bearer(operator)).status_code == 403
    made = client.post("/v1/keys", json={"role": "admin"}, headers=bearer(admin)).json()
    assert client.delete(f"/v1/keys/{made['key_id']}",
                         headers=bearer(operator)).status_code == 403
    # Another team's key is not found, whatever the caller's role.
    assert client.delete(f"/v1/keys/{made['key_id']}",
                         headers=bearer(other_admin)).status_code == 404
    assert works(client, made["key"]) == 200
    bad = client.post("/v1/keys", json={"role": "submitter", "expires_in_days": 1,
                                        "expires_at": "2030-01-01T00:00:00Z"},
                      headers=bearer(admin))
    assert bad.status_code == 422 and "expires" in bad.text


def test_expiry_and_rotation_with_grace(client: httpx.Client, store: Store) -> None:
    operator = store.create_api_key(team="k1", role=Role.OPERATOR)
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
    short = client.post("/v1/keys", json={"role": "reviewer", "expires_at": soon},
                        headers=bearer(operator)).json()
    assert works(client, short["key"]) == 200
    wait_until(lambda: works(client, short["key"]) == 401, timeout_s=15,
               what="the key to expire")
    listed = client.get("/v1/keys", headers=bearer(operator)).json()["keys"]
    assert next(k for k in listed if k["key_id"] == short["key_id"])["state"] == "expired"

    old = client.post("/v1/keys", json={"role": "submitter", "name": "etl"},
                      headers=bearer(operator)).json()
    rotated = client.post(f"/v1/keys/{old['key_id']}/rotate", json={"grace_s": 2},
                          headers=bearer(operator))
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert (new["replaces"], new["name"], new["role"]) == (old["key_id"], "etl", "submitter")
    assert works(client, new["key"]) == 200 and works(client, old["key"]) == 200
    wait_until(lambda: works(client, old["key"]) == 401, timeout_s=15,
               what="the grace period to end")
    assert works(client, new["key"]) == 200
    again = client.post(f"/v1/keys/{old['key_id']}/rotate", headers=bearer(operator))
    assert again.status_code == 409


def run_cli(redis_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = service_env(redis_url, "http://unused/v1", tmp_path)
    return subprocess.run([*CLI, "keys", *args], env=env, cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


def test_cli_lists_revokes_and_rotates_keys_of_every_team(
    client: httpx.Client, store: Store, redis_url: str, tmp_path: Path
) -> None:
    made = run_cli(redis_url, tmp_path, "create", "--team", "k3", "--role", "reviewer",
                   "--name", "rev", "--expires-in-days", "30")
    assert made.returncode == 0, made.stderr
    plain = made.stdout.strip().splitlines()[-1]
    store.create_api_key(team="k4", role=Role.SUBMITTER, name="sub")
    listed = run_cli(redis_url, tmp_path, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows: list[dict[str, Any]] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {(r["team"], r["name"]) for r in rows} >= {("k3", "rev"), ("k4", "sub")}
    mine = next(r for r in rows if r["name"] == "rev")
    assert mine["expires_at"] > time.time() + 29 * 86_400
    assert plain not in listed.stdout

    rotated = run_cli(redis_url, tmp_path, "rotate", mine["key_id"])
    assert rotated.returncode == 0, rotated.stderr
    new_plain = rotated.stdout.strip().splitlines()[-1]
    assert works(client, plain) == 401 and works(client, new_plain) == 200
    new_id = next(r["key_id"] for r in (json.loads(line) for line in run_cli(
        redis_url, tmp_path, "list", "--json", "--team", "k3").stdout.splitlines()))
    assert run_cli(redis_url, tmp_path, "revoke", new_id).returncode == 0
    assert works(client, new_plain) == 401
    unknown = run_cli(redis_url, tmp_path, "revoke", "000000000000")
    assert unknown.returncode != 0 and "not found" in unknown.stderr
