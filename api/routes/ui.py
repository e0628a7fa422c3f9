"""Web pages under ``/ui``: the containment graph, the detect funnel, plans and run progress.

The page and its static files (HTML, JS, CSS, vendored cytoscape.js and Chart.js) are public: they hold
no data. The page asks for a bearer token once, keeps it in ``sessionStorage`` and sends it on every
API call, so the data keeps the API's auth (reader role). Besides the public API (``/tables``,
``/runs``) the page reads three view endpoints here, kept out of the OpenAPI document:

* ``GET /ui/api/graph``: every active table and the edges between them in one compact response (the
  paginated ``/tables`` and ``/edges`` would take dozens of round trips for a 2,000-table lake);
* ``GET /ui/api/plans`` and ``GET /ui/api/plans/{id}``: stored plans, read-only.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, RedirectResponse

from api.deps import CatalogDep, Reader
from api.problems import Problem
from api.schemas import PlanSummary, jsonable
from r2d2.catalog import EdgeFilter
from r2d2.catalog.plans import PlanRecord
from r2d2.vocabulary import EDGE_STATES, EdgeState

UI_DIR = FsPath(__file__).resolve().parent.parent / "ui"
STATIC_DIR = UI_DIR / "static"
MAX_NODES = 20_000
MAX_EDGES = 100_000

router = APIRouter(prefix="/ui", tags=["ui"], include_in_schema=False)


@router.get("")
async def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/")
async def ui_index() -> FileResponse:
    return FileResponse(UI_DIR / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


@router.get("/static/{path:path}")
async def ui_static(path: str) -> FileResponse:
    """A file under ``api/ui/static`` (404 for anything else, including ``..`` tricks)."""
    target = (STATIC_DIR / path).resolve()
    if not target.is_relative_to(STATIC_DIR) or not target.is_file():
        raise Problem(404, "no such file")
    cache = "public, max-age=86400" if "/vendor/" in f"/{path}" else "no-cache"
    return FileResponse(target, headers={"Cache-Control": cache})


@router.get("/api/graph")
def ui_graph(
    catalog: CatalogDep,
    _: Reader,
    states: Annotated[str, Query(max_length=64, pattern=r"^[a-z,]*$",
                                 description="Edge states to include, comma-separated.")] = "verified,inferred",
) -> dict[str, Any]:
    """Active tables as nodes and non-stale edges among them, compact (no profiles, no evidence; an
    overlap's ``fraction`` and a containment's ``except_columns`` are the evidence the graph draws)."""
    wanted = [s for s in states.split(",") if s]
    unknown = [s for s in wanted if s not in EDGE_STATES]
    if unknown:
        raise Problem(422, f"unknown edge state {unknown[0]!r}; expected some of {', '.join(EDGE_STATES)}",
                      errors=[{"field": "states", "in": "query", "message": "unknown edge state"}])
    tables = catalog.list_tables(status="active", with_profile=False, limit=MAX_NODES + 1, order="id")
    truncated = len(tables) > MAX_NODES
    tables = tables[:MAX_NODES]
    ids = {t.id for t in tables}
    nodes = [{"id": t.id, "location": t.location, "format": t.format, "bytes": t.num_bytes,
              "rows": t.num_rows, "files": t.num_files} for t in tables]
    edges: list[dict[str, Any]] = []
    for state in wanted:
        room = MAX_EDGES - len(edges)
        if room <= 0:
            truncated = True
            break
        rows = catalog.list_edges(EdgeFilter(state=cast(EdgeState, state)), limit=room + 1)
        if len(rows) > room:
            truncated, rows = True, rows[:room]
        edges += [{"id": e.id, "source": e.parent_id, "target": e.child_id, "relation": e.relation,
                   "state": e.state, "stage": e.stage, "multiset": e.multiset, "fraction": e.fraction,
                   "except_columns": list(e.except_columns)}
                  for e in rows if e.parent_id in ids and e.child_id in ids]
    return {"nodes": nodes, "edges": edges, "truncated": truncated}


def _plan_summary(p: PlanRecord) -> dict[str, Any]:
    return {**PlanSummary.model_validate(p).model_dump(mode="json"),
            "baseline_cost": jsonable(p.plan.get("baseline_cost"))}


@router.get("/api/plans")
def ui_plans(catalog: CatalogDep, _: Reader,
             limit: Annotated[int, Query(ge=1, le=200)] = 20) -> dict[str, Any]:
    """Stored plans, newest first, without their decisions."""
    return {"items": [_plan_summary(p) for p in catalog.list_plans(limit=limit)]}


@router.get("/api/plans/{plan_id}")
def ui_plan(catalog: CatalogDep, _: Reader,
            plan_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> dict[str, Any]:
    """One stored plan with every decision (keep or delete, parent, latency and its limit, costs)."""
    p = catalog.get_plan(plan_id)
    return {**_plan_summary(p), "decisions": jsonable(p.decisions),
            "message": (p.plan or {}).get("message", "")}
