"""Batches and items: all-or-nothing submit, progress, paging, results, retrying failures."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence

import redis

from llmlabel.domain import ItemState, LabelRecord, Usage
from llmlabel.errors import ConflictError, NotFoundError, StoreError
from llmlabel.store import keys
from llmlabel.store.base import StoreBase, batch_info, item_view, split_item_id
from llmlabel.store.models import (
    PRIORITY_WEIGHTS,
    AuditEvent,
    BatchCreate,
    BatchInfo,
    CounterCheck,
    ItemView,
    Principal,
)

__all__ = ["BatchesMixin"]

# Items per pipeline round trip when writing or deleting a batch.
_WRITE_CHUNK = 1000
# A published batch whose jobs were not confirmed enqueued by then is dispatched by the reaper.
DISPATCH_GRACE_S = 60.0
_PAGE = 500


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class BatchesMixin(StoreBase):
    """Submit, read and retry batches."""

    def create_batch(
        self,
        principal: Principal,
        batch: BatchCreate,
        *,
        idempotency_key: str | None,
        request_hash: str,
    ) -> tuple[BatchInfo, bool]:
        """Store a batch and its items, then make them ready for workers; returns (info, created).

        Same idempotency key and same request hash: (existing batch, False). Same
        key, other hash: ConflictError. Items are written first under the new batch
        id (pipelined chunks), the batch record and idempotency key are published
        last in one script; on any failure everything written is deleted again, so
        the caller sees either the whole batch or nothing.
        """
        team = keys.check_team(principal.team)
        idem_key = ""
        if idempotency_key is not None:
            idem_key = keys.idempotency(team, hashlib.sha256(idempotency_key.encode()).hexdigest())
            existing = self._text(self.redis.get(idem_key))
            if existing is not None:
                return self._idempotent_hit(team, existing, request_hash)
        gv, pv = batch.guideline_version, batch.prompt_version
        batch_id = keys.new_batch_id()
        now = self._now()
        total = len(batch.items)
        idem_value = _dumps({"batch_id": batch_id, "request_hash": request_hash}) if idem_key else ""
        member = f"{team}|{batch_id}"
        fields: dict[str, str] = {
            "task": batch.task,
            "project": batch.project or "",
            "gv": gv,
            "pv": pv,
            "gh": batch.guideline_hash or "",
            "ph": batch.prompt_hash or "",
            "mp": batch.model_profile or "",
            "created_at": repr(now),
            "total": str(total),
            "metadata": _dumps(batch.metadata),
            "callback_url": batch.callback_url or "",
            "submitted_by": principal.key_id,
            # Deleting the batch deletes its idempotency key too (a replay then makes a new one).
            "idem": idem_key,
            "mode": batch.mode,
            "priority": batch.priority,
            "weight": str(PRIORITY_WEIGHTS[batch.priority]),
            "cache": "1" if batch.cache else "0",
            f"c:{ItemState.QUEUED.value}": str(total),
        }
        if batch.pilot:
            fields["pilot"] = "1"
            fields["r2share"] = repr(float(batch.double_review_share or 0.0))
        if batch.max_cost_usd is not None:
            fields["max_cost_usd"] = repr(float(batch.max_cost_usd))
        flat = [x for pair in fields.items() for x in pair]
        try:
            self._write_items(team, batch_id, batch, gv, pv, now)
            if batch.max_cost_usd is not None:
                # The cap lives in the batch's ledger hash, where RESERVE checks it.
                self.redis.hset(
                    keys.scope_spend(team, f"batch:{batch_id}"),
                    "cap_usd",
                    repr(float(batch.max_cost_usd)),
                )
            existing = self._run(
                "PUBLISH",
                [
                    keys.batch(team, batch_id),
                    keys.batches(team),
                    idem_key or keys.idempotency(team, "none"),
                    keys.teams(),
                    keys.dispatch(),
                ],
                [
                    team,
                    batch_id,
                    repr(now),
                    total,
                    idem_value,
                    member,
                    now + DISPATCH_GRACE_S,
                    *flat,
                ],
            )
        except (redis.RedisError, StoreError) as exc:
            # Rollback, not only item deletion: if the connection dropped after the
            # publish script ran, the batch record and key must go too.
            self._rollback(team, batch_id, total, idem_key, idem_value)
            raise StoreError(f"could not store the batch: {exc}") from exc
        if existing is not None:
            # Another request with the same key published first: ours never became visible.
            self._delete_items(team, batch_id, total)
            return self._idempotent_hit(team, existing, request_hash)
        try:
            self._enqueue(team, [f"{batch_id}:{i}" for i in range(total)])
            self.redis.zrem(keys.dispatch(), member)
        except (redis.RedisError, StoreError) as exc:
            self._rollback(team, batch_id, total, idem_key, idem_value)
            raise StoreError(f"could not enqueue the batch's items for labeling: {exc}") from exc
        return self.get_batch(team, batch_id), True

    def _idempotent_hit(self, team: str, stored: str, request_hash: str) -> tuple[BatchInfo, bool]:
        record = json.loads(stored)
        if record["request_hash"] != request_hash:
            raise ConflictError(
                f"this Idempotency-Key was already used for a different request (batch {record['batch_id']})"
            )
        return self.get_batch(team, record["batch_id"]), False

    def _write_items(
        self,
        team: str,
        batch_id: str,
        batch: BatchCreate,
        gv: str,
        pv: str,
        now: float,
    ) -> None:
        queued = keys.batch_state(team, batch_id, ItemState.QUEUED.value)
        for start in range(0, len(batch.items), _WRITE_CHUNK):
            with self.redis.pipeline(transaction=False) as pipe:
                members: dict[str, int] = {}
                for index in range(start, min(start + _WRITE_CHUNK, len(batch.items))):
                    item = batch.items[index]
                    item_id = f"{batch_id}:{index}"
                    client_id = item.get("id")
                    pipe.hset(
                        keys.item(team, item_id),
                        mapping={
                            "batch": batch_id,
                            "idx": index,
                            "id": str(client_id) if client_id is not None else str(index),
                            "task": batch.task,
                            "input": _dumps(item),
                            "state": ItemState.QUEUED.value,
                            "gv": gv,
                            "pv": pv,
                            # What a worker loads by hash, whichever host it runs on.
                            "proj": batch.project or "",
                            "gh": batch.guideline_hash or "",
                            "ph": batch.prompt_hash or "",
                            "mp": batch.model_profile or "",
                            "updated_at": repr(now),
                        },
                    )
                    members[item_id] = index
                pipe.zadd(queued, members)
                pipe.execute()

    def _delete_items(self, team: str, batch_id: str, total: int) -> None:
        """Delete a batch's item hashes and state sets (the batch record must be gone first)."""
        for start in range(0, total, _WRITE_CHUNK):
            ids = [
                keys.item(team, f"{batch_id}:{i}")
                for i in range(start, min(start + _WRITE_CHUNK, total))
            ]
            self.redis.delete(*ids)
        self.redis.delete(*(keys.batch_state(team, batch_id, s.value) for s in ItemState))
        self.redis.delete(keys.review_queue_batch(team, batch_id), keys.ready(team, batch_id))
        self.redis.delete(keys.scope_spend(team, f"batch:{batch_id}"))

    def _rollback(
        self, team: str, batch_id: str, total: int, idem_key: str, idem_value: str
    ) -> None:
        # Unpublish first: every transition script checks the batch record, so a
        # worker racing with this delete can no longer touch counters or items.
        self._run(
            "ROLLBACK",
            [keys.batch(team, batch_id), keys.batches(team),
             idem_key or keys.idempotency(team, "none"), keys.dispatch()],
            [batch_id, idem_value, f"{team}|{batch_id}"],
        )
        self._delete_items(team, batch_id, total)

    def _batch_fields(self, team: str, batch_id: str) -> dict[str, str]:
        fields = self._hash(keys.batch(team, batch_id)) if keys.is_batch_id(batch_id) else {}
        if "task" not in fields:
            raise NotFoundError(f"batch {batch_id} not found")
        return fields

    def get_batch(self, team: str, batch_id: str) -> BatchInfo:
        """A batch's progress; NotFoundError if missing or another team's."""
        fields = self._batch_fields(team, batch_id)
        spend = self._hash(keys.scope_spend(team, f"batch:{batch_id}"))
        return batch_info(team, batch_id, fields, spend)

    def list_batches(self, team: str, *, limit: int = 50) -> list[BatchInfo]:
        """The team's batches, newest first."""
        ids = self._strs(self.redis.zrevrange(keys.batches(team), 0, max(limit, 1) - 1))
        with self.redis.pipeline(transaction=False) as pipe:
            for batch_id in ids:
                pipe.hgetall(keys.batch(team, batch_id))
                pipe.hgetall(keys.scope_spend(team, f"batch:{batch_id}"))
            rows = pipe.execute()
        pairs = zip(ids, rows[::2], rows[1::2], strict=True)
        return [batch_info(team, b, f, s) for b, f, s in pairs if "task" in f]

    def _views(self, team: str, item_ids: Sequence[str]) -> list[ItemView]:
        with self.redis.pipeline(transaction=False) as pipe:
            for item_id in item_ids:
                pipe.hgetall(keys.item(team, item_id))
            rows = pipe.execute()
        return [item_view(i, f) for i, f in zip(item_ids, rows, strict=True) if f]

    def list_items(
        self,
        team: str,
        batch_id: str,
        *,
        state: ItemState | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[ItemView]:
        """One page of a batch's items in submit order, optionally only those in `state`."""
        fields = self._batch_fields(team, batch_id)
        offset, limit = max(offset, 0), max(limit, 0)
        if limit == 0:
            return []
        if state is None:
            end = min(offset + limit, int(fields["total"]))
            ids = [f"{batch_id}:{i}" for i in range(offset, end)]
        else:
            ids = self._strs(
                self.redis.zrange(
                    keys.batch_state(team, batch_id, state.value), offset, offset + limit - 1
                )
            )
        return self._views(team, ids)

    def iter_results(self, team: str, batch_id: str) -> Iterator[ItemView]:
        """Every item of a batch in submit order, read in pages (for streaming exports)."""
        total = int(self._batch_fields(team, batch_id)["total"])
        for start in range(0, total, _PAGE):
            yield from self._views(
                team, [f"{batch_id}:{i}" for i in range(start, min(start + _PAGE, total))]
            )

    def get_item(self, team: str, item_id: str) -> ItemView:
        """One item; NotFoundError if missing or another team's."""
        fields = self._hash(keys.item(team, item_id)) if split_item_id(item_id) else {}
        if not fields:
            raise NotFoundError(f"item {item_id} not found")
        return item_view(item_id, fields)

    def retry_failed(self, team: str, batch_id: str, *, actor: str) -> int:
        """Move the batch's failed items back to queued (and ready for workers); returns how many."""
        self._batch_fields(team, batch_id)
        failed_key = keys.batch_state(team, batch_id, ItemState.FAILED.value)
        moved = 0
        while True:
            now = self._now()
            ids: list[str] = self._run(
                "RETRY_FAILED", [failed_key], [keys.team_prefix(team), team, now, _WRITE_CHUNK]
            )
            if not ids:
                break
            moved += len(ids)
        event = AuditEvent(
            at=self._now(),
            actor=actor,
            action="batch.retry_failed",
            after={"batch_id": batch_id, "requeued": moved},
        )
        self._audit(team, event.model_dump_json())
        return moved

    def check_counters(self, team: str, batch_id: str) -> CounterCheck:
        """Batch counters and usage next to the values recomputed from the items (tests, repair)."""
        fields = self._batch_fields(team, batch_id)
        total = int(fields["total"])
        info = batch_info(team, batch_id, fields)
        actual = {s.value: 0 for s in ItemState}
        usage = Usage()
        for start in range(0, total, _PAGE):
            with self.redis.pipeline(transaction=False) as pipe:
                for i in range(start, min(start + _PAGE, total)):
                    pipe.hmget(keys.item(team, f"{batch_id}:{i}"), ["state", "record"])
                for state_value, record in pipe.execute():
                    actual[state_value] += 1
                    if record:
                        usage = usage + LabelRecord.model_validate_json(record).usage
        with self.redis.pipeline(transaction=False) as pipe:
            for s in ItemState:
                pipe.zcard(keys.batch_state(team, batch_id, s.value))
            indexed = dict(zip((s.value for s in ItemState), pipe.execute(), strict=True))
        return CounterCheck(
            counters=info.counts,
            actual=actual,
            indexed=indexed,
            usage_counted=info.usage,
            usage_actual=usage,
        )
