"""The operations of the deletion half as every front end runs them (CLI, batch jobs, API): each one
takes the lock it needs, records its run (:mod:`r2d2.runs`), calls the library and closes the run.

==============  ===================  ===========================================================
operation       lock                 run summary (``errors``: tables refused or failed)
==============  ===================  ===========================================================
plan            none (catalog only)  plan id, deleted tables, savings, objective, gap
apply           destructive          the apply report (dry runs take no lock) and counts by action
restore         destructive          location, how (``quarantine`` or ``rebuild``)
reconstruct     none (writes a copy) location, target, format, rows, checksum
check           destructive          the drift report; at-risk tables are the errors
purge           destructive          purged and kept tables; kept ones are the errors
recover         destructive          actions and problems; problems are the errors
calibrate       none                 calibration id, the fitted model, samples
lookup          none (reads)         the lookup's answer: duplicates, parents, children, stages
diff            none (reads)         distinct child rows, missing ones, fraction (not the rows)
==============  ===================  ===========================================================

A busy lock raises :class:`~r2d2.errors.OperationBusyError` before any run is recorded. Scan and
detect live in :mod:`r2d2.scan` and :mod:`r2d2.detect` and record theirs the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from r2d2.catalog import Catalog
from r2d2.catalog.locks import exclusive
from r2d2.config import Settings
from r2d2.runs import Recorded, message_sink, recorded_run
from r2d2.vocabulary import MoveMode

if TYPE_CHECKING:
    from r2d2.containment.diff import DiffResult
    from r2d2.lookup import LookupResult
    from r2d2.optimize.planning import PlanRequest
    from r2d2.reconstruct.apply import ApplyReport
    from r2d2.reconstruct.drift import DriftReport
    from r2d2.reconstruct.restore import PurgeReport, RecoverReport

SparkFactory = Callable[[], Any]
Say = Callable[[str], None]


def plan(catalog: Catalog, request: PlanRequest) -> Recorded[int]:
    """Solve, check and store a plan (:func:`r2d2.optimize.planning.create_plan`); the value is its id."""
    from r2d2.optimize.planning import create_plan

    with recorded_run(catalog, "plan", request.params()) as run:
        plan_id = create_plan(catalog, request)
        rec = catalog.get_plan(plan_id)
        run.finish(summary={"plan_id": plan_id, "status": rec.status, "deleted_tables": rec.deleted_tables,
                            "savings_bytes": rec.savings_bytes, "savings_per_month": rec.savings_per_month,
                            "objective": rec.objective, "gap": rec.gap, "solve_seconds": rec.solve_seconds})
    return Recorded(run.id, plan_id)


def apply(catalog: Catalog, settings: Settings, spark_factory: SparkFactory, plan_id: int, *,
          dry_run: bool = False, prepare_only: bool = False, move_mode: MoveMode = "auto",
          progress: Say | None = None) -> Recorded[ApplyReport]:
    """Apply plan ``plan_id`` (:func:`r2d2.reconstruct.apply.apply_plan`)."""
    from r2d2.reconstruct.apply import apply_plan

    params = {"plan_id": plan_id, "dry_run": dry_run, "prepare_only": prepare_only, "move_mode": move_mode}
    hold = nullcontext() if dry_run else exclusive(catalog, "destructive", f"apply of plan {plan_id}")
    with hold, recorded_run(catalog, "apply", params) as run:
        report = apply_plan(catalog, settings, spark_factory, plan_id, dry_run=dry_run,
                            prepare_only=prepare_only, move_mode=move_mode,
                            progress=message_sink(progress, run.message))
        counts: dict[str, int] = {}
        for item in report.items:
            counts[item.action] = counts.get(item.action, 0) + 1
        run.finish(summary={**report.to_json(), "counts": counts},
                   errors=[{"location": i.location, "error": f"{i.action}: {i.reason}"} for i in report.failed])
    return Recorded(run.id, report)


def restore(catalog: Catalog, settings: Settings, spark_factory: SparkFactory, location: str, *,
            move_mode: MoveMode = "auto", progress: Say | None = None) -> Recorded[str]:
    """Bring the deleted table at ``location`` back; the value is how (``quarantine`` or ``rebuild``)."""
    from r2d2.lake.fs import normalize_location
    from r2d2.reconstruct.restore import restore as run_restore

    location = normalize_location(location)
    with exclusive(catalog, "destructive", f"restore of {location}"), \
            recorded_run(catalog, "restore", {"location": location, "move_mode": move_mode}) as run:
        message_sink(progress, run.message)(f"restore: {location}")
        how = run_restore(catalog, settings, spark_factory, location, move_mode=move_mode)
        run.finish(summary={"location": location, "how": how})
    return Recorded(run.id, how)


def reconstruct(catalog: Catalog, spark_factory: SparkFactory, location: str, target: str, *,
                fmt: Literal["parquet", "delta"] = "parquet") -> Recorded[dict[str, Any]]:
    """Rebuild the deleted table at ``location`` into ``target`` (verified; the original is untouched)."""
    from r2d2.lake.fs import normalize_location
    from r2d2.reconstruct.restore import reconstruct_to

    location = normalize_location(location)
    with recorded_run(catalog, "reconstruct", {"location": location, "to": target, "format": fmt}) as run:
        out = reconstruct_to(catalog, spark_factory, location, target, fmt)
        run.finish(summary=out)
    return Recorded(run.id, out)


def check(catalog: Catalog, settings: Settings, spark_factory: SparkFactory, *, restore_at_risk: bool = True,
          progress: Say | None = None) -> Recorded[DriftReport]:
    """Drift check of every live deletion's parent (:func:`r2d2.reconstruct.drift.check`)."""
    from r2d2.reconstruct.drift import check as run_check

    with exclusive(catalog, "destructive", "check"), \
            recorded_run(catalog, "check", {"restore_at_risk": restore_at_risk}) as run:
        message_sink(progress, run.message)("check: deleted tables whose parent changed")
        report = run_check(catalog, settings, spark_factory, restore_at_risk=restore_at_risk)
        run.finish(summary={**report.to_json(), "at_risk": len(report.at_risk)},
                   errors=[{"location": i.location, "error": f"{i.outcome}: {i.reason}"} for i in report.at_risk])
    return Recorded(run.id, report)


def purge(catalog: Catalog, settings: Settings, *, older_than: timedelta) -> Recorded[PurgeReport]:
    """Remove quarantined files older than ``older_than`` (:func:`r2d2.reconstruct.restore.purge`)."""
    from r2d2.reconstruct.restore import purge as run_purge

    with exclusive(catalog, "destructive", "purge"), \
            recorded_run(catalog, "purge", {"older_than_s": older_than.total_seconds()}) as run:
        report = run_purge(catalog, settings, older_than=older_than)
        run.finish(summary={"purged": report.purged, "kept": [{"location": loc, "why": why}
                                                              for loc, why in report.kept]},
                   errors=[{"location": loc, "error": f"kept: {why}"} for loc, why in report.kept])
    return Recorded(run.id, report)


def recover(catalog: Catalog, settings: Settings) -> Recorded[RecoverReport]:
    """Finish or roll back interrupted deletions, restores and purges (:func:`r2d2.reconstruct.restore.recover`)."""
    from r2d2.reconstruct.restore import recover as run_recover

    with exclusive(catalog, "destructive", "recover"), recorded_run(catalog, "recover") as run:
        report = run_recover(catalog, settings)
        run.finish(summary={"actions": report.actions, "problems": report.problems},
                   errors=[{"location": None, "error": p} for p in report.problems])
    return Recorded(run.id, report)


def calibrate(catalog: Catalog, settings: Settings, spark_factory: SparkFactory, *, samples: int = 6,
              source: str = "auto", progress: Say | None = None) -> Recorded[dict[str, Any]]:
    """Time real rebuilds and store the fitted latency model (:func:`r2d2.reconstruct.calibrate.calibrate`)."""
    from r2d2.reconstruct.calibrate import calibrate as run_calibrate

    with recorded_run(catalog, "calibrate", {"samples": samples, "source": source}) as run:
        model, measured, cid = run_calibrate(catalog, settings, spark_factory, samples=samples, source=source,
                                             say=message_sink(progress, run.message))
        out = {"calibration_id": cid, "bytes_per_s": model.bytes_per_s, "overhead_s": model.overhead_s,
               "samples": measured}
        run.finish(summary=out)
    return Recorded(run.id, out)


def lookup(catalog: Catalog, settings: Settings, spark_factory: SparkFactory, location: str, *,
           register: bool = False) -> Recorded[LookupResult]:
    """Is the table at ``location`` already in the lake (:func:`r2d2.lookup.lookup`)? Registers it only
    with ``register``; the run's summary is the whole answer (a client that started it in the
    background reads it there)."""
    from r2d2.lake.fs import normalize_location
    from r2d2.lookup import lookup as run_lookup

    location = normalize_location(location)
    with recorded_run(catalog, "lookup", {"location": location, "register": register}) as run:
        result = run_lookup(catalog, settings, location, spark_factory=spark_factory, register=register)
        run.finish(summary=result.to_json(), errors=result.errors)
    return Recorded(run.id, result)


def diff(catalog: Catalog, settings: Settings, spark_factory: SparkFactory, parent: str, child: str, *,
         limit: int = 20) -> Recorded[DiffResult]:
    """The child's distinct rows missing from the parent, counted exactly, and up to ``limit`` of them
    (:func:`r2d2.containment.diff.diff`). The run records the counts, never the rows."""
    from r2d2.containment.diff import diff as run_diff
    from r2d2.lake.fs import normalize_location

    parent, child = normalize_location(parent), normalize_location(child)
    with recorded_run(catalog, "diff", {"parent": parent, "child": child, "limit": limit}) as run:
        result = run_diff(catalog, settings, parent, child, limit=limit, spark_factory=spark_factory)
        run.finish(summary={"parent": result.parent, "child": result.child, "distinct_rows": result.distinct_rows,
                            "missing": result.missing, "fraction": result.fraction, "rows_shown": len(result.rows)})
    return Recorded(run.id, result)
