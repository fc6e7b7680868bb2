"""The worker: labels items one free slot at a time, and runs RQ jobs for the rest.

Design (issues "every slot busy" and "work spreads across workers", one answer
to both). Items are not handed out in RQ jobs of N items any more: queued
items wait on per-batch ready lists in Redis, and a worker claims, in one Lua
script, exactly as many items as it has free slots, fairly across teams and
batches (`store/lua_labeling.py`). Each worker process runs one long-lived
event loop that claims again as soon as an item finishes (`loop.py`), with
labelers, backend and HTTP client built once (`labelers.py`).

Why a Redis structure behind the store rather than RQ jobs with prefetch: a job
is a block. A worker that dequeues a 32-item job holds 32 items whether it can
run 1 or 64 at once, and prefetching the next job only moves the idle time
elsewhere; making jobs 1 item long costs an RQ job (hash, registries, JSON)
per item. A ready list popped by the claim script costs one script call per
claim, holds nothing a worker cannot start, spreads re-queued items as finely
as new ones, and lets the claim pick *whose* item comes next (per-team,
per-batch fair shares, priorities), which a FIFO job queue cannot.

What stays: the labeling lease on every held item (renewed in one call for all
of them), the reaper in every worker that re-queues the items of dead workers
within `labeling_lease_s + reap_interval_s`, and the one atomic `SAVE` that
makes a label exactly-once. How many slots: `worker_concurrency`, capped by the
backend's `max_concurrency` (the local model: 1). RQ stays for gold labeling
and evaluations (`gold_jobs.py`), in the same process (`process.py`).

Worker class for RQ: `SimpleWorker` (no fork): the process keeps what is
expensive to build, such as a loaded local model, and a crash is covered by the
leases like any other dead worker.
"""

from __future__ import annotations

from llmlabel.worker.housekeeping import Housekeeper
from llmlabel.worker.labelers import LabelerPool
from llmlabel.worker.loop import LabelingLoop
from llmlabel.worker.process import job_context, run_labeling, run_worker

__all__ = ["Housekeeper", "LabelerPool", "LabelingLoop", "job_context", "run_labeling", "run_worker"]
