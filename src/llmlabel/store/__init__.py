"""The only code that talks to Redis: batches, items, review leases, versions, keys, audit."""

from __future__ import annotations

from llmlabel.store.models import (
    AuditEvent,
    BatchCreate,
    BatchInfo,
    Decision,
    ItemView,
    Principal,
    ReviewClaim,
    Role,
)
from llmlabel.store.store import Store

__all__ = [
    "AuditEvent",
    "BatchCreate",
    "BatchInfo",
    "Decision",
    "ItemView",
    "Principal",
    "ReviewClaim",
    "Role",
    "Store",
]
