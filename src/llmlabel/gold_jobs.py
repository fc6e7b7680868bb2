"""The RQ job that labels gold items with one version pair, and scores the version for an evaluation.

Enqueued by the store (`Store.enqueue_gold_labeling`): when gold items are
uploaded (with the task's versions at that time: the label reviewers see, and
the LLM's accuracy on gold for that version), and for `POST
/v1/tasks/{task}/versions/{version}/evaluate` (every gold item of the task, then
an `EvalReport`). It runs in the normal workers. Each LLM record is kept per
gold item and version pair, so running the job twice only relabels.

An evaluation runs under a lease (`store/evaluation_leases.py`) renewed while
the job works, so a worker killed mid-evaluation leaves it to the reaper, which
runs it again or fails it; it never stays "running".

Evaluating does not pin the version's content hash: a draft version can be
evaluated, edited and evaluated again before anyone activates it. The report
keeps the hashes it was made with (in each record).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import redis

from llmlabel.calibration_jobs import note_judgments
from llmlabel.domain import LabelRecord
from llmlabel.errors import BackendError, BudgetExceededError, InputError, LlmlabelError
from llmlabel.evaluate import evaluate_records
from llmlabel.labeler import Labeler
from llmlabel.projects import LabelerFactory, VersionPin
from llmlabel.ratelimit import RateLimiter
from llmlabel.settings import Settings
from llmlabel.spend import Attribution, SpendMeter
from llmlabel.store import Store
from llmlabel.store.gold_models import GoldEvaluation, GoldItem
from llmlabel.worker import job_context

__all__ = ["label_gold"]

logger = logging.getLogger(__name__)

# Versions loaded by hash stay parsed for the life of the worker process (per store URL).
_FACTORIES: dict[str, LabelerFactory] = {}


def _factory(settings: Settings, store: Store) -> LabelerFactory:
    url = settings.redis_url or ""
    if url not in _FACTORIES:
        _FACTORIES[url] = LabelerFactory(store, settings)
    return _FACTORIES[url]


# Errors that make one gold item unlabeled (counted as failed in the report), not the job.
_ITEM_ERRORS = (InputError, BackendError, BudgetExceededError)
# Later rounds for gold items whose provider calls failed, and the pause before each.
_PROVIDER_ROUNDS = 2
_ROUND_PAUSE_S = 2.0


async def label_gold(
    team: str,
    task: str,
    gold_ids: list[str],
    guideline_version: str,
    prompt_version: str,
    evaluation_id: str | None = None,
    pin: dict[str, str | None] | None = None,
) -> dict[str, int]:
    """RQ job: label gold items with a version pair; with an evaluation id, store its report.

    `pin` names the project, the content hashes and the model profile; without it
    (jobs queued before projects existed) the built-in versions of those names are used.
    """
    settings, store = job_context()
    evaluation = None
    if evaluation_id is not None:
        # Under a lease: if this worker dies, the reaper re-runs or fails the evaluation.
        evaluation = store.start_evaluation(team, evaluation_id)
        if evaluation is None:
            return {"labeled": 0, "failed": 0}  # finished by an earlier run of this job
    heartbeat = (
        asyncio.create_task(_renew_lease(store, team, evaluation.id, settings.labeling_lease_s / 3))
        if evaluation is not None
        else None
    )
    try:
        version_pin = VersionPin(
            team=team, task=task, guideline_version=guideline_version,
            prompt_version=prompt_version, **(pin or {}),
        )
        return await _run(store, gold_ids, version_pin, evaluation, settings)
    except Exception as exc:  # job edge: an exception must not leave the evaluation "running"
        if evaluation is not None:
            _finish(store, team, evaluation, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if heartbeat is not None:
            heartbeat.cancel()


async def _renew_lease(store: Store, team: str, evaluation_id: str, every_s: float) -> None:
    """Keep the evaluation's lease alive while the job runs."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if not store.renew_evaluation(team, evaluation_id):
                # Reaped as lost (this run was too slow): it still writes its outcome.
                logger.warning("evaluation.lease_lost team=%s id=%s", team, evaluation_id)
        except (LlmlabelError, redis.RedisError) as exc:
            logger.warning("evaluation.renew_failed team=%s id=%s error=%s", team, evaluation_id, exc)


async def _run(
    store: Store,
    gold_ids: list[str],
    pin: VersionPin,
    evaluation: GoldEvaluation | None,
    settings: Settings,
) -> dict[str, int]:
    team, task = pin.team, pin.task
    limiters: dict[str, RateLimiter] = {}
    try:
        labeler = _factory(settings, store).labeler(pin, limiters=limiters)
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
            project=pin.project or task,
            version=f"{labeler.guideline.version}/{labeler.prompt.version}",
        )
    )
    try:
        results = await _label_all(labeler, golds, settings.worker_concurrency, meter)
    finally:
        await labeler.aclose()
        for limiter in limiters.values():
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
    # Gold labeled by the version is calibration evidence for it.
    note_judgments(store, team, pin.project or task, labeler.guideline.version, n=len(pairs))
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
    """Each gold item with its record, or the error that kept it unlabeled.

    An item whose calls failed at the provider (after the backend's own retries)
    is labeled again in up to `_PROVIDER_ROUNDS` later rounds, so a provider
    storm does not leave gold items without an LLM label; every call of every
    round is metered. Bad input and budget stops are final.
    """
    semaphore = asyncio.Semaphore(concurrency)

    async def one(gold: GoldItem) -> tuple[GoldItem, LabelRecord | str, bool]:
        async with semaphore:
            try:
                return gold, await labeler.label(gold.gold_id, gold.input, meter=meter), False
            except BackendError as exc:
                return gold, f"{type(exc).__name__}: {exc}", True
            except _ITEM_ERRORS as exc:
                return gold, f"{type(exc).__name__}: {exc}", False

    outcomes: dict[str, tuple[GoldItem, LabelRecord | str]] = {
        g.gold_id: (g, "not labeled") for g in golds
    }
    todo = golds
    for round_no in range(1 + _PROVIDER_ROUNDS):
        if round_no:
            await asyncio.sleep(_ROUND_PAUSE_S * round_no)
        results = await asyncio.gather(*(one(g) for g in todo))
        for gold, outcome, _ in results:
            outcomes[gold.gold_id] = (gold, outcome)
        todo = [gold for gold, _, retry in results if retry]
        if not todo:
            break
    return list(outcomes.values())


def _finish(
    store: Store, team: str, evaluation: GoldEvaluation, *, error: str | None = None
) -> None:
    evaluation.state = "failed" if error else "done"
    evaluation.error = error
    evaluation.finished_at = time.time()
    store.finish_evaluation(team, evaluation)
