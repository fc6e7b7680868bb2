"""Relabel a batch under another version pair, and compare the two labelings.

`relabel` makes a new batch over the same items (same ids, same order) in the
same project, labeled with the pair asked for; when the project has gold items
it also queues an evaluation of each pair, so the comparison can show the gold
accuracy of both. `compare` reads both batches item by item: how many LLM
labels changed, the share that agree (the task's own equality, as for gold),
the task's quality measures of the new labels against the old, and the gold
accuracy of each pair once its evaluation is done. An operator sees what a
rotation would do before activating it for everyone.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from llmlabel.domain import ItemState
from llmlabel.errors import LlmlabelError, NotFoundError
from llmlabel.projects.service import Projects, Resolved
from llmlabel.store.gold_models import GoldEvaluation
from llmlabel.store.models import BatchCreate, BatchInfo, ItemView, Principal
from llmlabel.tasks import Task

__all__ = ["Comparison", "GoldSide", "RelabelLink", "VersionPair", "compare", "relabel"]

_UNLABELED = {ItemState.QUEUED, ItemState.LABELING, ItemState.FAILED}


class VersionPair(BaseModel):
    """A guideline and prompt version of a project, with their content hashes."""

    guideline_version: str
    prompt_version: str
    guideline_hash: str | None = None
    prompt_hash: str | None = None


class RelabelLink(BaseModel):
    """What a relabel batch is: which batch it repeats, under which pairs, with which evaluations."""

    batch_id: str
    relabel_of: str
    project: str
    from_pair: VersionPair = Field(serialization_alias="from")
    to_pair: VersionPair = Field(serialization_alias="to")
    # "from" / "to" -> evaluation id, when the project has gold items.
    evaluations: dict[str, str] = Field(default_factory=dict)


class GoldSide(BaseModel):
    """The gold evaluation of one side of a comparison."""

    evaluation_id: str
    state: Literal["queued", "running", "done", "failed"]
    n: int | None = None
    accuracy: float | None = None
    quality: dict[str, float] = Field(default_factory=dict)
    error: str | None = None


class Comparison(BaseModel):
    """How the labels of a batch changed when relabeled under another version pair."""

    batch_id: str
    relabel_of: str
    project: str
    from_pair: VersionPair = Field(serialization_alias="from")
    to_pair: VersionPair = Field(serialization_alias="to")
    state: Literal["labeling", "done"] = Field(
        description="done once every item of the new batch is labeled (or failed)"
    )
    items: int
    compared: int = Field(description="Items with an LLM label in both batches")
    changed: int
    unchanged: int
    agreement: float | None = Field(description="unchanged / compared")
    # The task's quality measures of the new labels, scored against the old ones.
    metrics: dict[str, float] = Field(default_factory=dict)
    gold: dict[str, GoldSide] = Field(
        default_factory=dict, description="'from' and 'to': each pair's evaluation on gold"
    )


def _pair(resolved: Resolved) -> VersionPair:
    return VersionPair(
        guideline_version=resolved.guideline.version, prompt_version=resolved.prompt.version,
        guideline_hash=resolved.guideline_hash, prompt_hash=resolved.prompt_hash,
    )


def relabel(
    projects: Projects,
    principal: Principal,
    actor: str,
    batch_id: str,
    *,
    guideline_version: str | None = None,
    prompt_version: str | None = None,
) -> tuple[BatchInfo, RelabelLink, bool]:
    """A new batch over a batch's items under another pair (default: the project's active one).

    Returns (new batch, link, created); asking for the same relabel again returns
    the batch made the first time (created False).
    """
    store, team = projects.store, principal.team
    original = store.get_batch(team, batch_id)
    project = original.project or original.task
    before = projects.resolve(
        team, project=project, guideline_version=original.guideline_version,
        prompt_version=original.prompt_version,
    )
    after = projects.resolve(
        team, project=project, guideline_version=guideline_version, prompt_version=prompt_version
    )
    items = [item.input for item in store.iter_results(team, batch_id)]
    # The same relabel asked twice is one batch (the request hash names batch and content).
    request = json.dumps([batch_id, after.guideline_hash, after.prompt_hash])
    info, created = store.create_batch(
        principal,
        BatchCreate(
            task=after.project.task, items=items, project=after.project.name,
            guideline_version=after.guideline.version, prompt_version=after.prompt.version,
            guideline_hash=after.guideline_hash, prompt_hash=after.prompt_hash,
            model_profile=after.project.model_profile,
            metadata={**original.metadata, "relabel_of": batch_id},
        ),
        idempotency_key=f"relabel:{request}",
        request_hash=hashlib.sha256(request.encode()).hexdigest(),
    )
    if not created:
        return info, RelabelLink.model_validate_json(store.relabel_link(team, info.id)), False
    link = RelabelLink(
        batch_id=info.id, relabel_of=batch_id, project=after.project.name,
        from_pair=_pair(before), to_pair=_pair(after),
    )
    if projects.gold_ids(team, after.project):
        for side, resolved in (("from", before), ("to", after)):
            evaluation = projects.evaluate(
                team, actor, after.project.name, guideline_version=resolved.guideline.version,
                prompt_version=resolved.prompt.version,
            )
            link.evaluations[side] = evaluation.id
    store.save_relabel_link(team, info.id, link.model_dump_json())
    return info, link, True


def llm_label(task: Task | None, item: ItemView) -> dict[str, Any] | None:
    """The label the LLM gave an item: its label, or rebuilt from its samples once a person fixed it."""
    if item.state in _UNLABELED:
        return None
    if item.source != "human":
        return item.label
    if task is None or not item.samples:
        return None
    try:
        return task.aggregate(task.validate_input(item.input), item.samples).label
    except LlmlabelError:
        return None


def _gold_side(projects: Projects, team: str, evaluation_id: str) -> GoldSide:
    try:
        evaluation: GoldEvaluation = projects.store.get_evaluation(team, evaluation_id)
    except NotFoundError:
        return GoldSide(evaluation_id=evaluation_id, state="failed", error="evaluation expired")
    report = evaluation.report
    return GoldSide(
        evaluation_id=evaluation.id, state=evaluation.state,
        n=report.n if report else None, accuracy=report.accuracy if report else None,
        quality=report.quality if report else {}, error=evaluation.error,
    )


def compare(projects: Projects, team: str, batch_id: str) -> Comparison:
    """The comparison report of a relabel batch with the batch it relabeled."""
    store = projects.store
    store.get_batch(team, batch_id)
    link = RelabelLink.model_validate_json(store.relabel_link(team, batch_id))
    new = store.get_batch(team, batch_id)
    old_task = _task(projects, team, link, link.from_pair)
    new_task = _task(projects, team, link, link.to_pair)
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    changed = 0
    old_items = store.iter_results(team, link.relabel_of)
    for new_item, old_item in zip(store.iter_results(team, batch_id), old_items, strict=False):
        after, before = llm_label(new_task, new_item), llm_label(old_task, old_item)
        if after is None or before is None:
            continue
        pairs.append((after, before))
        if new_task is not None and not new_task.is_correct(after, before):
            changed += 1
    compared = len(pairs)
    metrics: dict[str, float] = {}
    if new_task is not None and pairs:
        metrics = new_task.quality([(a, b) for a, b in pairs])
    return Comparison(
        batch_id=batch_id, relabel_of=link.relabel_of, project=link.project,
        from_pair=link.from_pair, to_pair=link.to_pair,
        state="done" if new.labeled else "labeling",
        items=new.total, compared=compared, changed=changed, unchanged=compared - changed,
        agreement=(compared - changed) / compared if compared else None, metrics=metrics,
        gold={side: _gold_side(projects, team, eid) for side, eid in link.evaluations.items()},
    )


def _task(projects: Projects, team: str, link: RelabelLink, pair: VersionPair) -> Task | None:
    try:
        return projects.task_for(
            team, task=projects.get(team, link.project).task,
            guideline_version=pair.guideline_version, guideline_hash=pair.guideline_hash,
            project=link.project,
        )
    except LlmlabelError:
        return None
