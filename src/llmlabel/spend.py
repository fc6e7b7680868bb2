"""The spend seam: what one provider call may cost, and the meter that reserves and settles it.

The backend layer (`backends/sampling.py`) calls a `SpendMeter` around every
provider attempt, retries included: `reserve` the attempt's worst-case cost
against every cap that applies before sending it (BudgetExceededError when it
does not fit), `settle` what really happened after. The core only knows this
protocol; the Redis ledger shared by every worker is `llmlabel.store.spend`.
A meter is bound to one `Attribution` (team, batch or gold/evaluation job,
project, version), so the backend layer never learns what it is labeling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from llmlabel.domain import Usage

__all__ = ["Attribution", "CallOutcome", "CallQuote", "NullMeter", "SpendMeter"]


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who pays for the calls a meter records.

    scope: "batch:{id}", "gold:{upload id}" or "eval:{evaluation id}".
    project/version: the task (or project) and the guideline/prompt versions.
    """

    team: str
    scope: str
    project: str = ""
    version: str = ""


@dataclass(frozen=True, slots=True)
class CallQuote:
    """What one provider attempt may cost at most, worked out before it is sent.

    prompt_tokens: the expected prompt size (what rate limits reserve);
    prompt_tokens_max: an upper bound (UTF-8 bytes plus framing: a byte-level BPE
    token is never shorter than one byte); completion_tokens_max: max_tokens x n.
    cost_usd_max prices the two maxima, so the ledger's cost of the call can only
    be higher if a provider bills beyond max_tokens or past the byte bound.
    """

    model: str
    prompt_tokens: int
    prompt_tokens_max: int
    completion_tokens_max: int
    cost_usd_max: float


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What one provider attempt really did.

    usage: the provider's own token counts (zeros when it returned none);
    failed: the attempt raised; unknown: no answer came back (timeout, connection
    lost), so the provider may have billed it: the ledger counts it at the
    reserved worst case.
    """

    usage: Usage
    cost_usd: float
    failed: bool = False
    unknown: bool = False


@runtime_checkable
class SpendMeter(Protocol):
    """Reserves, then settles, each provider attempt of one attribution."""

    async def reserve(self, quote: CallQuote) -> str:
        """Hold `quote.cost_usd_max` against every cap; the reservation id.

        Raises BudgetExceededError when a cap cannot take it (after waiting a
        little when only other calls' reservations are in the way).
        """
        ...

    async def settle(self, reservation: str, outcome: CallOutcome) -> None:
        """Record the attempt once and release its reservation (idempotent)."""
        ...

    async def record_hit(self, model: str) -> None:
        """Count a call answered from llmlabel's own result cache (free)."""
        ...


class NullMeter:
    """A meter that records nothing and never refuses (the CLI, unit tests)."""

    async def reserve(self, quote: CallQuote) -> str:
        """Return a dummy reservation."""
        return ""

    async def settle(self, reservation: str, outcome: CallOutcome) -> None:
        """Do nothing."""
        return

    async def record_hit(self, model: str) -> None:
        """Do nothing."""
        return
