"""The upkeep thread of every worker process: retention expiry and interrupted deletions.

Slow by nature (deleting a large batch removes every item), so it has its own
thread and never holds up the reaper, which recovers dead workers' items.
Every worker runs one; the store steps are idempotent, so two at once are fine.
"""

from __future__ import annotations

import logging
import threading

from llmlabel.errors import LlmlabelError
from llmlabel.settings import Settings
from llmlabel.store import Store

__all__ = ["UpkeepThread"]

logger = logging.getLogger(__name__)


class UpkeepThread(threading.Thread):
    """A daemon thread that expires batches past retention and finishes deletions, until stop()."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="llmlabel-upkeep", daemon=True)
        # Its own client: redis-py connections are not shared across threads mid-command.
        self.store = Store.from_settings(settings)
        self.interval = settings.upkeep_interval_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.run_once()

    def run_once(self) -> None:
        """One pass; Redis trouble is logged and the next pass tries again."""
        try:
            purged = self.store.finish_purges()
            expired = self.store.expire_batches()
        except LlmlabelError as exc:
            logger.warning("upkeep.failed error=%s", exc)
            return
        except Exception:  # Redis restarting: this thread must outlive it
            logger.exception("upkeep.crashed")
            return
        for team, batch_id in expired:
            logger.info("retention.expired team=%s batch_id=%s", team, batch_id)
        if purged:
            logger.info("upkeep.purges_finished count=%d", purged)

    def stop(self) -> None:
        self.stopped.set()
