"""LLM backends: a registry from `BackendProfile.backend` to the class that speaks it.

Backend modules are imported only when built, so a missing optional SDK (e.g.
llama-cpp-python for "local") costs nothing until someone asks for it, and then
fails with a message that says what to install.
"""

from __future__ import annotations

import importlib

from llmlabel.backends.base import Backend, BackendProfile
from llmlabel.errors import ConfigError

__all__ = ["BACKENDS", "Backend", "BackendProfile", "backend_class", "build_backend"]

BACKENDS: dict[str, tuple[str, str, str]] = {
    "openai": ("llmlabel.backends.openai_http", "OpenAIHttpBackend", "pip install aiohttp"),
    "openai/sdk": ("llmlabel.backends.openai_backend", "OpenAIBackend", "pip install openai"),
    "anthropic": (
        "llmlabel.backends.anthropic_backend",
        "AnthropicBackend",
        "pip install anthropic",
    ),
    "local": ("llmlabel.backends.local", "LocalBackend", "pip install 'llmlabel[local]'"),
}
"""backend name -> (module, class, the install command for its SDK).

"openai" is the direct aiohttp client; the profile option `client: "sdk"` picks
the official SDK instead ("openai/sdk")."""


def build_backend(profile: BackendProfile) -> Backend:
    """The backend `profile.backend` names, configured by the profile."""
    return backend_class(profile)(profile)


def backend_class(profile: BackendProfile) -> type[Backend]:
    """The class of the backend `profile.backend` names (no client is built)."""
    name: str = profile.backend
    if name == "openai" and profile.options.get("client") == "sdk":
        name = "openai/sdk"
    try:
        module_name, class_name, install = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(b for b in BACKENDS if "/" not in b))
        raise ConfigError(f"unknown backend {profile.backend!r}: use one of {known}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"the {profile.backend} backend needs a package that is not installed "
            f"({exc.name}): {install}"
        ) from exc
    found: type[Backend] = getattr(module, class_name)
    return found
