"""What Redis does per item: commands and CPU per labeled and per reviewed item, and its ceiling.

    python bench/redis_ops.py [--quick] [--items 2000]

Resets Redis' command statistics, submits one batch through the API, labels
it with two workers against a zero-latency fake provider (30% of items
inconsistent, so they take more samples and go to review), then reviews the
needs_review items through the API (claim + approve). INFO commandstats after
each phase gives the commands per item and Redis' own CPU (usec) per item;
redis-benchmark on the same machine gives what one Redis core does with
simple commands. Ceiling = 1 s of Redis CPU / Redis CPU per item.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import redis
from harness import classification_items, cluster, machine_info, make_store, wait_until
from rq import Worker

from llmlabel.store import Role


def redis_cpu(client: redis.Redis) -> float:
    """Seconds of CPU the redis-server process has used (user + system, main thread and others)."""
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def commandstats(client: redis.Redis, cpu_start: float) -> tuple[dict[str, tuple[int, int]], float]:
    """({command: (calls, usec)} since the last CONFIG RESETSTAT, Redis CPU seconds since cpu_start)."""
    stats = client.info("commandstats")
    cpu = redis_cpu(client) - cpu_start
    return {
        name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
        for name, v in stats.items()
    }, cpu


def report(title: str, measured: tuple[dict[str, tuple[int, int]], float], per: int) -> float:
    """Print commands and Redis CPU per item; returns Redis CPU usec per item.

    Commands run inside Lua scripts are counted too (Redis counts them in
    commandstats), and the EVALSHA time includes theirs; the CPU figure is the
    server's own (INFO cpu), networking included.
    """
    stats, cpu = measured
    calls = sum(c for c, _ in stats.values())
    scripts = stats.get("evalsha", (0, 0))[0] + stats.get("eval", (0, 0))[0]
    print(
        f"{title}: {calls / per:.1f} commands ({scripts / per:.2f} Lua script calls) and "
        f"{cpu * 1e6 / per:.0f} usec of Redis CPU per item"
    )
    top = sorted(stats.items(), key=lambda kv: -kv[1][0])[:8]
    print("   " + ", ".join(f"{name} {c / per:.2f}" for name, (c, _) in top))
    return cpu * 1e6 / per


def redis_benchmark(port: int, quick: bool) -> dict[str, float]:
    """requests/s of a few commands, one connection-pool of 50 clients, no pipelining."""
    n = "20000" if quick else "100000"
    out = subprocess.run(
        [
            "redis-benchmark",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-q",
            "-n",
            n,
            "-t",
            "set,get,hset,lpush,zadd,incr",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rates = {}
    for line in out.replace("\r", "\n").splitlines():
        match = re.match(r"^(\w+)\S*: ([\d.]+) requests per second", line.strip())
        if match:
            rates[match.group(1)] = float(match.group(2))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", type=int, default=None)
    args = parser.parse_args()
    n = args.items or (500 if args.quick else 2000)
    print(machine_info())
    print(f"command: python bench/redis_ops.py {' '.join(sys.argv[1:])}".rstrip())
    with cluster() as c:
        c.start_redis()
        c.start_provider(latency_ms=0, latency_jitter_ms=0, disagree_rate=0.3)
        env = c.env(worker_concurrency=16)
        base, _ = c.api(env)
        store = make_store(c.redis_url)
        auth = {"Authorization": f"Bearer {store.create_api_key(team='bench', role=Role.ADMIN)}"}
        rds = redis.Redis.from_url(c.redis_url)
        for i in range(2):
            c.worker(env, f"ops-{i}")
        wait_until(lambda: Worker.count(connection=rds) >= 2, timeout_s=60, what="workers")
        time.sleep(1.0)
        rds.config_resetstat()
        cpu0 = redis_cpu(rds)
        http = httpx.Client(base_url=base, headers=auth, timeout=120)
        response = http.post(
            "/v1/batches", json={"task": "classification", "items": classification_items(n)}
        )
        response.raise_for_status()
        batch_id = response.json()["id"]
        submit_stats = commandstats(rds, cpu0)
        rds.config_resetstat()
        cpu0 = redis_cpu(rds)
        wait_until(
            lambda: store.get_batch("bench", batch_id).labeled,
            timeout_s=600,
            what="labeling",
            every_s=1.0,
        )
        label_stats = commandstats(rds, cpu0)
        calls = c.provider_call("GET", "/stats")["ok"]
        review_n = store.get_batch("bench", batch_id).counts["needs_review"]
        rds.config_resetstat()
        cpu0 = redis_cpu(rds)
        for _ in range(review_n):
            claim = http.post("/v1/review/claim").json()
            http.post(
                f"/v1/review/items/{claim['item_id']}/decision",
                json={"lease_token": claim["lease_token"], "action": "approve"},
            ).raise_for_status()
        review_stats = commandstats(rds, cpu0)
        memory = rds.info("memory")["used_memory"]
        rates = redis_benchmark(int(c.redis_url.rsplit(":", 1)[1].split("/")[0]), args.quick)
    print(
        f"{n} items, {calls} provider calls ({calls / n:.2f}/item), {review_n} reviewed; "
        f"Redis used_memory {memory / n:.0f} bytes/item at the end (items, labels, samples, jobs gone)"
    )
    submit_us = report("submit (API)", submit_stats, n)
    label_us = report("labeling (workers, incl. RQ and progress polling)", label_stats, n)
    review_us = report("review claim+decide (API)", review_stats, max(review_n, 1))
    per_item = submit_us + label_us + review_us * review_n / n
    print(
        "redis-benchmark (50 clients, no pipelining): "
        + ", ".join(f"{k} {v:,.0f}/s" for k, v in rates.items())
    )
    print(
        f"Redis CPU per item end to end: {per_item:.0f} usec -> one Redis core tops out near "
        f"{1e6 / per_item:,.0f} items/s ({1e6 / per_item * 3600:,.0f} items/hour)"
    )


if __name__ == "__main__":
    main()
