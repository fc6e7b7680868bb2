"""Gold items: request/response bodies, upload validation, scoring and gold decisions (no HTTP).

The store keeps gold items, the LLM's records of them and reviewer counts; this
module brings the task semantics: labels are validated with the task's
`validate_label`, and "right" means `Task.is_correct(label, gold_label)`. For
an approve, the reviewer's label is the LLM label they were shown; a reject
has no label, so it counts as wrong (a gold item is labelable by definition).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmlabel.errors import (
    InputError,
    LabelValidationError,
    NotFoundError,
    PayloadTooLargeError,
)
from llmlabel.projects import Projects
from llmlabel.projects.task_cache import TaskCache
from llmlabel.store import Store
from llmlabel.store.gold_models import GoldCreate, GoldItem, GoldScore
from llmlabel.store.models import Decision, ItemView, Principal
from llmlabel.tasks import Task
from llmlabel.validation import Problems, json_size

__all__ = [
    "GoldList",
    "GoldLlmLabel",
    "GoldPublic",
    "GoldScores",
    "GoldUpload",
    "GoldUploaded",
    "LlmGoldAccuracy",
    "ReviewerGoldScore",
    "TaskCache",
    "checked_gold_items",
    "decide_gold_item",
    "llm_accuracy",
    "llm_labels",
    "reviewer_scores",
]

# Gold errors name the field inside the JSON body, as FastAPI's own 422s do.
_BODY: dict[str, Any] = {"in": "body"}


class GoldUpload(BaseModel):
    """Gold items of one task (or project), labels in its label form."""

    model_config = ConfigDict(extra="forbid")

    task: str | None = Field(None, description="Task type (its default project); or `project`")
    project: str | None = Field(
        None, description="Labels fit this project's ontology; its evaluations use these items"
    )
    items: list[GoldCreate] = Field(min_length=1, max_length=10_000)
    guideline_version: str | None = Field(
        None,
        description="Validate labels with (and first label with) this version; default: active",
    )
    prompt_version: str | None = Field(None, description="Default: the active prompt version")


class GoldUploaded(BaseModel):
    """What an upload stored; the LLM labels the items in the background."""

    task: str
    project: str
    guideline_version: str
    prompt_version: str
    count: int
    items: list[GoldItem]


class GoldLlmLabel(BaseModel):
    """The LLM's label of a gold item under one project's version pair, and whether it is right."""

    project: str
    guideline_version: str
    prompt_version: str
    label: dict[str, Any] | None
    confidence: float
    correct: bool | None = Field(description="None when the version can no longer be loaded")


class GoldPublic(GoldItem):
    """A gold item with the LLM's labels of it."""

    llm: list[GoldLlmLabel]


class GoldList(BaseModel):
    """A page of gold items."""

    task: str | None
    total: int
    offset: int
    limit: int
    items: list[GoldPublic]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page")


class TaskScore(BaseModel):
    """Right decisions out of all, for one task."""

    task: str
    n: int
    correct: int
    accuracy: float | None


class ReviewerGoldScore(BaseModel):
    """A reviewer's accuracy on gold items, overall and per task."""

    reviewer: str
    n: int
    correct: int
    accuracy: float | None
    by_task: list[TaskScore]


class LlmGoldAccuracy(BaseModel):
    """The LLM's accuracy on the gold items of a task under one project's version pair."""

    task: str
    project: str
    guideline_version: str
    prompt_version: str
    n: int
    correct: int
    accuracy: float | None


class GoldScores(BaseModel):
    """Reviewer and LLM accuracy on the team's gold items."""

    team: str
    reviewers: list[ReviewerGoldScore]
    llm: list[LlmGoldAccuracy]


def _ratio(correct: int, n: int) -> float | None:
    return correct / n if n else None


def checked_gold_items(
    task: Task, items: list[GoldCreate], *, max_item_bytes: int, stored_ids: set[str]
) -> list[GoldCreate]:
    """The items with canonical labels; a 422 naming `items.<index>.input|label.<field>` otherwise.

    Inputs and labels pass the same checks as batch items (`llmlabel.validation`),
    and an item's `id` may appear once per upload and once per task (`stored_ids`).
    """
    problems = Problems("Invalid gold items", what="the gold items")
    checked: list[GoldCreate] = []
    for index, item in enumerate(items):
        where = f"items.{index}"
        ok = problems.check(item.input, field=f"{where}.input", **_BODY)
        ok = problems.check(item.label, field=f"{where}.label", **_BODY) and ok
        if not ok:
            continue
        size = json_size({"input": item.input, "label": item.label})
        if size > max_item_bytes:
            raise PayloadTooLargeError(
                f"{where} (bytes) is {size:,}, over the limit max_item_bytes={max_item_bytes:,}",
                limit="max_item_bytes", allowed=max_item_bytes, actual=size, field=where,
            )
        if item.id is not None and item.id in stored_ids:
            problems.add(f"gold item {item.id!r} of task {task.name!r} already exists "
                         "(delete it first to replace it)", field=f"{where}.id", **_BODY)
            continue
        try:
            view = task.validate_input(item.input)
        except InputError as exc:
            problems.add(str(exc), field=f"{where}.input.{exc.field or ''}".rstrip("."), **_BODY)
            continue
        try:
            label = task.validate_label(view, item.label)
        except LabelValidationError as exc:
            for entry in exc.errors or [{"field": "", "message": str(exc)}]:
                field = f"{where}.label.{entry.get('field', '')}".rstrip(".")
                problems.add(entry.get("message", ""), field=field, **_BODY)
            continue
        checked.append(item.model_copy(update={"label": label}))
    problems.duplicates(
        ((item.id, f"items.{i}", {"in": "body", "index": i}) for i, item in enumerate(items)),
        field="{where}.id",
    )
    problems.raise_if_any()
    return checked


def llm_labels(
    tasks: TaskCache, gold: GoldItem, records: dict[tuple[str, str, str], Any]
) -> list[GoldLlmLabel]:
    """The LLM's labels of one gold item, each judged against the known label."""
    out = []
    for (project, gv, pv), record in sorted(records.items()):
        task = tasks.get(gold.task, gv, project, getattr(record, "guideline_hash", None))
        out.append(
            GoldLlmLabel(
                project=project,
                guideline_version=gv,
                prompt_version=pv,
                label=record.label,
                confidence=record.confidence,
                correct=task.is_correct(record.label, gold.label) if task is not None else None,
            )
        )
    return out


def llm_accuracy(
    store: Store, tasks: TaskCache, team: str, task_names: list[str]
) -> list[LlmGoldAccuracy]:
    """Per task and version pair: how many gold items the LLM labeled right."""
    counts: dict[tuple[str, str, str, str], list[int]] = {}
    for task_name in task_names:
        golds = store.get_golds(team, store.gold_ids(team, task_name))
        records = store.gold_records(team, [g.gold_id for g in golds])
        for gold in golds:
            for label in llm_labels(tasks, gold, records.get(gold.gold_id, {})):
                if label.correct is None:
                    continue
                entry = counts.setdefault(
                    (task_name, label.project, label.guideline_version, label.prompt_version),
                    [0, 0],
                )
                entry[0] += 1
                entry[1] += int(label.correct)
    return [
        LlmGoldAccuracy(
            task=t, project=p, guideline_version=gv, prompt_version=pv, n=n, correct=ok,
            accuracy=_ratio(ok, n),
        )
        for (t, p, gv, pv), (n, ok) in sorted(counts.items())
    ]


def reviewer_scores(scores: list[GoldScore]) -> list[ReviewerGoldScore]:
    """Store counts per (reviewer, task) rolled up per reviewer."""
    by_reviewer: dict[str, list[GoldScore]] = {}
    for score in scores:
        by_reviewer.setdefault(score.reviewer, []).append(score)
    out = []
    for reviewer, rows in sorted(by_reviewer.items()):
        n, correct = sum(r.n for r in rows), sum(r.correct for r in rows)
        out.append(
            ReviewerGoldScore(
                reviewer=reviewer,
                n=n,
                correct=correct,
                accuracy=_ratio(correct, n),
                by_task=[
                    TaskScore(
                        task=r.task, n=r.n, correct=r.correct, accuracy=_ratio(r.correct, r.n)
                    )
                    for r in rows
                ],
            )
        )
    return out


def decide_gold_item(
    store: Store,
    projects: Projects,
    principal: Principal,
    item_id: str,
    *,
    lease_token: str,
    action: Decision,
    label: dict[str, Any] | None,
    comment: str | None,
) -> ItemView:
    """A decision on a gold item in the review queue: scores the reviewer, changes no batch."""
    lease = store.gold_lease(principal, item_id, lease_token)
    try:
        gold: GoldItem | None = store.get_gold(principal.team, item_id)
    except NotFoundError:
        gold = None  # deleted while leased: the decision is taken but not scored
    task = projects.task_for(
        principal.team, task=lease.task, guideline_version=lease.guideline_version,
        project=lease.project or lease.task,
    )
    reviewer_label: dict[str, Any] | None = None
    if action is Decision.FIX:
        if label is None:
            raise InputError("a fix needs the corrected 'label'", field="label")
        view = task.validate_input(gold.input) if gold is not None else None
        reviewer_label = task.validate_label(view, label) if view is not None else label
    elif action is Decision.APPROVE:
        reviewer_label = lease.label
    correct = None
    if gold is not None and action is not Decision.SKIP:
        correct = task.is_correct(reviewer_label, gold.label)
    return store.decide_gold(
        principal,
        lease,
        decision=action,
        reviewer_label=reviewer_label,
        correct=correct,
        comment=comment,
    )
