"""Assemble the HTTP API: settings, store, projects, routers, error handlers, metrics.

Run it with `llmlabel serve`, or `uvicorn llmlabel.api.app:create_app --factory`
with LLMLABEL_REDIS_URL set. Nothing connects at import time.
"""

from __future__ import annotations

from fastapi import FastAPI

from llmlabel.api.metrics import ApiMetrics, MetricsMiddleware
from llmlabel.api.problems import install_problem_handlers
from llmlabel.api.routes import ROUTERS
from llmlabel.api.serving import install_access_log_filter
from llmlabel.guidelines import VersionRegistry
from llmlabel.projects import Projects
from llmlabel.settings import Settings, get_settings
from llmlabel.store import Store

__all__ = ["create_app"]

_DESCRIPTION = """
Label data with LLMs, measure how sure they are, and queue the rest for human review.

Authenticate with `Authorization: Bearer <key>`. Errors are RFC 9457
`application/problem+json` documents.
"""


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    registry: VersionRegistry | None = None,
) -> FastAPI:
    """A new API app; `store` defaults to one built from `settings`.

    `registry` is where the built-in definitions come from (default: the package's).
    """
    settings = settings or get_settings()
    store = store or Store.from_settings(settings)
    app = FastAPI(
        title="llmlabel",
        version="0.1.0",
        description=_DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.projects = Projects(store, settings, builtins=registry or VersionRegistry())
    app.state.metrics = ApiMetrics(store)
    install_problem_handlers(app)
    install_access_log_filter()
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app
