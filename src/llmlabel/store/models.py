"""Pydantic models the store returns and accepts; the API serialises them as they are."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmlabel.domain import ItemState, PartialLabel, Sample, Usage
from llmlabel.store.spend_models import Spend

__all__ = [
    "PRIORITY_WEIGHTS",
    "AuditEvent",
    "BatchCreate",
    "BatchInfo",
    "CallbackStatus",
    "CounterCheck",
    "Decision",
    "ItemView",
    "Principal",
    "Priority",
    "ReapReport",
    "ReviewClaim",
    "Role",
    "SecondReview",
    "WorkItem",
]


Priority = Literal["low", "normal", "high"]
"""How a batch shares its team's turn with the team's other batches."""

PRIORITY_WEIGHTS: dict[str, int] = {"low": 1, "normal": 4, "high": 16}
"""Weight of each priority within a team: a high batch gets 16 items to a low one's 1.
Teams share workers equally whatever their batches' priorities (see `lua_labeling.py`)."""


class Role(StrEnum):
    """What an API key may do; admin may do everything within its team."""

    SUBMITTER = "submitter"
    REVIEWER = "reviewer"
    OPERATOR = "operator"
    ADMIN = "admin"


class Principal(BaseModel):
    """The authenticated caller: which key, which team, which role."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    team: str
    role: Role
    name: str | None = None


class BatchCreate(BaseModel):
    """A batch to store, its project and exact versions resolved and its items validated.

    The API always names the project and both content hashes (workers load exactly
    that content by hash). Without hashes (store-level tests, tools writing
    directly) workers label with the package's built-in version of that name.
    """

    task: str
    items: list[dict[str, Any]]
    guideline_version: str
    prompt_version: str
    project: str | None = None
    guideline_hash: str | None = None
    prompt_hash: str | None = None
    model_profile: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    callback_url: str | None = None
    # Cost cap of the batch (USD), checked before every provider call; None: no batch cap.
    max_cost_usd: float | None = None
    # "offline": labeled through the provider's batch API (half price, up to 24 h).
    mode: Literal["sync", "offline"] = "sync"
    priority: Priority = "normal"
    # Reuse answers of identical provider calls (the result cache); False: always call.
    cache: bool = True
    # A pilot: every item goes to review, `double_review_share` of them twice.
    pilot: bool = False
    double_review_share: float | None = None


class CallbackStatus(BaseModel):
    """The latest webhook delivery of a batch (one per time its labeling finished)."""

    delivery_id: str
    state: Literal["pending", "delivering", "delivered", "failed"] = Field(
        description="pending: waiting for its (next) attempt; failed: attempts ran out"
    )
    attempts: int = 0
    last_status: int | None = Field(None, description="HTTP status of the last attempt")
    last_error: str | None = Field(None, description="Why the last attempt failed")
    last_attempt_at: float | None = None
    next_attempt_at: float | None = None
    delivered_at: float | None = None


class BatchInfo(BaseModel):
    """A batch's progress: item counts by state, usage so far, overall state."""

    id: str
    team: str
    task: str
    # None only for batches stored before projects existed.
    project: str | None = None
    guideline_version: str | None
    prompt_version: str | None
    created_at: float
    total: int
    # Every ItemState value is present (0 when no item is in it).
    counts: dict[str, int]
    # Items in a terminal state (auto_accepted, approved, fixed, rejected, failed).
    done: int
    progress: float
    # Usage of the labels saved (what their records hold); `spend` is the ledger.
    usage: Usage
    metadata: dict[str, Any] = Field(default_factory=dict)
    callback_url: str | None = None
    callback: CallbackStatus | None = Field(
        None, description="Delivery of the webhook to callback_url, once labeling finished"
    )
    # "done" once every item is terminal; "paused" when nothing is left to label but
    # items paused by a budget; `labeled` turns true when no item is queued,
    # labeling or paused (the rest wait for reviewers).
    state: Literal["running", "paused", "done"]
    priority: Priority = "normal"
    cache: bool = True
    labeled: bool
    mode: Literal["sync", "offline"] = "sync"
    max_cost_usd: float | None = None
    # Every provider call made for the batch (retries, failed items, lost leases too).
    spend: Spend = Field(default_factory=Spend)
    # spend so far x total / items that finished labeling (None before the first).
    projected_cost_usd: float | None = None
    # A pilot batch: every item reviewed, this share of them by a second reviewer too.
    pilot: bool = False
    double_review_share: float | None = None


class SecondReview(BaseModel):
    """A second reviewer's verdict on an item already decided; the first decision stays final."""

    state: Literal["queued", "in_review", "done"]
    reviewer: str | None = None
    decision: Literal["approve", "fix", "reject"] | None = None
    # The second reviewer's label: the LLM's label for approve, theirs for fix, None for reject.
    label: dict[str, Any] | None = None
    comment: str | None = None
    at: float | None = None


class ItemView(BaseModel):
    """One item as stored: its input, current state and (once labeled) the label record."""

    item_id: str
    id: str
    batch_id: str
    task: str
    project: str | None = None
    state: ItemState
    input: dict[str, Any]
    label: dict[str, Any] | None = None
    source: Literal["llm", "human"] | None = None
    confidence: float | None = None
    route_reason: str | None = None
    samples: list[Sample] = Field(default_factory=list)
    detail: dict[str, Any] = Field(default_factory=dict)
    guideline_version: str | None = None
    prompt_version: str | None = None
    guideline_hash: str | None = None
    prompt_hash: str | None = None
    model: str | None = None
    backend: str | None = None
    usage: Usage = Field(default_factory=Usage)
    # Pool examples shown in the prompt (ids) and the pool snapshot they came from.
    examples: list[str] = Field(default_factory=list)
    pool_snapshot: str | None = None
    error: str | None = None
    # Times labeling started for this item (a dead worker's attempt counts too).
    attempts: int = 0
    # Times a label record was written (1 after labeling; never more).
    label_writes: int = 0
    reviewer: str | None = None
    review_comment: str | None = None
    # Only for items picked for a second review (settings.double_review_share).
    second_review: SecondReview | None = None
    updated_at: float


class ReviewClaim(BaseModel):
    """A review item held by one reviewer until `lease_expires_at`."""

    item_id: str
    batch_id: str
    task: str
    id: str
    input: dict[str, Any]
    label: dict[str, Any] | None
    samples: list[Sample] = Field(default_factory=list)
    detail: dict[str, Any] = Field(default_factory=dict)
    confidence: float | None
    reason: str | None
    guideline_version: str | None
    prompt_version: str | None
    lease_token: str
    lease_expires_at: str


class Decision(StrEnum):
    """A reviewer's verdict on a claimed item."""

    APPROVE = "approve"
    FIX = "fix"
    REJECT = "reject"
    SKIP = "skip"


class AuditEvent(BaseModel):
    """One audited action: who did what to which item or version, before and after."""

    at: float
    actor: str
    action: str
    item_id: str | None = None
    batch_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    comment: str | None = None


class WorkItem(BaseModel):
    """What a worker needs to label one item it has begun labeling."""

    item_id: str
    team: str
    batch_id: str
    task: str
    id: str
    input: dict[str, Any]
    guideline_version: str | None
    prompt_version: str | None
    lease_token: str
    attempts: int
    # What the item drew before a budget paused it (labeling resumes from there).
    partial: PartialLabel | None = None
    # Whether the batch lets this item's calls be served from the result cache.
    cache: bool = True
    # The versions' content hashes and the project's model profile, fixed at submit time
    # (None only for items stored before projects existed: labeled with the built-ins).
    project: str | None = None
    guideline_hash: str | None = None
    prompt_hash: str | None = None
    model_profile: str | None = None
    # The item's batch is a pilot: its label goes to review whatever the routing says.
    pilot: bool = False


class ReapReport(BaseModel):
    """What one housekeeping pass did."""

    requeued: int = 0
    failed: int = 0
    review_released: int = 0
    # Reservations of vanished workers counted at their worst case.
    reservations_reaped: int = 0
    evaluations_requeued: int = 0
    evaluations_failed: int = 0
    # Queued items of batches whose submitter died before making them ready.
    dispatched: int = 0


class CounterCheck(BaseModel):
    """Batch counters next to the counts recomputed from item states."""

    counters: dict[str, int]
    actual: dict[str, int]
    # Sizes of the per-state sorted sets (they index the same states).
    indexed: dict[str, int]
    usage_counted: Usage
    usage_actual: Usage

    @property
    def ok(self) -> bool:
        """True when counters, state sets and usage all match the items."""
        same_usage = (
            self.usage_counted.model_copy(update={"cost_usd": 0.0})
            == self.usage_actual.model_copy(update={"cost_usd": 0.0})
            and abs(self.usage_counted.cost_usd - self.usage_actual.cost_usd) < 1e-6
        )
        return self.counters == self.actual == self.indexed and same_usage


LATENCY_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Upper bounds (seconds) of the item labeling-time histogram; larger times count as +Inf."""


def latency_bucket(seconds: float) -> str:
    """The histogram bucket a labeling time falls in (its upper bound, or "+Inf")."""
    for bound in LATENCY_BUCKETS:
        if seconds <= bound:
            return repr(bound)
    return "+Inf"


class LlmTotals(BaseModel):
    """LLM usage (the spend ledger) and item labeling time over all teams."""

    calls: int = 0
    failed_calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    latency_sum_s: float = 0.0
    # Non-cumulative counts per bucket bound (as in LATENCY_BUCKETS, plus "+Inf").
    latency_buckets: dict[str, int] = Field(default_factory=dict)
