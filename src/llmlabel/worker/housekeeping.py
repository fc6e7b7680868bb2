"""The housekeeping thread of every worker: the reaper, every interval.

Webhook deliveries have their own thread (`llmlabel.delivery.WebhookThread`), so a
receiver that hangs never delays the re-queueing of dead workers' items.
"""

from __future__ import annotations

import logging
import threading

from llmlabel.errors import LlmlabelError
from llmlabel.settings import Settings
from llmlabel.store import Store

__all__ = ["Housekeeper"]

logger = logging.getLogger(__name__)


class Housekeeper(threading.Thread):
    """A daemon thread that runs `Store.reap` every `reap_interval_s`."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="llmlabel-housekeeper", daemon=True)
        # Its own client: redis-py connections are not shared across threads mid-command.
        self.store = Store.from_settings(settings)
        self.interval = settings.reap_interval_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.reap_once()
            self.stopped.wait(self.interval)

    def reap_once(self) -> None:
        """One reap pass; Redis hiccups are logged and retried next time."""
        try:
            report = self.store.reap()
        except LlmlabelError as exc:
            logger.warning("reap.failed error=%s", exc)
            return
        except Exception:  # a housekeeping thread must survive a Redis outage
            logger.exception("reap.crashed")
            return
        counts = report.model_dump()
        if any(counts.values()):
            logger.info("reap.done %s", counts)

    def stop(self) -> None:
        self.stopped.set()
