"""What every fault test checks once a batch has settled: nothing lost, nothing done twice.

"Settled" means no item of the batch is `queued` or `labeling`: each one is
terminal (auto_accepted, approved, fixed, rejected, failed) or waits for a
human (needs_review, in_review). Labeling is over; only reviewers can move it on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from llmlabel.domain import ItemState
from llmlabel.store import BatchCreate, ItemView, Principal, Role, Store

__all__ = ["Settled", "check_settled", "is_settled"]

LABELED = (ItemState.AUTO_ACCEPTED, ItemState.NEEDS_REVIEW)


def is_settled(store: Store, team: str, batch_id: str) -> bool:
    """True once the batch counters show no item queued or labeling."""
    counts = store.get_batch(team, batch_id).counts
    return counts[ItemState.QUEUED] == 0 and counts[ItemState.LABELING] == 0


@dataclass(frozen=True)
class Settled:
    """The checked end state of one batch."""

    items: dict[str, ItemView]
    states: Counter[str]
    attempts: int

    @property
    def relabeled(self) -> int:
        """Labeling starts beyond the first per item (work a fault threw away)."""
        return self.attempts - len(self.items)


def check_settled(
    store: Store, team: str, batch_id: str, client_ids: list[str], *, allow_failed: bool
) -> Settled:
    """Assert the batch settled with every item present once and labeled at most once.

    - 0 lost: exactly the submitted client ids, each once, none queued/labeling;
    - 0 labeled twice: every labeled item has label_writes == 1 and a label,
      every failed item has label_writes == 0 and an error;
    - 0 counted twice: the batch counters, the per-state index sets and the
      usage sums equal what the items themselves hold (Store.check_counters).
    """
    info = store.get_batch(team, batch_id)
    items = {i.id: i for i in store.iter_results(team, batch_id)}
    assert info.total == len(client_ids)
    assert sorted(items) == sorted(client_ids), "items lost or duplicated"
    states = Counter(i.state.value for i in items.values())
    assert states[ItemState.QUEUED] == 0 and states[ItemState.LABELING] == 0, states
    for item in items.values():
        assert item.attempts >= 1, item
        if item.state in LABELED:
            assert item.label_writes == 1 and item.label is not None, item
            # Answered by the provider, now or (a result-cache hit) for an identical call before.
            assert item.usage.calls + item.usage.cache_hits >= 1, item
        elif item.state is ItemState.FAILED:
            assert allow_failed, f"{item.id} failed: {item.error}"
            assert item.label_writes == 0 and item.error, item
        else:
            raise AssertionError(f"{item.id} in unexpected state {item.state}")
    check = store.check_counters(team, batch_id)
    assert check.ok, check
    assert info.counts == {s.value: states[s.value] for s in ItemState}
    return Settled(items=items, states=states, attempts=sum(i.attempts for i in items.values()))


def submit_classification(store: Store, items: list[dict[str, Any]], *, request_hash: str) -> str:
    """Store a classification batch for team "acme" (v1 guideline and prompt); its id."""
    info, _ = store.create_batch(
        Principal(key_id="fault", team="acme", role=Role.ADMIN, name="fault-test"),
        BatchCreate(task="classification", items=items, guideline_version="v1",
                    prompt_version="v1"),
        idempotency_key=None,
        request_hash=request_hash,
    )
    return info.id
