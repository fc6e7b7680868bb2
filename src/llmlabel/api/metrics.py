"""Prometheus metrics of the API process: HTTP requests, plus store gauges read at scrape time.

Each app gets its own CollectorRegistry, so building several apps in one
process (tests) never registers a metric twice. LLM calls, tokens and cost
are the spend ledger (every provider attempt, written by the workers where the
call happens), item labeling time is written with each label; both are read here
at scrape time, so every API replica reports the same totals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmlabel.domain import ItemState
from llmlabel.store import Store
from llmlabel.store.models import LATENCY_BUCKETS, LlmTotals

__all__ = ["ApiMetrics", "MetricsMiddleware", "StoreCollector"]

logger = logging.getLogger(__name__)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class StoreCollector(Collector):
    """Items by state and review queue depth, asked of the store at each scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        items = GaugeMetricFamily("llmlabel_items", "Items by state, all teams", labels=["state"])
        queue = GaugeMetricFamily(
            "llmlabel_review_queue_depth", "Items waiting for a reviewer, all teams"
        )
        # A scrape must not fail because Redis is down (the HTTP metrics are still
        # worth having); /readyz reports the outage.
        if not self.store.ping():
            logger.warning("metrics.store_unavailable")
            return []
        totals = self.store.state_totals()
        depth = self.store.review_queue_depth(None)
        for state in ItemState:
            items.add_metric([state.value], float(totals.get(state.value, 0)))
        queue.add_metric([], float(depth))
        return [items, queue, *llm_metrics(self.store.llm_totals())]


def llm_metrics(totals: LlmTotals) -> list[Metric]:
    """Counters of LLM usage and the histogram of item labeling time."""
    calls = CounterMetricFamily(
        "llmlabel_llm_calls", "LLM provider calls (every attempt), all teams"
    )
    calls.add_metric([], float(totals.calls))
    failed = CounterMetricFamily("llmlabel_llm_failed_calls", "LLM provider calls that failed")
    failed.add_metric([], float(totals.failed_calls))
    hits = CounterMetricFamily("llmlabel_llm_cache_hits", "Calls answered from the result cache")
    hits.add_metric([], float(totals.cache_hits))
    tokens = CounterMetricFamily("llmlabel_llm_tokens", "LLM tokens, all teams", labels=["kind"])
    tokens.add_metric(["prompt"], float(totals.prompt_tokens))
    tokens.add_metric(["completion"], float(totals.completion_tokens))
    tokens.add_metric(["cached"], float(totals.cached_tokens))
    cost = CounterMetricFamily("llmlabel_llm_cost_usd", "LLM cost in USD, all teams")
    cost.add_metric([], totals.cost_usd)
    cumulative, buckets = 0, []
    for bound in [*(repr(b) for b in LATENCY_BUCKETS), "+Inf"]:
        cumulative += totals.latency_buckets.get(bound, 0)
        buckets.append((bound, float(cumulative)))
    latency = HistogramMetricFamily(
        "llmlabel_item_labeling_seconds", "Time to label one item (all its samples)"
    )
    latency.add_metric([], buckets, totals.latency_sum_s)
    return [calls, failed, hits, tokens, cost, latency]


class ApiMetrics:
    """The API's metrics registry and HTTP instruments."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "llmlabel_http_requests",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "llmlabel_http_request_duration_seconds",
            "Time to the end of the response",
            ["method", "route"],
            registry=self.registry,
        )
        self.registry.register(StoreCollector(store))


class MetricsMiddleware:
    """Counts requests and times them, labelled by route template (never the raw path)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            # Unknown paths share one label so scanners cannot blow up the label space.
            template = getattr(route, "path", None) or "unmatched"
            # Any client can send any method name: made-up ones share one label too.
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
