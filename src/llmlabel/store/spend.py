"""The spend ledger in Redis: the meter workers call per provider attempt, budgets, pausing.

`StoreMeter` implements `llmlabel.spend.SpendMeter` for one attribution. Every
step is one Lua script (lua_spend.py), so a reservation is checked against every
cap that applies and held on each of them at once, and a settle counts once
however often it is called. Reservations not settled by `hold_s` (a worker
killed mid-call) are counted by the reaper at their worst case; a late settle
corrects that to the real outcome.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from llmlabel.domain import ItemState, LabelRecord, PartialLabel
from llmlabel.errors import BudgetExceededError, InputError, NotFoundError
from llmlabel.spend import Attribution, CallOutcome, CallQuote
from llmlabel.store import keys
from llmlabel.store.base import StoreBase
from llmlabel.store.models import AuditEvent, WorkItem
from llmlabel.store.spend_models import (
    Budget,
    BudgetPeriod,
    Spend,
    SpendBreakdown,
    TeamSpend,
    spend_of,
)

__all__ = ["Settle", "SpendMixin", "StoreMeter", "period_ids", "settle_step"]

# A settled reservation is remembered this long, so a repeated settle is a no-op.
_SETTLED_TTL_S = 7 * 86400
_REAP_LIMIT = 500
_RESUME_CHUNK = 1000
# How long a reservation waits for other calls' reservations to settle before giving up.
_WAIT_FOR_ROOM_S = 30.0

T = TypeVar("T")
Offload = Callable[..., Awaitable[Any]]
"""Runs a sync store call off the event loop: `await offload(fn, *args)` (see StoreMeter)."""


def period_ids(now: float) -> tuple[str, str]:
    """The UTC day and month ids of a time ("d2026-12-01", "m2026-12")."""
    when = datetime.fromtimestamp(now, UTC)
    return when.strftime("d%Y-%m-%d"), when.strftime("m%Y-%m")


def _budget_error(verdict: list[str], quote: CallQuote) -> BudgetExceededError:
    _, which, cap, spent, held = verdict
    return BudgetExceededError(
        f"the {which} cap of ${float(cap):.4f} has ${float(spent):.4f} spent"
        f" and ${max(0.0, float(held)):.4f} held by calls in flight; a call may cost up to"
        f" ${quote.cost_usd_max:.6f}",
        scope=which,
        cap_usd=float(cap),
        spent_usd=float(spent),
        needed_usd=quote.cost_usd_max,
    )


Settle = tuple[str, CallOutcome]
"""A reservation and the outcome to settle it with."""


def settle_step(settle: Settle) -> tuple[str, list[str], list[Any]]:
    """The SETTLE script call of one reservation (for `_run_many`)."""
    reservation, outcome = settle
    usage = outcome.usage
    return (
        "SETTLE",
        [keys.reservation(reservation), keys.reservations()],
        [
            reservation,
            int(outcome.failed),
            int(outcome.unknown),
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.cached_tokens,
            repr(outcome.cost_usd),
            _SETTLED_TTL_S,
        ],
    )


class StoreMeter:
    """The ledger meter of one attribution (a `SpendMeter`).

    With `defer_settles`, the settle of an answered attempt is kept in memory and
    sent with the next Redis step of the same item instead of on its own: the next
    reservation, or the label write (`Store.save_label(..., settles=...)`), in one
    round trip. Failed attempts settle at once, and whoever defers must send what
    is left (`flush`) on every other way out: a settle that never comes leaves the
    reservation to the reaper, which counts it at its worst case.
    """

    def __init__(
        self,
        store: SpendMixin,
        attribution: Attribution,
        *,
        hold_s: float,
        offload: Offload | None = None,
        defer_settles: bool = False,
    ) -> None:
        self.store = store
        self.attribution = attribution
        self.hold_s = hold_s
        # A worker's event loop runs many calls at once: there each Redis step runs in
        # a store thread (`offload`), so no call waits while another's reply is read.
        self._offload = offload
        self._defer = defer_settles
        self.unsettled: list[Settle] = []

    def take_unsettled(self) -> list[Settle]:
        """The deferred settles, handed over to be sent (put back if sending fails)."""
        taken, self.unsettled = self.unsettled, []
        return taken

    async def flush(self) -> None:
        """Send the deferred settles now."""
        taken = self.take_unsettled()
        if taken:
            try:
                await self._run(self.store.settle_calls, taken)
            except BaseException:
                self.unsettled[:0] = taken
                raise

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._offload is None:
            return fn(*args)
        result: T = await self._offload(fn, *args)
        return result

    async def reserve(self, quote: CallQuote) -> str:
        """Hold the quote's worst case on every cap; waits while only calls in flight are in the way."""
        reservation = secrets.token_hex(12)
        give_up = time.monotonic() + _WAIT_FOR_ROOM_S
        while True:
            settles = self.take_unsettled()
            try:
                verdict = await self._run(
                    self.store.reserve_call, reservation, self.attribution, quote, self.hold_s,
                    settles,
                )
            except BaseException:
                self.unsettled[:0] = settles
                raise
            if verdict[0] == "ok":
                return reservation
            if verdict[0] == "denied" or time.monotonic() > give_up:
                raise _budget_error(verdict, quote)
            await asyncio.sleep(random.uniform(0.05, 0.3))

    async def settle(self, reservation: str, outcome: CallOutcome) -> None:
        """Count the attempt once and release its reservation (answered ones maybe later)."""
        if not reservation:
            return
        if self._defer and not outcome.failed:
            self.unsettled.append((reservation, outcome))
            return
        await self._run(self.store.settle_call, reservation, outcome)

    async def record_hit(self, model: str) -> None:
        """Count a result-cache hit (free)."""
        await self._run(self.store.record_hit, self.attribution, model)


class SpendMixin(StoreBase):
    """Reserve and settle provider calls, read the ledger, set caps, pause and resume items."""

    # -- the meter -------------------------------------------------------------

    def spend_meter(
        self,
        attribution: Attribution,
        *,
        hold_s: float | None = None,
        offload: Offload | None = None,
        defer_settles: bool = False,
    ) -> StoreMeter:
        """A meter for calls paid by `attribution`; `hold_s` bounds one attempt (default: timeout + 60 s)."""
        hold = hold_s if hold_s is not None else self.settings.request_timeout_s + 60.0
        return StoreMeter(
            self, attribution, hold_s=hold, offload=offload, defer_settles=defer_settles
        )

    def reserve_call(
        self,
        reservation: str,
        who: Attribution,
        quote: CallQuote,
        hold_s: float,
        settles: Sequence[Settle] = (),
    ) -> list[str]:
        """One RESERVE step: ['ok'] or ['wait' | 'denied', which, cap, spent, held].

        `settles` (deferred by the meter) are sent first, in the same round trip.
        """
        now = self._now()
        day, month = period_ids(now)
        reserve = (
            "RESERVE",
            [keys.reservation(reservation), keys.reservations()],
            [
                reservation,
                repr(quote.cost_usd_max),
                now + hold_s,
                now,
                keys.team_prefix(who.team),
                who.scope,
                who.project,
                who.version,
                quote.model,
                day,
                month,
            ],
        )
        if not settles:
            verdict: list[str] = self._run(*reserve)
            return verdict
        verdict = self._run_many([*map(settle_step, settles), reserve])[-1]
        return verdict

    def settle_call(self, reservation: str, outcome: CallOutcome) -> bool:
        """One SETTLE step; False when the reservation was counted already."""
        return bool(self._run(*settle_step((reservation, outcome))))

    def settle_calls(self, settles: Sequence[Settle]) -> None:
        """Several SETTLE steps in one round trip."""
        if settles:
            self._run_many([settle_step(s) for s in settles])

    def release_call(self, reservation: str) -> bool:
        """Drop a pending reservation whose request was never sent (nothing is counted)."""
        return bool(
            self._run("RELEASE", [keys.reservation(reservation), keys.reservations()], [reservation])
        )

    def record_hit(self, who: Attribution, model: str) -> None:
        """Count one result-cache hit for `who`."""
        day, month = period_ids(self._now())
        self._run(
            "HIT",
            [],
            [keys.team_prefix(who.team), who.scope, who.project, who.version, model, day, month],
        )

    def reap_spend(self) -> int:
        """Count reservations whose worker vanished at their worst case; returns how many."""
        total = 0
        while True:
            reaped = int(
                self._run("REAP_SPEND", [keys.reservations()], [self._now(), _REAP_LIMIT, _SETTLED_TTL_S])
            )
            total += reaped
            due = self.redis.zcount(keys.reservations(), "-inf", self._now())
            if reaped == 0 or not due:
                return total

    # -- reading the ledger ----------------------------------------------------

    def scope_spend(self, team: str, scope: str) -> Spend:
        """Ledger totals of one batch ("batch:{id}"), gold upload or evaluation."""
        return spend_of(self._hash(keys.scope_spend(team, scope)))

    def spend_totals(self) -> Spend:
        """Ledger totals over all teams."""
        return spend_of(self._hash(keys.spend_total()))

    def spend_by_model(self) -> dict[str, Spend]:
        """Ledger totals over all teams, per model."""
        fields = self._hash(keys.spend_models())
        models = {name.rpartition("\t")[0] for name in fields}
        return {model: spend_of(fields, f"{model}\t") for model in sorted(models)}

    def team_spend(self, team: str, *, scopes: int = 50) -> TeamSpend:
        """The team's ledger: totals, current UTC day and month, breakdowns, latest scopes."""
        day, month = period_ids(self._now())
        scope_ids = self._strs(self.redis.zrevrange(keys.team_spend_scopes(team), 0, scopes - 1))
        with self.redis.pipeline(transaction=False) as pipe:
            for key in (
                keys.team_spend(team),
                keys.team_spend_period(team, day),
                keys.team_spend_period(team, month),
                keys.team_spend_by(team),
            ):
                pipe.hgetall(key)
            for scope in scope_ids:
                pipe.hgetall(keys.scope_spend(team, scope))
            total, today, this_month, by, *per_scope = pipe.execute()
        groups = {name.rpartition("\t")[0] for name in by}
        breakdown = []
        for group in sorted(groups):
            project, version, model = group.split("\t")
            breakdown.append(
                SpendBreakdown(
                    project=project, version=version, model=model, spend=spend_of(by, group + "\t")
                )
            )
        return TeamSpend(
            team=team,
            total=spend_of(total),
            day=spend_of(today),
            month=spend_of(this_month),
            by=breakdown,
            scopes={s: spend_of(f) for s, f in zip(scope_ids, per_scope, strict=True)},
        )

    # -- budgets ---------------------------------------------------------------

    def get_budget(self, team: str) -> Budget:
        """The team's cap and its figures in the current period."""
        fields = self._hash(keys.team_budget(team))
        period: BudgetPeriod = fields.get("period", "total")  # type: ignore[assignment]
        day, month = period_ids(self._now())
        period_id = {"day": day, "month": month}.get(period, "total")
        key = keys.team_spend(team) if period == "total" else keys.team_spend_period(team, period_id)
        spent = spend_of(self._hash(key))
        amount = float(fields["amount_usd"]) if "amount_usd" in fields else None
        return Budget(
            team=team,
            amount_usd=amount,
            period=period,
            period_id=period_id,
            spent_usd=spent.cost_usd,
            reserved_usd=spent.reserved_usd,
            remaining_usd=round(amount - spent.cost_usd, 9) if amount is not None else None,
            set_by=fields.get("set_by"),
            set_at=float(fields["set_at"]) if "set_at" in fields else None,
        )

    def set_budget(
        self, team: str, amount_usd: float | None, period: BudgetPeriod, *, actor: str
    ) -> tuple[Budget, int]:
        """Set (or with None remove) the team cap, then resume its paused items; (budget, resumed)."""
        team = keys.check_team(team)
        before = self.get_budget(team)
        if amount_usd is None:
            self.redis.delete(keys.team_budget(team))
        else:
            self.redis.hset(
                keys.team_budget(team),
                mapping={
                    "amount_usd": repr(float(amount_usd)),
                    "period": period,
                    "set_by": actor,
                    "set_at": repr(self._now()),
                },
            )
        self._audit(
            team,
            AuditEvent(
                at=self._now(),
                actor=actor,
                action="budget.set",
                before={"amount_usd": before.amount_usd, "period": before.period},
                after={"amount_usd": amount_usd, "period": period},
            ).model_dump_json(),
        )
        resumed = sum(
            self.resume_batch(team, batch_id, actor=actor, audit=False)
            for batch_id in self._strs(list(self.redis.smembers(keys.team_paused(team))))
        )
        return self.get_budget(team), resumed

    def set_batch_cap(
        self, team: str, batch_id: str, max_cost_usd: float | None, *, actor: str
    ) -> int:
        """Set (or remove) a batch's cap, then resume its paused items; returns how many."""
        fields = self._hash(keys.batch(team, batch_id)) if keys.is_batch_id(batch_id) else {}
        if "task" not in fields:
            raise NotFoundError(f"batch {batch_id} not found")
        if max_cost_usd is not None and max_cost_usd < 0:
            raise InputError("max_cost_usd must be >= 0", field="max_cost_usd")
        scope = keys.scope_spend(team, f"batch:{batch_id}")
        with self.redis.pipeline() as pipe:
            if max_cost_usd is None:
                pipe.hdel(scope, "cap_usd")
                pipe.hdel(keys.batch(team, batch_id), "max_cost_usd")
            else:
                pipe.hset(scope, "cap_usd", repr(float(max_cost_usd)))
                pipe.hset(keys.batch(team, batch_id), "max_cost_usd", repr(float(max_cost_usd)))
            pipe.execute()
        self._audit(
            team,
            AuditEvent(
                at=self._now(),
                actor=actor,
                action="batch.cap",
                before={"batch_id": batch_id, "max_cost_usd": fields.get("max_cost_usd")},
                after={"batch_id": batch_id, "max_cost_usd": max_cost_usd},
            ).model_dump_json(),
        )
        return self.resume_batch(team, batch_id, actor=actor, audit=False)

    # -- pausing and resuming items --------------------------------------------

    def pause_item(self, work: WorkItem, reason: str, partial: PartialLabel | None) -> bool:
        """Move an item being labeled to paused (keeping what it drew); False if the lease was lost."""
        return bool(
            self._run(
                "PAUSE",
                [keys.labeling_leases()],
                [
                    keys.team_prefix(work.team),
                    work.team,
                    work.item_id,
                    work.lease_token,
                    self._now(),
                    reason[:2000],
                    partial.model_dump_json() if partial is not None and partial.samples else "",
                ],
            )
        )

    def partial_labels(self, team: str, item_ids: list[str]) -> dict[str, PartialLabel]:
        """What paused items had drawn before, for the ones that drew anything."""
        with self.redis.pipeline(transaction=False) as pipe:
            for item_id in item_ids:
                pipe.hget(keys.item(team, item_id), "partial")
            rows = pipe.execute()
        return {
            item_id: PartialLabel.model_validate_json(row)
            for item_id, row in zip(item_ids, rows, strict=True)
            if row
        }

    def resume_batch(self, team: str, batch_id: str, *, actor: str, audit: bool = True) -> int:
        """Queue a batch's paused items again where they stopped; returns how many."""
        fields = self._hash(keys.batch(team, batch_id)) if keys.is_batch_id(batch_id) else {}
        if "task" not in fields:
            raise NotFoundError(f"batch {batch_id} not found")
        paused = keys.batch_state(team, batch_id, ItemState.PAUSED.value)
        moved = 0
        while True:
            now = self._now()
            ids: list[str] = self._run(
                "RESUME",
                [keys.labeling_leases(), paused],
                [
                    keys.team_prefix(team),
                    team,
                    now,
                    now + self.settings.labeling_lease_s,
                    _RESUME_CHUNK,
                    batch_id,
                ],
            )
            if not ids:
                break
            moved += len(ids)
            # Watched by the labeling lease set too: a lost enqueue is redone by the reaper.
            self._enqueue(team, ids)
        if audit:
            event = AuditEvent(
                at=self._now(),
                actor=actor,
                action="batch.resume",
                after={"batch_id": batch_id, "resumed": moved},
            )
            self._audit(team, event.model_dump_json())
        return moved


    # -- history for estimates ---------------------------------------------------

    def label_history(
        self, team: str, task: str, guideline_version: str, prompt_version: str, *, limit: int = 200
    ) -> tuple[list[int], float | None]:
        """Samples drawn per item and completion tokens per sample of recent labels of a version.

        Reads at most `limit` label records from the team's newest batches of the
        task pinned to these versions (what the estimate of a new batch learns from).
        """
        samples_used: list[int] = []
        completion = drawn = 0
        for batch_id in self._strs(self.redis.zrevrange(keys.batches(team), 0, 19)):
            fields = self._strs(self.redis.hmget(keys.batch(team, batch_id), ["task", "gv", "pv", "total"]))
            if fields[:3] != [task, guideline_version, prompt_version]:
                continue
            with self.redis.pipeline(transaction=False) as pipe:
                for i in range(min(int(fields[3] or 0), limit - len(samples_used))):
                    pipe.hget(keys.item(team, f"{batch_id}:{i}"), "record")
                rows = pipe.execute()
            for row in rows:
                if not row:
                    continue
                record = LabelRecord.model_validate_json(row)
                samples_used.append(record.samples_used)
                completion += record.usage.completion_tokens
                drawn += record.samples_used
            if len(samples_used) >= limit:
                break
        return samples_used, (completion / drawn if drawn else None)
