"""One APIRouter per resource."""

from __future__ import annotations

from llmlabel.api.routes import batches, health, review, ui, versions

__all__ = ["ROUTERS"]

ROUTERS = (batches.router, review.router, versions.router, health.router, ui.router)
