"""Submitting 100k items: wall time and peak RSS of the API process, and Redis memory per item.

    python bench/submit.py [--quick] [--items 100000]

One `llmlabel serve` process (uvicorn, 1 worker) on a private redis-server, no
labeling workers (items stay queued). Submits batches of growing size as a JSON
body, then the largest again as NDJSON, then streams the largest batch's
results. After each step: wall time, the API's resident memory now and its
peak so far (VmHWM from /proc), and Redis used_memory per stored item.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import redis
from harness import classification_items, cluster, machine_info, make_store

from llmlabel.store import Role


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB."""
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="up to 20k items")
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    top = 20_000 if args.quick else args.items
    sizes = sorted({max(1, top // 10), top // 2, top})
    print(machine_info())
    print(f"command: python bench/submit.py {' '.join(sys.argv[1:])}".rstrip())
    with cluster() as c:
        c.start_redis()
        c.start_provider(latency_ms=0)
        base, api = c.api(c.env())
        store = make_store(c.redis_url)
        auth = {"Authorization": f"Bearer {store.create_api_key(team='bench', role=Role.ADMIN)}"}
        rds = redis.Redis.from_url(c.redis_url)
        rss0, _ = memory_mb(api.pid)
        print(f"API idle: RSS {rss0:.0f} MiB")
        client = httpx.Client(base_url=base, headers=auth, timeout=600)
        largest = ""
        for n in sizes:
            items = classification_items(n, prefix=f"n{n}-")
            body = json.dumps({"task": "classification", "items": items}).encode()
            mem0 = rds.info("memory")["used_memory"]
            start = time.monotonic()
            response = client.post(
                "/v1/batches", content=body, headers={"Content-Type": "application/json"}
            )
            wall = time.monotonic() - start
            response.raise_for_status()
            largest = response.json()["id"]
            per_item = (rds.info("memory")["used_memory"] - mem0) / n
            rss, hwm = memory_mb(api.pid)
            print(
                f"JSON submit {n:>7,} items ({len(body) / 2**20:.1f} MiB body): {wall:.2f}s = "
                f"{n / wall:,.0f} items/s; API RSS {rss:.0f} MiB, peak {hwm:.0f} MiB "
                f"(+{hwm - rss0:.0f} over idle); Redis {per_item:.0f} bytes/item",
                flush=True,
            )
        lines = "\n".join(json.dumps(i) for i in classification_items(top, prefix="nd-")).encode()
        start = time.monotonic()
        response = client.post(
            "/v1/batches",
            content=lines,
            params={"task": "classification"},
            headers={"Content-Type": "application/x-ndjson"},
        )
        wall = time.monotonic() - start
        response.raise_for_status()
        rss, hwm = memory_mb(api.pid)
        print(
            f"NDJSON submit {top:>7,} items ({len(lines) / 2**20:.1f} MiB): {wall:.2f}s; API RSS {rss:.0f} MiB, "
            f"peak {hwm:.0f} MiB"
        )
        start = time.monotonic()
        count = 0
        with client.stream("GET", f"/v1/batches/{largest}/results") as stream:
            for _ in stream.iter_lines():
                count += 1
        wall = time.monotonic() - start
        rss, hwm_after = memory_mb(api.pid)
        print(
            f"stream results of {count:,} items: {wall:.2f}s = {count / wall:,.0f} lines/s; API RSS {rss:.0f} MiB, "
            f"peak {hwm_after:.0f} MiB (streaming raised the peak by {hwm_after - hwm:.0f} MiB)"
        )
        print(
            f"Redis used_memory: {rds.info('memory')['used_memory_human']} for "
            f"{sum(sizes) + top:,} queued items and their RQ jobs"
        )
        print(
            f"target: bounded API memory for {top:,} items: peak {hwm_after:.0f} MiB "
            f"(+{hwm_after - rss0:.0f} MiB over idle)"
        )


if __name__ == "__main__":
    main()
