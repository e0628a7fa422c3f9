"""Deletion plans: make one (the optimizer, in a background run), read them, apply one."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import JSONResponse
from starlette.responses import Response as StarletteResponse

from api import render
from api.deps import Offset, Operator, QueriesDep, Reader, StateDep
from api.jobs import ApplyOptions
from api.paths import check_lake_location
from api.routes.runs import RUN_CONFLICT, accepted
from api.schemas import ApplyReport, ApplyRequest, Page, Plan, PlanCreate, PlanSummary, Run

router = APIRouter(prefix="/plans", tags=["plans"])

PlanId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Id of a stored plan.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No plan with this id."}}


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Run, responses=RUN_CONFLICT,
             summary="Make a plan: solve and store it (background run)")
def create_plan(state: StateDep, _: Operator, response: Response, body: PlanCreate | None = None) -> Run:
    """Choose the tables to delete from the verified edges, cost inputs and latency limits, and store
    the plan, in a background run of kind ``plan`` (202, ``Location: /runs/{id}``). When the run has
    succeeded its ``summary.plan_id`` is the new plan (``GET /plans/{plan_id}``); when the optimizer
    cannot plan with these inputs the run fails with the reason in ``errors``."""
    from r2d2.optimize.planning import PlanRequest

    b = body or PlanCreate()
    request = PlanRequest(latency_limit_s=math.inf if b.latency_limit_s is None else b.latency_limit_s,
                          access_default=b.access_default, solver=b.solver, time_limit_s=b.time_limit_s,
                          storage_price=b.storage_price, compute_price=b.compute_price)
    job = state.jobs.plan
    assert job is not None
    run_id = state.runner.submit("plan", lambda catalog: job(catalog, request))
    return accepted(state, response, run_id)


@router.get("", summary="List plans (newest first, without decisions)", response_model=Page[PlanSummary])
def list_plans(queries: QueriesDep, _: Reader,
               limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 20,
               offset: Offset = 0) -> StarletteResponse:
    rows, total = queries.plan_page(limit=limit, offset=offset)
    return render.page([PlanSummary.model_validate(p).model_dump() for p in rows], total=total, limit=limit,
                       offset=offset)


@router.get("/{plan_id}", summary="One plan with its per-table decisions", responses=NOT_FOUND)
def get_plan(queries: QueriesDep, _: Reader, plan_id: PlanId) -> Plan:
    return Plan.model_validate(queries.plan(plan_id))


@router.post("/{plan_id}/apply", status_code=status.HTTP_202_ACCEPTED, response_model=Run,
             summary="Apply a plan: delete its tables (background run), or a dry run (at once)",
             responses={**NOT_FOUND, **RUN_CONFLICT,
                        200: {"model": ApplyReport, "description": "Dry run: what would happen."},
                        403: {"description": "A table of the plan is outside the lake roots."}})
def apply_plan(state: StateDep, queries: QueriesDep, _: Operator, plan_id: PlanId, response: Response,
               body: ApplyRequest | None = None) -> Run | JSONResponse:
    """``dry_run``: check drift and list what would be deleted, synchronously (200, an apply report; no
    Spark, nothing changes, no lock; recorded as an ``apply`` run with ``dry_run``). Otherwise a background
    run of kind ``apply`` (202): re-verify, write and check recipes, move each child to quarantine through
    the journal. It holds the
    destructive lock: a second apply, a restore or a maintenance call meanwhile gets 409."""
    from r2d2 import operations

    b = body or ApplyRequest()
    plan = queries.plan(plan_id)
    for d in plan.decisions:
        if d.get("action") == "delete":
            check_lake_location(str(d.get("location")), state.settings.lake_roots, field="plan")
    if b.dry_run:
        report = operations.apply(state.catalog, state.settings, state.spark, plan_id, dry_run=True,
                                  move_mode=b.move_mode).value
        return JSONResponse(ApplyReport.model_validate(report.to_json()).model_dump(mode="json"))
    job = state.jobs.apply
    assert job is not None
    options = ApplyOptions(plan_id, b.move_mode, b.prepare_only)
    run_id = state.runner.submit("apply", lambda catalog: job(catalog, options),
                                 hold=["destructive"])
    return accepted(state, response, run_id)
