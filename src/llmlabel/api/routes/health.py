"""Liveness, readiness and Prometheus metrics (no auth: they reveal no team data)."""

from __future__ import annotations

from fastapi import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from llmlabel.api.bodies import api_router
from llmlabel.api.deps import StoreDep
from llmlabel.api.metrics import ApiMetrics
from llmlabel.api.problems import Problem
from llmlabel.api.schemas import Health

__all__ = ["router"]

router = api_router(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    """Always ok while the process serves requests."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="Redis is reachable",
    responses={503: {"description": "Redis does not answer"}},
)
def readyz(store: StoreDep) -> Health:
    """Ready when the store's Redis answers a ping; 503 otherwise."""
    if not store.ping():
        raise Problem(503, "Redis does not answer a ping", slug="not-ready",
                      headers={"Retry-After": "5"})
    return Health(status="ready")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request) -> Response:
    """Request counters and latency, items by state and review queue depth."""
    api_metrics: ApiMetrics = request.app.state.metrics
    return Response(generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST)
