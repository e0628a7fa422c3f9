"""Admin maintenance of deleted tables: drift check, journal recovery, purge after retention.

All hold the catalog's destructive lock (409 while an apply, restore or another of these is going, in
this server or any other process). ``check`` may restore tables (Spark), so it is a background run of
kind ``check``; ``recover`` and ``purge`` only move or remove files and answer at once (the library
takes the lock and releases it before the answer is sent). Each records a run, as from the CLI.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response, status

from api.deps import Admin, StateDep
from api.routes.runs import RUN_CONFLICT, accepted
from api.schemas import CheckRequest, PurgeRequest, PurgeResult, RecoverResult, Run

router = APIRouter(prefix="/maintenance", tags=["maintenance"])


@router.post("/check", status_code=status.HTTP_202_ACCEPTED, responses=RUN_CONFLICT,
             summary="Drift check: restore deleted tables whose parent changed (background run)")
def check(state: StateDep, _: Admin, response: Response, body: CheckRequest | None = None) -> Run:
    restore_at_risk = (body or CheckRequest()).restore_at_risk
    job = state.jobs.check
    assert job is not None
    run_id = state.runner.submit("check", lambda catalog: job(catalog, restore_at_risk),
                                 hold=["destructive"])
    return accepted(state, response, run_id)


@router.post("/recover", responses=RUN_CONFLICT,
             summary="Finish or roll back interrupted deletions, restores and purges")
def recover(state: StateDep, _: Admin) -> RecoverResult:
    from r2d2 import operations

    report = operations.recover(state.catalog, state.settings).value
    return RecoverResult(actions=report.actions, problems=report.problems)


@router.post("/purge", responses=RUN_CONFLICT,
             summary="Remove quarantined files after the retention period")
def purge(state: StateDep, _: Admin, body: PurgeRequest | None = None) -> PurgeResult:
    """Only tables whose recipe was checked, is in the recipe store, and whose pinned parent content
    is still readable are purged; the others are listed in ``kept`` with the reason."""
    from r2d2 import operations

    older_than = timedelta(seconds=(body or PurgeRequest()).older_than_s)
    report = operations.purge(state.catalog, state.settings, older_than=older_than).value
    return PurgeResult(purged=report.purged, kept=[{"location": loc, "why": why} for loc, why in report.kept])
