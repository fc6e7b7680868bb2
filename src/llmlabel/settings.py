"""Configuration from `LLMLABEL_`-prefixed environment variables (and a .env file)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmlabel.backends.base import BackendProfile, Pricing
from llmlabel.errors import ConfigError

__all__ = ["DEFAULT_PROFILE", "ModelProfile", "Settings", "get_settings"]

DEFAULT_PROFILE = "default"
"""The profile the top-level backend settings describe; a project without a profile uses it."""


class ModelProfile(BaseModel):
    """A named backend the operator offers projects (LLMLABEL_PROFILES, a JSON object by name).

    The key is never written here: `api_key_env` names the environment variable
    that holds it, on every host that serves or labels with the profile.
    """

    model_config = ConfigDict(extra="forbid")

    backend: Literal["openai", "anthropic", "local"]
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(None, description="Environment variable holding the key")
    price_input_per_mtok: float = Field(0.0, ge=0)
    price_output_per_mtok: float = Field(0.0, ge=0)
    requests_per_minute: int = Field(0, ge=0)
    tokens_per_minute: int = Field(0, ge=0)
    supports_n: bool | None = None


class Settings(BaseSettings):
    """All knobs of llmlabel. See the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="LLMLABEL_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # -- storage ---------------------------------------------------------------
    redis_url: str | None = Field(
        None, description="Redis to use; unset: start an embedded redis-server under data_dir"
    )
    data_dir: Path = Field(Path("var"), description="Embedded Redis data, logs, version locks")
    redis_tcp: bool = Field(
        False,
        description="The embedded Redis listens on 127.0.0.1 with a generated password "
        "instead of a unix socket only (for tools that cannot use a socket)",
    )

    # -- backend profile ---------------------------------------------------------
    backend: Literal["openai", "anthropic", "local"] | None = Field(
        None, description="LLM backend; unset: openai/anthropic if their key is set, else local"
    )
    model: str | None = Field(None, description="Model name (local: a GGUF path or alias)")
    base_url: str | None = Field(None, description="OpenAI-compatible server URL")
    api_key: SecretStr | None = Field(None, description="Provider API key")
    price_input_per_mtok: float = 0.0
    price_output_per_mtok: float = 0.0
    requests_per_minute: int = Field(0, description="Shared request limit, 0 = none")
    tokens_per_minute: int = Field(0, description="Shared token limit, 0 = none")
    request_timeout_s: float = 120.0
    max_retries: int = 6
    supports_n: bool | None = None
    local_threads: int | None = Field(None, description="llama.cpp threads (default: all cores)")
    local_ctx: int = Field(4096, description="llama.cpp context window")
    local_grammar: bool = Field(
        False, description="Constrain local output with a JSON-schema grammar (much slower)"
    )
    profiles: dict[str, ModelProfile] = Field(
        default_factory=dict,
        description="Named model profiles projects choose from (JSON); 'default' is the above",
    )

    # -- workers -----------------------------------------------------------------
    worker_concurrency: int = Field(
        16, ge=1, description="Items labeled at once per worker (capped by the backend's own limit)"
    )
    provider_concurrency: int = Field(
        0,
        ge=0,
        description="Calls the OpenAI-compatible server can run at once per worker, 0 = no limit",
    )
    openai_client: Literal["http", "sdk"] = Field(
        "http", description="openai backend: a direct aiohttp call (cheaper) or the official SDK"
    )
    call_cache_ttl_s: int = Field(
        7 * 24 * 3600,
        ge=0,
        description="How long answered provider calls are reused (result cache), 0 = never",
    )
    job_timeout_s: int = Field(1800, description="RQ job timeout (gold labeling, evaluations)")
    labeling_lease_s: int = Field(
        60, description="An item in 'labeling' longer than this is re-queued (dead worker; renewed while work goes on)"
    )
    max_label_attempts: int = Field(
        3, ge=1, description="Workers lost while labeling one item before it is marked failed"
    )
    offline_poll_s: float = Field(
        60.0, gt=0, description="How often a worker polls the provider batches of offline batches"
    )
    offline_flush_s: float = Field(
        2.0, gt=0, description="How long a worker gathers offline items before one provider batch"
    )
    upkeep_interval_s: float = Field(
        60.0, gt=0, description="How often each worker expires batches past their retention"
    )
    reap_interval_s: float = Field(
        5.0, gt=0, description="How often each worker re-queues items of dead workers"
    )

    # -- review ------------------------------------------------------------------
    review_lease_s: int = Field(600, ge=5, description="How long a claimed review item is held")
    undo_window_s: int = Field(
        300, ge=0, description="How long a reviewer may undo their own last decision on an item"
    )
    gold_share: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Share of review claims answered with a gold item of the task (scores reviewers)",
    )
    double_review_share: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of reviewed items sent back once to a second reviewer (reviewer agreement)",
    )
    review_value_horizon_s: float = Field(
        3600.0,
        ge=0.0,
        description=(
            "In a project's `value` review order, the head start (seconds of waiting) an item of "
            "review value 1 gets over one of value 0; bounds how long any item can be overtaken"
        ),
    )
    review_diversity_penalty_s: float = Field(
        1800.0,
        ge=0.0,
        description=(
            "In `value` order, how many seconds of waiting an item loses for a reviewer whose "
            "recent claims hold a near-duplicate of it"
        ),
    )

    # -- API ---------------------------------------------------------------------
    max_batch_items: int = Field(100_000, description="Items per batch, at most")
    max_body_bytes: int = Field(64 * 1024 * 1024, description="Request body size, at most")
    max_item_bytes: int = Field(256 * 1024, description="One item's JSON size, at most")

    # -- webhooks ------------------------------------------------------------------
    callback_allow: str = Field(
        "",
        description="Comma-separated hosts (*.example.com), IPs or networks webhooks may reach "
        "although they are not public (loopback, private, link-local...)",
    )
    webhook_timeout_s: float = Field(10.0, gt=0, description="Per delivery attempt")
    webhook_max_attempts: int = Field(8, ge=1, description="Attempts before a delivery fails")
    webhook_backoff_s: float = Field(
        30.0, gt=0, description="Wait before the first retry; doubles each time (1 h at most)"
    )
    webhook_concurrency: int = Field(4, ge=1, description="Deliveries in flight per worker")

    def profile_names(self) -> list[str]:
        """Every model profile a project may name: 'default' and the configured ones."""
        return sorted({DEFAULT_PROFILE, *self.profiles})

    def profile(self, name: str | None = None) -> BackendProfile:
        """The backend profile called `name` (None or 'default': the top-level settings)."""
        if name is None or (name == DEFAULT_PROFILE and name not in self.profiles):
            return self._default_profile()
        named = self.profiles.get(name)
        if named is None:
            raise ConfigError(
                f"model profile {name!r} is not configured on this host "
                f"(configured: {', '.join(self.profile_names())}); set LLMLABEL_PROFILES"
            )
        base = self._default_profile()
        key_value = os.environ.get(named.api_key_env) if named.api_key_env else None
        if named.api_key_env and not key_value:
            raise ConfigError(
                f"model profile {name!r} reads its key from ${named.api_key_env}, which is not set"
            )
        return base.model_copy(update={
            "name": name,
            "backend": named.backend,
            "model": named.model or _DEFAULT_MODELS[named.backend],
            "base_url": named.base_url,
            "api_key": SecretStr(key_value) if key_value else None,
            "pricing": Pricing(input_per_mtok=named.price_input_per_mtok,
                               output_per_mtok=named.price_output_per_mtok),
            "supports_n": named.supports_n,
            "requests_per_minute": named.requests_per_minute,
            "tokens_per_minute": named.tokens_per_minute,
        })

    def _default_profile(self) -> BackendProfile:
        """The backend profile the top-level settings describe, choosing a default backend."""
        backend = self.backend
        api_key = self.api_key
        if backend is None:
            if api_key is not None or os.environ.get("OPENAI_API_KEY"):
                backend = "openai"
            elif os.environ.get("ANTHROPIC_API_KEY"):
                backend = "anthropic"
            else:
                backend = "local"
        if api_key is None:
            env_key = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}.get(backend)
            if env_key and os.environ.get(env_key):
                api_key = SecretStr(os.environ[env_key])
        options: dict[str, object] = {
            "n_ctx": self.local_ctx,
            "models_dir": str(self.data_dir / "models"),
            "grammar": self.local_grammar,
            "client": self.openai_client,
        }
        if self.local_threads:
            options["n_threads"] = self.local_threads
        return BackendProfile(
            backend=backend,
            model=self.model or _DEFAULT_MODELS[backend],
            base_url=self.base_url,
            api_key=api_key,
            pricing=Pricing(
                input_per_mtok=self.price_input_per_mtok,
                output_per_mtok=self.price_output_per_mtok,
            ),
            timeout_s=self.request_timeout_s,
            max_retries=self.max_retries,
            supports_n=self.supports_n,
            max_concurrency=self.provider_concurrency,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            options=options,
        )


_DEFAULT_MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
    "local": "default",
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings built once per process (tests build `Settings()` directly instead)."""
    return Settings()
