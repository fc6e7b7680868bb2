"""Shared plumbing of the store: the client, registered scripts, and hash <-> model conversion."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self, cast
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.commands.core import Script

from llmlabel.domain import TERMINAL_STATES, ItemState, LabelRecord, Usage
from llmlabel.errors import ConfigError, StoreError
from llmlabel.settings import Settings
from llmlabel.store import jobs, keys, lua, lua_lifecycle, lua_review, lua_spend, lua_webhooks
from llmlabel.store.models import BatchInfo, CallbackStatus, ItemView, SecondReview
from llmlabel.store.spend_models import spend_of

__all__ = ["StoreBase", "callback_status", "item_view", "split_item_id", "strip_credentials"]

# Item ids per READY script call (one script call must stay short: it blocks Redis).
_READY_CHUNK = 2000

USAGE_FIELDS = (
    "calls",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "cache_hits",
)


def split_item_id(item_id: str) -> tuple[str, int] | None:
    """(batch_id, index) of an item id `{batch_id}:{index}`, or None if malformed."""
    batch_id, sep, index = item_id.rpartition(":")
    if not sep or not keys.is_batch_id(batch_id) or not index.isdigit():
        return None
    return batch_id, int(index)


def _usage(fields: Mapping[str, str], prefix: str) -> Usage:
    return Usage(
        calls=int(fields.get(f"{prefix}calls", 0)),
        prompt_tokens=int(fields.get(f"{prefix}prompt_tokens", 0)),
        completion_tokens=int(fields.get(f"{prefix}completion_tokens", 0)),
        cached_tokens=int(fields.get(f"{prefix}cached_tokens", 0)),
        cost_usd=round(float(fields.get(f"{prefix}cost_usd", 0.0)), 10),
        cache_hits=int(fields.get(f"{prefix}cache_hits", 0)),
    )


def _projected_cost(counts: dict[str, int], total: int, cost: float) -> float | None:
    """The batch's cost at its end, extrapolated from the items that finished labeling."""
    unfinished = (ItemState.QUEUED, ItemState.LABELING, ItemState.PAUSED)
    finished = total - sum(counts[s.value] for s in unfinished)
    if finished <= 0 or cost <= 0:
        return None
    return round(cost * total / finished, 6)


def strip_credentials(url: str | None) -> str | None:
    """A URL without `user:password@` (refused at submit since; older batches may hold one)."""
    if not url or "@" not in url:
        return url
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


def _number(value: str | None) -> float | None:
    return float(value) if value else None


def callback_status(fields: Mapping[str, str]) -> CallbackStatus | None:
    """The batch's latest webhook delivery, from its `cb_*` fields (None before the first)."""
    delivery = fields.get("cb_delivery")
    if not delivery:
        return None
    status = fields.get("cb_last_status")
    return CallbackStatus(
        delivery_id=delivery,
        state=fields.get("cb_state", "pending"),  # type: ignore[arg-type]
        attempts=int(fields.get("cb_attempts") or 0),
        last_status=int(status) if status else None,
        last_error=fields.get("cb_last_error") or None,
        last_attempt_at=_number(fields.get("cb_last_at")),
        next_attempt_at=_number(fields.get("cb_next_at")),
        delivered_at=_number(fields.get("cb_delivered_at")),
    )


def batch_info(
    team: str,
    batch_id: str,
    fields: Mapping[str, str],
    spend_fields: Mapping[str, str] | None = None,
) -> BatchInfo:
    """A BatchInfo from the batch hash and (when read) its ledger hash."""
    counts = {state.value: int(fields.get(f"c:{state.value}", 0)) for state in ItemState}
    total = int(fields["total"])
    done = sum(counts[s.value] for s in TERMINAL_STATES)
    pending = counts[ItemState.QUEUED.value] + counts[ItemState.LABELING.value]
    paused = counts[ItemState.PAUSED.value]
    spend = spend_of(spend_fields or {})
    cap = fields.get("max_cost_usd")
    return BatchInfo(
        id=batch_id,
        team=team,
        task=fields["task"],
        project=fields.get("project") or None,
        guideline_version=fields.get("gv") or None,
        prompt_version=fields.get("pv") or None,
        created_at=float(fields["created_at"]),
        total=total,
        counts=counts,
        done=done,
        progress=round(done / total, 6) if total else 1.0,
        usage=_usage(fields, "u:"),
        metadata=json.loads(fields.get("metadata", "{}")),
        callback_url=strip_credentials(fields.get("callback_url") or None),
        callback=callback_status(fields),
        state="done" if done == total else "paused" if paused and not pending else "running",
        labeled=pending == 0 and paused == 0,
        mode=fields.get("mode") or "sync",  # type: ignore[arg-type]
        max_cost_usd=float(cap) if cap else None,
        spend=spend,
        projected_cost_usd=_projected_cost(counts, total, spend.cost_usd),
        priority=fields.get("priority") or "normal",  # type: ignore[arg-type]
        cache=fields.get("cache", "1") != "0",
        pilot=fields.get("pilot") == "1",
        double_review_share=float(fields["r2share"]) if fields.get("pilot") == "1" else None,
    )


def second_review(fields: Mapping[str, str]) -> SecondReview | None:
    """The second review of an item (hash fields `r2*`), None if it was never picked for one."""
    state = fields.get("r2state")
    if not state:
        return None
    label_text = fields.get("r2label")
    at = fields.get("r2at")
    return SecondReview(
        state=state,  # type: ignore[arg-type]
        reviewer=fields.get("r2reviewer") or None,
        decision=fields.get("r2decision") or None,  # type: ignore[arg-type]
        label=json.loads(label_text) if label_text else None,
        comment=fields.get("r2comment") or None,
        at=float(at) if at else None,
    )


def item_view(item_id: str, fields: Mapping[str, str]) -> ItemView:
    """An ItemView from the item hash (and its label record, once written)."""
    record = LabelRecord.model_validate_json(fields["record"]) if fields.get("record") else None
    label_text = fields.get("label")
    return ItemView(
        item_id=item_id,
        id=fields["id"],
        batch_id=fields["batch"],
        task=fields["task"],
        project=fields.get("proj") or None,
        state=ItemState(fields["state"]),
        input=json.loads(fields["input"]),
        label=json.loads(label_text) if label_text else None,
        source=fields.get("source") or None,  # type: ignore[arg-type]
        confidence=record.confidence if record else None,
        route_reason=record.reason if record else None,
        samples=record.samples if record else [],
        detail=record.detail if record else {},
        guideline_version=record.guideline_version if record else fields.get("gv") or None,
        prompt_version=record.prompt_version if record else fields.get("pv") or None,
        guideline_hash=record.guideline_hash if record else fields.get("gh") or None,
        prompt_hash=record.prompt_hash if record else fields.get("ph") or None,
        model=record.model if record else None,
        backend=record.backend if record else None,
        usage=record.usage if record else Usage(),
        examples=record.examples if record else [],
        pool_snapshot=record.pool_snapshot if record else None,
        error=fields.get("error") or None,
        attempts=int(fields.get("attempts", 0)),
        label_writes=int(fields.get("label_writes", 0)),
        reviewer=fields.get("reviewer") or None,
        review_comment=fields.get("comment") or None,
        second_review=second_review(fields),
        updated_at=float(fields.get("updated_at", 0.0)),
    )


class StoreBase:
    """The Redis client, settings and scripts every part of the store shares."""

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not redis_client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ConfigError("the store needs a Redis client with decode_responses=True")
        self.redis = redis_client
        self.settings = settings
        # Injected so lease expiry can be tested without sleeping.
        self._clock = clock
        self._rq_redis: redis.Redis | None = None
        self._scripts: dict[str, Script] = {
            name: redis_client.register_script(getattr(module, name))
            for module in (lua, lua_review, lua_spend, lua_webhooks, lua_lifecycle)
            for name in module.__all__
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """A store on `settings.redis_url` (the CLI starts embedded Redis and sets it)."""
        if not settings.redis_url:
            raise ConfigError(
                "no Redis configured: set LLMLABEL_REDIS_URL, or run `llmlabel redis start` "
                "and use the URL it prints"
            )
        return cls(
            redis.Redis.from_url(settings.redis_url, decode_responses=True), settings=settings
        )

    def ping(self) -> bool:
        """True when Redis answers."""
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    @property
    def rq_redis(self) -> redis.Redis:
        """A bytes client on the same server, for RQ."""
        if self._rq_redis is None:
            self._rq_redis = jobs.rq_connection(self.redis)
        return self._rq_redis

    def _run(self, name: str, keys_: Sequence[str], args: Sequence[Any]) -> Any:
        """Run one registered Lua script, mapping Redis failures to StoreError."""
        try:
            return self._scripts[name](keys=list(keys_), args=list(args))
        except redis.ResponseError as exc:
            raise StoreError(f"store script {name} failed: {exc}") from exc

    def _run_many(self, calls: Sequence[tuple[str, Sequence[str], Sequence[Any]]]) -> list[Any]:
        """Run several registered Lua scripts in one round trip (in order, not atomically).

        For steps that need no atomicity with each other (a settle and the label
        write) but would each cost a round trip. EVALSHA straight away (redis-py's
        pipelined scripts ask SCRIPT EXISTS first, a round trip of their own); a
        script Redis lost (restart, SCRIPT FLUSH) did nothing, so it is loaded and
        run again, alone.
        """
        with self.redis.pipeline(transaction=False) as pipe:
            for name, keys_, args in calls:
                pipe.evalsha(self._scripts[name].sha, len(keys_), *keys_, *args)
            results: list[Any] = pipe.execute(raise_on_error=False)
        for i, result in enumerate(results):
            if isinstance(result, redis.exceptions.NoScriptError):
                results[i] = result = self._run(*calls[i])
            if isinstance(result, redis.ResponseError):
                raise StoreError(f"store script {calls[i][0]} failed: {result}") from result
            if isinstance(result, Exception):
                raise result
        return results

    def _hash(self, key: str) -> dict[str, str]:
        """HGETALL as str -> str (the client decodes responses)."""
        return cast("dict[str, str]", self.redis.hgetall(key))

    def _text(self, value: object) -> str | None:
        """A decoded single reply (redis-py types replies as bytes | str)."""
        return cast("str | None", value)

    @staticmethod
    def _strs(value: object) -> list[str]:
        """A decoded list reply."""
        return cast("list[str]", value)

    def _now(self) -> float:
        return self._clock()

    def now(self) -> float:
        """The store's clock (epoch seconds; injectable in tests), for times callers compute."""
        return self._clock()

    def active_pair(self, team: str, project: str) -> tuple[str | None, str | None]:
        """(guideline_version, prompt_version) active in a project; Nones if there is none."""
        gv, pv = self._strs(self.redis.hmget(keys.project(team, project), ["gv", "pv"]))
        return gv or None, pv or None

    def _enqueue(self, team: str, item_ids: Sequence[str]) -> int:
        """Append queued items to their batches' ready lists (workers claim from there)."""
        by_batch: dict[str, list[str]] = {}
        for item_id in item_ids:
            parts = split_item_id(item_id)
            if parts is not None:
                by_batch.setdefault(parts[0], []).append(item_id)
        prefix = keys.team_prefix(team)
        for batch_id, ids in by_batch.items():
            for start in range(0, len(ids), _READY_CHUNK):
                self._run("READY", [], [prefix, team, batch_id, *ids[start : start + _READY_CHUNK]])
        return sum(len(ids) for ids in by_batch.values())

    def _audit(self, team: str, event_json: str) -> None:
        """Append one audit event (JSON) to the team's audit log."""
        with self.redis.pipeline() as pipe:
            pipe.lpush(keys.team_audit(team), event_json)
            pipe.ltrim(keys.team_audit(team), 0, AUDIT_MAX - 1)
            pipe.execute()


AUDIT_MAX = 100_000
"""Audit events kept per team (the oldest are trimmed)."""

HISTORY_MAX = 500
"""Decisions kept in each reviewer's own history list (the oldest are trimmed)."""
