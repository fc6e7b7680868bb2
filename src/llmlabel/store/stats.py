"""Reads behind the operator charts: when a batch's items were labeled, when items were reviewed."""

from __future__ import annotations

import json

from llmlabel.domain import ItemState
from llmlabel.store import keys
from llmlabel.store.batches import BatchesMixin

__all__ = ["ReviewedItem", "StatsMixin"]

_PAGE = 500
_REVIEWED = (ItemState.APPROVED, ItemState.FIXED, ItemState.REJECTED)

ReviewedItem = tuple[str, str | None, str, float]
"""(task, guideline_version, state, decided_at) of one reviewed item."""


class StatsMixin(BatchesMixin):
    """Item times for charts; scans like the agreement report (recent batches, in pages)."""

    def batch_item_times(self, team: str, batch_id: str) -> list[tuple[str, float | None]]:
        """(state, labeled_at) per item of a batch; labeled_at None while not labeled.

        An item keeps no labeling time of its own: `rsince` (when it joined the
        review queue) stands for it on routed items, `updated_at` on accepted
        and failed ones (their last transition). A skip moves `rsince` later.
        """
        total = int(self._batch_fields(team, batch_id)["total"])
        out: list[tuple[str, float | None]] = []
        for start in range(0, total, _PAGE):
            with self.redis.pipeline(transaction=False) as pipe:
                for i in range(start, min(start + _PAGE, total)):
                    pipe.hmget(keys.item(team, f"{batch_id}:{i}"), ["state", "rsince", "updated_at"])
                for state, rsince, updated in pipe.execute():
                    if state in (ItemState.QUEUED.value, ItemState.LABELING.value, None):
                        out.append((state or "queued", None))
                    else:
                        out.append((state, float(rsince or updated or 0.0)))
        return out

    def reviewed_items(self, team: str, *, batches: int = 100) -> list[ReviewedItem]:
        """Reviewed items of the team's most recent batches, with their guideline version."""
        ids = self._strs(self.redis.zrevrange(keys.batches(team), 0, batches - 1))
        out: list[ReviewedItem] = []
        for batch_id in ids:
            for state in _REVIEWED:
                members = self._strs(
                    self.redis.zrange(keys.batch_state(team, batch_id, state.value), 0, -1)
                )
                for start in range(0, len(members), _PAGE):
                    with self.redis.pipeline(transaction=False) as pipe:
                        for item_id in members[start : start + _PAGE]:
                            pipe.hmget(keys.item(team, item_id), ["task", "record", "updated_at"])
                        for task, record, updated in pipe.execute():
                            if task is None:
                                continue
                            version = json.loads(record).get("guideline_version") if record else None
                            out.append((task, version, state.value, float(updated or 0.0)))
        return out
