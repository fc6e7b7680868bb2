"""What a worker pays to load a project's versions from Redis: cold (first item) and cached.

    python bench/version_load.py [--rounds 200]

Starts its own redis-server, creates a project through the service layer (the
ner built-ins, the largest guideline shipped), then measures, side by side in
one run:

- cold:   a fresh VersionCache loads guideline + prompt by hash (2 GETs) and
          parses them and builds the task, as a worker does for the first item
          of a version;
- cached: the same lookups again in a warm cache (every later item);
- labeler cold / cached: LabelerFactory.labeler() end to end (adds the backend
  client, built per job), for scale.

Each figure is the median of `rounds` runs (a new cache per cold run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import cluster, machine_info, make_store

from llmlabel.projects import LabelerFactory, Projects, VersionCache, VersionPin
from llmlabel.ratelimit import RateLimiter


def median_us(fn: Callable[[], object], rounds: int) -> float:
    """Median wall time of `fn` in microseconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    print(machine_info())
    with cluster() as c:
        url = c.start_redis()
        store = make_store(url, backend="openai", api_key="bench", base_url="http://127.0.0.1:9")
        projects = Projects(store, store.settings)
        resolved = projects.resolve("bench", task="ner")
        g, p = resolved.guideline, resolved.prompt
        pin = VersionPin(team="bench", task="ner", guideline_version=g.version,
                         prompt_version=p.version, guideline_hash=g.content_hash,
                         prompt_hash=p.content_hash, project=resolved.project.name)
        size = len(store.version_text("bench", "guideline", g.content_hash)) + len(
            store.version_text("bench", "prompt", p.content_hash))

        def load(cache: VersionCache) -> None:
            cache.guideline("bench", g.content_hash, task="ner", version=g.version)
            cache.prompt("bench", p.content_hash, task="ner", version=p.version)

        warm = VersionCache(store)
        load(warm)
        cold_us = median_us(lambda: load(VersionCache(store)), args.rounds)
        cached_us = median_us(lambda: load(warm), args.rounds)
        get_us = median_us(lambda: store.version_text("bench", "guideline", g.content_hash),
                           args.rounds)

        limiters: dict[str, RateLimiter] = {}
        factory = LabelerFactory(store, store.settings)
        factory.labeler(pin, limiters=limiters)
        labeler_cold_us = median_us(
            lambda: LabelerFactory(store, store.settings).labeler(pin, limiters={}), args.rounds)
        labeler_cached_us = median_us(lambda: factory.labeler(pin, limiters=limiters),
                                      args.rounds)

    print(f"ner {g.version}+{p.version}: {size:,} characters of guideline and prompt, "
          f"median of {args.rounds} rounds")
    print(f"  one GET of a version text         {get_us:9.1f} us")
    print(f"  versions cold (2 GETs + parse)    {cold_us:9.1f} us")
    print(f"  versions cached                   {cached_us:9.1f} us   "
          f"cold/cached = {cold_us / cached_us:,.0f}x")
    print(f"  labeler cold (versions + backend) {labeler_cold_us:9.1f} us")
    print(f"  labeler, versions cached          {labeler_cached_us:9.1f} us   "
          f"cold/cached = {labeler_cold_us / labeler_cached_us:.1f}x")


if __name__ == "__main__":
    main()
