"""Enqueueing labeling jobs on RQ: JSON-serialised, item ids only, one job per chunk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

__all__ = [
    "GOLD_JOB_FUNCTION",
    "JOB_FUNCTION",
    "QUEUE_NAME",
    "enqueue_chunks",
    "enqueue_gold",
    "queue_for",
    "rq_connection",
]

QUEUE_NAME = "llmlabel"
# Referenced by name so the store never imports the worker (a higher layer).
JOB_FUNCTION = "llmlabel.worker.label_chunk"
GOLD_JOB_FUNCTION = "llmlabel.gold_jobs.label_gold"
# Jobs per Redis pipeline when enqueueing a big batch.
_PIPELINE_JOBS = 500
# How long a failed job's record is kept for inspection (items keep their own error).
_FAILURE_TTL_S = 7 * 24 * 3600


def rq_connection(client: redis.Redis) -> redis.Redis:
    """A client on the same server without decode_responses: RQ stores bytes (job payloads)."""
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    kwargs["decode_responses"] = False
    return redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    )


def queue_for(connection: redis.Redis) -> Queue:
    """The labeling queue on an RQ (bytes) connection."""
    return Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)


def _chunks(ids: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def enqueue_chunks(
    connection: redis.Redis,
    team: str,
    item_ids: Sequence[str],
    *,
    chunk_size: int,
    job_timeout_s: int,
) -> int:
    """Enqueue `label_chunk(ids, team)` jobs for `item_ids`; returns the number of jobs.

    Jobs carry ids only; the worker reloads everything from the store, and a job
    that runs twice (RQ retry after an abandoned job) finds its items already done.
    """
    queue = queue_for(connection)
    datas = [
        Queue.prepare_data(
            JOB_FUNCTION,
            args=[chunk, team],
            timeout=job_timeout_s,
            result_ttl=0,
            failure_ttl=_FAILURE_TTL_S,
            retry=Retry(max=2),
            description=f"label {len(chunk)} items of team {team}",
        )
        for chunk in _chunks(item_ids, chunk_size)
    ]
    for start in range(0, len(datas), _PIPELINE_JOBS):
        with connection.pipeline() as pipe:
            queue.enqueue_many(datas[start : start + _PIPELINE_JOBS], pipeline=pipe)
            pipe.execute()
    return len(datas)


def enqueue_gold(
    connection: redis.Redis,
    *,
    team: str,
    task: str,
    gold_ids: Sequence[str],
    guideline_version: str,
    prompt_version: str,
    evaluation_id: str | None,
    job_timeout_s: int,
) -> None:
    """Enqueue one job labeling gold items with a version (and scoring it, for an evaluation).

    Gold sets are small (hundreds), so one job holds them all; it runs in the
    normal workers, next to the labeling chunks.
    """
    queue_for(connection).enqueue(
        GOLD_JOB_FUNCTION,
        args=[team, task, list(gold_ids), guideline_version, prompt_version, evaluation_id],
        job_timeout=job_timeout_s,
        result_ttl=0,
        failure_ttl=_FAILURE_TTL_S,
        description=f"label {len(gold_ids)} gold items of team {team}",
    )
