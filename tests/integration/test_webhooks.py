"""Webhooks end to end: signed deliveries with retries, send-time checks, no stalled recovery.

Real `llmlabel serve` and `llmlabel worker` processes deliver to receivers on
127.0.0.1, which the operator allow-list (`LLMLABEL_CALLBACK_ALLOW`) lets
through; without it loopback is refused like any internal address (the
submit-time refusals of every spelling are in the bad-input catalogue).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmlabel.settings import Settings
from llmlabel.store import BatchCreate, Role, Store
from llmlabel.webhooks import verify_signature
from tests.integration.conftest import Processes, principal, service_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TEAM = "hooks"
Headers = dict[str, str]


class Receiver:
    """An HTTP endpoint that records every POST and answers the statuses it is given, in turn."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[tuple[dict[str, str], bytes, str]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body, self.path))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.server.shutdown()


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A port that accepts connections and never answers (a receiver that hangs)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


def headers_for(store: Store, role: Role) -> Headers:
    return {"Authorization": f"Bearer {store.create_api_key(team=TEAM, role=role)}"}


def submit(client: httpx.Client, headers: Headers, n: int, callback_url: str | None) -> str:
    items = [{"id": f"i{k}", "text": f"webhook test item {k}"} for k in range(n)]
    body: dict[str, Any] = {"task": "classification", "items": items}
    if callback_url:
        body["callback_url"] = callback_url
    response = client.post("/v1/batches", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def callback_of(client: httpx.Client, headers: Headers, batch_id: str) -> dict[str, Any] | None:
    response = client.get(f"/v1/batches/{batch_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["callback"]  # type: ignore[no-any-return]


def test_deliveries_are_signed_retried_and_shown_on_the_batch(
    redis_url: str, fake_provider: str, tmp_path: Path, processes: Processes,
    receiver: Callable[..., Receiver], store: Store,
) -> None:
    env = service_env(redis_url, fake_provider, tmp_path, callback_allow="127.0.0.1",
                      webhook_backoff_s=0.2)
    hook = receiver([500, 503, 204])
    with httpx.Client(base_url=processes.api(env), timeout=30) as client:
        submitter, operator = headers_for(store, Role.SUBMITTER), headers_for(store, Role.OPERATOR)
        url = f"{hook.base}/hook/PATHTOKEN?key=QUERYTOKEN"
        batch_id = submit(client, submitter, 3, url)
        assert callback_of(client, submitter, batch_id) is None
        processes.worker(env, name="w-hooks")
        done = wait_until(
            lambda: (c := callback_of(client, submitter, batch_id)) and c["state"] == "delivered"
            and c,
            timeout_s=60, what="the webhook to be delivered",
        )
        assert (done["attempts"], done["last_status"], done["last_error"]) == (3, 204, None)
        assert done["delivered_at"] >= done["last_attempt_at"] - 1

        secret = client.get("/v1/webhooks/secret", headers=operator).json()
        assert secret["secret"].startswith("whsec_") and secret["algorithm"] == "HMAC-SHA256"
        assert client.get("/v1/webhooks/secret", headers=submitter).status_code == 403
        assert [r[2] for r in hook.requests] == ["/hook/PATHTOKEN?key=QUERYTOKEN"] * 3
        bodies = {r[1] for r in hook.requests}
        assert len(bodies) == 1, "every retry sends the same bytes"
        for attempt, (headers, body, _) in enumerate(hook.requests, start=1):
            assert headers["Llmlabel-Delivery-Attempt"] == str(attempt)
            assert headers["Host"] == hook.base.removeprefix("http://")
            assert verify_signature(secret["secret"], body, signature=headers["Llmlabel-Signature"],
                                    timestamp=headers["Llmlabel-Timestamp"])
        event = json.loads(bodies.pop())
        assert event["type"] == "batch.labeled" and event["id"] == done["delivery_id"]
        assert event["batch"]["id"] == batch_id and event["batch"]["labeled"] is True

        # A rotated secret signs the next delivery; the old one no longer verifies it.
        rotated = client.post("/v1/webhooks/secret/rotate", headers=operator).json()["secret"]
        # NDJSON names the callback in the query string, which access logs must not print.
        ndjson = client.post("/v1/batches", content=b'{"id": "n", "text": "t"}\n',
                             params={"task": "classification", "callback_url": url},
                             headers=submitter | {"Content-Type": "application/x-ndjson"})
        assert ndjson.status_code == 201, ndjson.text
        second = ndjson.json()["id"]
        wait_until(lambda: len(hook.requests) == 4, timeout_s=60, what="the second delivery")
        headers, body, _ = hook.requests[3]
        sent = {"signature": headers["Llmlabel-Signature"], "timestamp": headers["Llmlabel-Timestamp"]}
        assert verify_signature(rotated, body, **sent)
        assert not verify_signature(secret["secret"], body, **sent)
        assert json.loads(body)["batch"]["id"] == second
    # The URL's path and query (which can hold tokens) never reach the logs.
    logs = processes.log("w-hooks") + processes.log("api")
    assert "webhook.delivered" in logs and "webhook.retry" in logs
    assert '"POST /v1/batches HTTP/1.1" 201' in logs  # access lines, cut before the query
    assert "PATHTOKEN" not in logs and "QUERYTOKEN" not in logs


def test_the_destination_is_checked_again_at_send_time(
    redis_url: str, fake_provider: str, tmp_path: Path, processes: Processes,
    receiver: Callable[..., Receiver], store: Store,
) -> None:
    # The API allowed the loopback receiver at submit; the workers do not (as if its
    # name now resolved to an internal address): the delivery is refused, never sent.
    api_env = service_env(redis_url, fake_provider, tmp_path, callback_allow="127.0.0.1")
    worker_env = service_env(redis_url, fake_provider, tmp_path, webhook_max_attempts=1)
    hook = receiver()
    with httpx.Client(base_url=processes.api(api_env), timeout=30) as client:
        submitter = headers_for(store, Role.SUBMITTER)
        batch_id = submit(client, submitter, 2, f"{hook.base}/in")
        processes.run_burst(worker_env, name="w-strict")
        callback = callback_of(client, submitter, batch_id)
    assert callback is not None and callback["state"] == "failed", callback
    assert "refused" in callback["last_error"] and "loopback" in callback["last_error"]
    assert callback["last_status"] is None and hook.requests == []


def test_credentials_in_a_stored_url_are_never_shown(
    redis_url: str, fake_provider: str, tmp_path: Path, processes: Processes, store: Store,
) -> None:
    # Finding 3: submit refuses them now (bad-input catalogue); a batch stored before keeps
    # its URL for delivery, but no route shows the credentials.
    info, _ = store.create_batch(
        principal(team=TEAM),
        BatchCreate(task="classification", items=[{"id": "a", "text": "t"}],
                    guideline_version="v1", prompt_version="v1",
                    callback_url="https://user:hunter2@hooks.example.com/in"),
        idempotency_key=None, request_hash="h",
    )
    env = service_env(redis_url, fake_provider, tmp_path)
    with httpx.Client(base_url=processes.api(env), timeout=30) as client:
        headers = headers_for(store, Role.SUBMITTER)
        one = client.get(f"/v1/batches/{info.id}", headers=headers)
        listed = client.get("/v1/batches", headers=headers)
    assert one.json()["callback_url"] == "https://hooks.example.com/in"
    assert "hunter2" not in one.text and "hunter2" not in listed.text


def test_a_hanging_receiver_does_not_delay_recovery(
    redis_url: str, fake_provider: str, tmp_path: Path, processes: Processes,
    blackhole: str, make_settings: Callable[..., Settings],
) -> None:
    # Finding 2: deliveries ran in the reaper's thread, ~33 s per dead URL. Here three
    # batches call a receiver that never answers, while another batch's items sit with a
    # dead worker's labeling leases: the reaper must hand them out again all the same.
    lease_s = 6
    store = Store.from_settings(make_settings(labeling_lease_s=lease_s))
    env = service_env(redis_url, fake_provider, tmp_path, callback_allow="127.0.0.1",
                      webhook_timeout_s=120, labeling_lease_s=lease_s, reap_interval_s=0.5)
    stranded, _ = store.create_batch(
        principal(team=TEAM),
        BatchCreate(task="classification",
                    items=[{"id": f"s{k}", "text": f"stranded {k}"} for k in range(4)],
                    guideline_version="v1", prompt_version="v1"),
        idempotency_key=None, request_hash="s",
    )
    # A worker that died mid-labeling: the items hold leases nobody renews.
    assert len(store.claim_labeling(4, owner="dead")) == 4
    hung = []
    for k in range(3):
        info, _ = store.create_batch(
            principal(team=TEAM),
            BatchCreate(task="classification", items=[{"id": f"h{k}", "text": "t"}],
                        guideline_version="v1", prompt_version="v1",
                        callback_url=f"{blackhole}/{k}"),
            idempotency_key=None, request_hash=f"h{k}",
        )
        hung.append(info.id)
    processes.worker(env, name="w-recover")

    def delivery_state(batch_id: str) -> str | None:
        callback = store.get_batch(TEAM, batch_id).callback
        return callback.state if callback else None

    wait_until(lambda: all(delivery_state(b) == "delivering" for b in hung), timeout_s=60,
               what="the three deliveries to hang")
    recovered = wait_until(lambda: store.get_batch(TEAM, stranded.id).labeled, timeout_s=40,
                           what="the dead worker's items to be labeled again")
    assert recovered
    assert all(i.attempts == 2 for i in store.iter_results(TEAM, stranded.id))
    # The receivers still hang: their deliveries wait, without holding anything else up.
    assert all(delivery_state(b) == "delivering" for b in hung)
