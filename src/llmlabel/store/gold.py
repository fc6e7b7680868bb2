"""Gold items (inputs with known labels) per team and task, the LLM's labels of them, evaluations.

A gold upload gets one hidden batch-shaped id, and each gold item the id
`{hidden_batch}:{index}`, so a gold item standing in a review queue looks like
any other item. The LLM labels gold items in a worker job (`gold_jobs.py`):
once with the task's versions when they are uploaded (the label reviewers are
shown, and the LLM's accuracy on gold for that version), and again for every
evaluation of a version. Each LLM record is kept per (guideline, prompt) pair.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence

from llmlabel.domain import LabelRecord
from llmlabel.errors import NotFoundError
from llmlabel.store import jobs, keys
from llmlabel.store.base import AUDIT_MAX, StoreBase
from llmlabel.store.gold_models import GoldCreate, GoldEvaluation, GoldItem
from llmlabel.store.models import AuditEvent, Principal

__all__ = ["GoldMixin", "record_project", "versions_field"]

_EVALUATIONS_MAX = 200


def versions_field(project: str, guideline_version: str, prompt_version: str) -> str:
    """The field of a gold item's records hash holding the LLM record for a project's version pair.

    Version names are unique (and immutable) within a project, so the project
    qualifies them: two projects of one task may both have a `v1`.
    """
    return f"{project}\t{guideline_version}\t{prompt_version}"


def record_project(record: LabelRecord) -> str:
    """The project a gold record belongs to (records made before projects: the default one)."""
    return record.project or record.task


def _dumps(value: object) -> str:
    # ASCII escapes: a lone surrogate in uploaded JSON stays storable (\ud800) instead of
    # failing the UTF-8 encoding on its way to Redis.
    return json.dumps(value, separators=(",", ":"))


def _gold_item(gold_id: str, fields: dict[str, str]) -> GoldItem:
    return GoldItem(
        gold_id=gold_id,
        id=fields["id"],
        task=fields["task"],
        input=json.loads(fields["input"]),
        label=json.loads(fields["label"]),
        guideline_version=fields["gv"],
        project=fields.get("proj") or None,
        created_at=float(fields["created_at"]),
        created_by=fields["created_by"],
    )


class GoldMixin(StoreBase):
    """Store, list, delete and label gold items; keep evaluations of versions on them."""

    def add_gold(
        self,
        principal: Principal,
        task: str,
        items: Sequence[GoldCreate],
        *,
        guideline_version: str,
        prompt_version: str,
        actor: str,
        project: str | None = None,
        pin: dict[str, str | None] | None = None,
    ) -> list[GoldItem]:
        """Store gold items (validated by the API) and enqueue their labeling by the LLM.

        `project` is the project whose ontology the labels were checked against
        (None: the task's default project); `pin` what the first labeling job uses.
        """
        team = keys.check_team(principal.team)
        hidden_batch = keys.new_batch_id()
        now = self._now()
        first = int(self.redis.incrby(keys.gold_seq(team), len(items))) - len(items)
        stored: list[GoldItem] = []
        with self.redis.pipeline(transaction=True) as pipe:
            for index, item in enumerate(items):
                gold = GoldItem(
                    gold_id=f"{hidden_batch}:{index}",
                    id=item.id if item.id is not None else str(index),
                    task=task,
                    input=item.input,
                    label=item.label,
                    guideline_version=guideline_version,
                    project=project,
                    created_at=now,
                    created_by=actor,
                )
                pipe.hset(
                    keys.gold(team, gold.gold_id),
                    mapping={
                        "id": gold.id,
                        "task": task,
                        "input": _dumps(gold.input),
                        "label": _dumps(gold.label),
                        "gv": guideline_version,
                        "proj": project or "",
                        "created_at": repr(now),
                        "created_by": actor,
                    },
                )
                pipe.zadd(keys.gold_task(team, task), {gold.gold_id: first + index})
                pipe.sadd(keys.gold_known(team), gold.gold_id)
                stored.append(gold)
            event = AuditEvent(
                at=now,
                actor=actor,
                action="gold.add",
                after={"task": task, "count": len(stored), "ids": [g.gold_id for g in stored]},
            )
            pipe.lpush(keys.team_audit(team), event.model_dump_json())
            pipe.ltrim(keys.team_audit(team), 0, AUDIT_MAX - 1)
            pipe.execute()
        if stored:
            self.enqueue_gold_labeling(
                team,
                task,
                [g.gold_id for g in stored],
                guideline_version=guideline_version,
                prompt_version=prompt_version,
                pin=pin,
            )
        return stored

    def enqueue_gold_labeling(
        self,
        team: str,
        task: str,
        gold_ids: Sequence[str],
        *,
        guideline_version: str,
        prompt_version: str,
        evaluation_id: str | None = None,
        pin: dict[str, str | None] | None = None,
    ) -> None:
        """Enqueue the worker job that labels these gold items with a version pair."""
        jobs.enqueue_gold(
            self.rq_redis,
            team=team,
            task=task,
            gold_ids=gold_ids,
            guideline_version=guideline_version,
            prompt_version=prompt_version,
            evaluation_id=evaluation_id,
            job_timeout_s=self.settings.job_timeout_s,
            pin=pin,
        )

    def gold_ids(self, team: str, task: str) -> list[str]:
        """Every gold id of a task, in upload order."""
        return self._strs(self.redis.zrange(keys.gold_task(team, task), 0, -1))

    def gold_client_ids(self, team: str, task: str) -> set[str]:
        """The client ids (`GoldItem.id`) of a task's gold items."""
        ids = self.gold_ids(team, task)
        with self.redis.pipeline(transaction=False) as pipe:
            for gold_id in ids:
                pipe.hget(keys.gold(team, gold_id), "id")
            return {value for value in pipe.execute() if value is not None}

    def gold_count(self, team: str, task: str) -> int:
        """How many gold items a task has."""
        return int(self.redis.zcard(keys.gold_task(team, task)))

    def list_gold(
        self, team: str, task: str, *, offset: int = 0, limit: int = 100
    ) -> list[GoldItem]:
        """One page of a task's gold items, in upload order."""
        offset, limit = max(offset, 0), max(limit, 0)
        if limit == 0:
            return []
        ids = self._strs(self.redis.zrange(keys.gold_task(team, task), offset, offset + limit - 1))
        return self.get_golds(team, ids)

    def get_golds(self, team: str, gold_ids: Sequence[str]) -> list[GoldItem]:
        """These gold items, in order; deleted ones are left out."""
        with self.redis.pipeline(transaction=False) as pipe:
            for gold_id in gold_ids:
                pipe.hgetall(keys.gold(team, gold_id))
            rows = pipe.execute()
        return [_gold_item(g, f) for g, f in zip(gold_ids, rows, strict=True) if f]

    def get_gold(self, team: str, gold_id: str) -> GoldItem:
        """One gold item; NotFoundError if missing or another team's."""
        fields = self._hash(keys.gold(team, gold_id))
        if not fields:
            raise NotFoundError(f"gold item {gold_id} not found")
        return _gold_item(gold_id, fields)

    def delete_gold(self, team: str, gold_id: str, *, actor: str) -> None:
        """Delete a gold item and the LLM's labels of it (reviewer scores already counted stay)."""
        gold = self.get_gold(team, gold_id)
        event = AuditEvent(
            at=self._now(),
            actor=actor,
            action="gold.delete",
            before={"gold_id": gold_id, "task": gold.task, "label": gold.label},
        )
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.gold(team, gold_id), keys.gold_records(team, gold_id))
            pipe.zrem(keys.gold_task(team, gold.task), gold_id)
            pipe.srem(keys.gold_ready(team, gold.task), gold_id)
            pipe.lpush(keys.team_audit(team), event.model_dump_json())
            pipe.ltrim(keys.team_audit(team), 0, AUDIT_MAX - 1)
            pipe.execute()

    def save_gold_record(self, team: str, gold_id: str, record: LabelRecord) -> bool:
        """Keep the LLM's record of a gold item for its version pair; False if the item is gone."""
        task = record.task
        done = self._run(
            "GOLD_SAVE",
            [
                keys.gold(team, gold_id),
                keys.gold_records(team, gold_id),
                keys.gold_ready(team, task),
            ],
            [
                gold_id,
                versions_field(
                    record_project(record), record.guideline_version, record.prompt_version
                ),
                record.model_dump_json(),
            ],
        )
        return bool(done)

    def gold_records(
        self, team: str, gold_ids: Sequence[str]
    ) -> dict[str, dict[tuple[str, str, str], LabelRecord]]:
        """The LLM's records of these gold items, by gold id and (project, guideline, prompt)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for gold_id in gold_ids:
                pipe.hgetall(keys.gold_records(team, gold_id))
            rows = pipe.execute()
        out: dict[str, dict[tuple[str, str, str], LabelRecord]] = {}
        for gold_id, row in zip(gold_ids, rows, strict=True):
            by_version: dict[tuple[str, str, str], LabelRecord] = {}
            for text in row.values():
                record = LabelRecord.model_validate_json(text)
                key = (record_project(record), record.guideline_version, record.prompt_version)
                by_version[key] = record
            out[gold_id] = by_version
        return out

    # -- evaluations -------------------------------------------------------------

    def create_evaluation(
        self,
        team: str,
        task: str,
        *,
        guideline_version: str,
        prompt_version: str,
        actor: str,
        gold_ids: Sequence[str] | None = None,
        pin: dict[str, str | None] | None = None,
    ) -> GoldEvaluation:
        """Record a queued evaluation of a version pair on gold items and enqueue it.

        `gold_ids` default to every gold item of the task; `pin` (project, hashes,
        profile) says exactly which content the job labels with.
        """
        gold_ids = list(gold_ids) if gold_ids is not None else self.gold_ids(team, task)
        pin = pin or {}
        evaluation = GoldEvaluation(
            id="ev_" + secrets.token_hex(8),
            task=task,
            project=pin.get("project"),
            guideline_version=guideline_version,
            prompt_version=prompt_version,
            guideline_hash=pin.get("guideline_hash"),
            prompt_hash=pin.get("prompt_hash"),
            state="queued",
            n_gold=len(gold_ids),
            created_at=self._now(),
            created_by=actor,
        )
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.gold_evaluation(team, evaluation.id), evaluation.model_dump_json())
            pipe.zadd(keys.gold_evaluations(team, task), {evaluation.id: evaluation.created_at})
            pipe.execute()
        self._trim_evaluations(team, task)
        self.enqueue_gold_labeling(
            team,
            task,
            gold_ids,
            guideline_version=guideline_version,
            prompt_version=prompt_version,
            evaluation_id=evaluation.id,
            pin=pin or None,
        )
        return evaluation

    def _trim_evaluations(self, team: str, task: str) -> None:
        index = keys.gold_evaluations(team, task)
        old = self._strs(self.redis.zrange(index, 0, -_EVALUATIONS_MAX - 1))
        if old:
            self.redis.delete(*(keys.gold_evaluation(team, e) for e in old))
            self.redis.zrem(index, *old)

    def get_evaluation(self, team: str, evaluation_id: str) -> GoldEvaluation:
        """One evaluation; NotFoundError if missing."""
        text = self._text(self.redis.get(keys.gold_evaluation(team, evaluation_id)))
        if text is None:
            raise NotFoundError(f"evaluation {evaluation_id} not found")
        return GoldEvaluation.model_validate_json(text)

    def save_evaluation(self, team: str, evaluation: GoldEvaluation) -> None:
        """Write an evaluation's new state (the gold job reports progress and the report)."""
        self.redis.set(keys.gold_evaluation(team, evaluation.id), evaluation.model_dump_json())

    def list_evaluations(self, team: str, task: str, *, limit: int = 50) -> list[GoldEvaluation]:
        """A task's evaluations, newest first."""
        ids = self._strs(
            self.redis.zrevrange(keys.gold_evaluations(team, task), 0, max(limit, 1) - 1)
        )
        with self.redis.pipeline(transaction=False) as pipe:
            for evaluation_id in ids:
                pipe.get(keys.gold_evaluation(team, evaluation_id))
            rows = pipe.execute()
        return [GoldEvaluation.model_validate_json(row) for row in rows if row]
