"""Where a worker's CPU goes per call: py-spy samples one `llmlabel worker` at work.

    python bench/profile_worker.py [--items 3000] [--client http|sdk] [--top 30] [--gil]
        [--concurrency 16] [--latency-ms 0] [--no-spy]

Needs py-spy (`pip install py-spy`; a profiling tool, not a dependency of
llmlabel). Starts Redis, the fake provider answering at once, one worker
(--concurrency slots), submits --items classification items, samples the worker with
py-spy while it labels them, and prints the functions with the largest share
of samples, inclusive (the function and what it calls) and self.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    BENCH_PRINCIPAL,
    classification_items,
    cluster,
    cpu_seconds,
    make_store,
    submit,
    wait_until,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--client", default="http", choices=["http", "sdk"])
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the provider's latency")
    parser.add_argument("--no-spy", action="store_true", help="CPU per item only, no sampling")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not args.no_spy and not Path(py_spy).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    with cluster() as c:
        c.start_redis()
        c.start_provider(latency_ms=args.latency_ms, latency_jitter_ms=0, disagree_rate=0.0)
        env = c.env(worker_concurrency=args.concurrency, openai_client=args.client)
        worker = c.worker(env, "profiled")
        wait_until(lambda: "labeling.start" in c.log("profiled"), timeout_s=60, what="worker")
        store = make_store(c.redis_url)
        raw = c.workdir / "profile.txt"
        assert c.redis_proc is not None
        pids = {"worker": worker.pid, "redis": c.redis_proc.pid, "provider": c.provider_pid}
        before = {k: cpu_seconds(pid) for k, pid in pids.items()}
        batch_id = submit(store, classification_items(args.items))
        if args.no_spy:
            started = time.monotonic()
            wait_until(lambda: store.get_batch(BENCH_PRINCIPAL.team, batch_id).labeled,
                       timeout_s=600, what="the batch", every_s=0.2)
            _print_cpu(args, pids, before, time.monotonic() - started)
            return
        spy = subprocess.Popen(
            [py_spy, "record", "--pid", str(worker.pid), "--format", "raw", "--rate", "250",
             "--nonblocking", *(["--gil"] if args.gil else []), "--output", str(raw)],
            stdout=subprocess.DEVNULL,
            stderr=(c.workdir / "py-spy.log").open("wb"),
        )
        started = time.monotonic()
        wait_until(
            lambda: store.get_batch(BENCH_PRINCIPAL.team, batch_id).labeled,
            timeout_s=600,
            what="the batch",
            every_s=0.2,
        )
        wall = time.monotonic() - started
        _print_cpu(args, pids, before, wall)
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        spy.wait(timeout=60)
        if not raw.exists():
            raise SystemExit(f"py-spy wrote nothing: {(c.workdir / 'py-spy.log').read_text()}")
        inclusive: Counter[str] = Counter()
        own: Counter[str] = Counter()
        # Samples blocked reading a socket (a sync Redis reply), by the llmlabel frame waiting.
        blocked: Counter[str] = Counter()
        total = 0
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = [f.split(" (")[0] + " " + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
                      for f in stack.split(";")]
            total += n
            own[frames[-1]] += n
            if "_read_from_socket" in frames[-1]:
                ours = [f for f in frames if f.split()[-1].endswith(".py") and "llmlabel" in stack]
                mine = [f for f, full in zip(frames, stack.split(";"), strict=True)
                        if "/llmlabel/" in full]
                blocked[mine[-1] if mine else (ours[-1] if ours else "?")] += n
            for frame in set(frames):
                inclusive[frame] += n
        print(f"{args.items} items in {wall:.1f}s, client={args.client}, {total} samples")
        print("inclusive % | self % | function (file)")
        for frame, n in inclusive.most_common(args.top):
            print(f"{100 * n / total:10.1f} | {100 * own[frame] / total:6.1f} | {frame}")
        print("blocked on a Redis reply, by llmlabel caller: % of samples")
        for frame, n in blocked.most_common(12):
            print(f"{100 * n / total:10.1f} | {frame}")


def _print_cpu(
    args: argparse.Namespace, pids: dict[str, int], before: dict[str, float], wall: float
) -> None:
    per_item = {k: (cpu_seconds(pid) - before[k]) * 1000 / args.items for k, pid in pids.items()}
    print(f"{args.items} items in {wall:.1f}s = {args.items / wall:.0f} items/s, 1 worker x "
          f"{args.concurrency}, provider at {args.latency_ms:.0f} ms; CPU ms/item: " + ", ".join(f"{k} {v:.2f}" for k, v in per_item.items())
          + f"; load average {Path('/proc/loadavg').read_text().split()[0]}", flush=True)


if __name__ == "__main__":
    main()
