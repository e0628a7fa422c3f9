"""Service endpoints: health (public) and Prometheus metrics (reader)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import QueriesDep, Reader, StateDep
from api.metrics import CONTENT_TYPE, gauge_lines
from api.problems import Problem
from api.schemas import Health
from r2d2.catalog.models import EDGE_STATES, RUN_STATUSES, TABLE_STATUSES
from r2d2.errors import CatalogError

router = APIRouter(tags=["service"])


@router.get("/health", summary="Liveness and catalog reachability (no token needed)",
            responses={503: {"description": "The catalog cannot be reached."}})
def health(queries: QueriesDep) -> Health:
    try:
        queries.ping()
    except CatalogError as exc:
        raise Problem(503, "the catalog cannot be reached") from exc
    return Health(status="ok", catalog="ok")


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}})
def metrics(state: StateDep, queries: QueriesDep, _: Reader) -> Response:
    lines = state.metrics.render()
    lines += gauge_lines("r2d2_tables", "Catalog tables by status.", "status",
                         queries.tables_by_status(), TABLE_STATUSES)
    lines += gauge_lines("r2d2_edges", "Non-stale edges by state.", "state",
                         queries.edges_by_state(), EDGE_STATES)
    lines += gauge_lines("r2d2_runs", "Runs by status.", "status", queries.runs_by_status(), RUN_STATUSES)
    lines += ["# HELP r2d2_run_in_progress Whether this server is running a background run.",
              "# TYPE r2d2_run_in_progress gauge", f"r2d2_run_in_progress {int(state.runner.busy)}"]
    return Response("\n".join(lines) + "\n", media_type=CONTENT_TYPE)
