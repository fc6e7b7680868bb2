"""llmlabel against a plain AsyncOpenAI loop at equal concurrency, CPU per item, and fairness.

    python bench/throughput.py [--quick] [--latency-ms 200] [--seconds 8] [--flights 16,32,64]
        [--workers 1,2,4] [--no-sdk] [--no-fairness | --only-fairness]

One run, against the fake provider at --latency-ms (one call per item: it
agrees with itself, so adaptive sampling stops after the first n=3 call):

1. For 16, 32 and 64 calls in flight and 1, 2 and 4 processes: the plain loop
   (bench/plain_loop.py, one semaphore) in that many processes, then llmlabel
   with that many workers, both splitting the same total evenly
   (LLMLABEL_WORKER_CONCURRENCY = in flight / workers): each side gets the same
   number of processes, so the ratio compares the per-call work, not the count. Items are
   submitted over HTTP (`llmlabel serve`) and timed from the submit until no
   item is queued or labeling; the provider's own max-in-flight is printed to
   show the concurrency really was equal. CPU ms per item of the API, the
   workers and Redis (psutil, before and after each run).
2. The same 2 workers x 32 with the official SDK client (LLMLABEL_OPENAI_CLIENT=sdk).
3. Fairness, 2 workers x 32: a 20-item batch of one team alone, then the same
   batch submitted 2 s after a 20,000-item batch of another team.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from harness import (
    ROOT,
    Cluster,
    classification_items,
    cluster,
    cpu_seconds,
    machine_info,
    make_store,
    wait_until,
)

from llmlabel.store import Role, Store


def _start_workers(c: Cluster, env: dict[str, str], names: list[str]) -> list[Any]:
    procs = [c.worker(env, name) for name in names]
    wait_until(
        lambda: all("labeling.start" in c.log(n) for n in names), timeout_s=90, what="workers"
    )
    return procs


def _stop(procs: list[Any]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)


def _submit(base: str, key: str, items: list[dict[str, Any]]) -> str:
    response = httpx.post(
        f"{base}/v1/batches",
        headers={"Authorization": f"Bearer {key}"},
        json={"task": "classification", "items": items, "guideline_version": "v1",
              "prompt_version": "v1"},
        timeout=120,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def _wait_labeled(store: Store, team: str, batch_id: str, timeout_s: float) -> float:
    wait_until(lambda: store.get_batch(team, batch_id).labeled, timeout_s=timeout_s,
               what=f"batch {batch_id}", every_s=0.02)
    return time.monotonic()


def plain(c: Cluster, in_flight: int, calls: int, processes: int) -> dict[str, float]:
    """The plain loop in `processes` processes (in flight and calls split evenly), started
    together once all are set up; wall time from the first start to the last end."""
    c.provider_call("POST", "/reset")
    procs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "plain_loop.py"), "--base-url", c.provider_url,
             "--calls", str(calls // processes), "--concurrency", str(in_flight // processes),
             "--prefix", f"p{i}-", "--wait-for-go"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        for i in range(processes)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        if proc.returncode:
            raise RuntimeError(f"plain loop failed: {out[-2000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    stats = c.provider_call("GET", "/stats")
    return {"calls": sum(r["calls"] for r in results), "wall_s": wall,
            "cpu_s": sum(r["cpu_s"] for r in results), "max_in_flight": stats["max_in_flight"]}


def llmlabel(
    c: Cluster, base: str, key: str, api_pid: int, workers: int, per_worker: int, n_items: int,
    client: str = "http",
) -> dict[str, float]:
    c.provider_call("POST", "/reset")
    env = c.env(worker_concurrency=per_worker, openai_client=client)
    procs = _start_workers(c, env, [f"w{workers}x{per_worker}{client}-{i}" for i in range(workers)])
    store = make_store(c.redis_url)
    assert c.redis_proc is not None
    pids = {"api": [api_pid], "workers": [p.pid for p in procs], "redis": [c.redis_proc.pid]}
    before = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
    items = classification_items(n_items, tag=f" ({time.time_ns()})")
    start = time.monotonic()
    batch_id = _submit(base, key, items)
    end = _wait_labeled(store, "bench", batch_id, 600)
    after = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
    stats = c.provider_call("GET", "/stats")
    _stop(procs)
    cpu = {k: (after[k] - before[k]) * 1000 / n_items for k in pids}
    return {"items": n_items, "calls": stats["ok"], "wall_s": end - start,
            "max_in_flight": stats["max_in_flight"], **{f"cpu_{k}": v for k, v in cpu.items()}}


def fairness(c: Cluster, base: str, key: str, big_key: str, big_items: int) -> tuple[float, float]:
    env = c.env(worker_concurrency=32)
    procs = _start_workers(c, env, ["fair-0", "fair-1"])
    store = make_store(c.redis_url)
    small = classification_items(20, tag=f" (small {time.time_ns()})")
    start = time.monotonic()
    alone = _wait_labeled(store, "bench", _submit(base, key, small), 300) - start
    big_id = _submit(base, big_key, classification_items(big_items, tag=f" (big {time.time_ns()})"))
    time.sleep(2.0)
    small = classification_items(20, tag=f" (small {time.time_ns()})")
    start = time.monotonic()
    shared = _wait_labeled(store, "bench", _submit(base, key, small), 600) - start
    left = store.get_batch("bigco", big_id).counts["queued"]
    _stop(procs)
    print(f"  (the big batch still had {left} of {big_items} items queued when the small one finished)")
    return alone, shared


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 and 32 in flight, shorter runs")
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=None, help="ideal seconds of work per run")
    parser.add_argument("--big-items", type=int, default=20_000)
    parser.add_argument("--flights", type=_ints, default=None, help="e.g. 16,32,64")
    parser.add_argument("--workers", type=_ints, default=(1, 2, 4), help="e.g. 1,2,4")
    parser.add_argument("--no-sdk", action="store_true", help="skip the SDK-client arm")
    parser.add_argument("--no-fairness", action="store_true", help="skip the fairness case")
    parser.add_argument("--only-fairness", action="store_true", help="only the fairness case")
    args = parser.parse_args()
    seconds = args.seconds or (4.0 if args.quick else 8.0)
    flights = args.flights or ((16, 32) if args.quick else (16, 32, 64))
    if args.only_fairness:
        flights, args.no_sdk = (), True
    latency_s = args.latency_ms / 1000
    print(machine_info())
    print(f"command: python bench/throughput.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"load average at start: {_load()}")
    with cluster() as c:
        c.start_redis()
        c.start_provider(latency_ms=args.latency_ms, latency_jitter_ms=20, disagree_rate=0.0)
        store = make_store(c.redis_url)
        key = store.create_api_key(team="bench", role=Role.ADMIN)
        big_key = store.create_api_key(team="bigco", role=Role.ADMIN)
        base, api = c.api(c.env())
        ratios: dict[tuple[int, int], float] = {}
        worker_cpu: dict[tuple[int, int], float] = {}
        if flights:
            print("the plain loop runs in as many processes as llmlabel has workers (in flight "
                  "split evenly), started together; 'vs plain' compares those two rows")
            print("in flight | arm | items/s | vs plain | max in flight at provider | "
                  "CPU ms/item: api / workers / redis (plain: its processes) | load")
        for in_flight in flights:
            n_items = int(in_flight / latency_s * seconds)
            for workers in args.workers:
                p = plain(c, in_flight, n_items, workers)
                plain_rate = p["calls"] / p["wall_s"]
                print(f"{in_flight:9} | plain loop, {workers} process(es) x "
                      f"{in_flight // workers} | {plain_rate:7.1f} | 1.00 | {p['max_in_flight']} | "
                      f"{p['cpu_s'] * 1000 / p['calls']:.2f} | {_load()}", flush=True)
                r = llmlabel(c, base, key, api.pid, workers, in_flight // workers, n_items)
                rate = r["items"] / r["wall_s"]
                ratios[(in_flight, workers)] = rate / plain_rate
                worker_cpu[(in_flight, workers)] = r["cpu_workers"]
                print(f"{in_flight:9} | llmlabel {workers} worker(s) x {in_flight // workers} | "
                      f"{rate:7.1f} | {rate / plain_rate:.2f} | {r['max_in_flight']} | "
                      f"{r['cpu_api']:.2f} / {r['cpu_workers']:.2f} / {r['cpu_redis']:.2f} | "
                      f"{_load()}", flush=True)
        if not args.no_sdk:
            n_items = int(32 / latency_s * seconds)
            s = llmlabel(c, base, key, api.pid, 2, 16, n_items, client="sdk")
            print(f"{32:9} | llmlabel 2 x 16, SDK client | {s['items'] / s['wall_s']:7.1f} | "
                  f"{s['items'] / s['wall_s'] / (32 / latency_s):.2f} of ideal | "
                  f"{s['max_in_flight']} | {s['cpu_api']:.2f} / {s['cpu_workers']:.2f} / "
                  f"{s['cpu_redis']:.2f} | {_load()}", flush=True)
        fair = None
        if not args.no_fairness:
            fair = fairness(c, base, key, big_key, args.big_items)
            alone, shared = fair
            print(f"fairness, 2 workers x 32: 20-item batch alone {alone:.2f}s, while a "
                  f"{args.big_items}-item batch of another team runs {shared:.2f}s -> "
                  f"{shared / alone:.2f}x", flush=True)
        print(f"load average at end: {_load()}")
        for in_flight in (32, 64):
            if (in_flight, 2) in ratios:
                r = ratios[(in_flight, 2)]
                print(f"target >= 0.90 of the plain loop at {in_flight} in flight, 2 workers: "
                      f"{'met' if r >= 0.9 else 'NOT met'} ({r:.2f})")
        if any(w == 2 for _, w in worker_cpu):
            w = max(v for (_, n), v in worker_cpu.items() if n == 2)
            print(f"target worker CPU <= 4 ms per item (2 workers): "
                  f"{'met' if w <= 4 else 'NOT met'} (worst {w:.2f})")
        if fair is not None:
            alone, shared = fair
            print(f"target small batch within 2x of alone: "
                  f"{'met' if shared <= 2 * alone else 'NOT met'} ({shared / alone:.2f}x)")


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


if __name__ == "__main__":
    main()
