"""A project's example pool: reviewed items (and imported gold) with their final labels.

Approved and fixed decisions enter the pool inside the decision's own Lua step
(`pool_add` in `lua_prelude.py`: DECIDE and BULK_APPROVE), and an undo takes the
example back out in its step, so the pool never misses a decision nor keeps an
undone one. Every change bumps the pool's revision counter in the same step;
workers read it to know when to reload their cached snapshot. Keys live under
the team's prefix (`keys.pool*`): another team's pool is not reachable.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, cast

from llmlabel.errors import NotFoundError
from llmlabel.fewshot import PoolExample
from llmlabel.store import keys
from llmlabel.store.base import StoreBase
from llmlabel.store.models import AuditEvent
from llmlabel.store.paging import zset_page
from llmlabel.store.projects import ProjectsMixin

__all__ = ["PoolFlag", "PoolMixin"]

PoolFlag = Literal["pinned", "excluded"]


def _with_flag(raw: str, flag: str | None) -> PoolExample:
    example = PoolExample.model_validate_json(raw)
    if flag in ("pinned", "excluded"):
        example = example.model_copy(update={flag: True})
    return example


class PoolMixin(StoreBase):
    """Read, flag, edit and fill a project's example pool."""

    def pool_rev(self, team: str, project: str) -> int:
        """The pool's revision: it changes with every change of the pool."""
        return int(self._text(self.redis.get(keys.pool_rev(team, project))) or 0)

    def pool_examples(self, team: str, project: str) -> tuple[int, list[PoolExample]]:
        """(revision, every example with its flags), read in one transaction (one state)."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(keys.pool_rev(team, project))
            pipe.hgetall(keys.pool(team, project))
            pipe.hgetall(keys.pool_flags(team, project))
            rev, rows, flags = pipe.execute()
        examples = [_with_flag(raw, flags.get(eid)) for eid, raw in sorted(rows.items())]
        return int(rev or 0), examples

    def pool_page(
        self, team: str, project: str, *, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[PoolExample], str | None]:
        """Examples newest first (by when each entered the pool), a page at a time."""
        page, next_cursor = zset_page(
            self.redis, keys.pool_ids(team, project), cursor=cursor, limit=limit
        )
        ids = [member for member, _ in page]
        if not ids:
            return [], next_cursor
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.pool(team, project), ids)
            pipe.hmget(keys.pool_flags(team, project), ids)
            rows, flags = pipe.execute()
        found = [
            _with_flag(raw, flag) for raw, flag in zip(rows, flags, strict=True) if raw is not None
        ]
        return found, next_cursor

    def pool_example(self, team: str, project: str, example_id: str) -> PoolExample:
        """One example; NotFoundError if the pool has none of that id."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.pool(team, project), example_id)
            pipe.hget(keys.pool_flags(team, project), example_id)
            raw, flag = pipe.execute()
        if raw is None:
            raise NotFoundError(f"example {example_id} is not in the pool of project {project}")
        return _with_flag(raw, flag)

    def set_pool_flag(
        self, team: str, actor: str, project: str, example_id: str, flag: PoolFlag | None
    ) -> PoolExample:
        """Pin, exclude or clear (None) one example; audited, the revision moves in the same step."""
        before = self.pool_example(team, project, example_id)
        event = AuditEvent(
            at=self._now(), actor=actor, action="project.example.flag", item_id=example_id,
            before={"pinned": before.pinned, "excluded": before.excluded},
            after={"pinned": flag == "pinned", "excluded": flag == "excluded"},
        )
        with self.redis.pipeline(transaction=True) as pipe:
            ProjectsMixin._push_history(pipe, team, project, event)
            if flag is None:
                pipe.hdel(keys.pool_flags(team, project), example_id)
            else:
                pipe.hset(keys.pool_flags(team, project), example_id, flag)
            pipe.incr(keys.pool_rev(team, project))
            pipe.execute()
        return self.pool_example(team, project, example_id)

    def put_pool_examples(
        self, team: str, actor: str, project: str, examples: Iterable[PoolExample], *, action: str
    ) -> int:
        """Store examples (an edit, or imported gold) as they are, audited; returns how many."""
        rows = {e.id: e.stored_json() for e in examples}
        if not rows:
            return 0
        event = AuditEvent(
            at=self._now(), actor=actor, action=action,
            item_id=next(iter(rows)) if len(rows) == 1 else None, after={"examples": len(rows)},
        )
        with self.redis.pipeline(transaction=True) as pipe:
            ProjectsMixin._push_history(pipe, team, project, event)
            pipe.hset(keys.pool(team, project), mapping=cast("dict[Any, Any]", rows))
            at = self._now()
            pipe.zadd(keys.pool_ids(team, project), dict.fromkeys(rows, at), nx=True)
            pipe.incr(keys.pool_rev(team, project))
            pipe.execute()
        return len(rows)
