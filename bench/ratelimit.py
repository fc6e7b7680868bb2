"""Use of a shared provider rate limit by 4 workers: achieved / limit, and 429s received.

    python bench/ratelimit.py [--quick] [--rpm 1800] [--workers 4] [--concurrency 4]

The fake provider enforces --rpm requests per minute (a 60 s moving window,
answering 429 with Retry-After past it) and the workers are configured with the
same LLMLABEL_REQUESTS_PER_MINUTE, shared through Redis. The workers could do
far more (workers x concurrency / 200 ms), so the limit is what binds. Over
whole minutes from the first request, a moving window allows at most rpm per
minute: achieved = ok calls / (rpm x minutes). 429s are counted at the provider.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis
from harness import classification_items, cluster, machine_info, make_store, submit, wait_until
from rq import Worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one minute instead of two")
    parser.add_argument("--rpm", type=int, default=1800)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    minutes = 1 if args.quick else 2
    print(machine_info())
    print(f"command: python bench/ratelimit.py {' '.join(sys.argv[1:])}".rstrip())
    with cluster() as c:
        c.start_redis()
        c.start_provider(latency_ms=200, latency_jitter_ms=20, rate_limit_rpm=args.rpm)
        env = c.env(requests_per_minute=args.rpm, worker_concurrency=args.concurrency)
        for i in range(args.workers):
            c.worker(env, f"rl-{i}")
        conn = redis.Redis.from_url(c.redis_url)
        wait_until(
            lambda: Worker.count(connection=conn) >= args.workers, timeout_s=60, what="workers"
        )
        capacity = args.workers * args.concurrency / 0.2
        store = make_store(c.redis_url)
        submit(store, classification_items(args.rpm * (minutes + 1)))
        marks: list[tuple[float, int, int, int]] = []
        first: float | None = None
        # Stop just before the next minute's window opens: a moving window allows rpm per minute.
        while first is None or time.monotonic() < first + 60 * minutes - 0.5:
            stats = c.provider_call("GET", "/stats")
            now = time.monotonic()
            if first is None and stats["requests"]:
                first = now
            marks.append((now, stats["ok"], stats["rate_limited"], stats["requests"]))
            time.sleep(0.25)
        _, ok, limited, requests = marks[-1]
        assert first is not None
        per_minute = []
        for m in range(minutes):
            end = next(x for x in reversed(marks) if x[0] <= first + 60 * (m + 1) - 0.5)
            start = (
                next(x for x in reversed(marks) if x[0] <= first + 60 * m)
                if m
                else (first, 0, 0, 0)
            )
            per_minute.append(end[1] - start[1])
    achieved = ok / (args.rpm * minutes)
    share_429 = limited / max(requests, 1)
    print(
        f"limit {args.rpm}/min, {args.workers} workers x {args.concurrency} in flight "
        f"(could do {capacity * 60:.0f}/min at 200 ms)"
    )
    print(f"ok calls per minute: {per_minute}; achieved / limit over {minutes} min: {achieved:.3f}")
    print(f"429s: {limited} of {requests} requests = {share_429:.2%}")
    met = achieved >= 0.95 and share_429 < 0.01
    print(f"target >= 95% of the limit with < 1% 429s: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
