"""The FastAPI application: :func:`create_app` builds one from :class:`~r2d2.config.Settings`.

Nothing runs at import time. Start-up (the lifespan) opens the catalog (migrating it), marks runs left
``running`` by a dead server as failed, and starts the background run worker; shut-down stops it.
``uvicorn --factory api.main:app_from_env`` builds the app from ``R2D2_*`` environment variables.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.routing import APIRoute

from api import problems
from api.crud import ApiQueries
from api.deps import AppState, TokenCache
from api.jobs import RunJobs, SparkFactory, complete_jobs, spark_factory
from api.locks import Locks
from api.metrics import CatalogCollector, MetricsMiddleware, RequestMetrics
from api.routes import access, edges, lookups, maintenance, plans, runs, system, tables, tokens, ui
from api.runner import RunService
from api.streaming import clear_scratch
from r2d2.catalog import open_catalog
from r2d2.config import Settings, get_settings
from r2d2.containment import compiled
from r2d2.vocabulary import EDGE_RELATIONS, EDGE_STATES, RUN_STATUSES, TABLE_STATUSES

log = logging.getLogger("r2d2.api")

REQUEST_THREADS = 16
STALE_RUN_REASON = "interrupted: the API server that ran it stopped before it finished"
PUBLIC_PATHS = ("/health", "/ready", "/metrics", "/problems", "/problems/{slug}", "/openapi.json", "/docs",
                "/docs/oauth2-redirect", "/redoc")


def create_app(settings: Settings, *, jobs: RunJobs | None = None, spark: SparkFactory | None = None,
               configure: Callable[[FastAPI], Any] | None = None) -> FastAPI:
    """A new application serving the catalog of ``settings``.

    ``jobs`` replaces background jobs (tests; those left ``None`` keep the library's); ``spark``
    replaces the lazily created Spark session; ``configure`` may add routes before start-up.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in AnyIO's thread pool (40 threads by default): more threads than cores only
        # contend for the GIL and the catalog's pooled connections (bench/results/api.md).
        anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        # Lookups hash in request threads side by side: the kernels that release the GIL (numba's)
        compiled.for_threads()
        # numba's import and its cached kernels take 0.5-0.75 s: loaded now, in the background, rather
        # than by the first lookup or detect that hashes
        threading.Thread(target=compiled.warm, name="r2d2-kernels-warm", daemon=True).start()
        url = settings.resolved_catalog_url
        catalog = open_catalog(url)
        stale = catalog.fail_stale_runs(STALE_RUN_REASON)
        if stale:
            log.warning("marked %d run(s) left running by a stopped process of this host as failed", stale)
        clear_scratch(settings)
        locks = Locks()
        runner = RunService(url, locks.runs)
        runner.start()
        spark_ = spark or spark_factory(settings)
        queries = ApiQueries(catalog)
        collector = CatalogCollector({
            "r2d2_tables": ("Catalog tables by status.", "status", queries.tables_by_status, TABLE_STATUSES),
            "r2d2_edges": ("Non-stale edges by state.", "state", queries.edges_by_state, EDGE_STATES),
            "r2d2_runs": ("Runs by status.", "status", queries.runs_by_status, RUN_STATUSES),
            "r2d2_verified_edges": ("Verified or inferred non-stale edges by relation.", "relation",
                                    queries.edges_by_relation, EDGE_RELATIONS),
        }, busy=lambda: runner.busy, last_successes=queries.last_successes, reclaimable=queries.reclaimable_bytes)
        metrics.registry.register(collector)
        app.state.r2d2 = AppState(settings=settings, catalog=catalog, queries=queries,
                                  runner=runner, locks=locks, jobs=complete_jobs(jobs, settings, spark_),
                                  metrics=metrics, spark=spark_, tokens=TokenCache(catalog))
        try:
            yield
        finally:
            runner.stop()
            metrics.registry.unregister(collector)

    metrics = RequestMetrics()
    app = FastAPI(
        title="R2D2",
        summary="Find tables that other tables contain in a data lake, and remove them safely.",
        version=_version(),
        lifespan=lifespan,
        description="Errors are RFC 9457 problem details whose `type` is documented at its URI "
                    "(`GET /problems` lists them).",
        responses={
            401: {**problems.PROBLEM_SCHEMA, "description": "Missing or invalid bearer token."},
            403: {**problems.PROBLEM_SCHEMA, "description": "The token's role may not do this."},
            422: {**problems.PROBLEM_SCHEMA, "description": "Invalid request; `errors` names the fields."},
        },
    )
    problems.install(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for module in (system, tables, edges, lookups, runs, plans, access, maintenance, tokens, ui):
        app.include_router(module.router)
    if configure is not None:
        configure(app)
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Every documented error response uses the problem schema; public routes have no 401/403."""
    from api.schemas import ProblemDetail

    app.openapi_schema = None
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        schema.setdefault("components", {}).setdefault("schemas", {})["ProblemDetail"] = (
            ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}"))
        for path, item in schema.get("paths", {}).items():
            for op in item.values():
                responses = op.get("responses", {})
                if path in PUBLIC_PATHS:
                    responses.pop("401", None)
                    responses.pop("403", None)
                for code, resp in responses.items():
                    if code.startswith(("4", "5")):
                        resp["content"] = problems.PROBLEM_SCHEMA["content"]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path in PUBLIC_PATHS:
            route.responses = {k: v for k, v in route.responses.items() if k not in (401, 403)}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("r2d2")
    except PackageNotFoundError:
        return "0+unknown"


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings from the ``R2D2_*`` environment."""
    return create_app(get_settings())
