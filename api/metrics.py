"""Prometheus metrics in the text exposition format (version 0.0.4), written by hand.

Request counts and latency histograms are recorded by :class:`MetricsMiddleware` per method, route
template (``/tables/{table_id}``, never the raw path: bounded label values) and status; catalog gauges
(tables by status, edges by state, runs by status) are read from the catalog at scrape time.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _num(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class RequestMetrics:
    """Thread-safe request counters and latency histograms."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: dict[tuple[str, str, str], int] = defaultdict(int)
        self._hist: dict[tuple[str, str], list[int]] = {}
        self._sum: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route)
        with self._lock:
            self._count[(method, route, str(status))] += 1
            buckets = self._hist.setdefault(key, [0] * (len(BUCKETS) + 1))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
                    break
            else:
                buckets[-1] += 1
            self._sum[key] += seconds

    def render(self) -> list[str]:
        with self._lock:
            count = dict(self._count)
            hist = {k: list(v) for k, v in self._hist.items()}
            sums = dict(self._sum)
        lines = ["# HELP r2d2_http_requests_total HTTP requests by method, route and status.",
                 "# TYPE r2d2_http_requests_total counter"]
        for (method, route, status), n in sorted(count.items()):
            lines.append(f"r2d2_http_requests_total{_labels(method=method, route=route, status=status)} {n}")
        lines += ["# HELP r2d2_http_request_duration_seconds HTTP request latency by method and route.",
                  "# TYPE r2d2_http_request_duration_seconds histogram"]
        for (method, route), buckets in sorted(hist.items()):
            cumulative = 0
            for bound, n in zip((*BUCKETS, float("inf")), buckets, strict=True):
                cumulative += n
                le = "+Inf" if bound == float("inf") else _num(bound)
                lines.append("r2d2_http_request_duration_seconds_bucket"
                             f"{_labels(method=method, route=route, le=le)} {cumulative}")
            lines.append(f"r2d2_http_request_duration_seconds_sum{_labels(method=method, route=route)} "
                         f"{sums[(method, route)]:.6f}")
            lines.append(f"r2d2_http_request_duration_seconds_count{_labels(method=method, route=route)} "
                         f"{cumulative}")
        return lines


def gauge_lines(name: str, help_: str, label: str, values: Mapping[str, int],
                known: tuple[str, ...] = ()) -> list[str]:
    """A gauge family with one sample per label value (known values default to 0)."""
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
    for key in sorted({*known, *values}):
        lines.append(f"{name}{_labels(**{label: key})} {values.get(key, 0)}")
    return lines


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
