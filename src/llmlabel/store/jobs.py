"""RQ jobs of the store: gold labeling and evaluations (JSON-serialised, ids only).

Per-item labeling does not go through RQ: items wait on ready lists that the
workers claim from (`lua_labeling.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from rq import Queue
from rq.serializers import JSONSerializer

__all__ = [
    "GOLD_JOB_FUNCTION",
    "QUEUE_NAME",
    "enqueue_gold",
    "queue_for",
    "rq_connection",
]

QUEUE_NAME = "llmlabel"
# Referenced by name so the store never imports the job modules (a higher layer).
GOLD_JOB_FUNCTION = "llmlabel.gold_jobs.label_gold"
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
    """The job queue on an RQ (bytes) connection."""
    return Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)


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
    pin: dict[str, str | None] | None = None,
) -> None:
    """Enqueue one job labeling gold items with a version (and scoring it, for an evaluation).

    `pin` carries the project, content hashes and model profile the job loads
    the versions with (JSON, like every job argument).

    Gold sets are small (hundreds), so one job holds them all; it runs in the
    normal workers, next to their labeling loop.
    """
    queue_for(connection).enqueue(
        GOLD_JOB_FUNCTION,
        args=[team, task, list(gold_ids), guideline_version, prompt_version, evaluation_id],
        kwargs={"pin": pin} if pin else None,
        job_timeout=job_timeout_s,
        result_ttl=0,
        failure_ttl=_FAILURE_TTL_S,
        description=f"label {len(gold_ids)} gold items of team {team}",
    )
