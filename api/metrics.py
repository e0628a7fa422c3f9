"""Prometheus metrics (prometheus_client), one registry per application instance.

Request counts and latency histograms are recorded by :class:`MetricsMiddleware` per method, route
template (``/tables/{table_id}``, never the raw path: bounded label values) and status; catalog gauges
(tables by status, edges by state, runs by status) and whether this server runs a background run are
read at scrape time by :class:`CatalogCollector`, with the job metrics (last success and duration per
operation, bytes reclaimable). ``GET /metrics`` needs no token (as scrapers expect;
it tells counts, never locations).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from r2d2.catalog.records import RunRecord

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class RequestMetrics:
    """The registry of one application: request metrics, plus collectors added at start-up."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("r2d2_http_requests", "HTTP requests by method, route and status.",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("r2d2_http_request_duration_seconds", "HTTP request latency by method and route.",
                                 ("method", "route"), buckets=BUCKETS, registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class CatalogCollector(Collector):
    """Gauges read from the catalog (and the run worker) at each scrape.

    ``families``: name → (help, label, read counts, known label values). Job metrics come from the
    recorded runs (:mod:`r2d2.runs`), so operations started by the CLI, a batch job or any server count
    alike: the end time and duration of each operation's newest succeeded run; and the bytes the newest
    plan would free.
    """

    def __init__(self, families: Mapping[str, tuple[str, str, Callable[[], Mapping[str, int]], tuple[str, ...]]],
                 busy: Callable[[], bool], *, last_successes: Callable[[], Mapping[str, RunRecord]],
                 reclaimable: Callable[[], int]) -> None:
        self._families = families
        self._busy = busy
        self._last_successes = last_successes
        self._reclaimable = reclaimable

    def collect(self) -> Iterator[Metric]:
        for name, (help_, label, read, known) in self._families.items():
            values = read()
            family = GaugeMetricFamily(name, help_, labels=(label,))
            for key in sorted({*known, *values}):
                family.add_metric((key,), values.get(key, 0))
            yield family
        ended = GaugeMetricFamily("r2d2_last_success_timestamp_seconds",
                                  "End of the newest succeeded run of each operation (Unix time).",
                                  labels=("operation",))
        took = GaugeMetricFamily("r2d2_last_success_duration_seconds",
                                 "Duration of the newest succeeded run of each operation.", labels=("operation",))
        for kind, run in sorted(self._last_successes().items()):
            if run.finished_at is not None:
                ended.add_metric((kind,), run.finished_at.timestamp())
                took.add_metric((kind,), (run.finished_at - run.started_at).total_seconds())
        yield ended
        yield took
        yield GaugeMetricFamily("r2d2_reclaimable_bytes", "Bytes the newest plan would free (0 without a plan).",
                                value=self._reclaimable())
        yield GaugeMetricFamily("r2d2_run_in_progress", "Whether this server is running a background run.",
                                value=int(self._busy()))

    def describe(self) -> Iterator[Metric]:
        return iter(())  # read lazily: no catalog query at registration


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request (by route template once routing has run)."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope.get("method", "GET"), template, status, time.perf_counter() - start)
