"""Turn a pinned version pair into a Labeler: versions from the store by hash.

The one place that knows how a worker (or the gold job) finds what to label
with: an item carries its project, the two content hashes and the model
profile; the texts come from Redis and stay parsed for the life of the process
(`VersionCache`). Backends and rate limiters are the caller's (the worker keeps
one per profile for the whole process; the gold job one per job).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmlabel.backends import Backend, build_backend
from llmlabel.guidelines import PromptTemplate, VersionRegistry
from llmlabel.labeler import Labeler
from llmlabel.projects.content import VersionCache
from llmlabel.ratelimit import RateLimiter
from llmlabel.settings import Settings
from llmlabel.store import Store
from llmlabel.store.models import WorkItem
from llmlabel.store.ratelimit import build_rate_limiter
from llmlabel.tasks import Task, build_task

__all__ = ["LabelerFactory", "VersionPin"]


@dataclass(frozen=True, slots=True)
class VersionPin:
    """The exact versions and profile something is labeled with (hashes decide the content)."""

    team: str
    task: str
    guideline_version: str | None
    prompt_version: str | None
    guideline_hash: str | None = None
    prompt_hash: str | None = None
    project: str | None = None
    model_profile: str | None = None

    @classmethod
    def of(cls, item: WorkItem) -> VersionPin:
        """What one work item was submitted under."""
        return cls(
            team=item.team, task=item.task, guideline_version=item.guideline_version,
            prompt_version=item.prompt_version, guideline_hash=item.guideline_hash,
            prompt_hash=item.prompt_hash, project=item.project, model_profile=item.model_profile,
        )

    @property
    def key(self) -> tuple[str | None, ...]:
        """Items with equal keys share one labeler."""
        return (self.team, self.task, self.guideline_hash or self.guideline_version,
                self.prompt_hash or self.prompt_version, self.project, self.model_profile)


class LabelerFactory:
    """Builds labelers from pinned versions, loading version content from the store by hash."""

    def __init__(self, store: Store, settings: Settings, *, cache: VersionCache | None = None):
        self.store = store
        self.settings = settings
        self.cache = cache or VersionCache(store)

    def versions(self, pin: VersionPin) -> tuple[Task, PromptTemplate]:
        """The task (built from the guideline) and the prompt a pin names.

        Items stored before projects existed carry no hashes: they are labeled with
        the package's built-in version of that name, as they were then.
        """
        if pin.guideline_hash and pin.prompt_hash and pin.guideline_version and pin.prompt_version:
            _, task = self.cache.guideline(
                pin.team, pin.guideline_hash, task=pin.task, version=pin.guideline_version
            )
            prompt = self.cache.prompt(
                pin.team, pin.prompt_hash, task=pin.task, version=pin.prompt_version
            )
            return task, prompt
        registry = VersionRegistry()
        guideline = registry.guideline(pin.task, pin.guideline_version)
        return build_task(guideline), registry.prompt(pin.task, pin.prompt_version)

    def labeler(
        self,
        pin: VersionPin,
        *,
        limiters: dict[str, RateLimiter],
        backend: Backend | None = None,
        fixed_k: int | None = None,
    ) -> Labeler:
        """A labeler for `pin`; `limiters` (per profile, the caller's) is filled in as needed.

        Without `backend` one is built from the pin's model profile (the caller closes it).
        """
        task, prompt = self.versions(pin)
        profile = self.settings.profile(pin.model_profile)
        limiter = limiters.get(profile.name)
        if limiter is None:
            limiter = limiters[profile.name] = build_rate_limiter(self.settings.redis_url, profile)
        return Labeler(
            task=task, prompt=prompt, backend=backend or build_backend(profile), limiter=limiter,
            fixed_k=fixed_k, project=pin.project,
        )
