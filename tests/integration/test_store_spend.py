"""The spend ledger against a real Redis: reserve, settle once, caps, the reaper, pause/resume."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from llmlabel.domain import ItemState, PartialLabel, Sample, Usage
from llmlabel.errors import BudgetExceededError
from llmlabel.settings import Settings
from llmlabel.spend import Attribution, CallOutcome, CallQuote
from llmlabel.store import BatchCreate, Store
from tests.integration.conftest import principal

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

WHO = Attribution(team="acme", scope="batch:b_0000000000000001", project="safety", version="v1/v1")
QUOTE = CallQuote(
    model="m", prompt_tokens=100, prompt_tokens_max=400, completion_tokens_max=50, cost_usd_max=0.01
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cstore(make_settings: Callable[..., Settings], clock: Clock) -> Store:
    base = Store.from_settings(make_settings(request_timeout_s=10))
    return Store(base.redis, settings=base.settings, clock=clock)


def ok(prompt: int = 90, completion: int = 20, cost: float = 0.002) -> CallOutcome:
    return CallOutcome(
        usage=Usage(calls=1, prompt_tokens=prompt, completion_tokens=completion), cost_usd=cost
    )


async def test_settle_counts_once_and_releases_the_reservation(cstore: Store) -> None:
    meter = cstore.spend_meter(WHO)
    rid = await meter.reserve(QUOTE)
    held = cstore.scope_spend("acme", WHO.scope)
    assert held.reserved_usd == pytest.approx(0.01) and held.requests == 0
    await meter.settle(rid, ok())
    await meter.settle(rid, ok())  # a repeated settle is a no-op
    spend = cstore.scope_spend("acme", WHO.scope)
    assert (spend.requests, spend.prompt_tokens, spend.completion_tokens) == (1, 90, 20)
    assert spend.cost_usd == pytest.approx(0.002) and spend.reserved_usd == 0
    team = cstore.team_spend("acme")
    assert team.total == team.day == team.month == spend.model_copy(update={"cap_usd": None})
    assert [(b.project, b.version, b.model) for b in team.by] == [("safety", "v1/v1", "m")]
    assert team.by[0].spend.requests == 1 and list(team.scopes) == [WHO.scope]
    assert cstore.spend_totals().requests == 1
    assert cstore.spend_by_model()["m"].prompt_tokens == 90


async def test_failed_and_timed_out_calls_count(cstore: Store) -> None:
    meter = cstore.spend_meter(WHO)
    failed = CallOutcome(usage=Usage(calls=1), cost_usd=0.0, failed=True)
    timed_out = CallOutcome(usage=Usage(calls=1), cost_usd=0.0, failed=True, unknown=True)
    await meter.settle(await meter.reserve(QUOTE), failed)
    await meter.settle(await meter.reserve(QUOTE), timed_out)
    spend = cstore.scope_spend("acme", WHO.scope)
    assert (spend.requests, spend.failed, spend.timeouts) == (2, 2, 1)
    # No answer: the provider may have billed it, so it costs its worst case.
    assert spend.cost_usd == pytest.approx(0.01) and spend.prompt_tokens == 0


async def test_a_vanished_workers_reservation_is_counted_once_by_the_reaper(
    cstore: Store, clock: Clock
) -> None:
    meter = cstore.spend_meter(WHO)
    rid = await meter.reserve(QUOTE)
    assert cstore.reap_spend() == 0  # not due yet
    clock.now += 71  # request timeout 10 s + 60 s
    assert cstore.reap_spend() == 1
    assert cstore.reap_spend() == 0
    spend = cstore.scope_spend("acme", WHO.scope)
    assert (spend.requests, spend.unsettled, spend.reserved_usd) == (1, 1, 0)
    assert spend.cost_usd == pytest.approx(0.01)
    # The worker was only slow: its late settle replaces the worst case by the real outcome.
    await meter.settle(rid, ok())
    spend = cstore.scope_spend("acme", WHO.scope)
    assert (spend.requests, spend.unsettled, spend.prompt_tokens) == (1, 0, 90)
    assert spend.cost_usd == pytest.approx(0.002)


def submit(store: Store, n: int, cap: float | None) -> str:
    info, _ = store.create_batch(
        principal(),
        BatchCreate(
            task="classification",
            items=[{"id": str(i), "text": f"t{i}"} for i in range(n)],
            guideline_version="v1",
            prompt_version="v1",
            max_cost_usd=cap,
        ),
        idempotency_key=None,
        request_hash=f"h{n}{cap}",
    )
    return info.id


async def test_batch_cap_refuses_what_does_not_fit(cstore: Store) -> None:
    batch_id = submit(cstore, 2, cap=0.025)
    who = Attribution(team="acme", scope=f"batch:{batch_id}")
    meter = cstore.spend_meter(who)
    await meter.settle(await meter.reserve(QUOTE), ok(cost=0.01))
    rid = await meter.reserve(QUOTE)  # 0.01 spent + 0.01 held + 0.01 = 0.03 > 0.025 next
    assert cstore.reserve_call("x1", who, QUOTE, 10)[0] == "wait"
    await meter.settle(rid, ok(cost=0.01))
    with pytest.raises(BudgetExceededError) as refused:
        await meter.reserve(QUOTE)
    assert refused.value.scope == "batch" and refused.value.cap_usd == pytest.approx(0.025)
    info = cstore.get_batch("acme", batch_id)
    assert info.max_cost_usd == pytest.approx(0.025)
    assert info.spend.cost_usd == pytest.approx(0.02) and info.spend.cap_usd == pytest.approx(0.025)


async def test_team_cap_per_period(cstore: Store, clock: Clock) -> None:
    budget, _ = cstore.set_budget("acme", 0.015, "day", actor="ops")
    assert budget.amount_usd == 0.015 and budget.period_id.startswith("d")
    meter = cstore.spend_meter(WHO)
    await meter.settle(await meter.reserve(QUOTE), ok(cost=0.01))
    with pytest.raises(BudgetExceededError) as refused:
        await meter.reserve(QUOTE)
    assert refused.value.scope == "team"
    assert cstore.get_budget("acme").remaining_usd == pytest.approx(0.005)
    clock.now += 86400  # a new UTC day has its own spend
    await meter.reserve(QUOTE)
    other = Attribution(team="other", scope="batch:b_0000000000000002")
    await cstore.spend_meter(other).reserve(QUOTE)  # another team's cap is not ours


def test_pause_and_resume_keep_what_was_drawn(cstore: Store) -> None:
    batch_id = submit(cstore, 3, cap=0.0)
    work = cstore.claim_labeling(2)
    assert [w.item_id for w in work] == [f"{batch_id}:0", f"{batch_id}:1"]
    partial = PartialLabel(
        samples=[Sample(index=0, raw="{}", label={"label": "positive"})],
        usage=Usage(calls=1, prompt_tokens=5),
        round_end=3,
    )
    assert cstore.pause_item(work[0], "budget: cap", partial)
    assert cstore.pause_item(work[1], "budget: cap", None)
    assert not cstore.pause_item(work[1], "budget: cap", None)  # once
    info = cstore.get_batch("acme", batch_id)
    assert info.counts["paused"] == 2 and info.state == "running" and not info.labeled
    assert cstore.check_counters("acme", batch_id).ok
    resumed = cstore.set_batch_cap("acme", batch_id, 1.0, actor="ops")
    assert resumed == 2
    again = {w.item_id: w for w in cstore.claim_labeling(10)}
    assert len(again) == 3
    assert again[f"{batch_id}:0"].partial == partial and again[f"{batch_id}:1"].partial is None
    assert cstore.get_batch("acme", batch_id).counts[ItemState.LABELING.value] == 3
    assert cstore.resume_batch("acme", batch_id, actor="ops") == 0


async def test_deferred_settles_ride_on_the_next_step_and_count_once(cstore: Store) -> None:
    meter = cstore.spend_meter(WHO, defer_settles=True)
    first = await meter.reserve(QUOTE)
    await meter.settle(first, ok())
    # Answered: kept for the item's next step, still held on the caps meanwhile.
    assert meter.unsettled == [(first, ok())]
    assert cstore.scope_spend("acme", WHO.scope).requests == 0
    # A failed attempt settles at once (its retry must not wait behind its own hold).
    failed = CallOutcome(usage=Usage(calls=1), cost_usd=0.0, failed=True)
    await meter.settle(await meter.reserve(QUOTE), failed)
    spend = cstore.scope_spend("acme", WHO.scope)
    # The second reservation carried the first settle in the same round trip.
    assert (spend.requests, spend.failed, spend.prompt_tokens) == (2, 1, 90)
    assert meter.unsettled == [] and spend.reserved_usd == pytest.approx(0.0)
    third = await meter.reserve(QUOTE)
    await meter.settle(third, ok(prompt=10))
    # Redis lost its scripts (a restart): the pipelined steps load them again.
    cstore.redis.script_flush()
    await meter.flush()
    await meter.flush()  # nothing left: a no-op
    cstore.settle_calls([(third, ok(prompt=10))])  # sent twice: counted once
    spend = cstore.scope_spend("acme", WHO.scope)
    assert (spend.requests, spend.prompt_tokens) == (3, 100)
    assert spend.reserved_usd == pytest.approx(0.0)
