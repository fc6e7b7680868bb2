"""A small GGUF model run in-process with llama.cpp, so llmlabel works with no API key.

llama.cpp is synchronous and a `Llama` is not thread-safe, so each call runs in
a worker thread behind that model's lock, and one `Llama` per model file is
shared by the whole process (loading it costs seconds and hundreds of MB). A
threading lock, not an asyncio one: RQ runs each async job in its own event
loop, and an asyncio.Lock belongs to one loop.

Profile options: n_ctx (default 4096), n_threads (default: all cores),
models_dir (where split aliases are assembled; default `<data_dir>/models`),
seed (base seed; each call adds one so repeated samples differ), grammar
(default False).

Why no grammar by default: llama-cpp-python 0.3 puts the JSON-schema grammar
sampler *before* top-k, so every generated token checks the grammar against
the whole vocabulary (151k tokens for Qwen2.5). Measured here on a 622-token
prompt with Qwen2.5-0.5B: 8-20 s per 14-token answer with the grammar, 1.2 s
without. The prompts carry the schema and JSON few-shot answers, small models
follow them, and an answer that does not parse is a recorded invalid sample
that adaptive sampling replaces; so speed wins. `grammar: true` turns it on.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlabel.backends.base import Backend, BackendProfile
from llmlabel.backends.local_models import resolve_model_path
from llmlabel.domain import Choice, Completion, Message, Usage
from llmlabel.errors import ConfigError, PermanentBackendError

__all__ = ["LocalBackend", "load_model"]


@dataclass(slots=True)
class _LoadedModel:
    llama: Any  # llama_cpp.Llama; typed loosely because the package is an optional extra
    lock: threading.Lock


_MODELS: dict[tuple[str, int, int], _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def load_model(path: Path, *, n_ctx: int, n_threads: int) -> _LoadedModel:
    """The process-wide `Llama` for this file and settings, loaded on first use."""
    key = (str(path.resolve()), n_ctx, n_threads)
    with _MODELS_LOCK:
        loaded = _MODELS.get(key)
        if loaded is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ConfigError(
                    "the local backend needs llama-cpp-python: pip install 'llmlabel[local]'"
                ) from exc
            try:
                llama = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    verbose=False,
                    logits_all=False,
                )
            except ValueError as exc:
                raise ConfigError(f"llama.cpp could not load {path}: {exc}") from exc
            if not _MODELS:
                atexit.register(_close_models)
            loaded = _MODELS[key] = _LoadedModel(llama=llama, lock=threading.Lock())
    return loaded


def _close_models() -> None:
    """Free cached models before interpreter teardown.

    Left to `Llama.__del__`, freeing runs after llama_cpp's module globals are
    gone and prints a TypeError traceback at every exit.
    """
    with _MODELS_LOCK:
        for loaded in _MODELS.values():
            loaded.llama.close()
        _MODELS.clear()


def _models_dir(profile: BackendProfile) -> Path:
    configured = profile.options.get("models_dir")
    if configured:
        return Path(configured)
    # Imported here: settings imports the backends package, not the other way round.
    from llmlabel.settings import get_settings

    return get_settings().data_dir / "models"


class LocalBackend(Backend):
    """llama.cpp chat completion with a JSON-schema grammar; one choice per call."""

    default_supports_n = False

    def __init__(self, profile: BackendProfile) -> None:
        super().__init__(profile)
        options = profile.options
        self._path = resolve_model_path(profile.model, models_dir=_models_dir(profile))
        self._n_ctx = int(options.get("n_ctx", 4096))
        self._n_threads = int(options.get("n_threads") or os.cpu_count() or 1)
        self._grammar = bool(options.get("grammar", False))
        # Distinct seeds per call so repeated samples differ; a configured base seed
        # makes a single-process run reproducible.
        base_seed = options.get("seed")
        self._seeds = itertools.count(
            int(base_seed) if base_seed is not None else random.randrange(2**30)
        )

    @property
    def max_concurrency(self) -> int:
        """1: one process shares one `Llama` per model file, and it runs one call at a time."""
        return 1

    @property
    def model(self) -> str:
        """The alias or path the profile named (the file's stem when it named "default")."""
        return self.profile.model if self.profile.model not in ("", "default") else self._path.stem

    async def complete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any],
        *,
        n: int,
        temperature: float,
        max_tokens: int,
    ) -> Completion:
        """One grammar-constrained completion in a worker thread."""
        if n != 1:
            raise ValueError("the local backend draws one choice per call")
        loaded = await asyncio.to_thread(
            load_model, self._path, n_ctx=self._n_ctx, n_threads=self._n_threads
        )
        request: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": next(self._seeds),
        }
        if self._grammar:
            # llama.cpp compiles the schema into a grammar, so output always parses (slowly).
            request["response_format"] = {"type": "json_object", "schema": schema}
        response = await asyncio.to_thread(_run_locked, loaded, request)
        return _completion(response, self.model)


def _run_locked(loaded: _LoadedModel, request: dict[str, Any]) -> dict[str, Any]:
    with loaded.lock:
        try:
            response: dict[str, Any] = loaded.llama.create_chat_completion(**request)
        except ValueError as exc:
            # e.g. "Requested tokens exceed context window": retrying will not help.
            raise PermanentBackendError(f"llama.cpp: {exc}") from exc
    return response


def _completion(response: dict[str, Any], model: str) -> Completion:
    choices = [
        Choice(
            text=choice["message"].get("content") or "", finish_reason=choice.get("finish_reason")
        )
        for choice in response.get("choices", [])
    ]
    usage = response.get("usage") or {}
    return Completion(
        choices=choices,
        usage=Usage(
            calls=1,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        ),
        model=model,
    )
