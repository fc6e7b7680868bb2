"""One delivery attempt: pinned to the checked address, re-checked at send time, no redirects."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from llmlabel.delivery import Deliverer
from llmlabel.domain import ItemState, Usage
from llmlabel.settings import Settings
from llmlabel.store.models import BatchInfo
from llmlabel.store.webhooks import Delivery, WebhookSecret
from llmlabel.webhooks import verify_signature


class StandInStore:
    """The few store calls one attempt makes, recorded."""

    def __init__(self) -> None:
        self.finished: list[dict[str, Any]] = []
        self.body: str | None = None

    def get_batch(self, team: str, batch_id: str) -> BatchInfo:
        return BatchInfo(
            id=batch_id, team=team, task="ner", guideline_version="v1", prompt_version="v1",
            created_at=0.0, total=1, counts={s.value: 0 for s in ItemState}, done=1,
            progress=1.0, usage=Usage(), state="done", labeled=True,
        )

    def delivery_body(self, delivery: Delivery, body: str) -> str:
        self.body = self.body or body
        return self.body

    def webhook_secret(self, team: str) -> WebhookSecret:
        return WebhookSecret(secret="whsec_unit", created_at=0.0)

    def finish_delivery(self, delivery: Delivery, **outcome: Any) -> None:
        self.finished.append(outcome)


def delivery(url: str) -> Delivery:
    return Delivery(team="t", id="d1", batch_id="b_0000000000000001", url=url,
                    event="batch.labeled", attempts=0, created_at=time.time())


def resolver(*addresses: str) -> Any:
    def resolve(host: str, port: int) -> Sequence[str]:
        return addresses

    return resolve


def deliverer(handler: Any, addresses: Sequence[str]) -> tuple[Deliverer, StandInStore]:
    store = StandInStore()
    settings = Settings(_env_file=None, redis_url="redis://unused", webhook_max_attempts=2)  # type: ignore[call-arg]
    made = Deliverer(store, settings, resolver=resolver(*addresses),  # type: ignore[arg-type]
                     transport=httpx.MockTransport(handler))
    return made, store


def test_the_request_goes_to_the_checked_address_with_the_name_in_host_and_sni() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    sender, store = deliverer(handler, ["93.184.216.34"])
    assert sender.attempt(delivery("https://hooks.example.com/in?k=v")) == "delivered"
    (request,) = seen
    assert str(request.url) == "https://93.184.216.34/in?k=v"
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert verify_signature("whsec_unit", request.content,
                            signature=request.headers["llmlabel-signature"],
                            timestamp=request.headers["llmlabel-timestamp"])
    assert store.finished == [{"state": "delivered", "attempts": 1, "status": 204, "error": None}]


def test_a_name_that_now_resolves_inside_is_refused_without_sending() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    sender, store = deliverer(handler, ["10.0.0.7"])
    assert sender.attempt(delivery("https://hooks.example.com/in")) == "pending"
    (outcome,) = store.finished
    assert outcome["status"] is None and "refused" in outcome["error"]
    assert "private" in outcome["error"] and outcome["next_at"] > time.time()


@pytest.mark.parametrize(("status", "state"), [(302, "pending"), (500, "pending"), (410, "pending")])
def test_redirects_and_errors_are_failed_attempts(status: int, state: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"Location": "http://169.254.169.254/"})

    sender, store = deliverer(handler, ["93.184.216.34"])
    assert sender.attempt(delivery("http://hooks.example.com/in")) == state
    assert store.finished[0]["error"] == f"the receiver answered {status}"
    # The last allowed attempt fails the delivery for good.
    last = delivery("http://hooks.example.com/in").model_copy(update={"attempts": 1})
    assert sender.attempt(last) == "failed"
