"""A scripted OpenAI-compatible chat server for tests and benchmarks, run in its own process.

    python -m tests.support.fake_provider --port 8123 --latency-ms 200 --error-rate 0.05

POST /v1/chat/completions answers n choices of deterministic JSON that fits the
request's schema (response_format json_schema, or json_object with a "schema"
key): the same last user message always gets the same answer, except for the
--disagree-rate share of items, whose choices vary so their consistency is low (the
k-th call of a prompt answers the same in every run, whatever else was asked).
It can also answer 429 (over --rate-limit-rpm/--rate-limit-tpm, or a
--throttle-rate share of requests, for bursts), 500/503
(--error-rate), hang past the client timeout (--timeout-rate) or return
non-JSON content (--malformed-rate). The OpenAI Batch API is there too
(tests/support/fake_batches.py: files, batches, output and error files; lines
fail at --error-rate). GET /stats counts, POST /reset clears the
counters, POST /config changes any option at runtime (storm tests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO, Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.fake_answers import generate, unit
from tests.support.fake_batches import FakeBatches


@dataclass
class Options:
    """Behaviour knobs; each is a --kebab-case command-line flag and a /config key."""

    latency_ms: float = 200.0
    latency_jitter_ms: float = 50.0
    error_rate: float = 0.0
    rate_limit_rpm: int = 0
    rate_limit_tpm: int = 0
    malformed_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_sleep_s: float = 600.0
    disagree_rate: float = 0.0
    # Share of requests answered 429 whatever the window says: toggled via /config, a burst.
    throttle_rate: float = 0.0
    throttle_retry_after_s: float = 1.0
    # Batch API: seconds a provider batch stays in_progress before it completes.
    batch_delay_s: float = 0.5
    seed: int = 1


def _request_schema(body: dict[str, Any]) -> dict[str, Any]:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return dict(fmt.get("json_schema", {}).get("schema", {}))
    return dict(fmt.get("schema") or {"type": "object", "properties": {}})


def _prompt_tokens(body: dict[str, Any], messages: list[dict[str, Any]]) -> int:
    """~4 characters a token over the messages and the response schema (OpenAI counts the
    schema of structured outputs as prompt), plus 3 framing tokens a message and 3 a reply."""
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    if isinstance(body.get("response_format"), dict):
        chars += len(json.dumps(_request_schema(body)))
    return max(1, chars // 4 + 3 * len(messages) + 3)


class FakeProvider:
    """The server's state: options, counters and the rate-limit window."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.window: deque[tuple[float, int]] = deque()
        self.calls = 0
        # How often each last user message was asked: a disagreeing item's k-th call
        # answers the same whatever other tests sent before (a global call count
        # made tests sharing the provider depend on their order).
        self.calls_by_prompt: Counter[str] = Counter()
        self.reset()

    def reset(self) -> None:
        counters = ["requests", "ok", "rate_limited", "server_errors", "timeouts", "malformed"]
        # Tokens billed (answered requests only: an error or a hang bills nothing here).
        billed = ["prompt_tokens", "completion_tokens", "cached_tokens"]
        self.stats: dict[str, Any] = dict.fromkeys(
            [*counters, *billed, "in_flight", "max_in_flight"], 0
        )
        self.stats["models"] = defaultdict(
            lambda: {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
        )
        self.window.clear()
        self.prefixes: set[str] = set()

    def _retry_after(self, prompt_tokens: int) -> float | None:
        """Seconds until this request fits the rpm/tpm window, None if it fits now."""
        now, opts = time.monotonic(), self.options
        while self.window and now - self.window[0][0] >= 60:
            self.window.popleft()
        over_rpm = opts.rate_limit_rpm and len(self.window) >= opts.rate_limit_rpm
        used = sum(tokens for _, tokens in self.window)
        over_tpm = opts.rate_limit_tpm and used + prompt_tokens > opts.rate_limit_tpm
        if not (over_rpm or over_tpm):
            self.window.append((now, prompt_tokens))
            return None
        return max(0.05, 60 - (now - self.window[0][0])) if self.window else 1.0

    async def chat(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.stats["requests"] += 1
        self.stats["in_flight"] += 1
        self.stats["max_in_flight"] = max(self.stats["max_in_flight"], self.stats["in_flight"])
        try:
            return await self._answer(body)
        finally:
            self.stats["in_flight"] -= 1

    async def _answer(self, body: dict[str, Any]) -> JSONResponse:
        opts, messages = self.options, body.get("messages", [])
        prompt_tokens = _prompt_tokens(body, messages)
        retry_after = self._retry_after(prompt_tokens)
        if retry_after is None and self.rng.random() < opts.throttle_rate:
            retry_after = opts.throttle_retry_after_s
        if retry_after is not None:
            self.stats["rate_limited"] += 1
            error = {"error": {"message": "Rate limit reached", "type": "rate_limit"}}
            return JSONResponse(error, 429, headers={"retry-after": f"{retry_after:.2f}"})
        if self.rng.random() < opts.error_rate:
            self.stats["server_errors"] += 1
            status = self.rng.choice([500, 503])
            return JSONResponse(
                {"error": {"message": "scripted failure", "type": "server"}}, status
            )
        if self.rng.random() < opts.timeout_rate:
            self.stats["timeouts"] += 1
            await asyncio.sleep(opts.timeout_sleep_s)
            # The client gave up long ago: nothing is answered, nothing billed.
            return JSONResponse({"error": {"message": "hung", "type": "timeout"}}, 504)
        jitter = self.rng.uniform(-opts.latency_jitter_ms, opts.latency_jitter_ms)
        await asyncio.sleep(max(0.0, opts.latency_ms + jitter) / 1000)
        return JSONResponse(self.completion(body))

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """A chat.completion answer to `body`, billed (counted) as answered."""
        messages = body.get("messages", [])
        prompt_tokens = _prompt_tokens(body, messages)
        choices = self._choices(body, messages)
        completion_tokens = sum(len(c["message"]["content"]) // 4 + 1 for c in choices)
        model = self.stats["models"][body.get("model", "")]
        model["requests"] += 1
        model["prompt_tokens"] += prompt_tokens
        model["completion_tokens"] += completion_tokens
        cached = self._cached_tokens(messages)
        self.stats["prompt_tokens"] += prompt_tokens
        self.stats["completion_tokens"] += completion_tokens
        self.stats["cached_tokens"] += cached
        self.stats["ok"] += 1
        return {
            "id": f"chatcmpl-{self.stats['requests']}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        }

    def _cached_tokens(self, messages: list[dict[str, Any]]) -> int:
        """OpenAI-style prompt caching: a prefix of >= 1024 tokens seen before is served
        from cache in 128-token steps (here: every message but the last is the prefix)."""
        prefix = json.dumps(messages[:-1], sort_keys=True)
        tokens = sum(len(str(m.get("content", ""))) for m in messages[:-1]) // 4
        seen = prefix in self.prefixes
        self.prefixes.add(prefix)
        if not seen or tokens < 1024:
            return 0
        return tokens - tokens % 128

    def _choices(
        self, body: dict[str, Any], messages: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        user = next(
            (str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        disagree = unit(user, "disagree") < self.options.disagree_rate
        schema = _request_schema(body)
        self.calls += 1
        self.calls_by_prompt[user] += 1
        choices = []
        for index in range(int(body.get("n") or 1)):
            if self.rng.random() < self.options.malformed_rate:
                self.stats["malformed"] += 1
                content = "Sure! Here is the label you asked for: {label: oops"
            else:
                key = f"{user}|{self.calls_by_prompt[user]}|{index}" if disagree else user
                content = json.dumps(generate(schema, key))
            choice: dict[str, Any] = {
                "index": index,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
            if body.get("logprobs"):
                token = {"token": content[:4], "logprob": -0.05, "bytes": None, "top_logprobs": []}
                choice["logprobs"] = {"content": [token]}
            choices.append(choice)
        return choices

    async def get_stats(self, request: Request) -> JSONResponse:
        return JSONResponse({**self.stats, "options": asdict(self.options)})

    async def post_reset(self, request: Request) -> JSONResponse:
        self.reset()
        return JSONResponse({"ok": True})

    async def post_config(self, request: Request) -> JSONResponse:
        changes = await request.json()
        unknown = sorted(set(changes) - {f.name for f in fields(Options)})
        if unknown:
            return JSONResponse({"error": {"message": f"unknown options {unknown}"}}, 400)
        for name, value in changes.items():
            setattr(self.options, name, type(getattr(self.options, name))(value))
        return JSONResponse(asdict(self.options))


def create_app(options: Options) -> Starlette:
    """The Starlette app serving one FakeProvider (and its OpenAI Batch API)."""
    provider = FakeProvider(options)
    batches = FakeBatches(provider)
    return Starlette(
        routes=[
            Route("/v1/chat/completions", provider.chat, methods=["POST"]),
            *batches.routes(),
            Route("/stats", provider.get_stats, methods=["GET"]),
            Route("/reset", provider.post_reset, methods=["POST"]),
            Route("/config", provider.post_config, methods=["POST"]),
        ]
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def start_fake_provider(
    port: int | None = None, **options: Any
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run the server in a subprocess; yields (base_url ending in /v1, process)."""
    port = port or _free_port()
    args = [sys.executable, "-m", "tests.support.fake_provider", "--port", str(port)]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    root = Path(__file__).resolve().parents[2]
    # A file, not a pipe: a full pipe would block a long-running server.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(args, cwd=root, stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_until_up(f"http://127.0.0.1:{port}", process, log)
            yield f"http://127.0.0.1:{port}/v1", process
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"fake provider exited: {log.read().decode()[-2000:]}")
        try:
            httpx.get(f"{base}/stats", timeout=0.5).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> None:
    """Parse flags and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    for option in fields(Options):
        default = option.default
        parser.add_argument(
            f"--{option.name.replace('_', '-')}", type=type(default), default=default
        )
    args = vars(parser.parse_args(argv))
    host, port = args.pop("host"), args.pop("port")
    # Hanging (--timeout-rate) requests must not hold up shutdown for long.
    uvicorn.run(
        create_app(Options(**args)),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    main()
