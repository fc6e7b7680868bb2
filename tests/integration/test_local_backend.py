"""One smoke call through LocalBackend to the default local GGUF with llama.cpp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmlabel.backends import build_backend
from llmlabel.backends.base import BackendProfile
from llmlabel.backends.local import LocalBackend, load_model
from llmlabel.backends.local_models import ALIASES, DEFAULT_LOCAL_MODEL
from llmlabel.domain import Message

pytestmark = pytest.mark.integration

# No skip: the test suite installs the local extra, and a missing model must fail loudly.

# The repo's own ./var/models, so the ~0.5 GB assembly happens once, not per run.
MODELS_DIR = Path(__file__).resolve().parents[2] / "var" / "models"
SCHEMA = {
    "type": "object",
    "properties": {"sentiment": {"type": "string", "enum": ["positive", "negative"]}},
    "required": ["sentiment"],
}


async def test_default_local_model_answers_schema_valid_json() -> None:
    # With the JSON-schema grammar (off by default for speed) the answer must parse.
    options = {"n_ctx": 1024, "models_dir": str(MODELS_DIR), "grammar": True}
    profile = BackendProfile(backend="local", model="default", options=options)
    backend = build_backend(profile)
    assert isinstance(backend, LocalBackend)
    assert backend.model == DEFAULT_LOCAL_MODEL
    messages = [
        Message(
            role="system",
            content="Classify the sentiment of the review. Answer in JSON.",
            cache=True,
        ),
        Message(role="user", content="What a wonderful, moving film. I loved every minute."),
    ]
    completion = await backend.sample(messages, SCHEMA, n=2, temperature=0.8, max_tokens=32)

    assert len(completion.choices) == 2
    for choice in completion.choices:
        assert json.loads(choice.text)["sentiment"] in ("positive", "negative")
    assert completion.usage.calls == 2
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert completion.usage.cost_usd == 0.0
    assembled = MODELS_DIR / f"{DEFAULT_LOCAL_MODEL}.gguf"
    assert assembled.stat().st_size == ALIASES[DEFAULT_LOCAL_MODEL].size
    # One Llama per model file per process.
    assert load_model(assembled, n_ctx=1024, n_threads=backend._n_threads) is load_model(
        assembled, n_ctx=1024, n_threads=backend._n_threads
    )
