"""The local model with more workers: W workers x T llama.cpp threads on a safety subset.

    python bench/local_workers.py [--items 10] [--arms 1x1,2x1,1x2] [--models-dir var/models]

Each arm starts W `llmlabel worker` processes (LLMLABEL_BACKEND=local, the
default model, LLMLABEL_LOCAL_THREADS=T), waits until they are up, submits the
--items shortest texts of the shared safety dev set as one batch, and times it
until no item is queued or labeling (model loading included: every worker loads
its own copy, in parallel). The local backend runs one call at a time per
process, so each worker holds one item. Ratios are against the first arm.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis
from harness import BENCH_PRINCIPAL, ROOT, cluster, cpu_seconds, machine_info, make_store
from harness import wait_until as bench_wait

from llmlabel.store import BatchCreate


def shortest_safety(n: int) -> list[dict[str, str]]:
    """The n shortest texts of the shared safety dev set (a fixed subset)."""
    path = ROOT.parent / "shared" / "datasets" / "safety" / "dev.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows.sort(key=lambda r: (len(r["text"]), r["id"]))
    return [{"id": r["id"], "text": r["text"]} for r in rows[:n]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--arms", default="1x1,2x1,1x2", help="WxT: workers x threads each")
    parser.add_argument("--models-dir", default=str(ROOT / "var" / "models"))
    args = parser.parse_args()
    items = shortest_safety(args.items)
    print(machine_info())
    print(f"command: python bench/local_workers.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"{len(items)} shortest safety dev items ({min(len(i['text']) for i in items)}-"
          f"{max(len(i['text']) for i in items)} chars), default local model")
    results: list[tuple[str, float]] = []
    with cluster() as c:
        c.start_redis()
        models = Path(args.models_dir)
        for arm in args.arms.split(","):
            workers, threads = (int(x) for x in arm.split("x"))
            redis.Redis.from_url(c.redis_url).flushdb()
            env = c.env(backend="local", model="default", local_threads=threads)
            env.pop("LLMLABEL_BASE_URL")
            data = c.workdir / f"var-{arm}"
            data.mkdir()
            if models.is_dir():
                (data / "models").symlink_to(models.resolve())
            env["LLMLABEL_DATA_DIR"] = str(data)
            names = [f"local-{arm}-{i}" for i in range(workers)]
            procs = [c.worker(env, name) for name in names]
            bench_wait(
                lambda names=names: all("labeling.start" in c.log(n) for n in names),
                timeout_s=120,
                what="the workers",
            )
            store = make_store(c.redis_url)
            load0 = _load()
            started = time.monotonic()
            info, _ = store.create_batch(
                BENCH_PRINCIPAL,
                BatchCreate(task="safety", items=items, guideline_version="v2", prompt_version="v2"),
                idempotency_key=None,
                request_hash=f"local-{arm}",
            )
            bench_wait(
                lambda store=store, batch_id=info.id: store.get_batch(
                    BENCH_PRINCIPAL.team, batch_id
                ).labeled,
                timeout_s=3600,
                what="the batch",
                every_s=0.5,
            )
            wall = time.monotonic() - started
            cpu = sum(cpu_seconds(p.pid) for p in procs)
            batch = store.get_batch(BENCH_PRINCIPAL.team, info.id)
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=60)
            results.append((arm, wall))
            base = results[0][1]
            print(
                f"{workers} worker(s) x {threads} thread(s): {len(items)} items, "
                f"{batch.usage.calls} calls in {wall:.0f}s; failed {batch.counts['failed']}; "
                f"worker CPU {cpu:.0f}s; load average {load0:.1f}->{_load():.1f}; "
                f"speed vs {results[0][0]}: {base / wall:.2f}x",
                flush=True,
            )


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


if __name__ == "__main__":
    main()
