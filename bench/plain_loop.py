"""The baseline of bench/throughput.py: a plain AsyncOpenAI + semaphore loop, nothing else.

    python bench/plain_loop.py --base-url URL --calls N --concurrency C [--wait-for-go]

Sends the same requests llmlabel sends for classification items (the v1 prompt
rendered for each item, the label schema, n=3), C at a time, and prints one JSON
line: calls, wall seconds, start and end (monotonic clock, the same in every
process of the machine), CPU seconds of this process. Run as its own process so
its CPU is measured alone. With --wait-for-go it prints "ready" once set up and
starts when a line arrives on stdin: bench/throughput.py starts as many of these
processes as llmlabel has workers, all at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import classification_items
from openai import AsyncOpenAI

from llmlabel.guidelines import VersionRegistry
from llmlabel.prompts import render_messages
from llmlabel.tasks import build_task


def requests(calls: int, prefix: str = "p") -> tuple[list[list[dict[str, str]]], dict[str, Any]]:
    """The rendered messages of `calls` classification items, and the label schema."""
    registry = VersionRegistry()
    task = build_task(registry.guideline("classification", "v1"))
    prompt = registry.prompt("classification", "v1")
    out = []
    for item in classification_items(calls, prefix=prefix):
        view = task.validate_input(item)
        out.append([{"role": m.role, "content": m.content} for m in render_messages(task, prompt, view, 0)])
    return out, task.llm_schema()


async def run(
    base_url: str, calls: int, concurrency: int, prefix: str = "p", wait_for_go: bool = False
) -> dict[str, float]:
    messages, schema = requests(calls, prefix)
    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    create: Any = client.chat.completions.create
    response_format = {"type": "json_schema", "json_schema": {"name": "label", "schema": schema}}
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            await create(
                model="fake-model",
                messages=messages[i],
                n=3,
                temperature=0.7,
                max_tokens=64,
                logprobs=True,
                response_format=response_format,
            )

    if wait_for_go:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    cpu0, start = time.process_time(), time.monotonic()
    await asyncio.gather(*(one(i) for i in range(calls)))
    end = time.monotonic()
    wall, cpu = end - start, time.process_time() - cpu0
    await client.close()
    return {"calls": calls, "wall_s": wall, "cpu_s": cpu, "start": start, "end": end}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--prefix", default="p", help="item id prefix (distinct texts per process)")
    parser.add_argument("--wait-for-go", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(
        run(args.base_url, args.calls, args.concurrency, args.prefix, args.wait_for_go)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
