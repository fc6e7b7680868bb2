"""Throughput of N llmlabel workers x C items in flight against a 200 ms provider.

    python bench/throughput.py [--quick] [--configs 1x16,1x16c256,2x16] [--latency-ms 200]

For each N x C (optionally cK: K items per RQ job instead of --chunk-size):
start N `llmlabel worker` processes (LLMLABEL_WORKER_CONCURRENCY=C), submit
enough classification items for --seconds of ideal work (one provider call per
item: the fake provider agrees with itself, so adaptive sampling stops after
the first n=3 call), and measure provider calls/s, end to end and in the steady
middle (10%..90% of the items). Ideal = min(N*C/latency, rate limit); no rate
limit is set here. In the same run, the baseline: a stock forking `rq worker`
x N running one RQ job per item (bench/rq_baseline_job.py), one call each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis
from harness import (
    BENCH_PRINCIPAL,
    ROOT,
    Cluster,
    classification_items,
    cluster,
    cpu_seconds,
    machine_info,
    make_store,
    submit,
    wait_until,
)
from rq import Queue, Worker


def run_llmlabel(
    c: Cluster, workers: int, concurrency: int, latency_s: float, seconds: float, chunk_size: int
) -> dict[str, float]:
    """One N x C run; returns calls/s end to end and steady, and the ratio to ideal."""
    redis.Redis.from_url(c.redis_url).flushdb()
    c.provider_call("POST", "/reset")
    env = c.env(worker_concurrency=concurrency, chunk_size=chunk_size)
    procs = [c.worker(env, f"w{workers}x{concurrency}-{i}") for i in range(workers)]
    rq_conn = redis.Redis.from_url(c.redis_url)
    wait_until(lambda: Worker.count(connection=rq_conn) >= workers, timeout_s=60, what="workers")
    ideal = workers * concurrency / latency_s
    n_items = int(ideal * seconds)
    store = make_store(c.redis_url, chunk_size=chunk_size)
    provider_cpu0 = cpu_seconds(c.provider_pid)
    start = time.monotonic()
    batch_id = submit(store, classification_items(n_items))
    marks: list[tuple[float, int]] = []
    deadline = start + seconds * 6 + 60
    while time.monotonic() < deadline:
        counts = store.get_batch(BENCH_PRINCIPAL.team, batch_id).counts
        done = n_items - counts["queued"] - counts["labeling"]
        marks.append((time.monotonic(), done))
        if done >= n_items:
            break
        time.sleep(0.1)
    end = marks[-1][0]
    stats = c.provider_call("GET", "/stats")
    worker_cpu = sum(cpu_seconds(p.pid) for p in procs)
    provider_cpu = cpu_seconds(c.provider_pid) - provider_cpu0
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)
    calls = int(stats["ok"])
    lo = next(m for m in marks if m[1] >= 0.1 * n_items)
    hi = next(m for m in marks if m[1] >= 0.9 * n_items)
    per_item = calls / n_items
    steady = (hi[1] - lo[1]) * per_item / (hi[0] - lo[0])
    return {
        "items": n_items,
        "calls": calls,
        "wall_s": end - start,
        "calls_per_s": calls / (end - start),
        "steady_calls_per_s": steady,
        "ideal": ideal,
        "ratio_e2e": calls / (end - start) / ideal,
        "ratio_steady": steady / ideal,
        "max_in_flight": stats["max_in_flight"],
        "worker_cpu_ms_per_call": worker_cpu * 1000 / max(calls, 1),
        "provider_cpu_ms_per_call": provider_cpu * 1000 / max(calls, 1),
    }


def run_rq_baseline(c: Cluster, workers: int, n_items: int) -> dict[str, float]:
    """Stock forking rq Workers, one job per item; returns items/s."""
    conn = redis.Redis.from_url(c.redis_url)
    conn.flushdb()
    c.provider_call("POST", "/reset")
    queue = Queue("baseline", connection=conn)
    env = c.env()
    env["PYTHONPATH"] = str(ROOT)
    # Enqueue first, then let burst workers drain the queue: they exit when it is empty.
    jobs = [
        Queue.prepare_data(
            "bench.rq_baseline_job.label_one",
            args=(c.provider_url, f"Order {i}: fine."),
            result_ttl=0,
        )
        for i in range(n_items)
    ]
    queue.enqueue_many(jobs)
    start = time.monotonic()
    procs = [
        c.spawn(
            [
                str(Path(sys.executable).with_name("rq")),
                "worker",
                "--url",
                c.redis_url,
                "--burst",
                "--quiet",
                "baseline",
            ],
            env,
            f"rq-run-{i}",
        )
        for i in range(workers)
    ]
    for p in procs:
        p.wait(timeout=600)
    wall = time.monotonic() - start
    ok = int(c.provider_call("GET", "/stats")["ok"])
    return {"items": n_items, "ok": ok, "wall_s": wall, "items_per_s": ok / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer configs")
    parser.add_argument("--configs", default=None, help="NxC[cK] list, e.g. 1x16,1x16c256,2x16")
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--baseline-items", type=int, default=None)
    parser.add_argument("--chunk-size", type=int, default=32, help="items per RQ job (default 32)")
    args = parser.parse_args()
    configs = args.configs or ("2x16" if args.quick else "1x16,1x16c256,2x16,4x16,2x32")
    seconds = 6.0 if args.quick else 10.0
    baseline_items = args.baseline_items or (60 if args.quick else 200)
    latency_s = args.latency_ms / 1000
    print(machine_info())
    print(f"command: python bench/throughput.py {' '.join(sys.argv[1:])}".rstrip())
    with cluster() as c:
        c.start_redis()
        c.start_provider(latency_ms=args.latency_ms, latency_jitter_ms=20, disagree_rate=0.0)
        results = []
        for spec in configs.split(","):
            shape, _, chunk = spec.lower().partition("c")
            n, k = (int(x) for x in shape.split("x"))
            chunk_size = int(chunk) if chunk else args.chunk_size
            r = run_llmlabel(c, n, k, latency_s, seconds, chunk_size)
            results.append((n, k, r))
            print(
                f"llmlabel {n} workers x {k} in flight, {chunk_size} items per job: {r['items']} items, {r['calls']} calls in "
                f"{r['wall_s']:.1f}s = {r['calls_per_s']:.1f} calls/s (steady {r['steady_calls_per_s']:.1f}); "
                f"ideal {r['ideal']:.0f}/s -> {r['ratio_e2e']:.2f} end to end, {r['ratio_steady']:.2f} steady; "
                f"max in flight at provider {r['max_in_flight']}; CPU ms/call: workers "
                f"{r['worker_cpu_ms_per_call']:.1f}, provider {r['provider_cpu_ms_per_call']:.1f}",
                flush=True,
            )
        n_base = max(n for n, _, _ in results)
        b = run_rq_baseline(c, n_base, baseline_items)
        ideal_b = n_base / latency_s
        print(
            f"rq baseline {n_base} forking workers, 1 item per job: {b['ok']} items in {b['wall_s']:.1f}s = "
            f"{b['items_per_s']:.1f} items/s (ideal {ideal_b:.0f}/s -> {b['items_per_s'] / ideal_b:.2f})"
        )
        for n, k, r in results:
            if n == n_base:
                print(
                    f"speedup llmlabel {n}x{k} / rq {n_base} workers: "
                    f"{r['calls_per_s'] / b['items_per_s']:.1f}x items/s"
                )
        worst = min(r["ratio_steady"] for _, _, r in results)
        print(
            f"target >= 0.90 of ideal (steady): {'met' if worst >= 0.9 else 'NOT met'} (worst {worst:.2f})"
        )


if __name__ == "__main__":
    main()
