"""Review API latency with 50 concurrent reviewers: claim + decide loops over httpx (async).

    python bench/review.py [--quick] [--reviewers 50] [--seconds 20] [--api-workers 1,2]

Seeds needs_review items straight through the store (the same Lua transitions a
worker uses), then runs `--reviewers` reviewers against `llmlabel serve`, each
with its own reviewer key, looping: POST /v1/review/claim, then POST the
decision (approve, every tenth one reject). Three loads side by side, for each
API process count: no think time (the API saturated: a closed loop's latency is
reviewers / throughput), 500 ms think time per decision (up to 100 decisions/s
offered) and 5 s (up to 10 decisions/s, still brisk for 50 humans).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import redis
from harness import (
    BENCH_PRINCIPAL,
    Cluster,
    classification_items,
    cluster,
    cpu_seconds,
    machine_info,
    make_store,
    percentile,
    submit,
)

from llmlabel.domain import LabelRecord, Route
from llmlabel.store import Role, Store


def seed_review_items(store: Store, n: int) -> None:
    """n items in needs_review, labeled through claim_labeling + save_label."""
    submit(store, classification_items(n, prefix="r"))
    for _ in range(0, n, 500):
        for work in store.claim_labeling(500):
            record = LabelRecord(
                id=work.item_id,
                task="classification",
                label={"label": "neutral"},
                confidence=0.4,
                route=Route.REVIEW,
                reason="bench",
                samples_used=3,
                guideline_version="v1",
                guideline_hash="h",
                prompt_version="v1",
                prompt_hash="h",
                backend="openai",
                model="fake",
            )
            assert store.save_label(work, record)


async def reviewer(
    client: httpx.AsyncClient,
    key: str,
    stop_at: float,
    think_s: float,
    claims: list[float],
    decisions: list[float],
    errors: list[str],
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    n = 0
    rng = random.Random(key)
    if think_s:
        # Spread the reviewers out: in lockstep they would all claim at the same instant.
        await asyncio.sleep(rng.uniform(0, think_s))
    while time.monotonic() < stop_at:
        start = time.perf_counter()
        try:
            response = await client.post("/v1/review/claim", headers=headers)
        except httpx.TransportError as exc:
            errors.append(f"claim {type(exc).__name__}")
            continue
        claims.append(time.perf_counter() - start)
        if response.status_code == 204:
            return
        if response.status_code != 200:
            errors.append(f"claim {response.status_code}")
            continue
        claim = response.json()
        n += 1
        action = "reject" if n % 10 == 0 else "approve"
        if think_s:
            await asyncio.sleep(think_s * rng.uniform(0.5, 1.5))
        start = time.perf_counter()
        try:
            response = await client.post(
                f"/v1/review/items/{claim['item_id']}/decision",
                headers=headers,
                json={"lease_token": claim["lease_token"], "action": action},
            )
        except httpx.TransportError as exc:
            errors.append(f"decision {type(exc).__name__}")
            continue
        decisions.append(time.perf_counter() - start)
        if response.status_code != 200:
            errors.append(f"decision {response.status_code}")


async def load(base: str, keys: list[str], seconds: float, think_s: float) -> dict[str, float]:
    claims: list[float] = []
    decisions: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=len(keys) + 5, max_keepalive_connections=len(keys) + 5)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        stop_at = time.monotonic() + seconds
        start = time.monotonic()
        cpu0 = time.process_time()
        await asyncio.gather(
            *(reviewer(client, k, stop_at, think_s, claims, decisions, errors) for k in keys)
        )
        wall = time.monotonic() - start
        client_cpu = time.process_time() - cpu0
    both = claims + decisions
    return {
        "decisions_per_s": len(decisions) / wall,
        "claim_p50": percentile(claims, 50) * 1000,
        "claim_p99": percentile(claims, 99) * 1000,
        "decide_p50": percentile(decisions, 50) * 1000,
        "decide_p99": percentile(decisions, 99) * 1000,
        "all_p50": percentile(both, 50) * 1000,
        "all_p99": percentile(both, 99) * 1000,
        "requests": len(both),
        "errors": len(errors),
        "client_cpu_ms_per_request": client_cpu * 1000 / max(len(both), 1),
    }


# No think time (saturation), 0.5 s (about 100 decisions/s offered), 5 s (about 10/s, still brisk for humans).
THINK_S = (0.0, 0.5, 5.0)


def run(
    c: Cluster, api_workers: int, reviewers: int, seconds: float
) -> list[tuple[float, dict[str, float]]]:
    redis.Redis.from_url(c.redis_url).flushdb()
    store = make_store(c.redis_url)
    # Enough for the saturated run (a few hundred decisions/s) and the paced one.
    seed_review_items(store, int(seconds * 700) + 200 * reviewers // 50)
    keys = [
        store.create_api_key(team=BENCH_PRINCIPAL.team, role=Role.REVIEWER, name=f"rev{i}")
        for i in range(reviewers)
    ]
    base, api = c.api(c.env(), name=f"api-{api_workers}", workers=api_workers)
    out = []
    for think in THINK_S:
        cpu0 = cpu_seconds(api.pid)
        result = asyncio.run(load(base, keys, seconds, think))
        result["api_cpu_ms_per_request"] = (
            (cpu_seconds(api.pid) - cpu0) * 1000 / max(result["requests"], 1)
        )
        out.append((think, result))
    api.terminate()
    api.wait(timeout=30)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--api-workers", default=None, help="uvicorn process counts, e.g. 1,2")
    args = parser.parse_args()
    seconds = args.seconds or (6.0 if args.quick else 15.0)
    configs = [int(x) for x in (args.api_workers or ("1" if args.quick else "1,2")).split(",")]
    print(machine_info())
    print(f"command: python bench/review.py {' '.join(sys.argv[1:])}".rstrip())
    with cluster() as c:
        c.start_redis()
        c.start_provider(latency_ms=0)
        for workers in configs:
            for think, r in run(c, workers, args.reviewers, seconds):
                verdict = "met" if r["all_p99"] < 50 else "NOT met"
                print(
                    f"API x{workers}, {args.reviewers} reviewers, think {think * 1000:.0f} ms: "
                    f"{r['decisions_per_s']:.0f} decisions/s; claim p50 {r['claim_p50']:.1f} ms p99 "
                    f"{r['claim_p99']:.1f} ms; decide p50 {r['decide_p50']:.1f} ms p99 {r['decide_p99']:.1f} ms; "
                    f"all p99 {r['all_p99']:.1f} ms ({verdict}: p99 < 50 ms); {r['requests']:.0f} requests, "
                    f"{r['errors']:.0f} errors; API CPU {r['api_cpu_ms_per_request']:.1f} ms/request, "
                    f"bench client {r['client_cpu_ms_per_request']:.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
