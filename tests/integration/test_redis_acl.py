"""The whole service runs as the README's Redis ACL user, and Redis refuses it nothing.

A redis-server of its own has two users: `admin` (for this test's checks) and
`llmlabel`, made with the `ACL SETUSER` line the README's Security section
gives. The API and workers run as `llmlabel` through a flow that touches every
part of the store: submit (with a webhook), labeling under a shared rate
limit, review, export, gold labeling, keys, the audit log, deletion and
retention. `ACL LOG` must then be empty: the documented command list is
exactly enough.
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from llmlabel.settings import Settings
from llmlabel.store import Role, Store
from tests.integration.conftest import REPO_ROOT, Processes, free_port, service_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def readme_acl() -> list[str]:
    """The ACL rules of the README's `ACL SETUSER llmlabel ...` line."""
    readme = (REPO_ROOT / "README.md").read_text()
    match = re.search(r"^ACL SETUSER llmlabel (.+)$", readme, flags=re.MULTILINE)
    assert match, "README: Security, Redis lost its ACL line"
    return [rule.replace("CHANGE-ME", "service-pw") for rule in shlex.split(match.group(1))]


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[tuple[str, redis.Redis]]:
    port = free_port()
    data = tmp_path / "acl-redis"
    data.mkdir()
    rules = " ".join(readme_acl())
    (data / "redis.conf").write_text(
        f"port {port}\nbind 127.0.0.1\ndir {data}\nsave \"\"\nappendonly no\n"
        "user default off\n"
        "user admin on >admin-pw ~* &* +@all\n"
        f"user llmlabel {rules}\n"
    )
    process = subprocess.Popen(["redis-server", str(data / "redis.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    admin = redis.Redis(host="127.0.0.1", port=port, username="admin", password="admin-pw",
                        decode_responses=True)
    try:
        wait_until(lambda: _pings(admin), timeout_s=10, what="the ACL redis-server")
        yield f"redis://llmlabel:service-pw@127.0.0.1:{port}/0", admin
    finally:
        process.terminate()
        process.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@pytest.fixture
def receiver() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_the_service_needs_only_the_documented_acl(
    acl_redis: tuple[str, redis.Redis], fake_provider: str, tmp_path: Path,
    processes: Processes, receiver: str,
) -> None:
    url, admin = acl_redis
    # The service user cannot read or write outside its key patterns.
    service = redis.Redis.from_url(url)
    with pytest.raises(redis.exceptions.NoPermissionError):
        service.set("other:thing", "1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        service.flushall()
    assert len(admin.acl_log()) == 2
    admin.acl_log_reset()
    env = service_env(url, fake_provider, tmp_path, callback_allow="127.0.0.1",
                      requests_per_minute=10_000, upkeep_interval_s=0.5, gold_share=1.0)
    store = Store.from_settings(Settings(_env_file=None, redis_url=url))  # type: ignore[call-arg]
    keys = {role: {"Authorization": f"Bearer {store.create_api_key(team='acl', role=role)}"}
            for role in Role}
    with httpx.Client(base_url=processes.api(env), timeout=30) as client:
        gold = {"task": "classification", "items": [
            {"id": "g0", "input": {"text": "great parcel"}, "label": {"label": "positive"}}]}
        assert client.post("/v1/gold", json=gold, headers=keys[Role.OPERATOR]).status_code == 201
        items = [{"id": f"a{k}", "text": f"acl message {k} about the parcel"} for k in range(12)]
        batch = client.post("/v1/batches", json={"task": "classification", "items": items,
                                                 "callback_url": receiver},
                            headers=keys[Role.SUBMITTER] | {"Idempotency-Key": "acl"})
        assert batch.status_code == 201, batch.text
        batch_id = batch.json()["id"]
        processes.worker(env, name="w-acl")
        wait_until(lambda: (client.get(f"/v1/batches/{batch_id}", headers=keys[Role.SUBMITTER])
                            .json().get("callback") or {}).get("state") == "delivered",
                   timeout_s=90, what="labeling and the webhook")
        for _ in range(3):
            held = client.post("/v1/review/claim", headers=keys[Role.REVIEWER])
            if held.status_code != 200:
                break
            body = {"lease_token": held.json()["lease_token"], "action": "approve"}
            decided = client.post(f"/v1/review/items/{held.json()['item_id']}/decision",
                                  json=body, headers=keys[Role.REVIEWER])
            assert decided.status_code == 200, decided.text
        for path in (f"/v1/batches/{batch_id}/export?format=jsonl", "/v1/gold", "/v1/keys",
                     "/v1/audit", "/v1/batches", "/v1/webhooks/secret", "/v1/review/items",
                     f"/v1/batches/{batch_id}/items?state=needs_review", "/readyz", "/metrics"):
            response = client.get(path, headers=keys[Role.ADMIN])
            assert response.status_code == 200, (path, response.text[:300])
        rotated = client.post("/v1/keys", json={"role": "reviewer"}, headers=keys[Role.ADMIN])
        assert client.post(f"/v1/keys/{rotated.json()['key_id']}/rotate",
                           headers=keys[Role.ADMIN]).status_code == 201
        assert client.delete(f"/v1/batches/{batch_id}",
                             headers=keys[Role.SUBMITTER]).status_code == 200
        second = client.post("/v1/batches", json={"task": "classification", "items": items[:2]},
                             headers=keys[Role.SUBMITTER])
        assert second.status_code == 201, second.text
        kept = second.json()["id"]
        client.put("/v1/retention", json={"days": 1 / 86_400}, headers=keys[Role.OPERATOR])
        wait_until(lambda: client.get(f"/v1/batches/{kept}", headers=keys[Role.SUBMITTER])
                   .status_code == 404 or None, timeout_s=60, what="retention to expire a batch")
    denied = admin.acl_log()
    assert denied == [], denied
    logs = processes.log("w-acl") + processes.log("api")
    assert "NOPERM" not in logs and "NoPermission" not in logs, logs[-3000:]


def test_a_stranger_without_the_password_is_refused(acl_redis: tuple[str, redis.Redis]) -> None:
    url, _ = acl_redis
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"HSET ll:key:x team acme role admin\r\n")
        assert sock.recv(200).startswith(b"-NOAUTH")
