"""The RQ job that labels gold items with one version pair, and scores the version for an evaluation.

Enqueued by the store (`Store.enqueue_gold_labeling`): when gold items are
uploaded (with the task's versions at that time: the label reviewers see, and
the LLM's accuracy on gold for that version), and for `POST
/v1/tasks/{task}/versions/{version}/evaluate` (every gold item of the task, then
an `EvalReport`). It runs in the normal workers. Each LLM record is kept per
gold item and version pair, so running the job twice only relabels.

Evaluating does not pin the version's content hash: a draft version can be
evaluated, edited and evaluated again before anyone activates it. The report
keeps the hashes it was made with (in each record).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from llmlabel.domain import LabelRecord
from llmlabel.errors import BackendError, BudgetExceededError, InputError, LlmlabelError
from llmlabel.evaluate import evaluate_records
from llmlabel.labeler import Labeler, build_labeler
from llmlabel.settings import Settings
from llmlabel.spend import Attribution, SpendMeter
from llmlabel.store import Store
from llmlabel.store.gold_models import GoldEvaluation, GoldItem
from llmlabel.store.ratelimit import build_rate_limiter
from llmlabel.worker import job_context

__all__ = ["label_gold"]

logger = logging.getLogger(__name__)

# Errors that make one gold item unlabeled (counted as failed in the report), not the job.
_ITEM_ERRORS = (InputError, BackendError, BudgetExceededError)


async def label_gold(
    team: str,
    task: str,
    gold_ids: list[str],
    guideline_version: str,
    prompt_version: str,
    evaluation_id: str | None = None,
) -> dict[str, int]:
    """RQ job: label gold items with a version pair; with an evaluation id, store its report."""
    settings, store = job_context()
    evaluation = store.get_evaluation(team, evaluation_id) if evaluation_id else None
    if evaluation is not None:
        evaluation.state, evaluation.started_at = "running", time.time()
        store.save_evaluation(team, evaluation)
    try:
        return await _run(
            store, team, task, gold_ids, guideline_version, prompt_version, evaluation, settings
        )
    except Exception as exc:  # job edge: a queued evaluation must not stay "running" forever
        if evaluation is not None:
            _finish(store, team, evaluation, error=f"{type(exc).__name__}: {exc}")
        raise


async def _run(
    store: Store,
    team: str,
    task: str,
    gold_ids: list[str],
    guideline_version: str,
    prompt_version: str,
    evaluation: GoldEvaluation | None,
    settings: Settings,
) -> dict[str, int]:
    limiter = build_rate_limiter(settings.redis_url, settings.profile())
    try:
        labeler = build_labeler(settings, task, guideline_version, prompt_version, limiter=limiter)
    except LlmlabelError as exc:
        if evaluation is not None:
            _finish(store, team, evaluation, error=f"{type(exc).__name__}: {exc}")
        return {"labeled": 0, "failed": len(gold_ids)}
    golds = store.get_golds(team, gold_ids)
    # An evaluation pays as itself; a gold upload's labeling as the upload (its hidden batch id).
    scope = f"eval:{evaluation.id}" if evaluation is not None else "gold:" + _upload_of(gold_ids)
    meter = store.spend_meter(
        Attribution(
            team=team,
            scope=scope,
            project=task,
            version=f"{labeler.guideline.version}/{labeler.prompt.version}",
        )
    )
    try:
        results = await _label_all(labeler, golds, settings.worker_concurrency, meter)
    finally:
        await labeler.aclose()
        aclose = getattr(limiter, "aclose", None)
        if aclose is not None:
            await aclose()
    pairs: list[tuple[LabelRecord, dict[str, Any]]] = []
    errors: list[str] = []
    for gold, outcome in results:
        if isinstance(outcome, LabelRecord):
            store.save_gold_record(team, gold.gold_id, outcome)
            pairs.append((outcome, gold.label))
        else:
            errors.append(outcome)
    logger.info(
        "gold.labeled team=%s task=%s labeled=%d failed=%d", team, task, len(pairs), len(errors)
    )
    if evaluation is not None:
        if pairs:
            evaluation.report = evaluate_records(labeler.task, pairs, failed=len(errors))
            _finish(store, team, evaluation)
        else:
            first = errors[0] if errors else "the task has no gold items any more"
            _finish(store, team, evaluation, error=f"no gold item was labeled: {first}")
    return {"labeled": len(pairs), "failed": len(errors)}


def _upload_of(gold_ids: list[str]) -> str:
    """The hidden batch id of a gold upload (gold ids are `{upload}:{index}`)."""
    return gold_ids[0].rpartition(":")[0] if gold_ids else "none"


async def _label_all(
    labeler: Labeler, golds: list[GoldItem], concurrency: int, meter: SpendMeter
) -> list[tuple[GoldItem, LabelRecord | str]]:
    """Each gold item with its record, or the error that kept it unlabeled."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(gold: GoldItem) -> tuple[GoldItem, LabelRecord | str]:
        async with semaphore:
            try:
                return gold, await labeler.label(gold.gold_id, gold.input, meter=meter)
            except _ITEM_ERRORS as exc:
                return gold, f"{type(exc).__name__}: {exc}"

    return list(await asyncio.gather(*(one(g) for g in golds)))


def _finish(
    store: Store, team: str, evaluation: GoldEvaluation, *, error: str | None = None
) -> None:
    evaluation.state = "failed" if error else "done"
    evaluation.error = error
    evaluation.finished_at = time.time()
    store.save_evaluation(team, evaluation)
