"""Service endpoints, all public (no token): liveness, readiness, Prometheus metrics, and the
documentation of every problem type the API answers with."""

from __future__ import annotations

from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from fastapi.responses import HTMLResponse

from api.deps import QueriesDep, StateDep
from api.metrics import CONTENT_TYPE
from api.problems import PROBLEM_JSON, TYPES, Problem, problem_response
from api.schemas import Health, ProblemTypeDoc, Readiness
from r2d2.errors import CatalogError

router = APIRouter(tags=["service"])


@router.get("/health", summary="Liveness and catalog reachability",
            responses={503: {"description": "The catalog cannot be reached."}})
def health(queries: QueriesDep) -> Health:
    try:
        queries.ping()
    except CatalogError as exc:
        raise Problem(503, "the catalog cannot be reached") from exc
    return Health(status="ok", catalog="ok")


@router.get("/ready", summary="Readiness: catalog reachable, schema current, run worker alive",
            responses={503: {"description": "Not ready; `checks` says which check failed."}})
def ready(state: StateDep) -> Any:
    """For load balancers and orchestrators: 200 when this instance can serve every request, else a
    ``not-ready`` problem whose ``checks`` names each check and its outcome."""
    checks = {"catalog": "ok", "schema": "ok", "run_worker": "ok" if state.runner.alive else "stopped"}
    try:
        if not state.queries.schema_current():
            checks["schema"] = "not at the newest migration"
    except CatalogError:
        checks["catalog"] = checks["schema"] = "unreachable"
    if all(v == "ok" for v in checks.values()):
        return Readiness(status="ready", checks=checks)
    failed = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
    return problem_response(503, f"not ready ({failed})", type=TYPES["not-ready"], instance="/ready",
                            checks=checks)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}})
def metrics(state: StateDep) -> Response:
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/problems", summary="Every problem type the API answers with")
async def problem_types() -> list[ProblemTypeDoc]:
    return [ProblemTypeDoc(type=t.uri, status=t.status, title=t.title, description=t.description)
            for t in TYPES.values()]


@router.get("/problems/{slug}", summary="The documentation of one problem type (its `type` URI)",
            response_class=HTMLResponse, responses={404: {"description": "No such problem type."}})
async def problem_type(slug: Annotated[str, Path(pattern=r"^[a-z-]{1,40}$")]) -> HTMLResponse:
    kind = TYPES.get(slug)
    if kind is None:
        raise Problem(404, f"no problem type {slug!r}")
    page = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(kind.title)}</title>"
            f"<h1>{escape(kind.title)}</h1><p><code>type: {escape(kind.uri)}</code>, HTTP {kind.status}, "
            f"<code>{PROBLEM_JSON}</code></p><p>{escape(kind.description)}</p>"
            "<p><a href=/problems>All problem types</a></p></html>")
    return HTMLResponse(page)

