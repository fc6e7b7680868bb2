"""Budgets and the spend ledger: the team's cost cap, and what every provider call cost."""

from __future__ import annotations

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import CurrentPrincipal, Operator, StoreDep, actor_of
from llmlabel.api.schemas import BudgetSet, BudgetUpdate
from llmlabel.store.spend_models import Budget, TeamSpend

__all__ = ["router"]

router = api_router(tags=["budget"])


@router.get("/v1/budget", response_model=Budget, summary="The team's cost cap and what is left")
def get_budget(principal: CurrentPrincipal, store: StoreDep) -> Budget:
    """Cap, period and spend in the current UTC period (no cap: amount_usd is null)."""
    return store.get_budget(principal.team)


@router.put("/v1/budget", response_model=BudgetSet, summary="Set the team's cost cap (operator)")
def put_budget(principal: Operator, store: StoreDep, body: BudgetUpdate) -> BudgetSet:
    """Set or remove the cap every provider call of the team is reserved against.

    Items paused by a budget are queued again (where they stopped); those the
    cap still cannot take pause again at their next call.
    """
    budget, resumed = store.set_budget(
        principal.team, body.amount_usd, body.period, actor=actor_of(principal)
    )
    return BudgetSet(budget=budget, resumed=resumed)


@router.get("/v1/spend", response_model=TeamSpend, summary="The team's spend ledger")
def get_spend(principal: CurrentPrincipal, store: StoreDep) -> TeamSpend:
    """Requests, tokens (cached too), cost and failures: totals, today, this month, per
    project/version/model and per batch, gold upload or evaluation."""
    return store.team_spend(principal.team)
