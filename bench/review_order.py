"""Review order: the cost of a claim in `age` and `value` order, and of scoring an item.

    python bench/review_order.py [--items 2000] [--claims 500]

Three projects of one team on a private redis-server (age order, value order,
value order without the diversity penalty), each with `--items` items waiting
for review (every `--dup-every`th one the same text at confidence 0.15-0.25, the others spread
over [0, 1]),
the others 20 random words; seeded through claim_labeling + save_label as a worker does. Then `--claims`
claims from each project's batch queue, round-robin (so all see the same
machine load), by one reviewer each: wall time and Redis' own CPU (INFO
commandstats, evalsha) per claim, and how often a reviewer got the repeated
text right after it. Last, the CPU per item of `review_value` (confidence,
samples and a MinHash of its text), which the worker pays per item sent to review.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis
from harness import BENCH_PRINCIPAL, cluster, machine_info, make_store, percentile

from llmlabel.domain import LabelRecord, Route, Sample
from llmlabel.review_priority import ReviewOrder, review_value
from llmlabel.store import BatchCreate, Principal, Role, Store

TEXT = ("my parcel {i} never arrived and the support line keeps me waiting for an answer about "
        "the refund I was promised last week")


def record(rng: random.Random, *, dup: bool = False) -> LabelRecord:
    # The repeated text gets about the same (low) confidence each time, as it would.
    confidence = round(rng.uniform(0.15, 0.25) if dup else rng.random(), 2)
    labels = [{"label": "a"}, {"label": "b" if confidence < 0.9 else "a"}, {"label": "a"}]
    return LabelRecord(
        id="x", task="classification", label={"label": "a"}, confidence=confidence,
        route=Route.REVIEW, reason="bench", samples_used=3,
        samples=[Sample(index=i, raw="", label=lab) for i, lab in enumerate(labels)],
        guideline_version="v1", guideline_hash="h", prompt_version="v1", prompt_hash="h",
        backend="openai", model="fake",
    )


def seed(
    store: Store, project: str, order: ReviewOrder, n: int, rng: random.Random, every: int
) -> str:
    store.create_project(
        "bench", project, task="classification",
        versions=[("guideline", "v1", "g" * 64, "g"), ("prompt", "v1", "p" * 64, "p")],
        active=("v1", "v1"), actor="bench",
    )
    store.set_review_order("bench", project, order, actor="bench")
    words = sorted(set(re.findall(r"[a-z]+", __doc__.lower())))
    items = [{"text": TEXT.format(i=0) if i % every == 0 else " ".join(rng.choices(words, k=20))}
             for i in range(n)]
    info, _ = store.create_batch(
        BENCH_PRINCIPAL,
        BatchCreate(task="classification", project=project, items=items,
                    guideline_version="v1", prompt_version="v1"),
        idempotency_key=None, request_hash=f"bench-{time.time_ns()}",
    )
    while works := store.claim_labeling(500):
        for work in works:
            dup = work.input["text"] == TEXT.format(i=0)
            assert store.save_label(work, record(rng, dup=dup))
    return info.id


def evalsha_usec(client: redis.Redis) -> float:
    stats = client.info("commandstats")
    return float(stats.get("cmdstat_evalsha", {}).get("usec", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--claims", type=int, default=500)
    parser.add_argument("--dup-every", type=int, default=3, help="every Nth item is the same text")
    args = parser.parse_args()
    rng = random.Random(7)
    print(machine_info())
    with cluster() as c:
        url = c.start_redis()
        store = make_store(url, review_lease_s=3600)
        flat = make_store(url, review_lease_s=3600, review_diversity_penalty_s=0)
        client = redis.Redis.from_url(url, decode_responses=True)
        arms = [("age", store, ReviewOrder.AGE), ("value", store, ReviewOrder.VALUE),
                ("value, no diversity penalty", flat, ReviewOrder.VALUE)]
        batches = [seed(store, f"p{i}", order, args.items, rng, args.dup_every)
                   for i, (_, _, order) in enumerate(arms)]
        walls: list[list[float]] = [[] for _ in arms]
        cpu = [0.0 for _ in arms]
        runs = [0 for _ in arms]
        last_dup = [False for _ in arms]
        for _ in range(args.claims):
            for i, (_, arm_store, _) in enumerate(arms):
                who = Principal(key_id=f"k{i}", team="bench", role=Role.REVIEWER, name=f"r{i}")
                before = evalsha_usec(client)
                start = time.perf_counter()
                claim = arm_store.claim_review(who, batch_id=batches[i])
                walls[i].append(time.perf_counter() - start)
                cpu[i] += evalsha_usec(client) - before
                assert claim is not None
                dup = claim.input["text"] == TEXT.format(i=0)
                runs[i] += int(dup and last_dup[i])
                last_dup[i] = dup
        for i, (name, _, _) in enumerate(arms):
            w = walls[i]
            print(f"{name}: claim p50 {percentile(w, 50) * 1e3:.2f} ms, "
                  f"p99 {percentile(w, 99) * 1e3:.2f} ms; Redis CPU {cpu[i] / len(w):.0f} "
                  f"usec/claim; a near-duplicate right after a near-duplicate in "
                  f"{runs[i]} of {len(w)} claims")
        print(f"value / age Redis CPU per claim: {cpu[1] / max(cpu[0], 1.0):.2f}")
        texts = [{"text": re.sub("{i}", str(i), TEXT)} for i in range(2000)]
        recs = [record(rng) for _ in texts]
        start = time.process_time()
        for rec, item in zip(recs, texts, strict=True):
            review_value(rec, item)
        per = (time.process_time() - start) / len(texts)
        print(f"review_value: {per * 1e6:.1f} usec CPU per item sent to review "
              f"({len(TEXT.split())}-word text)")


if __name__ == "__main__":
    main()
