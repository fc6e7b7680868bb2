"""Cursor-paged listings: batches, a batch's items, gold items, evaluations.

Every listing route takes `cursor` and answers `next_cursor` (None on the last
page); cursors are opaque (`store/paging.py`) and stay valid while new
entries arrive. The offset parameters some routes had still work beside them.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmlabel.domain import ItemState
from llmlabel.store import keys
from llmlabel.store.base import StoreBase, batch_info
from llmlabel.store.gold_models import GoldEvaluation, GoldItem
from llmlabel.store.models import BatchInfo, ItemView
from llmlabel.store.paging import decode_cursor, encode_cursor, zset_page

__all__ = ["ListingsMixin"]

class ListingsMixin(StoreBase):
    """One page of each listing and the cursor of the next."""

    def batches_page(
        self, team: str, *, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[BatchInfo], str | None]:
        """The team's batches, newest first."""
        page, next_cursor = zset_page(self.redis, keys.batches(team), cursor=cursor, limit=limit)
        ids = [member for member, _ in page]
        with self.redis.pipeline(transaction=False) as pipe:
            for batch_id in ids:
                pipe.hgetall(keys.batch(team, batch_id))
                pipe.hgetall(keys.scope_spend(team, f"batch:{batch_id}"))
            rows = pipe.execute()
        pairs = zip(ids, rows[::2], rows[1::2], strict=True)
        return [batch_info(team, b, f, s) for b, f, s in pairs if "task" in f], next_cursor

    def items_page(
        self,
        team: str,
        batch_id: str,
        *,
        state: ItemState | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> tuple[list[ItemView], str | None]:
        """A batch's items in submit order (optionally in one state) from the cursor on."""
        info = self.get_batch(team, batch_id)  # type: ignore[attr-defined]
        ids: list[str]
        if state is None:
            position = decode_cursor(cursor, keys=("i",), types={"i": int})
            first = max(int(position["i"]), 0) if position else 0
            end = min(first + limit, info.total)
            ids = [f"{batch_id}:{i}" for i in range(first, end)]
            next_cursor = encode_cursor({"i": end}) if end < info.total else None
        else:
            page, next_cursor = zset_page(self.redis,
                                          keys.batch_state(team, batch_id, state.value),
                                          cursor=cursor, limit=limit, newest_first=False)
            ids = [member for member, _ in page]
        views: list[ItemView] = self._views(team, ids)  # type: ignore[attr-defined]
        return views, next_cursor

    @staticmethod
    def items_cursor_after(item_id: str, state: ItemState | None) -> str:
        """The cursor of the page after the one ending with `item_id` (offset pages use it)."""
        index = int(item_id.rpartition(":")[2])
        if state is None:
            return encode_cursor({"i": index + 1})
        return encode_cursor({"s": float(index), "m": item_id})

    def gold_page(
        self, team: str, tasks: Sequence[str], *, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[GoldItem], str | None]:
        """Gold items of these tasks (in this order), each task's in upload order."""
        position = decode_cursor(cursor, keys=("t", "c"),
                                 types={"t": str, "c": (str, type(None))})
        order = list(tasks)
        start = order.index(position["t"]) if position and position["t"] in order else 0
        inner: str | None = position["c"] if position else None
        found: list[str] = []
        for task in order[start:]:
            page, inner = zset_page(self.redis, keys.gold_task(team, task), cursor=inner,
                                    limit=limit - len(found), newest_first=False)
            found.extend(member for member, _ in page)
            if len(found) >= limit:
                if inner is None and task != order[-1]:
                    next_task = order[order.index(task) + 1]
                    return self._golds(team, found), encode_cursor({"t": next_task, "c": None})
                more = {"t": task, "c": inner} if inner else None
                return self._golds(team, found), encode_cursor(more) if more else None
            inner = None
        return self._golds(team, found), None

    def _golds(self, team: str, ids: list[str]) -> list[GoldItem]:
        golds: list[GoldItem] = self.get_golds(team, ids)  # type: ignore[attr-defined]
        return golds

    def evaluations_page(
        self, team: str, task: str, *, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[GoldEvaluation], str | None]:
        """A task's evaluations, newest first."""
        page, next_cursor = zset_page(self.redis, keys.gold_evaluations(team, task),
                                      cursor=cursor, limit=limit)
        with self.redis.pipeline(transaction=False) as pipe:
            for evaluation_id, _ in page:
                pipe.get(keys.gold_evaluation(team, evaluation_id))
            rows = pipe.execute()
        return [GoldEvaluation.model_validate_json(row) for row in rows if row], next_cursor
