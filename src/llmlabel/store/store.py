"""The Store facade: one object with every Redis operation the API and workers use."""

from __future__ import annotations

from collections.abc import Iterator

import redis

from llmlabel.domain import ItemState, LabelRecord
from llmlabel.settings import Settings
from llmlabel.store.models import (
    AuditEvent,
    BatchCreate,
    BatchInfo,
    CounterCheck,
    Decision,
    ItemView,
    Principal,
    ReapReport,
    ReviewClaim,
    Role,
    WorkItem,
)

__all__ = ["Store"]


class Store:
    """Every read and atomic state transition of llmlabel, on one sync Redis client."""

    def __init__(self, redis_client: redis.Redis, *, settings: Settings) -> None:
        self.redis = redis_client
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """A store on `settings.redis_url` (the CLI starts embedded Redis and sets it)."""
        raise NotImplementedError

    def ping(self) -> bool:
        """True when Redis answers."""
        raise NotImplementedError

    # -- API keys -------------------------------------------------------------
    def create_api_key(self, *, team: str, role: Role, name: str | None = None) -> str:
        """Create a key for `team` with `role`; returns the plain key once (only its sha256 is kept)."""
        raise NotImplementedError

    def authenticate(self, key: str) -> Principal | None:
        """The principal of a plain API key, or None if unknown."""
        raise NotImplementedError

    # -- batches ---------------------------------------------------------------
    def create_batch(
        self,
        principal: Principal,
        batch: BatchCreate,
        *,
        idempotency_key: str | None,
        request_hash: str,
    ) -> tuple[BatchInfo, bool]:
        """Store a batch and its items, then enqueue labeling jobs; returns (info, created).

        Same idempotency key and same request hash: (existing batch, False).
        Same key, other hash: ConflictError. Nothing is left behind if it fails.
        """
        raise NotImplementedError

    def get_batch(self, team: str, batch_id: str) -> BatchInfo:
        """A batch's progress; NotFoundError if missing or another team's."""
        raise NotImplementedError

    def list_batches(self, team: str, *, limit: int = 50) -> list[BatchInfo]:
        """The team's batches, newest first."""
        raise NotImplementedError

    def list_items(
        self,
        team: str,
        batch_id: str,
        *,
        state: ItemState | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[ItemView]:
        """One page of a batch's items in submit order, optionally only those in `state`."""
        raise NotImplementedError

    def iter_results(self, team: str, batch_id: str) -> Iterator[ItemView]:
        """Every item of a batch in submit order, read in pages (for streaming exports)."""
        raise NotImplementedError

    def get_item(self, team: str, item_id: str) -> ItemView:
        """One item; NotFoundError if missing or another team's."""
        raise NotImplementedError

    def retry_failed(self, team: str, batch_id: str, *, actor: str) -> int:
        """Move the batch's failed items back to queued and enqueue them; returns how many."""
        raise NotImplementedError

    # -- review ----------------------------------------------------------------
    def claim_review(
        self, principal: Principal, *, task: str | None = None, batch_id: str | None = None
    ) -> ReviewClaim | None:
        """Lease the oldest needs_review item of the team (optionally of a task or batch); None if none."""
        raise NotImplementedError

    def renew_lease(self, principal: Principal, item_id: str, lease_token: str) -> ReviewClaim:
        """Extend a held lease by settings.review_lease_s; LeaseError if expired or foreign."""
        raise NotImplementedError

    def decide(
        self,
        principal: Principal,
        item_id: str,
        *,
        lease_token: str,
        decision: Decision,
        label: dict | None = None,
        comment: str | None = None,
    ) -> ItemView:
        """Apply a review decision under a valid lease; audited.

        approve -> approved (LLM label kept), fix -> fixed (label replaced, source "human"),
        reject -> rejected, skip -> needs_review (lease released). LeaseError if the
        token is wrong or expired. The API validates a FIX label first.
        """
        raise NotImplementedError

    def review_queue_depth(self, team: str | None = None) -> int:
        """Items waiting for review (needs_review), for one team or all."""
        raise NotImplementedError

    # -- versions ---------------------------------------------------------------
    def active_versions(self, task: str) -> tuple[str | None, str | None]:
        """(guideline_version, prompt_version) active for a task; Nones mean latest on disk."""
        raise NotImplementedError

    def activate(self, task: str, *, guideline_version: str, prompt_version: str, actor: str) -> None:
        """Make a version pair active for a task (audited, kept in history)."""
        raise NotImplementedError

    def rollback(self, task: str, *, actor: str) -> tuple[str, str]:
        """Re-activate the previous pair; ConflictError if there is none. Returns the pair now active."""
        raise NotImplementedError

    def version_history(self, task: str) -> list[AuditEvent]:
        """Activations and rollbacks of a task, newest first."""
        raise NotImplementedError

    def pin_hash(self, kind: str, task: str, version: str, content_hash: str) -> None:
        """Record a version's content hash on first use; VersionConflictError if it changed since."""
        raise NotImplementedError

    # -- audit + metrics -----------------------------------------------------------
    def audit_events(self, team: str, *, limit: int = 100) -> list[AuditEvent]:
        """The team's audit events, newest first."""
        raise NotImplementedError

    def state_totals(self) -> dict[str, int]:
        """Items per state over all teams (every ItemState present), for /metrics."""
        raise NotImplementedError

    # -- worker side -----------------------------------------------------------------
    def begin_labeling(self, team: str, item_ids: list[str]) -> list[WorkItem]:
        """Move queued items to labeling under a fresh lease; skips items in any other state."""
        raise NotImplementedError

    def renew_labeling(self, team: str, items: list[WorkItem]) -> int:
        """Extend the labeling leases still held by these items; returns how many were extended."""
        raise NotImplementedError

    def save_label(self, work: WorkItem, record: LabelRecord) -> bool:
        """Write the label, state, counters and usage in one step; False if the lease was lost."""
        raise NotImplementedError

    def fail_item(self, work: WorkItem, error: str) -> bool:
        """Mark an item failed with its error; False if the lease was lost."""
        raise NotImplementedError

    def reap(self) -> ReapReport:
        """Housekeeping: re-queue items whose labeling lease expired, release expired review leases."""
        raise NotImplementedError

    def check_counters(self, team: str, batch_id: str) -> CounterCheck:
        """Batch counters and usage next to the values recomputed from the items (tests, repair)."""
        raise NotImplementedError
