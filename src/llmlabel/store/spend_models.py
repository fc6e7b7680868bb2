"""Pydantic models of the spend ledger and budgets, as the store returns them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Budget", "BudgetPeriod", "Spend", "SpendBreakdown", "TeamSpend", "spend_of"]

BudgetPeriod = Literal["total", "day", "month"]

_INT_FIELDS = (
    "requests",
    "failed",
    "timeouts",
    "unsettled",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_hits",
)


class Spend(BaseModel):
    """Ledger totals of provider calls: every attempt once, whatever became of the item.

    requests: attempts sent (retries included); failed: those that raised;
    timeouts: those with no answer (counted at their worst-case cost); unsettled:
    reservations of vanished workers the reaper counted at their worst case;
    cache_hits: calls answered from llmlabel's result cache (free, not requests).
    reserved_usd: worst cases held right now by calls in flight.
    """

    model_config = ConfigDict(extra="forbid")

    requests: int = 0
    failed: int = 0
    timeouts: int = 0
    unsettled: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_hits: int = 0
    cost_usd: float = 0.0
    reserved_usd: float = 0.0
    cap_usd: float | None = None


def spend_of(fields: Mapping[str, str], prefix: str = "") -> Spend:
    """A Spend from a ledger hash (or the fields of one breakdown, with their prefix)."""
    values: dict[str, int | float | None] = {
        name: int(fields.get(prefix + name, 0)) for name in _INT_FIELDS
    }
    values["cost_usd"] = round(float(fields.get(prefix + "cost_usd", 0.0)), 9)
    # Float sums of +worst/-worst leave dust; nothing held is shown as 0.
    reserved = round(float(fields.get(prefix + "reserved_usd", 0.0)), 9)
    values["reserved_usd"] = max(0.0, reserved)
    cap = fields.get(prefix + "cap_usd")
    values["cap_usd"] = float(cap) if cap is not None else None
    return Spend.model_validate(values)


class SpendBreakdown(BaseModel):
    """The ledger totals of one project, version and model."""

    project: str
    version: str
    model: str
    spend: Spend


class Budget(BaseModel):
    """A team's cost cap and what it has left in the current period."""

    team: str
    amount_usd: float | None = Field(description="None: no team cap")
    period: BudgetPeriod = "total"
    period_id: str = Field(description="The UTC period the figures are for: total, d2026-12-01, m2026-12")
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    remaining_usd: float | None = None
    set_by: str | None = None
    set_at: float | None = None


class TeamSpend(BaseModel):
    """A team's ledger: totals, this UTC day and month, per project/version/model, per scope."""

    team: str
    total: Spend
    day: Spend
    month: Spend
    by: list[SpendBreakdown]
    scopes: dict[str, Spend]
