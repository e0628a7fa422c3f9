"""The background jobs the API can start, each a thin call into the library.

A job receives the run worker's catalog and :class:`~api.runner.RunContext`. Scan and detect record
their own run (the library calls ``catalog.start_run``); apply, restore and check do not, so their jobs
open the run (kinds ``apply``, ``restore``, ``check``), pass progress lines on, and close it with the
library's report as the summary and its refused or failed items as the errors.

Tests replace jobs with fakes (:class:`RunJobs`); a job left ``None`` gets the default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal

from api.runner import RunContext
from r2d2.catalog import Catalog
from r2d2.config import Settings
from r2d2.errors import R2D2Error

log = logging.getLogger("r2d2.api.jobs")

MoveMode = Literal["auto", "rename", "copy"]
SparkFactory = Callable[[], Any]


@dataclass(frozen=True)
class ApplyOptions:
    plan_id: int
    move_mode: MoveMode = "auto"
    prepare_only: bool = False


@dataclass(frozen=True)
class RestoreOptions:
    table_id: int
    location: str
    move_mode: MoveMode = "auto"


@dataclass(frozen=True)
class RunJobs:
    """The jobs the API can start (tests replace them with fakes)."""

    scan: Callable[[Catalog, RunContext, Sequence[str]], object]
    detect: Callable[[Catalog, RunContext], object]
    apply: Callable[[Catalog, RunContext, ApplyOptions], object] | None = None
    restore: Callable[[Catalog, RunContext, RestoreOptions], object] | None = None
    check: Callable[[Catalog, RunContext, bool], object] | None = None


def spark_factory(settings: Settings) -> SparkFactory:
    """The process's Spark session, created on first use (never at start-up)."""

    def make() -> Any:
        from r2d2.engine import get_spark

        return get_spark(settings)

    return make


def _error_text(exc: BaseException) -> str:
    """What a run records about an exception: library errors verbatim, others by type only."""
    if isinstance(exc, R2D2Error):
        return str(exc)
    return f"internal error ({type(exc).__name__}); see the server log"


@contextmanager
def recorded_run(catalog: Catalog, kind: str, params: Mapping[str, Any]) -> Iterator[int]:
    """Start a run of ``kind``; an exception closes it as failed (and propagates)."""
    run_id = catalog.start_run(kind, params=params)
    try:
        yield run_id
    except BaseException as exc:
        log.warning("%s run %d failed", kind, run_id, exc_info=not isinstance(exc, R2D2Error))
        catalog.finish_run(run_id, status="failed", errors=[{"location": None, "error": _error_text(exc)}])
        raise


def default_jobs(settings: Settings, spark: SparkFactory | None = None) -> RunJobs:
    """Jobs that call the library with a lazily created Spark session."""
    spark = spark or spark_factory(settings)

    def scan_job(catalog: Catalog, ctx: RunContext, roots: Sequence[str]) -> object:
        from r2d2.scan import scan

        return scan(catalog, list(roots), spark_factory=spark, progress=ctx.tables,
                    local_bytes=settings.local_read_bytes, threads=settings.local_threads)

    def detect_job(catalog: Catalog, ctx: RunContext) -> object:
        from r2d2.detect import detect

        return detect(catalog, settings, spark, progress=ctx.message)

    def apply_job(catalog: Catalog, ctx: RunContext, opts: ApplyOptions) -> object:
        from r2d2.reconstruct.apply import apply_plan

        params = {"plan_id": opts.plan_id, "move_mode": opts.move_mode, "prepare_only": opts.prepare_only}
        with recorded_run(catalog, "apply", params) as run_id:
            report = apply_plan(catalog, settings, spark, opts.plan_id, prepare_only=opts.prepare_only,
                                move_mode=opts.move_mode, progress=ctx.message)
        counts: dict[str, int] = {}
        for item in report.items:
            counts[item.action] = counts.get(item.action, 0) + 1
        catalog.finish_run(run_id, status="succeeded", summary={**report.to_json(), "counts": counts},
                           errors=[{"location": i.location, "error": f"{i.action}: {i.reason}"}
                                   for i in report.failed])
        return report

    def restore_job(catalog: Catalog, ctx: RunContext, opts: RestoreOptions) -> object:
        from r2d2.reconstruct.restore import restore

        params = {"table_id": opts.table_id, "location": opts.location, "move_mode": opts.move_mode}
        with recorded_run(catalog, "restore", params) as run_id:
            ctx.message(f"restore: {opts.location}")
            how = restore(catalog, settings, spark, opts.location, move_mode=opts.move_mode)
        catalog.finish_run(run_id, status="succeeded", summary={"location": opts.location, "how": how})
        return how

    def check_job(catalog: Catalog, ctx: RunContext, restore_at_risk: bool) -> object:
        from r2d2.reconstruct.drift import check

        with recorded_run(catalog, "check", {"restore_at_risk": restore_at_risk}) as run_id:
            ctx.message("check: deleted tables whose parent changed")
            report = check(catalog, settings, spark, restore_at_risk=restore_at_risk)
        catalog.finish_run(run_id, status="succeeded",
                           summary={**report.to_json(), "at_risk": len(report.at_risk)},
                           errors=[{"location": i.location, "error": f"{i.outcome}: {i.reason}"}
                                   for i in report.at_risk])
        return report

    return RunJobs(scan=scan_job, detect=detect_job, apply=apply_job, restore=restore_job, check=check_job)


def complete_jobs(jobs: RunJobs | None, settings: Settings, spark: SparkFactory) -> RunJobs:
    """``jobs`` with every job left ``None`` replaced by the default one."""
    defaults = default_jobs(settings, spark)
    if jobs is None:
        return defaults
    return replace(jobs, apply=jobs.apply or defaults.apply, restore=jobs.restore or defaults.restore,
                   check=jobs.check or defaults.check)
