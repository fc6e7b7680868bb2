"""Request and response bodies of the HTTP API (store models are reused where they fit).

Names follow the template: `XPublic` for what a client reads, `XRequest` for
what it sends, `Xs`/`XList` for collections.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from llmlabel.domain import ItemState, Usage
from llmlabel.store.models import AuditEvent, BatchInfo, Decision, ItemView
from llmlabel.store.spend_models import Budget, BudgetPeriod

__all__ = [
    "ActivateRequest",
    "ActiveVersions",
    "BatchList",
    "BatchPublic",
    "BatchUpdate",
    "BudgetSet",
    "BudgetUpdate",
    "ClaimRequest",
    "DecisionRequest",
    "Health",
    "ItemsPage",
    "LeaseRequest",
    "QueueDepth",
    "ResultLine",
    "ResumeResult",
    "RetryResult",
    "TaskList",
    "TaskSummary",
    "TaskVersions",
    "VersionFile",
]


class BatchPublic(BatchInfo):
    """A batch's progress as clients read it: the store's view plus token and cost totals."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens of every provider call for the batch so far (ledger)."""
        return self.spend.prompt_tokens + self.spend.completion_tokens

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_usd(self) -> float:
        """Provider cost of the batch so far, in US dollars (the ledger: retries and failures too)."""
        return self.spend.cost_usd

    @classmethod
    def of(cls, info: BatchInfo) -> BatchPublic:
        """The public view of a store BatchInfo."""
        return cls.model_validate(info.model_dump())


class BatchList(BaseModel):
    """The team's batches, newest first."""

    batches: list[BatchPublic]
    count: int
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")


class ItemsPage(BaseModel):
    """One page of a batch's items."""

    batch_id: str
    state: ItemState | None
    offset: int
    limit: int
    total: int = Field(description="Items matching the filter (all pages)")
    items: list[ItemView]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")


class ResultLine(BaseModel):
    """One line of the results stream."""

    id: str
    item_id: str
    state: ItemState
    label: dict[str, Any] | None
    source: str | None
    confidence: float | None
    guideline_version: str | None
    prompt_version: str | None
    model: str | None
    route_reason: str | None
    usage: Usage
    error: str | None = None
    input: dict[str, Any] | None = None
    # Pool examples the prompt showed (ids) and the pool snapshot they came from.
    examples: list[str] = Field(default_factory=list)
    pool_snapshot: str | None = None


class BatchUpdate(BaseModel):
    """A new cost cap for a batch (null: no batch cap); paused items resume."""

    model_config = ConfigDict(extra="forbid")

    max_cost_usd: float | None = Field(..., ge=0, allow_inf_nan=False)


class ResumeResult(BaseModel):
    """What a resume (or a raised cap) did."""

    batch_id: str
    resumed: int
    batch: BatchPublic


class BudgetUpdate(BaseModel):
    """The team's cost cap in USD (null removes it) per period: total, UTC day or UTC month."""

    model_config = ConfigDict(extra="forbid")

    amount_usd: float | None = Field(..., ge=0, allow_inf_nan=False)
    period: BudgetPeriod = "total"


class BudgetSet(BaseModel):
    """The team's cap after a change, and how many paused items it resumed."""

    budget: Budget
    resumed: int


class RetryResult(BaseModel):
    """What retry-failed did."""

    batch_id: str
    requeued: int
    batch: BatchPublic


class ClaimRequest(BaseModel):
    """Optional filters of a claim."""

    model_config = ConfigDict(extra="forbid")

    task: str | None = None
    batch_id: str | None = None
    item_id: str | None = Field(None, description="Claim this item (the list view's open)")


class DecisionRequest(BaseModel):
    """A reviewer's verdict on a claimed item."""

    model_config = ConfigDict(extra="forbid")

    lease_token: str = Field(min_length=1)
    action: Decision
    label: dict[str, Any] | None = Field(None, description="The corrected label (fix only)")
    comment: str | None = Field(None, max_length=4000)


class LeaseRequest(BaseModel):
    """The lease token to renew."""

    model_config = ConfigDict(extra="forbid")

    lease_token: str = Field(min_length=1)


class QueueDepth(BaseModel):
    """Items of the team waiting for a reviewer."""

    team: str
    depth: int


class ActiveVersions(BaseModel):
    """The versions new batches of a task use unless they pin others."""

    task: str
    guideline_version: str
    prompt_version: str
    # False when no version was activated yet and the latest files on disk are used.
    pinned: bool


class TaskSummary(BaseModel):
    """A task with its active and available versions."""

    task: str
    active: ActiveVersions
    guideline_versions: list[str]
    prompt_versions: list[str]


class TaskList(BaseModel):
    """Every task offered by this server."""

    tasks: list[TaskSummary]


class VersionFile(BaseModel):
    """One guideline or prompt version and the sha256 of its file."""

    version: str
    content_hash: str
    description: str | None = None


class TaskVersions(BaseModel):
    """All versions of a task, the active pair and the activation history (newest first)."""

    task: str
    active: ActiveVersions
    guidelines: list[VersionFile]
    prompts: list[VersionFile]
    history: list[AuditEvent]


class ActivateRequest(BaseModel):
    """Optional prompt version to activate with the guideline version."""

    model_config = ConfigDict(extra="forbid")

    prompt_version: str | None = Field(
        None, description="Default: the active prompt version, else the latest"
    )


class Health(BaseModel):
    """A probe's answer."""

    status: str

