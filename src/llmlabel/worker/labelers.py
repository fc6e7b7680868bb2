"""WorkItem -> Labeler: one labeler per task and versions, built once per worker process.

This is the only place a worker turns an item into a labeler, so a change of
how versions are found (by content hash, from the store) lands here alone.
Every labeler shares one backend (one HTTP client and connection pool, or one
loaded local model) and one rate limiter; both live as long as the process.
"""

from __future__ import annotations

import time

from llmlabel.backends import Backend, build_backend
from llmlabel.errors import LlmlabelError
from llmlabel.guidelines import VersionRegistry
from llmlabel.labeler import Labeler, build_labeler
from llmlabel.ratelimit import RateLimiter
from llmlabel.settings import Settings
from llmlabel.store import Store
from llmlabel.store.models import WorkItem
from llmlabel.store.ratelimit import build_rate_limiter

__all__ = ["LabelerPool"]

# A version that failed to load is tried again after this long (a file may be fixed or
# deployed meanwhile); items in between fail at once with the same error.
_RETRY_BROKEN_S = 30.0

_Key = tuple[str, str | None, str | None]


class LabelerPool:
    """Labelers by (task, guideline version, prompt version), sharing one backend."""

    def __init__(
        self, settings: Settings, store: Store, *, backend: Backend | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self._registry = VersionRegistry()
        self._labelers: dict[_Key, Labeler] = {}
        self._broken: dict[_Key, tuple[float, LlmlabelError]] = {}
        self._backend: Backend | LlmlabelError | None = backend
        # Built on first use, inside the event loop: the Redis limiter's async client
        # belongs to the loop that creates it.
        self._limiter: RateLimiter | None = None

    @property
    def backend(self) -> Backend:
        """The process's backend; raises the ConfigError that kept it from being built."""
        if self._backend is None:
            try:
                self._backend = build_backend(self.settings.profile())
            except LlmlabelError as exc:
                self._backend = exc
        if isinstance(self._backend, LlmlabelError):
            raise self._backend
        return self._backend

    def slots(self) -> int:
        """Items to label at once: `worker_concurrency`, capped by what the backend can run."""
        try:
            limit = self.backend.max_concurrency
        except LlmlabelError:
            limit = 1  # every item fails with the config error anyway
        wanted = self.settings.worker_concurrency
        return max(1, min(wanted, limit) if limit else wanted)

    def labeler_for(self, work: WorkItem) -> Labeler:
        """The labeler for this item's task and versions; a version whose file changed is refused."""
        key: _Key = (work.task, work.guideline_version, work.prompt_version)
        labeler = self._labelers.get(key)
        if labeler is not None:
            return labeler
        broken = self._broken.get(key)
        if broken is not None and time.monotonic() - broken[0] < _RETRY_BROKEN_S:
            raise broken[1]
        try:
            labeler = self._build(work)
        except LlmlabelError as exc:
            self._broken[key] = (time.monotonic(), exc)
            raise
        self._broken.pop(key, None)
        self._labelers[key] = labeler
        return labeler

    def _build(self, work: WorkItem) -> Labeler:
        if self._limiter is None:
            self._limiter = build_rate_limiter(self.settings.redis_url, self.settings.profile())
        labeler = build_labeler(
            self.settings,
            work.task,
            work.guideline_version,
            work.prompt_version,
            limiter=self._limiter,
            registry=self._registry,
            backend=self.backend,
        )
        self.store.pin_hash(
            "guideline", work.task, labeler.guideline.version, labeler.guideline.content_hash
        )
        self.store.pin_hash("prompt", work.task, labeler.prompt.version, labeler.prompt.content_hash)
        return labeler

    async def aclose(self) -> None:
        """Close the backend's connections and the limiter's Redis client."""
        if isinstance(self._backend, Backend):
            await self._backend.aclose()
        aclose = getattr(self._limiter, "aclose", None)
        if aclose is not None:
            await aclose()
