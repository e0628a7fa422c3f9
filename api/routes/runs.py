"""Runs: start a scan or a detect in the background; list and follow runs of every kind (scan, detect,
plan, apply, restore, reconstruct, check, purge, recover, calibrate, lookup, diff), whoever started them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import Limit, Offset, Operator, QueriesDep, Reader, StateDep
from api.paths import check_lake_location
from api.schemas import DetectRequest, Page, Run, RunKindName, RunStatusName, ScanRequest
from r2d2.scan import check_roots

router = APIRouter(prefix="/runs", tags=["runs"])

RUN_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Another run (or destructive operation) is in progress."}}


def accepted(state: StateDep, response: Response, run_id: int) -> Run:
    """The ``202`` answer of a started run: the run, and its URL in ``Location``."""
    response.headers["Location"] = f"/runs/{run_id}"
    return Run.model_validate(state.catalog.get_run(run_id))


@router.post("/scan", status_code=status.HTTP_202_ACCEPTED, summary="Start a scan",
             responses={**RUN_CONFLICT, 403: {"description": "A root is outside the lake roots."},
                        404: {"description": "A root does not exist (no run is started)."}})
def start_scan(state: StateDep, _: Operator, body: ScanRequest, response: Response) -> Run:
    """Scan the given roots (each under a configured lake root) in the background."""
    roots = check_roots([check_lake_location(r, state.settings.lake_roots, field=f"roots[{i}]")
                         for i, r in enumerate(body.roots)])  # a missing root: 404 before any run
    job = state.jobs.scan
    assert job is not None
    run_id = state.runner.submit("scan", lambda catalog: job(catalog, roots, body.retry_errors))
    return accepted(state, response, run_id)


@router.post("/detect", status_code=status.HTTP_202_ACCEPTED, summary="Start a detect run",
             responses=RUN_CONFLICT)
def start_detect(state: StateDep, _: Operator, response: Response,
                 body: DetectRequest | None = None) -> Run:
    """Find containment edges among the catalog's active tables, in the background."""
    job = state.jobs.detect
    assert job is not None
    run_id = state.runner.submit("detect", job, hold=["detect"])
    return accepted(state, response, run_id)


@router.get("", summary="List runs")
def list_runs(queries: QueriesDep, _: Reader,
              kind: Annotated[RunKindName | None, Query(description="Only runs of this kind.")] = None,
              status: RunStatusName | None = None, limit: Limit = 50, offset: Offset = 0) -> Page[Run]:
    """Runs, newest first."""
    rows, total = queries.run_page(kind=kind, status=status, limit=limit, offset=offset)
    return Page[Run](items=[Run.model_validate(r) for r in rows], total=total, limit=limit, offset=offset)


@router.get("/{run_id}", summary="One run: status, progress, stage funnel, errors",
            responses={404: {"description": "No run with this id."}})
def get_run(state: StateDep, _: Reader,
            run_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Run:
    return Run.model_validate(state.catalog.get_run(run_id))
