"""WorkItem -> Labeler: one labeler per project, versions and profile, built once per process.

This is the only place a worker turns an item into a labeler. The versions are
the ones the item was submitted under, loaded from the store by content hash
(`llmlabel.projects.LabelerFactory`, cached for the life of the process), so
every worker host labels with a version created over the API a moment ago.
Labelers of one model profile share one backend (one HTTP client and connection
pool, or one loaded local model) and one rate limiter; both live as long as the
process.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from llmlabel.backends import Backend, build_backend
from llmlabel.errors import LlmlabelError
from llmlabel.fewshot import PoolSnapshot, make_snapshot
from llmlabel.labeler import Labeler
from llmlabel.projects import LabelerFactory, VersionPin
from llmlabel.ratelimit import RateLimiter
from llmlabel.settings import Settings
from llmlabel.store import Store
from llmlabel.store.models import WorkItem

__all__ = ["LabelerPool"]

# A version that failed to load is tried again after this long (a file may be fixed or
# deployed meanwhile); items in between fail at once with the same error.
_RETRY_BROKEN_S = 30.0

# How long a pool revision read stays good: a label records the snapshot it used, so a
# second-old pool is as reproducible as a fresh one and costs no Redis call per item.
_POOL_CHECK_S = 1.0

_Key = tuple[str | None, ...]
Offload = Callable[..., Awaitable[Any]]


class LabelerPool:
    """Labelers by pinned versions and profile; one backend and limiter per model profile."""

    def __init__(
        self, settings: Settings, store: Store, *, backend: Backend | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.factory = LabelerFactory(store, settings)
        self._labelers: dict[_Key, Labeler] = {}
        self._broken: dict[_Key, tuple[float, LlmlabelError]] = {}
        # Per profile name; None is the default profile. Backends are built on first use.
        self._backends: dict[str | None, Backend | LlmlabelError] = (
            {None: backend} if backend is not None else {}
        )
        # Built on first use, inside the event loop: the Redis limiter's async client
        # belongs to the loop that creates it.
        self._limiters: dict[str, RateLimiter] = {}
        # (team, project) -> (checked at, revision, snapshot): one snapshot per pool state.
        self._pools: dict[tuple[str, str], tuple[float, int, PoolSnapshot]] = {}

    def backend_for(self, profile: str | None) -> Backend:
        """The process's backend of a model profile; raises the ConfigError that kept it away."""
        if profile not in self._backends:
            try:
                self._backends[profile] = build_backend(self.settings.profile(profile))
            except LlmlabelError as exc:
                self._backends[profile] = exc
        built = self._backends[profile]
        if isinstance(built, LlmlabelError):
            raise built
        return built

    @property
    def backend(self) -> Backend:
        """The default profile's backend (what sizes the worker's slots)."""
        return self.backend_for(None)

    def slots(self) -> int:
        """Items to label at once: `worker_concurrency`, capped by what the backend can run."""
        try:
            limit = self.backend.max_concurrency
        except LlmlabelError:
            limit = 1  # every item fails with the config error anyway
        wanted = self.settings.worker_concurrency
        return max(1, min(wanted, limit) if limit else wanted)

    def labeler_for(self, work: WorkItem) -> Labeler:
        """The labeler for the versions (by hash) and model profile this item was submitted under."""
        key: _Key = VersionPin.of(work).key
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

    async def pool_for(self, work: WorkItem, labeler: Labeler, offload: Offload) -> PoolSnapshot | None:
        """The project's example pool snapshot, for versions that ask for similar examples.

        Reloaded (in an I/O thread) only when the pool's revision moved; the
        revision itself is read at most once per `_POOL_CHECK_S` per project.
        """
        if labeler.guideline.similar_examples is None or not work.project:
            return None
        key = (work.team, work.project)
        cached = self._pools.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < _POOL_CHECK_S:
            return cached[2]
        if cached is not None:
            rev = await offload(self.store.pool_rev, *key)
            if rev == cached[1]:
                self._pools[key] = (now, rev, cached[2])
                return cached[2]
        rev, examples = await offload(self.store.pool_examples, *key)
        snapshot = make_snapshot(examples)
        self._pools[key] = (now, rev, snapshot)
        return snapshot

    def _build(self, work: WorkItem) -> Labeler:
        pin = VersionPin.of(work)
        backend = self.backend_for(pin.model_profile)
        return self.factory.labeler(pin, limiters=self._limiters, backend=backend)

    async def aclose(self) -> None:
        """Close the backends' connections and the limiters' Redis clients."""
        for backend in self._backends.values():
            if isinstance(backend, Backend):
                await backend.aclose()
        for limiter in self._limiters.values():
            aclose = getattr(limiter, "aclose", None)
            if aclose is not None:
                await aclose()
