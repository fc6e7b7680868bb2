"""Webhook delivery: a thread of its own in every worker process, never in the reaper's way.

`WebhookThread` polls the store's delivery queue (`store/webhooks.py`), sends
up to `settings.webhook_concurrency` deliveries at once from a small thread
pool, and records each attempt. One attempt:

1. the batch is read again (a deleted batch drops its delivery), and the body
   built once, on the first attempt, and kept for the retries;
2. the URL is checked again and its host resolved (`webhooks.resolve_destination`):
   a destination that became private is refused like a failed attempt;
3. the request goes to the checked address itself (host name in the Host
   header and, for https, in TLS SNI and certificate checks), without
   redirects, proxies from the environment or reading the response body;
4. 2xx is delivered; anything else is retried with doubling backoff until
   `settings.webhook_max_attempts`, then the delivery is failed.

Logs name the destination by scheme, host and port only (`webhooks.redact_url`).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from llmlabel.errors import InputError, LlmlabelError, NotFoundError
from llmlabel.settings import Settings
from llmlabel.store import Store
from llmlabel.store.webhooks import Delivery
from llmlabel.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AllowList,
    Resolver,
    backoff_s,
    event_body,
    parse_allow_list,
    redact_url,
    resolve_destination,
    signature_header,
)

__all__ = ["Deliverer", "WebhookThread"]

logger = logging.getLogger(__name__)

_USER_AGENT = "llmlabel-webhooks/1"
_POLL_S = 0.5


class Deliverer:
    """Sends due webhook deliveries; `run_once` is one poll (the thread calls it in a loop)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        resolver: Resolver | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.allow: AllowList = parse_allow_list(settings.callback_allow)
        self.resolver = resolver
        self.pool = ThreadPoolExecutor(settings.webhook_concurrency,
                                       thread_name_prefix="llmlabel-webhook")
        self.in_flight = 0
        self._lock = threading.Lock()
        self.client = httpx.Client(
            transport=transport or httpx.HTTPTransport(retries=0),
            timeout=httpx.Timeout(settings.webhook_timeout_s),
            follow_redirects=False,
            trust_env=False,
        )

    def run_once(self) -> int:
        """Promote finished batches, then start as many due deliveries as there are free slots."""
        self.store.promote_callbacks()
        with self._lock:
            free = self.settings.webhook_concurrency - self.in_flight
        # The lease outlasts one attempt: a thread that dies makes the delivery due again.
        due = self.store.claim_deliveries(limit=free, lease_s=self.settings.webhook_timeout_s * 3)
        for delivery in due:
            with self._lock:
                self.in_flight += 1
            self.pool.submit(self._attempt_safely, delivery)
        return len(due)

    def _attempt_safely(self, delivery: Delivery) -> None:
        try:
            self.attempt(delivery)
        except Exception:  # a pool thread must survive anything; the lease retries it later
            logger.exception("webhook.crashed delivery=%s", delivery.id)
        finally:
            with self._lock:
                self.in_flight -= 1

    def attempt(self, delivery: Delivery) -> str:
        """One attempt of one delivery; returns the state it was left in."""
        try:
            info = self.store.get_batch(delivery.team, delivery.batch_id)
        except NotFoundError:
            self.store.finish_delivery(delivery, state="failed", attempts=delivery.attempts,
                                       status=None, error="the batch was deleted")
            return "failed"
        body = delivery.body or self.store.delivery_body(delivery, event_body({
            "id": delivery.id,
            "type": delivery.event,
            "created_at": delivery.created_at,
            "batch": info.model_dump(mode="json"),
        }).decode("utf-8"))
        attempts = delivery.attempts + 1
        status, error = self._send(delivery, body.encode("utf-8"), attempts)
        if status is not None and 200 <= status < 300:
            self.store.finish_delivery(delivery, state="delivered", attempts=attempts,
                                       status=status, error=None)
            logger.info("webhook.delivered delivery=%s batch_id=%s to=%s attempts=%d",
                        delivery.id, delivery.batch_id, redact_url(delivery.url), attempts)
            return "delivered"
        if attempts >= self.settings.webhook_max_attempts:
            self.store.finish_delivery(delivery, state="failed", attempts=attempts,
                                       status=status, error=error)
            logger.warning("webhook.failed delivery=%s to=%s attempts=%d error=%s",
                           delivery.id, redact_url(delivery.url), attempts, error)
            return "failed"
        next_at = time.time() + backoff_s(attempts, base_s=self.settings.webhook_backoff_s)
        self.store.finish_delivery(delivery, state="pending", attempts=attempts, status=status,
                                   error=error, next_at=next_at)
        logger.warning("webhook.retry delivery=%s to=%s attempt=%d error=%s",
                       delivery.id, redact_url(delivery.url), attempts, error)
        return "pending"

    def _send(self, delivery: Delivery, body: bytes, attempt: int) -> tuple[int | None, str | None]:
        """(HTTP status or None, error text or None) of one POST to the checked address."""
        try:
            destination = resolve_destination(delivery.url, self.allow, resolver=self.resolver)
        except InputError as exc:
            return None, f"refused: {exc}".replace("callback_url: ", "")
        timestamp = int(time.time())
        secret = self.store.webhook_secret(delivery.team).secret
        headers = {
            "Host": destination.host_header,
            "Content-Type": "application/json",
            "User-Agent": _USER_AGENT,
            "Llmlabel-Event": delivery.event,
            "Llmlabel-Delivery": delivery.id,
            "Llmlabel-Delivery-Attempt": str(attempt),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature_header(secret, timestamp, body),
        }
        extensions = {"sni_hostname": destination.host} if destination.scheme == "https" else {}
        try:
            with self.client.stream("POST", destination.pinned_url, content=body,
                                    headers=headers, extensions=extensions) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {str(exc)[:200]}".replace(
                destination.address, destination.host)
        if 200 <= status < 300:
            return status, None
        return status, f"the receiver answered {status}"

    def close(self, *, wait_s: float) -> None:
        """Wait up to `wait_s` for attempts in flight, then release the pool and client.

        An attempt still hanging then is left to die with the process: its lease
        runs out and another worker tries again (at least once, not at most once).
        """
        deadline = time.monotonic() + wait_s
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pool.shutdown(wait=False, cancel_futures=True)
        if not self.in_flight:
            self.client.close()


class WebhookThread(threading.Thread):
    """A daemon thread delivering webhooks until `stop()`; started by every worker process."""

    def __init__(self, settings: Settings, *, poll_s: float = _POLL_S) -> None:
        super().__init__(name="llmlabel-webhooks", daemon=True)
        # Its own client: redis-py connections are not shared across threads mid-command.
        self.deliverer = Deliverer(Store.from_settings(settings), settings)
        self.poll_s = poll_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.poll()
            self.stopped.wait(self.poll_s)

    def poll(self) -> None:
        """One pass; Redis hiccups are logged and the deliveries wait in the store."""
        try:
            self.deliverer.run_once()
        except LlmlabelError as exc:
            logger.warning("webhook.poll_failed error=%s", exc)
        except Exception:  # Redis restarting: keep polling, deliveries wait in the store
            logger.exception("webhook.poll_crashed")

    def stop(self) -> None:
        """Stop polling and make one last pass (a burst worker's batches just finished).

        Attempts in flight get one webhook timeout to finish; whatever is left stays
        due for the other workers.
        """
        self.stopped.set()
        if self.is_alive():
            self.join()
        self.poll()
        self.deliverer.close(wait_s=self.deliverer.settings.webhook_timeout_s + 1)
