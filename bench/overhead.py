"""Framework overhead: CPU ms per item of API + workers + Redis against a zero-latency provider.

    python bench/overhead.py [--quick] [--items 4000] [--workers 2]

Submits one batch through the API (`llmlabel serve`), lets `llmlabel worker`
processes label it against the fake provider answering at once, and reads the
user+system CPU time of each process (psutil) before and after. The provider's
own CPU is reported but not counted. In the same run, for reference: a plain
AsyncOpenAI loop (16 in flight) making the same number of calls with the same
messages, i.e. the cost of the SDK call alone, and in-process timings of the
per-item step of prompt rendering and the once-per-process labeler build.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from harness import (
    Cluster,
    classification_items,
    cluster,
    cpu_seconds,
    machine_info,
    make_store,
    wait_until,
)
from openai import AsyncOpenAI
from pydantic import SecretStr

from llmlabel.guidelines import VersionRegistry
from llmlabel.labeler import build_labeler
from llmlabel.prompts import render_messages
from llmlabel.settings import Settings
from llmlabel.store import Role
from llmlabel.tasks import build_task


def cpu_ms(seconds: float, per: int) -> float:
    return seconds * 1000 / max(per, 1)


async def plain_sdk_loop(
    base_url: str, calls: int, messages: list[dict[str, str]], schema: dict[str, Any]
) -> None:
    """The same calls through AsyncOpenAI + a semaphore, nothing else."""
    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    semaphore = asyncio.Semaphore(16)

    create: Any = client.chat.completions.create  # plain dicts, as a caller without types sends
    response_format = {"type": "json_schema", "json_schema": {"name": "label", "schema": schema}}

    async def one(i: int) -> None:
        last = {"role": "user", "content": f"{i} {messages[-1]['content']}"}
        async with semaphore:
            await create(
                model="fake-model",
                messages=[*messages[:-1], last],
                n=3,
                temperature=0.7,
                max_tokens=64,
                response_format=response_format,
            )

    await asyncio.gather(*(one(i) for i in range(calls)))
    await client.close()


def step_timings() -> dict[str, float]:
    """CPU ms of the worker's per-item prompt rendering and per-job labeler build."""
    registry = VersionRegistry()
    task = build_task(registry.guideline("classification", "v1"))
    prompt = registry.prompt("classification", "v1")
    view = task.validate_input({"id": "a", "text": "Order 1: loved it."})
    start = time.process_time()
    for _ in range(200):
        render_messages(task, prompt, view, 0)
    render = (time.process_time() - start) * 1000 / 200
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        api_key=SecretStr("x"),
        model="m",
    )
    start = time.process_time()
    for _ in range(10):
        build_labeler(settings, "classification", "v1", "v1")
    build = (time.process_time() - start) * 1000 / 10
    return {"render_messages_ms_per_item": render, "build_labeler_ms_per_job": build}


def run(c: Cluster, n_items: int, workers: int) -> dict[str, float]:
    env = c.env(worker_concurrency=16)
    base, api = c.api(env)
    names = [f"ov-{i}" for i in range(workers)]
    procs = [c.worker(env, name) for name in names]
    wait_until(
        lambda: all("labeling.start" in c.log(n) for n in names), timeout_s=60, what="workers"
    )
    store = make_store(c.redis_url)
    key = store.create_api_key(team="bench", role=Role.ADMIN)
    auth = {"Authorization": f"Bearer {key}"}
    time.sleep(1.0)  # let start-up CPU settle before the first reading
    assert c.redis_proc is not None
    pids = {
        "api": [api.pid],
        "workers": [p.pid for p in procs],
        "redis": [c.redis_proc.pid],
        "provider": [c.provider_pid],
    }
    before = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
    start = time.monotonic()
    response = httpx.post(
        f"{base}/v1/batches",
        headers=auth,
        timeout=120,
        json={
            "task": "classification",
            "guideline_version": "v1",
            "prompt_version": "v1",
            "items": classification_items(n_items, tag=f" ({time.time_ns()})"),
        },
    )
    response.raise_for_status()
    batch_id = response.json()["id"]
    wait_until(
        lambda: httpx.get(f"{base}/v1/batches/{batch_id}", headers=auth).json()["labeled"],
        timeout_s=600,
        what="labeling",
        every_s=0.5,
    )
    wall = time.monotonic() - start
    after = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
    calls = c.provider_call("GET", "/stats")["ok"]
    used = {k: after[k] - before[k] for k in pids}
    return {"wall_s": wall, "calls": calls, **{f"{k}_s": v for k, v in used.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n_items = args.items or (1000 if args.quick else 4000)
    print(machine_info())
    print(f"command: python bench/overhead.py {' '.join(sys.argv[1:])}".rstrip())
    with cluster() as c:
        c.start_redis()
        c.start_provider(latency_ms=0, latency_jitter_ms=0, disagree_rate=0.0)
        r = run(c, n_items, args.workers)
        registry = VersionRegistry()
        task = build_task(registry.guideline("classification", "v1"))
        view = task.validate_input({"id": "a", "text": "Order 1: loved it."})
        messages = [
            {"role": m.role, "content": m.content}
            for m in render_messages(task, registry.prompt("classification", "v1"), view, 0)
        ]
        start = time.process_time()
        calls = int(r["calls"])
        asyncio.run(plain_sdk_loop(c.provider_url, calls, messages, task.llm_schema()))
        sdk_ms = cpu_ms(time.process_time() - start, calls)
    steps = step_timings()
    per_item = {k: cpu_ms(r[f"{k}_s"], n_items) for k in ("api", "workers", "redis", "provider")}
    total = per_item["api"] + per_item["workers"] + per_item["redis"]
    calls_per_item = r["calls"] / n_items
    framework = total - sdk_ms * calls_per_item
    print(
        f"{n_items} items, {r['calls']} calls ({calls_per_item:.2f}/item), labeled in {r['wall_s']:.1f}s "
        f"= {n_items / r['wall_s']:.0f} items/s with {args.workers} workers"
    )
    print(
        f"CPU ms per item: api {per_item['api']:.2f}, workers {per_item['workers']:.2f}, "
        f"redis {per_item['redis']:.2f} -> total {total:.2f} (provider {per_item['provider']:.2f}, not counted)"
    )
    print(f"plain AsyncOpenAI loop, same calls: {sdk_ms:.2f} CPU ms per call")
    print(f"framework overhead beyond the SDK call: {framework:.2f} CPU ms per item")
    print(
        f"worker steps: render_messages {steps['render_messages_ms_per_item']:.2f} ms/item "
        f"build_labeler {steps['build_labeler_ms_per_job']:.1f} ms, once per worker process"
    )
    print(
        f"target <= 2 ms CPU per item (API + worker + Redis): {'met' if total <= 2 else 'NOT met'} "
        f"({total:.2f}); beyond the SDK call: {'met' if framework <= 2 else 'NOT met'} ({framework:.2f})"
    )


if __name__ == "__main__":
    main()
