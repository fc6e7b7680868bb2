"""The one async protocol every LLM backend speaks, and the profile that configures it.

Backends translate neutral `Message`s into SDK calls and SDK errors into
`BackendError`s; they know nothing of Redis or tasks. Retries are not here: the
single retry layer is `llmlabel.backends.retry`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from llmlabel.backends.retry import RetryPolicy
from llmlabel.domain import Completion, Message, Usage

if TYPE_CHECKING:
    from llmlabel.ratelimit import RateLimiter
    from llmlabel.spend import SpendMeter

__all__ = ["Backend", "BackendProfile", "Pricing"]

BackendName = Literal["openai", "anthropic", "local"]


class Pricing(BaseModel):
    """USD per million tokens; zero for local models."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    cached_input_per_mtok: float | None = None

    def cost(self, usage: Usage) -> float:
        cached_rate = self.cached_input_per_mtok
        if cached_rate is None:
            cached_rate = self.input_per_mtok
        fresh = max(0, usage.prompt_tokens - usage.cached_tokens)
        total = (
            fresh * self.input_per_mtok
            + usage.cached_tokens * cached_rate
            + usage.completion_tokens * self.output_per_mtok
        )
        return round(total / 1_000_000, 10)


class BackendProfile(BaseModel):
    """Everything needed to build and limit one backend."""

    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    backend: BackendName = "local"
    model: str = ""
    base_url: str | None = None
    api_key: SecretStr | None = None
    pricing: Pricing = Field(default_factory=Pricing)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(6, ge=0)
    # None: the backend's own default (openai: uses `n`; others: parallel single calls).
    supports_n: bool | None = None
    # Calls the provider can really run at once for one worker process; 0 = no limit.
    max_concurrency: int = Field(0, ge=0)
    # Shared across all workers through Redis; 0 = unlimited.
    requests_per_minute: int = Field(0, ge=0)
    tokens_per_minute: int = Field(0, ge=0)
    # Backend-specific extras (local: model_path, n_ctx, n_threads; openai: strict schema).
    options: dict[str, Any] = Field(default_factory=dict)


class Backend(ABC):
    """An LLM that can draw n structured samples for one list of messages."""

    # Whether one provider call can return n choices when the profile does not say.
    default_supports_n: ClassVar[bool] = False
    # Prompt tokens a request carries beyond its messages and schema, at most (e.g.
    # Anthropic's tool-use system prompt); part of the worst case a budget reserves.
    fixed_overhead_tokens: ClassVar[int] = 0

    @classmethod
    def framing_tokens(cls, messages: int) -> int:
        """Tokens the chat framing usually adds to `messages` messages (OpenAI: ~3 each + 3)."""
        return 3 * messages + 3

    def __init__(self, profile: BackendProfile) -> None:
        self.profile = profile
        # Tests swap in a policy with a recording `sleep`; production keeps the default.
        self.retry_policy = RetryPolicy()

    @property
    def name(self) -> str:
        return self.profile.backend

    @property
    def model(self) -> str:
        return self.profile.model

    @abstractmethod
    async def complete(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any],
        *,
        n: int,
        temperature: float,
        max_tokens: int,
    ) -> Completion:
        """One provider round trip returning n choices that should fill `schema`.

        Raises RateLimitedError / RetryableBackendError for transient failures and
        PermanentBackendError for the rest; never retries by itself.
        """

    async def aclose(self) -> None:
        """Release clients and connections."""

    @property
    def max_concurrency(self) -> int | None:
        """How many calls this backend can really run at once in one process; None = no limit.

        A worker never labels more items at once than this (nor than its own
        `worker_concurrency`): items it could not start would only wait in its memory
        while another worker might be idle. Hosted APIs: no limit unless configured;
        OpenAI-compatible servers: the profile's `max_concurrency` (e.g. llama.cpp's
        or vLLM's parallel slots); the local model: 1 (see LocalBackend).
        """
        return self.profile.max_concurrency or None

    @property
    def supports_n(self) -> bool:
        """Whether one provider call is asked for all n choices."""
        if self.profile.supports_n is not None:
            return self.profile.supports_n
        return self.default_supports_n

    async def sample(
        self,
        messages: Sequence[Message],
        schema: dict[str, Any],
        *,
        n: int,
        temperature: float,
        max_tokens: int,
        meter: SpendMeter | None = None,
        limiter: RateLimiter | None = None,
    ) -> Completion:
        """Exactly n choices, every provider attempt rate-limited, metered and retried.

        `meter` reserves and settles each attempt in the spend ledger (budgets);
        `limiter` holds the shared requests/tokens per minute.
        """
        # Imported here because the sampling module needs this one (Pricing) at import time.
        from llmlabel.backends.sampling import sample_completion

        return await sample_completion(
            self,
            messages,
            schema,
            n=n,
            temperature=temperature,
            max_tokens=max_tokens,
            meter=meter,
            limiter=limiter,
        )
