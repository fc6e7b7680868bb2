"""One APIRouter per resource."""

from __future__ import annotations

from llmlabel.api.routes import (
    batches,
    budget,
    calibration,
    examples,
    exports,
    feedback,
    gold,
    health,
    keys,
    lifecycle,
    projects,
    review,
    review_tools,
    stats,
    ui,
    versions,
    webhooks,
)

__all__ = ["ROUTERS"]

ROUTERS = (
    batches.router,
    budget.router,
    exports.router,
    feedback.batch_router,
    feedback.project_router,
    review_tools.router,
    review.router,
    stats.router,
    versions.router,
    webhooks.router,
    calibration.router,
    calibration.project_router,
    examples.router,
    projects.router,
    projects.profiles_router,
    projects.relabel_router,
    gold.router,
    health.router,
    keys.router,
    lifecycle.router,
    ui.router,
)
